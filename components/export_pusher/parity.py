"""The parity gate: may a TFLite variant stand in for the SavedModel?

Compared on a seeded, class-stratified random sample of the gate's split (the pipeline passes
*validation*: the gate decides what is pushed, so it never reads the test split the report's
metrics come from). A variant
passes when, in every runtime it was run in (TensorFlow's interpreter where it was converted, and
standalone LiteRT where users run it), it loads, its predicted class equals the SavedModel's on at
least `min_agreement` of the examples overall and within each true class (the required count
rounded down: at least floor(p * n) of n), and on at least `probability_diff_fraction` of the
examples (again floor(q * n) of n) no output probability differs from the SavedModel's by more
than `max_probability_diff`: n - floor(q * n) strays are allowed (q = 0.99: 1 of 60, 2 of 115,
3 of 300), so a rare outlier does not decide, a shifted distribution does. A model whose own
predictions are all one class is refused outright.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from modules.class_names import quoted
from modules.metrics import predicted_class


class ParityError(RuntimeError):
    """Nothing deployable: the model predicts a single class, or no TFLite variant passed."""


def class_name(index: int, class_names: Sequence[str]) -> str:
    return class_names[index] if 0 <= index < len(class_names) else str(index)


def check_not_single_class(probabilities: np.ndarray, labels: np.ndarray,
                           class_names: Sequence[str], split: str) -> None:
    """Raises ParityError when the SavedModel predicts one class for every example of a sample
    that holds several: such a model passes any agreement test and is useless."""
    predicted = np.unique(predicted_class(probabilities))
    present = np.unique(labels)
    if len(present) > 1 and len(predicted) == 1:
        raise ParityError(
            f"the model predicts class {quoted(class_name(int(predicted[0]), class_names))} for all "
            f"{len(labels)} examples of split '{split}' ({len(present)} classes "
            f"present): refused, nothing pushed")


def agreement(a: np.ndarray, b: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
              max_probability_diff: float) -> Dict[str, Any]:
    """Predicted-class agreement of probabilities `a` with `b` ([N, K] each), overall and per true
    class (name -> fraction), with the counts it comes from; `within`: how many examples have
    every |a - b| <= `max_probability_diff`; `max_abs_diff`: the largest |a - b|."""
    same = predicted_class(a) == predicted_class(b)
    largest = np.max(np.abs(a - b), axis=-1) if len(a) else np.zeros((0,))
    per_class = {}
    for c in np.unique(labels):
        mask = labels == c
        per_class[class_name(int(c), class_names)] = {
            "agreement": float(np.mean(same[mask])), "agree": int(same[mask].sum()),
            "examples": int(mask.sum())}
    return {"agreement": float(np.mean(same)), "agree": int(same.sum()),
            "examples": int(len(same)), "per_class": per_class,
            "within": int(np.sum(largest <= max_probability_diff)),
            "max_probability_diff": float(max_probability_diff),
            "max_abs_diff": float(largest.max()) if len(a) else 0.0}


def required(fraction: float, n: int) -> int:
    """The agreeing examples `fraction` asks of `n`: floor(fraction * n) (1e-9 guards 0.98 * 50)."""
    return int(math.floor(fraction * n + 1e-9))


def _failed_check(measured: Dict[str, Any], min_agreement: float,
                  probability_diff_fraction: float, variant: Optional[str],
                  sample: str = "held-out") -> Optional[str]:
    """The first check `measured` (from `agreement`) fails, worded without the runtime; with
    `variant`, the config key that sets the missed threshold; `sample` names the examples
    (e.g. the split)."""
    key = (lambda name: f" (set export.{name}.{variant})") if variant else (lambda name: "")
    if measured["agree"] < required(min_agreement, measured["examples"]):
        return (f"predicted class agrees with the SavedModel on {measured['agreement']:.2%} of "
                f"{measured['examples']} {sample} examples, below {min_agreement:.2%}"
                + key("min_agreement"))
    for name, info in measured["per_class"].items():
        if info["agree"] < required(min_agreement, info["examples"]):
            return (f"on class {quoted(name)} the predicted class agrees with the SavedModel on "
                    f"{info['agreement']:.2%} of {info['examples']} examples, below "
                    f"{min_agreement:.2%}" + key("min_agreement"))
    n, within = measured["examples"], measured["within"]
    if within < required(probability_diff_fraction, n):
        return (f"the output probabilities of {n - within} of {n} {sample} examples differ from the "
                f"SavedModel's by more than max_probability_diff "
                f"{measured['max_probability_diff']:.4f} (largest "
                f"{measured['max_abs_diff']:.4f}), more than the "
                f"{n - required(probability_diff_fraction, n)} that probability_diff_fraction "
                f"{probability_diff_fraction:.2%} allows" + key("max_probability_diff"))
    return None


def judge(runtime: str, measured: Dict[str, Any], min_agreement: float,
          probability_diff_fraction: float, variant: Optional[str] = None,
          sample: str = "held-out") -> Optional[str]:
    """None when `measured` (from `agreement`) passes in `runtime`; else '<runtime>: reason'."""
    failed = _failed_check(measured, min_agreement, probability_diff_fraction, variant, sample)
    return None if failed is None else f"{runtime}: {failed}"


def decide(runtimes: Dict[str, Dict[str, Any]], load_errors: Dict[str, str],
           min_agreement: float, probability_diff_fraction: float,
           variant: Optional[str] = None, sample: str = "held-out") -> List[str]:
    """Reasons (empty: passed) over every runtime: a load/run error, then the agreement checks;
    runtimes that fail with the same words share one reason ('A and B: ...')."""
    reasons = [f"{runtime}: failed to load or run: {error}"
               for runtime, error in load_errors.items()]
    same: Dict[str, List[str]] = {}
    for runtime, measured in runtimes.items():
        failed = _failed_check(measured, min_agreement, probability_diff_fraction, variant,
                               sample)
        if failed:
            same.setdefault(failed, []).append(runtime)
    reasons += [f"{' and '.join(names)}: {failed}" for failed, names in same.items()]
    return reasons
