"""Classification metrics on model outputs, numpy only (shared by the parity gate, the report,
`predict` and the benchmarks).

probabilities: float32 [N, 1] (two classes: P(label == 1)) or [N, C] (softmax); labels: int [N].
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np


def predicted_class(probabilities: np.ndarray) -> np.ndarray:
    """[N, 1] sigmoid -> {0, 1} (threshold 0.5); [N, C] softmax -> argmax."""
    if probabilities.shape[-1] == 1:
        return (probabilities[:, 0] >= 0.5).astype(np.int64)
    return np.argmax(probabilities, axis=-1)


def top_ties(probabilities: np.ndarray) -> float:
    """Fraction of rows whose class is decided by a tie: [N, C] softmax, the two largest
    probabilities exactly equal (argmax takes the lower class index); [N, 1] sigmoid, exactly
    0.5 (counted as class 1). A quantized (int8) output takes few values (`output_values`),
    where ties are common (helper-66); 0.0 for no rows."""
    p = np.asarray(probabilities)
    if len(p) == 0:
        return 0.0
    if p.shape[-1] == 1:
        return float(np.mean(p[:, 0] == 0.5))
    top = np.sort(p, axis=-1)[:, -2:]
    return float(np.mean(top[:, 0] == top[:, 1]))


def output_values(probabilities: np.ndarray) -> Dict[str, Any]:
    """How finely an output resolves the deciding score on these rows: {"examples": N,
    "distinct": distinct values of P(class 1) ([N, 1] sigmoid) or of the top probability
    ([N, C] softmax)}, and for a sigmoid "around_threshold": the observed values nearest 0.5 (the
    largest below, 0.5 itself if seen, the smallest above). A quantized output takes few values
    (int8 quantizes the logit before the sigmoid or softmax, so near 0.5 the steps are several
    1/256ths, helper-70); a float output about one per row."""
    p = np.asarray(probabilities, dtype=np.float64)
    out: Dict[str, Any] = {"examples": int(len(p))}
    if not len(p):
        return {**out, "distinct": 0}
    score = p[:, 0] if p.shape[-1] == 1 else p.max(axis=-1)
    values = np.unique(score)
    out["distinct"] = int(len(values))
    if p.shape[-1] == 1:
        below, above = values[values < 0.5], values[values > 0.5]
        out["around_threshold"] = ([float(below[-1])] if len(below) else []) \
            + ([0.5] if np.any(values == 0.5) else []) + ([float(above[0])] if len(above) else [])
    return out


def class_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """[N, 1] sigmoid -> [N, 2] (P(class 0), P(class 1)); [N, C] unchanged."""
    if probabilities.shape[-1] == 1:
        return np.concatenate([1.0 - probabilities, probabilities], axis=-1)
    return probabilities


def class_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of rows whose predicted class is the same in `a` and `b`."""
    return float(np.mean(predicted_class(a) == predicted_class(b)))


def accuracy_of(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predicted_class(probabilities) == labels))


def binary_auc(scores: np.ndarray, positives: np.ndarray,
               weights: Optional[np.ndarray] = None) -> Optional[float]:
    """ROC AUC of `scores` [N] for the boolean `positives` [N]: the (weighted) probability that a
    positive scores above a negative, tied scores counting half (the Mann-Whitney statistic, the
    exact value TFMA's bucketed AUC approximates). O(N log N). None when either group has no
    weight or a score is not finite (NaN has no rank)."""
    scores = np.asarray(scores, np.float64).ravel()
    if not np.all(np.isfinite(scores)):
        return None
    positives = np.asarray(positives, bool).ravel()
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, np.float64).ravel()
    w_pos, w_neg = weights * positives, weights * ~positives
    total_pos, total_neg = float(w_pos.sum()), float(w_neg.sum())
    if total_pos <= 0 or total_neg <= 0:
        return None
    _, group = np.unique(scores, return_inverse=True)  # ascending distinct scores
    pos = np.bincount(group, weights=w_pos)
    neg = np.bincount(group, weights=w_neg)
    below = np.cumsum(neg) - neg  # negative weight strictly below each distinct score
    return float(np.sum(pos * (below + 0.5 * neg)) / (total_pos * total_neg))


def auc_of(probabilities: np.ndarray, labels: np.ndarray) -> Optional[float]:
    """Two classes: ROC AUC of P(label == 1). More: the macro average of one-vs-rest AUCs over
    the classes present. None when fewer than two classes are present."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return None
    if probabilities.shape[-1] == 1:
        return binary_auc(probabilities[:, 0], labels == 1)
    aucs = [binary_auc(probabilities[:, c], labels == c) for c in np.unique(labels)]
    aucs = [a for a in aucs if a is not None]
    return float(np.mean(aucs)) if aucs else None


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray,
                     num_classes: int) -> List[List[int]]:
    """rows: true class, columns: predicted class."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    for t, p in zip(np.asarray(labels).astype(int), np.asarray(predicted).astype(int)):
        cm[t, p] += 1
    return cm.tolist()


def per_class_precision_recall(predicted: np.ndarray, labels: np.ndarray,
                               class_names: List[str]) -> dict:
    """{class name: {precision, recall, support, predicted}}: `predicted` is how many examples
    were predicted as the class (precision's denominator); precision None when the class is
    never predicted."""
    out = {}
    for c, name in enumerate(class_names):
        tp = int(np.sum((predicted == c) & (labels == c)))
        n_pred, n_true = int(np.sum(predicted == c)), int(np.sum(labels == c))
        out[name] = {"precision": tp / n_pred if n_pred else None,
                     "recall": tp / n_true if n_true else None, "support": n_true,
                     "predicted": n_pred}
    return out


def wilson_interval(successes: float, n: int, z: float = 1.959964) -> Optional[Tuple[float, float]]:
    """The Wilson score interval (default 95 %) of a proportion `successes` / `n`: the sampling
    error of an accuracy measured on `n` test examples. None when n < 1."""
    if n < 1:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def share_interval(successes: int, n: int) -> str:
    """'95 % interval 98.3%-99.9%': the Wilson interval of a share of `n` (an agreement, a
    class's recall), in percent, as the summary, report.html and MODEL.md print it; '' for
    n < 1."""
    bounds = wilson_interval(successes, n)
    return "" if bounds is None else f"95 % interval {bounds[0]:.1%}-{bounds[1]:.1%}"


def display(value: float, digits: int = 4) -> str:
    """`value` with `digits` decimals, rounded half up from its float32 value, so that one ratio
    reads the same whether it was computed in float32 (TFMA) or float64 (numpy): 151/160 is
    0.9438 in both (Python's format gives 0.9437 for the float64 and 0.9438 for the float32).
    digits 0 (counts) keeps the float64 value. NaN, infinities and magnitudes of 1e15 or more
    (a diverged loss) are formatted as Python formats them."""
    from decimal import ROUND_HALF_UP, Decimal
    if not np.isfinite(value) or abs(value) >= 1e15:
        return f"{float(value):.{digits}f}"
    exact = str(np.float32(value)) if digits > 0 else repr(float(value))
    return str(Decimal(exact).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP))


DECISION_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def threshold_table(probs: np.ndarray, labels: np.ndarray,
                    thresholds: Sequence[float] = DECISION_THRESHOLDS) -> List[Dict[str, Any]]:
    """A binary model's choices at other decision thresholds (helper-78: a rare class's user
    needs more than 0.5): for each threshold t (class 1 when P(class 1) >= t), each class's
    hits, examples and predictions, i.e. its recall (hits of examples) and precision (hits of
    predictions). probs: [N, 1] or [N] sigmoid outputs; labels: [N] 0/1."""
    p = np.asarray(probs, np.float64).reshape(-1)
    y = np.asarray(labels).astype(int).reshape(-1)
    rows = []
    for t in thresholds:
        predicted = (p >= t).astype(int)
        rows.append({"threshold": float(t), "classes": [
            {"hits": int(np.sum((predicted == c) & (y == c))), "examples": int(np.sum(y == c)),
             "predicted": int(np.sum(predicted == c))} for c in (0, 1)]})
    return rows
