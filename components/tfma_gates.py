"""The Evaluator's gates: one list, turned into TFMA's EvalConfig and read back with values.

For any number of classes, on the held-out test split (overall slice, per-class slices for the
per-class recall of 3+ classes):

    accuracy            >= accuracy_lower_bound       (evaluator.accuracy_lower_bound)
    auc                 >= auc_lower_bound            binary ROC AUC; 3+ classes the macro
                                                      average of one-vs-rest AUCs; exact
                                                      (components/exact_auc.py), not bucketed
    recall of <class>   >= min_class_recall           every class: the fraction of its test
                                                      images predicted as it (binary: TFMA's
                                                      Recall for class 1 and Specificity for
                                                      class 0; 3+ classes: the accuracy on
                                                      the slice class_name == <class>, i.e.
                                                      its argmax recall)
    accuracy change     >= -max_accuracy_drop         vs the baseline model (when there is one)

Why slices for 3+ classes: TFMA 0.47 keys a binarized `Recall` with `top_k: 1` as
{class_id, top_k} but its threshold as {class_id} only, so such a threshold is never matched and
fails every evaluation ("Metric not found."); the accuracy of a class's own slice is the same
number and is matched.

`read_gates` returns each gate with its threshold, measured value and pass/fail, and the config
key that sets it, for the run summary and the report (`evaluation_record`: the overall metrics and
the gates of one evaluation, as the summary prints them and the pushed report keeps them);
`gates_from_evaluation` reads the gates an evaluation actually applied from its stored
eval_config.json (so a report shows the thresholds of that run, whatever the config says now,
including Vertex runtime-parameter overrides).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

from modules.class_names import quoted

LABEL_KEY = "label"
# The AUC gate's metric: the exact AUC (components/exact_auc.py), not TFMA's `AUC`, whose 10,000
# linear buckets read 0.02-0.03 low on a confident model (benchmarks/auc_thresholds.py).
AUC_METRIC = {"class_name": "ExactAUC", "module": "components.exact_auc"}
# Per class id, the share of a slice's examples predicted as it (components/predicted_classes.py):
# on the slice class_name == c, row c of the confusion matrix. Decides nothing.
SHARES_METRIC = {"class_name": "PredictedClassShares", "module": "components.predicted_classes"}
PREDICTED_AS = "predicted_as"
CLASS_NAME_KEY = "class_name"  # the examples' feature the per-class slices are cut by
# TFMA's metrics are float32: 70 of 100 correct is 0.69999999, which a lower bound of 0.70 fails.
# The bounds TFMA applies are the stated thresholds minus this (a float32 count ratio is within
# 6e-8 of the exact one; no fraction of fewer than 10^6 examples lies between the two).
GATE_TOLERANCE = 1e-6
STATED_DECIMALS = 5  # a stored bound + GATE_TOLERANCE, rounded to this: the threshold as stated


@dataclass
class Gate:
    """One threshold. metric: TFMA metric name; class_id: sub-key (binarized) or None; kind:
    'value' (lower bound on the candidate) or 'change' (lower bound on candidate - baseline);
    slice: the class_name slice the metric is read on (None: overall); threshold: as the user
    states it; bound: what TFMA compares the value with (fails below it), threshold -
    GATE_TOLERANCE unless an evaluation stored another (older runs: the threshold itself)."""
    name: str
    metric: str
    threshold: Optional[float]  # None only in no_baseline_row
    config_key: str
    kind: str = "value"
    class_id: Optional[int] = None
    macro: bool = False
    slice: Optional[str] = None
    bound: Optional[float] = None

    def __post_init__(self):
        if self.bound is None and self.threshold is not None:
            self.bound = applied_bound(self.threshold)


def applied_bound(threshold: float) -> float:
    """The bound TFMA applies for a stated `threshold` (a lower bound on a value or a change)."""
    return float(threshold) - GATE_TOLERANCE


def stated_threshold(bound: float) -> float:
    """The threshold a stored bound states: `applied_bound`'s inverse, rounded to STATED_DECIMALS
    (so an older evaluation's bound, stored without the tolerance, reads the same)."""
    return round(float(bound) + GATE_TOLERANCE, STATED_DECIMALS)


CLASS_RECALL_KEY = "evaluator.class_recall"  # evaluations whose class is not known


def class_recall_key(name: Optional[str]) -> str:
    """The key that sets one class's recall gate, whatever the other classes' bounds:
    'evaluator.class_recall.shirt' (a name --set can address: no dot, space or quote), else
    'evaluator.class_recall' (give a mapping); evaluator.min_class_recall sets every class
    without its own bound."""
    if name and re.fullmatch(r"[\w-]+", name):
        return f"{CLASS_RECALL_KEY}.{name}"
    return CLASS_RECALL_KEY


def recall_bounds(class_names: Sequence[str], min_class_recall: float,
                  class_recall: Optional[Dict[str, float]] = None) -> List[float]:
    """Each class's recall bound, in label order: its own (`class_recall`, evaluator.
    class_recall: e.g. a rare 'defect' class held to 0.9) or `min_class_recall`."""
    from modules.class_names import canonical  # a macOS (NFD) name and a typed (NFC) key
    own = {canonical(k): v for k, v in (class_recall or {}).items()}
    return [float(own.get(canonical(name), min_class_recall)) for name in class_names]


def gates_for(class_names: Sequence[str], accuracy_lower_bound: float, auc_lower_bound: float,
              min_class_recall: float, max_accuracy_drop: float,
              class_recall: Optional[Dict[str, float]] = None) -> List[Gate]:
    """The gates for this class list (see module docstring)."""
    bounds = recall_bounds(class_names, min_class_recall, class_recall)
    binary = len(class_names) == 2
    accuracy = "binary_accuracy" if binary else "sparse_categorical_accuracy"
    gates = [Gate("accuracy", accuracy, accuracy_lower_bound, "evaluator.accuracy_lower_bound"),
             Gate("AUC" if binary else "macro one-vs-rest AUC", "auc", auc_lower_bound,
                  "evaluator.auc_lower_bound", macro=not binary)]
    if binary:
        gates += [Gate(f"recall of {quoted(class_names[0])}", "specificity", bounds[0],
                       class_recall_key(class_names[0])),
                  Gate(f"recall of {quoted(class_names[1])}", "recall", bounds[1],
                       class_recall_key(class_names[1]))]
    else:
        gates += [Gate(f"recall of {quoted(name)}", accuracy, bound, class_recall_key(name),
                       slice=name) for name, bound in zip(class_names, bounds)]
    gates.append(Gate("accuracy vs baseline", accuracy, -max_accuracy_drop,
                      "evaluator.max_accuracy_drop", kind="change"))
    return gates


def eval_config(class_names: Sequence[str], accuracy_lower_bound: float, auc_lower_bound: float,
                min_class_recall: float, max_accuracy_drop: float,
                class_recall: Optional[Dict[str, float]] = None):
    """tfma.EvalConfig with the gates on the overall slice (3+ classes: each class's recall on
    its `class_name` slice); `class_recall` sets a class's own recall bound."""
    import tensorflow_model_analysis as tfma
    bounds = recall_bounds(class_names, min_class_recall, class_recall)
    binary = len(class_names) == 2
    overall = [tfma.SlicingSpec()]

    def threshold(lower: float, change: Optional[float] = None):
        t = tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": applied_bound(lower)}))
        if change is not None:
            t.change_threshold.CopyFrom(tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": applied_bound(change)}))
        return [tfma.PerSliceMetricThreshold(slicing_specs=overall, threshold=t)]

    accuracy_thresholds = threshold(accuracy_lower_bound, -max_accuracy_drop)
    if not binary:  # recall of each class = accuracy on its own slice
        accuracy_thresholds += [tfma.PerSliceMetricThreshold(
            slicing_specs=[tfma.SlicingSpec(feature_values={CLASS_NAME_KEY: name})],
            threshold=tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
                lower_bound={"value": applied_bound(bound)})))
            for name, bound in zip(class_names, bounds)]
    accuracy = tfma.MetricConfig(
        class_name="BinaryAccuracy" if binary else "SparseCategoricalAccuracy",
        per_slice_thresholds=accuracy_thresholds)
    # where each class's test images went (its class_name slice): a diagnostic for the summary
    shares = tfma.MetricConfig(**SHARES_METRIC,
                               config=json.dumps({"num_classes": len(class_names)}))
    specs = []
    if binary:
        specs.append(tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"), accuracy, shares,
            tfma.MetricConfig(**AUC_METRIC, per_slice_thresholds=threshold(auc_lower_bound)),
            tfma.MetricConfig(class_name="Recall",  # class 1's recall
                              per_slice_thresholds=threshold(bounds[1])),
            tfma.MetricConfig(class_name="Specificity",  # class 0's
                              per_slice_thresholds=threshold(bounds[0]))]))
    else:
        ids = list(range(len(class_names)))
        specs.append(tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="ExampleCount"),
                                               accuracy, shares]))
        specs.append(tfma.MetricsSpec(
            metrics=[tfma.MetricConfig(**AUC_METRIC,
                                       per_slice_thresholds=threshold(auc_lower_bound))],
            aggregate=tfma.AggregationOptions(macro_average=True,
                                              class_weights={i: 1.0 for i in ids})))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key=LABEL_KEY)],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[CLASS_NAME_KEY])],
        metrics_specs=specs)


# TFMA metric class -> (metric key name, config key of its threshold)
_METRICS = {"BinaryAccuracy": ("binary_accuracy", "evaluator.accuracy_lower_bound"),
            "SparseCategoricalAccuracy": ("sparse_categorical_accuracy",
                                          "evaluator.accuracy_lower_bound"),
            "AUC": ("auc", "evaluator.auc_lower_bound"),  # evaluations before ExactAUC
            "ExactAUC": ("auc", "evaluator.auc_lower_bound"),
            "Recall": ("recall", CLASS_RECALL_KEY),
            "Specificity": ("specificity", CLASS_RECALL_KEY)}


def _gate_name(class_name: str, macro: bool, class_id: Optional[int],
               class_names: Sequence[str]) -> str:
    def label(i):
        return class_names[i] if i is not None and 0 <= i < len(class_names) else str(i)
    binary = len(class_names) == 2
    if class_name in ("BinaryAccuracy", "SparseCategoricalAccuracy"):
        return "accuracy"
    if class_name in ("AUC", "ExactAUC"):
        return "macro one-vs-rest AUC" if macro else "AUC"
    if class_name == "Specificity" and binary:
        return f"recall of {quoted(class_names[0])}"
    if class_name == "Recall":
        return f"recall of {quoted(label(class_id if class_id is not None else 1))}"
    return class_name


def _class_slice(slicing_specs: List[Dict[str, Any]]) -> Optional[str]:
    """The class name of a threshold on the slice class_name == <name>; None for overall."""
    for spec in slicing_specs:
        value = spec.get("featureValues", {}).get(CLASS_NAME_KEY)
        if value is not None:
            return value
    return None


def gates_from_evaluation(evaluation_uri: str, class_names: Sequence[str]) -> List[Gate]:
    """The gates as the Evaluator applied them (its eval_config.json): overall slice, then the
    per-class slices, then the change gate. TFX drops change thresholds when there is no
    baseline model, so then no change gate appears. `evaluation_uri` may be remote (gs://)."""
    from tfx.dsl.io import fileio
    with fileio.open(os.path.join(evaluation_uri, "eval_config.json")) as f:
        config = json.load(f).get("evalConfig", {})
    gates: List[Gate] = []
    class_gates: List[Gate] = []
    change_gates: List[Gate] = []
    for spec in config.get("metricsSpecs", []):
        macro = bool(spec.get("aggregate", {}).get("macroAverage"))
        for metric in spec.get("metrics", []):
            kind = metric.get("className", "")
            if kind not in _METRICS:
                continue
            thresholds = [(t["threshold"], _class_slice(t.get("slicingSpecs", [{}])))
                          for t in metric.get("perSliceThresholds", [])
                          if not any(t.get("slicingSpecs", [{}]))
                          or _class_slice(t["slicingSpecs"]) is not None]
            if "threshold" in metric:
                thresholds.append((metric["threshold"], None))
            name, key = _METRICS[kind]
            for threshold, class_slice in thresholds:
                if class_slice is not None:  # recall of a class: accuracy on its slice
                    lower = threshold.get("valueThreshold", {}).get("lowerBound")
                    if lower is not None:
                        class_gates.append(Gate(f"recall of {quoted(class_slice)}", name,
                                                stated_threshold(lower),
                                                class_recall_key(class_slice),
                                                slice=class_slice, bound=float(lower)))
                    continue
                lower = threshold.get("valueThreshold", {}).get("lowerBound")
                if lower is not None:
                    if key == CLASS_RECALL_KEY and len(class_names) == 2:  # its class's key
                        key = class_recall_key(class_names[1 if kind == "Recall" else 0])
                    gates.append(Gate(_gate_name(kind, macro, None, class_names), name,
                                      stated_threshold(lower), key, macro=macro,
                                      bound=float(lower)))
                change = threshold.get("changeThreshold", {}).get("absolute")
                if change is not None:
                    change_gates.append(Gate(f"{_gate_name(kind, macro, None, class_names)} vs "
                                             f"baseline", name, stated_threshold(change),
                                             "evaluator.max_accuracy_drop", kind="change",
                                             bound=float(change)))
    # two classes: recall of class 0 (Specificity) before class 1 (Recall), in label order
    gates.sort(key=lambda g: {"specificity": 0, "recall": 1}.get(g.metric, -1))
    return gates + class_gates + change_gates


def metric_values(evaluation_uri: str) -> List[Dict[str, Any]]:
    """Every metric of a TFMA evaluation on the overall slice and the class_name slices: name,
    class_id, macro, is_diff, model, slice (None: overall), value (floats only) and interval
    ([lower, upper], TFMA's 95 % confidence interval; None when it computed none)."""
    import tensorflow_model_analysis as tfma
    out = []
    for m in tfma.load_metrics(evaluation_uri):
        keys = list(m.slice_key.single_slice_keys)
        if len(keys) > 1 or (keys and keys[0].column != CLASS_NAME_KEY):
            continue
        slice_value = keys[0].bytes_value.decode() if keys else None
        for kv in m.metric_keys_and_values:
            if not kv.value.HasField("double_value"):
                continue
            key = kv.key
            bounds = kv.confidence_interval if kv.HasField("confidence_interval") else None
            out.append({"name": key.name, "model": key.model_name or "candidate",
                        "class_id": (key.sub_key.class_id.value
                                     if key.sub_key.HasField("class_id") else None),
                        "macro": key.aggregation_type.macro_average,
                        "is_diff": key.is_diff, "slice": slice_value,
                        "value": kv.value.double_value.value,
                        "interval": ([bounds.lower_bound.double_value.value,
                                      bounds.upper_bound.double_value.value]
                                     if bounds is not None else None)})
    return out


def _find(values: List[Dict[str, Any]], gate: Gate, model: str = "candidate",
          diff: Optional[bool] = None, field: str = "value") -> Any:
    """The value (or another `field`, e.g. 'interval') of `gate`'s metric for `model`
    ('candidate' | 'baseline'); the change gate's is the diff (candidate - baseline) unless
    `diff` says otherwise."""
    diff = gate.kind == "change" if diff is None else diff
    for v in values:
        if (v["name"] == gate.metric and v["class_id"] == gate.class_id
                and bool(v["macro"]) == gate.macro and v["is_diff"] == diff
                and v["slice"] == gate.slice
                and v["model"] in ((model, "") if model == "candidate" else (model,))):
            return v[field]
    return None


NO_BASELINE = ("no other blessed model of the same classes in this order (the next model "
               "trained is compared with the latest blessed one of these classes)")


def no_baseline_row() -> Dict[str, Any]:
    """The change gate as a not-applicable row, for an evaluation without a baseline: TFX drops
    change thresholds from its eval config then, so the gate's threshold is not recorded."""
    return {**asdict(Gate("accuracy vs baseline", "", None, "evaluator.max_accuracy_drop",
                          kind="change")),
            "value": None, "passed": None, "note": NO_BASELINE}


def read_gates(evaluation_uri: str, gates: Sequence[Gate],
               values: Optional[List[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
    """Each gate with its measured value and whether it passed. A change gate without a
    baseline is not applicable (passed None, with a note); when `gates` hold none (TFX dropped
    it), `no_baseline_row` is appended, so every reader lists it."""
    values = metric_values(evaluation_uri) if values is None else values
    out = []
    for gate in gates:
        value = _find(values, gate)
        row = {**asdict(gate), "value": value}
        if value is None:
            row["passed"] = None
            row["note"] = NO_BASELINE if gate.kind == "change" else "not computed"
        else:
            row["passed"] = value >= gate.bound  # TFMA's rule: a value below the bound fails
            if gate.kind == "change":  # what the difference is between, for the reader
                row["candidate_value"] = _find(values, gate, "candidate", diff=False)
                row["baseline_value"] = _find(values, gate, "baseline", diff=False)
                # TFMA's paired 95 % interval of the difference (components/change_interval)
                row["interval"] = _find(values, gate, field="interval")
        out.append(row)
    if out and not any(g.kind == "change" for g in gates):
        out.append(no_baseline_row())
    return out


def gate_class(gate: Dict[str, Any], class_names: Sequence[str]) -> Optional[str]:
    """The class a per-class recall gate row is about (3+ classes: its slice; 2 classes:
    Specificity is class 0's recall, Recall class 1's, as `gates_for` defines them); None for
    the other gates."""
    if gate.get("kind") != "value":
        return None
    if gate.get("slice"):
        return gate["slice"]
    if len(class_names) == 2:
        return {"specificity": class_names[0], "recall": class_names[1]}.get(gate.get("metric"))
    return None


def predicted_as(values: List[Dict[str, Any]], class_names: Sequence[str]
                 ) -> Dict[str, Dict[str, float]]:
    """{class c: {class k: share of c's test images predicted as k}} from `metric_values` (the
    candidate's `predicted_as` on each class_name slice); {} for evaluations without it."""
    out: Dict[str, Dict[str, float]] = {}
    for v in values:
        if (v["name"] == PREDICTED_AS and v["slice"] is not None and not v["is_diff"]
                and v["model"] == "candidate" and v["class_id"] is not None
                and 0 <= v["class_id"] < len(class_names)):
            out.setdefault(v["slice"], {})[class_names[v["class_id"]]] = v["value"]
    return out


def per_class(values: List[Dict[str, Any]], class_names: Sequence[str]
              ) -> Dict[str, Dict[str, float]]:
    """{class c: {'precision', 'recall', 'support', 'predicted'}} of the candidate on the test
    split ('predicted': how many test images were predicted as c), from
    `metric_values`: each class_name slice's `predicted_as` shares (its confusion-matrix row)
    times its `example_count`. precision is None for a class nothing was predicted as; {} for
    evaluations without the shares or the counts."""
    shares = predicted_as(values, class_names)
    support = {v["slice"]: v["value"] for v in values
               if v["name"] == "example_count" and v["slice"] is not None and not v["is_diff"]
               and v["model"] == "candidate" and v["class_id"] is None}
    if not shares or any(c not in shares or c not in support for c in class_names):
        return {}
    count = {(c, k): shares[c].get(k, 0.0) * support[c] for c in class_names for k in class_names}
    out = {}
    for c in class_names:
        predicted = sum(count[(t, c)] for t in class_names)
        out[c] = {"precision": count[(c, c)] / predicted if predicted > 0 else None,
                  "recall": shares[c].get(c, 0.0), "support": int(round(support[c])),
                  "predicted": int(round(predicted))}
    return out


def overall_metrics(evaluation_uri: str,
                    values: Optional[List[Dict[str, Any]]] = None) -> Dict[str, float]:
    """Overall-slice metrics of the candidate model from a TFMA evaluation artifact, by name
    (`binary_accuracy` or `sparse_categorical_accuracy`, `auc` (3+ classes: the macro average),
    `example_count`, ...; per-class sub-keys left out)."""
    return {v["name"]: v["value"] for v in (metric_values(evaluation_uri) if values is None
                                            else values)
            if v["slice"] is None and not v["is_diff"] and v["model"] == "candidate"
            and v["class_id"] is None}


def baseline_model_uri(evaluation_uri: str) -> Optional[str]:
    """The baseline model the evaluation compared with (its eval_config.json's model locations;
    TFX passes `<Model artifact uri>/Format-Serving`, returned as the artifact's uri), None
    without a baseline."""
    from tfx.dsl.io import fileio
    with fileio.open(os.path.join(evaluation_uri, "eval_config.json")) as f:
        run = json.load(f)
    names = [spec.get("name", "") for spec in run.get("evalConfig", {}).get("modelSpecs", [])
             if spec.get("isBaseline")]
    location = run.get("modelLocations", {}).get(names[0]) if names else None
    if not location:
        return None
    location = location.rstrip("/")
    return os.path.dirname(location) if os.path.basename(location) == "Format-Serving" \
        else location


ACCURACY_METRICS = ("binary_accuracy", "sparse_categorical_accuracy")


def accuracy_of(metrics: Dict[str, Any]) -> Any:
    """The accuracy in a TFMA metrics dict (binary or sparse categorical), None without one."""
    return next((metrics[k] for k in ACCURACY_METRICS if k in metrics), None)


def with_intervals(gates: List[Dict[str, Any]], figures: Dict[str, Dict[str, Any]],
                   class_names: Sequence[str], examples: Optional[float] = None
                   ) -> List[Dict[str, Any]]:
    """`gates` rows with `hits`, `test_examples` and `wilson_interval` ([lower, upper], the
    95 % interval: the sampling error of the value on that many test images) on the accuracy
    gate (`examples`: the test split's size) and on each recall gate whose class has `per_class`
    figures (its class's test images). Rows are updated in place and returned."""
    from modules.metrics import wilson_interval
    for g in gates:
        if g.get("value") is None or g.get("kind") != "value":
            continue
        name = gate_class(g, list(class_names))
        n = ((figures.get(name) or {}).get("support") if name else
             examples if g.get("metric") in ACCURACY_METRICS and not g.get("slice") else None)
        if n:
            hits = int(round(float(g["value"]) * n))
            g.update(hits=hits, test_examples=int(n),
                     wilson_interval=list(wilson_interval(hits, int(n))))
    return gates


def evaluation_record(evaluation_uri: str, class_names: Sequence[str]) -> Dict[str, Any]:
    """{'metrics': overall_metrics, 'gates': read_gates rows (name, metric, threshold, value,
    passed, config_key, ...; accuracy and recall gates `with_intervals`), 'failed': names of the failed
    gates, 'baseline_model_uri': the model the change gate compared with (None without one),
    'predicted_as', 'per_class': the SavedModel's precision and recall per class} of one
    evaluation."""
    values = metric_values(evaluation_uri)  # TFMA's metrics file, read once
    gates = read_gates(evaluation_uri, gates_from_evaluation(evaluation_uri, list(class_names)),
                       values)
    figures = per_class(values, list(class_names))
    metrics = overall_metrics(evaluation_uri, values)
    return {"metrics": metrics,
            "gates": with_intervals(gates, figures, class_names, metrics.get("example_count")),
            "failed": [g["name"] for g in gates if g["passed"] is False],
            "baseline_model_uri": baseline_model_uri(evaluation_uri),
            "predicted_as": predicted_as(values, list(class_names)), "per_class": figures}


def interval_note(row: Dict[str, Any]) -> str:
    """'11 of 20 test images; 95 % interval 0.3421-0.7418, which holds the threshold: not
    settled by these test images' for a row `with_intervals` annotated; '' otherwise."""
    if not row.get("wilson_interval"):
        return ""
    lo, hi = row["wilson_interval"]
    holds = row.get("threshold") is not None and lo < row["threshold"] <= hi
    return (f"{row['hits']} of {row['test_examples']} test images; 95 % interval {lo:.4f}-"
            f"{hi:.4f}" + (", which holds the threshold: not settled by these test images"
                           if holds else ""))


def format_gate(row: Dict[str, Any]) -> str:
    """'accuracy >= 0.70: 0.7633 pass' style line."""
    if row["threshold"] is None:  # no_baseline_row
        return f"{row['name']}: n/a, {row.get('note', '')}"
    comparison = (f"candidate - baseline >= {row['threshold']:+.4f}" if row["kind"] == "change"
                  else f">= {row['threshold']:.4f}")
    if row["passed"] is None:
        return f"{row['name']} ({comparison}): n/a, {row.get('note', '')}"
    verdict = "pass" if row["passed"] else f"FAIL (set {row['config_key']})"
    from modules.metrics import display
    between = ""
    if row.get("baseline_value") is not None and row.get("candidate_value") is not None:
        between = (f" (candidate {display(row['candidate_value'])}, baseline "
                   f"{display(row['baseline_value'])}, on the same examples"
                   + (f"; {interval_words(row['interval'], row['threshold'])}"
                      if row.get("interval") else "") + ")")
    note = interval_note(row)  # accuracy and recall gates: the value's sampling error
    return (f"{row['name']} ({comparison}): {display(row['value'])}{between}"
            + (f" ({note})" if note else "") + f" {verdict}")


def interval_words(interval: Sequence[float], threshold: float) -> str:
    """The change gate's 95 % interval, and whether it decides anything: an interval that holds
    the threshold means the test images cannot tell a pass from a failure; one of no width
    (helper-73: +0.0000 to +0.0000) says why it has none."""
    lower, upper = interval
    text = f"95 % interval of the difference {lower:+.4f} to {upper:+.4f}"
    if lower == upper:  # every paired difference equal: the jackknife has no spread to show
        return text + (" (no width: the two models are right and wrong on the same test images, "
                       "so these images show no spread, not a certain difference beyond them)")
    if lower < threshold <= upper:
        text += (", which holds the threshold: within what the choice of test images moves; "
                 "more test images narrow it")
    return text
