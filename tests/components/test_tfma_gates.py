"""components/tfma_gates.py with real TFMA (run_model_analysis, as TFX's Evaluator runs it) on
SavedModels whose outputs are fixed by the examples, so every gate value is known exactly:

- binary: accuracy, AUC, recall of each class (Recall / Specificity) read back with thresholds,
  values equal to sklearn's, pass/fail and the config key of a failing gate;
- three classes: macro one-vs-rest AUC (= sklearn's macro OvR) and argmax recall per class;
- TFMA's own verdict (the blessing) fails exactly on the gates read back as failed, and passes
  when they all pass (a 3-class model with every gate met is blessed);
- a baseline model: the change gate (candidate - baseline accuracy);
- the gates are those the evaluation applied (its eval_config.json), not the current config's.
"""
import os

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from components import tfma_gates

SCORES = "scores"


class _ScoreModel(tf.Module):
    """serving_default(examples) -> {'probability': f(scores feature)}; f = sigmoid | softmax."""

    def __init__(self, num_outputs: int, shift: float = 0.0):
        super().__init__()
        self.num_outputs, self.shift = num_outputs, shift

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        spec = {SCORES: tf.io.FixedLenFeature([self.num_outputs], tf.float32)}
        x = tf.io.parse_example(examples, spec)[SCORES] + self.shift
        prob = tf.sigmoid(x) if self.num_outputs == 1 else tf.nn.softmax(x)
        return {"probability": prob}


def _save(module, path):
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path


def _write(path, scores, labels, class_names):
    with tf.io.TFRecordWriter(path) as w:
        for s, y in zip(scores, labels):
            w.write(tf.train.Example(features=tf.train.Features(feature={
                SCORES: tf.train.Feature(float_list=tf.train.FloatList(value=list(s))),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(y)])),
                "class_name": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[class_names[int(y)].encode()]))})).SerializeToString())
    return path


def _evaluate(tmp, model_path, data, config, baseline_path=None):
    """As TFX's Evaluator executor: defaults filled in (a baseline spec when there is a baseline,
    change thresholds dropped when there is none), one shared model per model spec."""
    import tensorflow_model_analysis as tfma
    out = os.path.join(tmp, "evaluation")
    config = tfma.utils.update_eval_config_with_defaults(
        config, has_baseline=baseline_path is not None, rubber_stamp=True)
    models = [tfma.default_eval_shared_model(
        baseline_path if spec.is_baseline else model_path, model_name=spec.name,
        eval_config=config) for spec in config.model_specs]
    tfma.run_model_analysis(eval_shared_model=models if len(models) > 1 else models[0],
                            eval_config=config, data_location=data, output_path=out)
    return out


def _tfma_failures(out):
    """TFMA's own validation (what TFX's Evaluator blesses on): ok, [(slice, metric, message)]."""
    import tensorflow_model_analysis as tfma
    result = tfma.load_validation_result(out)
    failures = []
    for per_slice in result.metric_validations_per_slice:
        keys = per_slice.slice_key.single_slice_keys
        where = keys[0].bytes_value.decode() if keys else "overall"
        failures += [(where, f.metric_key.name, f.message) for f in per_slice.failures]
    return result.validation_ok, failures


@pytest.fixture(scope="module")
def binary_eval(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("binary"))
    rng = np.random.default_rng(0)
    labels = np.array([0] * 40 + [1] * 40)
    scores = (labels * 1.5 - 0.75 + rng.normal(0, 1.0, 80))[:, None].astype(np.float32)
    names = ["cat", "dog"]
    config = tfma_gates.eval_config(names, accuracy_lower_bound=0.6, auc_lower_bound=0.99,
                                    min_class_recall=0.5, max_accuracy_drop=0.01)
    out = _evaluate(tmp, _save(_ScoreModel(1), os.path.join(tmp, "m")),
                    _write(os.path.join(tmp, "d.tfrecord"), scores, labels, names), config)
    return out, scores[:, 0], labels, names


def test_binary_gates_are_read_back_with_exact_values(binary_eval):
    out, scores, labels, names = binary_eval
    gates = tfma_gates.gates_from_evaluation(out, names)
    assert [g.name for g in gates] == ["accuracy", "AUC", "recall of 'cat'", "recall of 'dog'"]
    rows = {r["name"]: r for r in tfma_gates.read_gates(out, gates)}
    prob = 1 / (1 + np.exp(-scores))
    predicted = (prob >= 0.5).astype(int)
    assert rows["accuracy"]["value"] == pytest.approx(np.mean(predicted == labels), abs=1e-6)
    assert rows["AUC"]["value"] == pytest.approx(roc_auc_score(labels, prob), abs=1e-9)
    assert rows["recall of 'dog'"]["value"] == pytest.approx(
        np.mean(predicted[labels == 1] == 1), abs=1e-6)
    assert rows["recall of 'cat'"]["value"] == pytest.approx(
        np.mean(predicted[labels == 0] == 0), abs=1e-6)
    assert rows["accuracy"]["passed"] is True
    assert rows["AUC"]["passed"] is False  # 0.99 is out of reach for these scores
    line = tfma_gates.format_gate(rows["AUC"])
    assert line.startswith("AUC (>= 0.9900): ") and "FAIL (set evaluator.auc_lower_bound)" in line
    assert _tfma_failures(out) == (False, [("overall", "auc", "")])


def test_the_evaluations_thresholds_are_reported_not_the_current_configs(binary_eval):
    out, _, _, names = binary_eval
    accuracy = next(g for g in tfma_gates.gates_from_evaluation(out, names)
                    if g.name == "accuracy")
    assert accuracy.threshold == 0.6  # as evaluated, whatever evaluator.* says today


def test_evaluation_record_has_overall_metrics_gates_and_the_failed_ones(binary_eval):
    out, scores, labels, names = binary_eval
    record = tfma_gates.evaluation_record(out, names)
    predicted = (scores >= 0).astype(int)
    assert record["metrics"]["binary_accuracy"] == pytest.approx(np.mean(predicted == labels),
                                                                 abs=1e-6)
    assert record["metrics"]["example_count"] == len(labels)
    # TFX dropped the change threshold (no baseline): the record still lists the gate, n/a
    assert [g["name"] for g in record["gates"]] == [
        *(g.name for g in tfma_gates.gates_from_evaluation(out, names)), "accuracy vs baseline"]
    change = record["gates"][-1]
    assert (change["kind"], change["passed"], change["threshold"]) == ("change", None, None)
    assert tfma_gates.format_gate(change) == ("accuracy vs baseline: n/a, no other blessed "
                                              "model of the same classes in this order (the "
                                              "next model trained is compared with the latest "
                                              "blessed one of these classes)")
    assert record["failed"] == ["AUC"]
    assert record["baseline_model_uri"] is None
    for c, name in enumerate(names):  # two classes: a sigmoid is class 1 at >= 0.5
        share = np.mean(predicted[labels == c] == 1)
        assert record["predicted_as"][name] == pytest.approx(
            {names[0]: 1 - share, names[1]: share}, abs=1e-9)
    rows = tfma_gates.per_class(tfma_gates.metric_values(out), names)
    for c, name in enumerate(names):
        hits = np.sum((predicted == c) & (labels == c))
        assert rows[name]["precision"] == pytest.approx(hits / np.sum(predicted == c), abs=1e-9)
        assert rows[name]["recall"] == pytest.approx(hits / np.sum(labels == c), abs=1e-9)
        assert rows[name]["support"] == 40
        assert rows[name]["predicted"] == np.sum(predicted == c)  # precision's denominator
    # a class nothing was predicted as has no precision; an evaluation without shares, no rows
    values = [v for v in tfma_gates.metric_values(out) if not (
        v["name"] == "predicted_as" and v["class_id"] == 1)]
    values += [{**v, "value": 0.0} for v in tfma_gates.metric_values(out)
               if v["name"] == "predicted_as" and v["class_id"] == 1]
    assert tfma_gates.per_class(values, names)["dog"]["precision"] is None
    assert tfma_gates.per_class([v for v in values if v["name"] != "predicted_as"], names) == {}


THREE = ["coat", "pullover", "shirt"]


def _three_class_eval(tmp_path, min_class_recall, class_recall=None):
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 30)
    logits = rng.normal(0, 1, (90, 3)).astype(np.float32)
    logits[np.arange(90), labels] += 1.0
    logits[labels == 2, 0] += 1.6  # 'shirt' is often taken for 'coat': its recall is low
    config = tfma_gates.eval_config(THREE, accuracy_lower_bound=0.3, auc_lower_bound=0.5,
                                    min_class_recall=min_class_recall, max_accuracy_drop=0.01,
                                    class_recall=class_recall)
    out = _evaluate(str(tmp_path), _save(_ScoreModel(3), str(tmp_path / "m")),
                    _write(str(tmp_path / "d.tfrecord"), logits, labels, THREE), config)
    return out, logits, labels


def test_three_classes_get_macro_auc_and_per_class_argmax_recall(tmp_path):
    names = THREE
    out, logits, labels = _three_class_eval(tmp_path, min_class_recall=0.45)
    gates = tfma_gates.gates_from_evaluation(out, names)
    assert [g.name for g in gates] == ["accuracy", "macro one-vs-rest AUC", "recall of 'coat'",
                                       "recall of 'pullover'", "recall of 'shirt'"]
    rows = {r["name"]: r for r in tfma_gates.read_gates(out, gates)}
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    predicted = prob.argmax(1)
    assert rows["accuracy"]["value"] == pytest.approx(np.mean(predicted == labels), abs=1e-6)
    assert rows["macro one-vs-rest AUC"]["value"] == pytest.approx(
        roc_auc_score(labels, prob, multi_class="ovr", average="macro"), abs=1e-9)
    for c, name in enumerate(names):
        expected = np.mean(predicted[labels == c] == c)
        assert rows[f"recall of '{name}'"]["value"] == pytest.approx(expected, abs=1e-6), name
        assert rows[f"recall of '{name}'"]["passed"] == (expected >= 0.45)
    assert rows["recall of 'shirt'"]["passed"] is False
    assert "(set evaluator.class_recall.shirt)" in tfma_gates.format_gate(
        rows["recall of 'shirt'"])
    # where each class's test images went: its row of the confusion matrix, from TFMA
    shares = tfma_gates.predicted_as(tfma_gates.metric_values(out), names)
    for c, name in enumerate(names):
        expected = np.bincount(predicted[labels == c], minlength=3) / np.sum(labels == c)
        assert [shares[name][k] for k in names] == pytest.approx(expected.tolist(), abs=1e-9)
    record = tfma_gates.evaluation_record(out, names)
    assert record["predicted_as"] == shares
    for row in (r for r in record["gates"] if r["name"].startswith("recall of")):
        # each recall gate: its class's hits of 30 test images and their Wilson interval
        from modules.metrics import wilson_interval
        assert row["test_examples"] == 30 and row["hits"] == round(row["value"] * 30)
        assert row["wilson_interval"] == pytest.approx(list(wilson_interval(row["hits"], 30)))
        assert tfma_gates.interval_note(row).startswith(f"{row['hits']} of 30 test")
    accuracy = next(r for r in record["gates"] if r["name"] == "accuracy")
    assert accuracy["test_examples"] == 90  # the accuracy gate: on the whole test split
    # per-class precision and recall from those rows and each slice's count (= sklearn's)
    from sklearn.metrics import precision_recall_fscore_support
    precision, recall, _, support = precision_recall_fscore_support(labels, predicted)
    rows = tfma_gates.per_class(tfma_gates.metric_values(out), names)
    assert [rows[n]["precision"] for n in names] == pytest.approx(precision.tolist(), abs=1e-9)
    assert [rows[n]["recall"] for n in names] == pytest.approx(recall.tolist(), abs=1e-9)
    assert [rows[n]["support"] for n in names] == support.tolist() == [30, 30, 30]
    assert [rows[n]["predicted"] for n in names] == [int(np.sum(predicted == c))
                                                     for c in range(len(names))]
    # TFMA's verdict: not blessed, for that gate alone
    assert _tfma_failures(out) == (False, [("shirt", "sparse_categorical_accuracy", "")])


def test_a_class_held_to_its_own_recall_bound_alone_decides(tmp_path):
    """evaluator.class_recall: 'shirt' held to 0.45, the others to 0.0 (defect detection's rare
    class that must be caught): TFMA fails the run on that class alone, and the gates read back
    each class's own threshold."""
    out, logits, labels = _three_class_eval(tmp_path, 0.0, class_recall={"shirt": 0.45})
    rows = {r["name"]: r for r in tfma_gates.read_gates(
        out, tfma_gates.gates_from_evaluation(out, THREE))}
    assert rows["recall of 'shirt'"]["threshold"] == 0.45
    assert rows["recall of 'coat'"]["threshold"] == 0.0
    assert rows["recall of 'shirt'"]["passed"] is False and rows["recall of 'coat'"]["passed"]
    assert "(set evaluator.class_recall.shirt)" in tfma_gates.format_gate(
        rows["recall of 'shirt'"])
    assert _tfma_failures(out) == (False, [("shirt", "sparse_categorical_accuracy", "")])
    two = tfma_gates.gates_for(["ok", "defect"], 0.5, 0.5, 0.5, 0.01, {"defect": 0.9})
    assert [(g.name, g.metric, g.threshold, g.config_key) for g in two
            if "recall of" in g.name] == [
        ("recall of 'ok'", "specificity", 0.5, "evaluator.class_recall.ok"),
        ("recall of 'defect'", "recall", 0.9, "evaluator.class_recall.defect")]
    # a name --set cannot address with dots (a space, a dot): the mapping key
    assert tfma_gates.class_recall_key("t shirt") == "evaluator.class_recall"
    # a macOS folder name (NFD) and the typed key (NFC) are one class
    nfd, nfc = "cafe\u0301", "caf\u00e9"
    assert tfma_gates.recall_bounds([nfd, "tea"], 0.5, {nfc: 0.8}) == [0.8, 0.5]


def test_three_classes_with_every_gate_met_are_blessed(tmp_path):
    out, _, _ = _three_class_eval(tmp_path, min_class_recall=0.2)
    rows = tfma_gates.read_gates(out, tfma_gates.gates_from_evaluation(out, THREE))
    assert [r["passed"] for r in rows] == [True] * 5 + [None]  # no baseline: change gate n/a
    assert _tfma_failures(out) == (True, [])


def test_change_gate_against_a_baseline(tmp_path):
    names = ["cat", "dog"]
    labels = np.array([0] * 20 + [1] * 20)
    scores = np.where(labels == 1, 1.0, -1.0)[:, None].astype(np.float32)
    scores[:4] *= -1  # the candidate gets 4 of 40 wrong: accuracy 0.9
    data = _write(str(tmp_path / "d.tfrecord"), scores, labels, names)
    candidate = _save(_ScoreModel(1), str(tmp_path / "candidate"))
    baseline = _save(_ScoreModel(1, shift=-1.5), str(tmp_path / "baseline"))  # says 'cat': 0.5
    config = tfma_gates.eval_config(names, 0.0, 0.0, 0.0, max_accuracy_drop=0.01)
    out = _evaluate(str(tmp_path), candidate, data, config, baseline_path=baseline)
    assert tfma_gates.baseline_model_uri(out) == baseline  # what the report names
    gates = tfma_gates.gates_from_evaluation(out, names)
    (change,) = [g for g in gates if g.kind == "change"]
    assert change.threshold == -0.01 and change.config_key == "evaluator.max_accuracy_drop"
    row = next(r for r in tfma_gates.read_gates(out, gates) if r["kind"] == "change")
    assert row["value"] == pytest.approx(0.9 - 0.5, abs=1e-6) and row["passed"] is True
    # the line a user reads names both accuracies, not only their difference
    assert (row["candidate_value"], row["baseline_value"]) == (pytest.approx(0.9),
                                                                pytest.approx(0.5))
    assert tfma_gates.format_gate(row) == (
        "accuracy vs baseline (candidate - baseline >= -0.0100): 0.4000 (candidate 0.9000, "
        "baseline 0.5000, on the same examples) pass")


def test_a_model_exactly_at_every_threshold_is_blessed(tmp_path):
    """70 of 100 right (each class 35 of 50) at accuracy and recall thresholds of 0.70, and a
    drop of exactly 0.01 from a baseline with 71 right: TFMA's float32 values sit just below
    the stated thresholds (70/100 is 0.69999999), and every gate still passes, in TFMA's verdict
    and read back; the thresholds read back are the stated ones."""
    names = ["cat", "dog"]
    labels = np.array([0] * 50 + [1] * 50)
    scores = np.where(labels == 1, 1.0, -1.0)
    scores[:15] = 1.0  # 15 cats taken for dogs ...
    scores[14] = 0.5  # ... one of them barely: the baseline's shift gets it right
    scores[50:65] = -1.0  # 15 dogs taken for cats
    data = _write(str(tmp_path / "d.tfrecord"), scores[:, None].astype(np.float32), labels,
                  names)
    candidate = _save(_ScoreModel(1), str(tmp_path / "candidate"))
    baseline = _save(_ScoreModel(1, shift=-0.6), str(tmp_path / "baseline"))  # 71 right
    config = tfma_gates.eval_config(names, accuracy_lower_bound=0.7, auc_lower_bound=0.0,
                                    min_class_recall=0.7, max_accuracy_drop=0.01)
    out = _evaluate(str(tmp_path), candidate, data, config, baseline_path=baseline)
    gates = tfma_gates.gates_from_evaluation(out, names)
    assert [(g.name, g.threshold) for g in gates] == [
        ("accuracy", 0.7), ("AUC", 0.0), ("recall of 'cat'", 0.7), ("recall of 'dog'", 0.7),
        ("accuracy vs baseline", -0.01)]
    rows = {r["name"]: r for r in tfma_gates.read_gates(out, gates)}
    # floating point: the drop is -0.010000000000000009, below the stated -0.01
    assert rows["accuracy vs baseline"]["value"] < -0.01
    assert rows["accuracy"]["value"] == pytest.approx(0.7, abs=1e-7)
    assert rows["recall of 'cat'"]["value"] == pytest.approx(0.7, abs=1e-7)
    assert rows["accuracy vs baseline"]["value"] == pytest.approx(-0.01, abs=1e-7)
    assert all(r["passed"] is True for r in rows.values()), rows
    assert tfma_gates.format_gate(rows["accuracy"]) == "accuracy (>= 0.7000): 0.7000 pass"
    assert _tfma_failures(out) == (True, [])
    # one example fewer right fails the same gates
    scores[15] = 1.0
    _write(data, scores[:, None].astype(np.float32), labels, names)
    out = _evaluate(str(tmp_path / "fewer"), candidate, data, config, baseline_path=baseline)
    ok, failures = _tfma_failures(out)
    assert not ok and {f[1] for f in failures} == {"binary_accuracy", "specificity"}
    rows = tfma_gates.read_gates(out, tfma_gates.gates_from_evaluation(out, names))
    assert [r["name"] for r in rows if r["passed"] is False] == ["accuracy", "recall of 'cat'"]


def test_three_classes_exactly_at_the_recall_threshold_are_blessed(tmp_path):
    """Each of 3 classes 9 of 10 right at min_class_recall 0.9: a class slice's accuracy is
    float32 in TFMA (0.89999998), and the gate still passes; 8 of 10 fails it."""
    labels = np.repeat([0, 1, 2], 10)
    logits = np.zeros((30, 3), np.float32)
    logits[np.arange(30), labels] = 2.0
    logits[[0, 10, 20], (labels[[0, 10, 20]] + 1) % 3] = 4.0  # one of each class mistaken
    config = tfma_gates.eval_config(THREE, accuracy_lower_bound=0.9, auc_lower_bound=0.0,
                                    min_class_recall=0.9, max_accuracy_drop=0.01)
    model = _save(_ScoreModel(3), str(tmp_path / "m"))
    out = _evaluate(str(tmp_path), model, _write(str(tmp_path / "d.tfrecord"), logits, labels,
                                                  THREE), config)
    rows = tfma_gates.read_gates(out, tfma_gates.gates_from_evaluation(out, THREE))
    recalls = [r["value"] for r in rows if r["name"].startswith("recall")]
    assert recalls == [pytest.approx(0.9, abs=1e-7)] * 3 and min(recalls) < 0.9  # float32
    assert [r["passed"] for r in rows] == [True] * 5 + [None]
    assert _tfma_failures(out) == (True, [])
    logits[1, (labels[1] + 1) % 3] = 4.0  # class 0: 8 of 10
    out = _evaluate(str(tmp_path / "fewer"), model, _write(
        str(tmp_path / "d2.tfrecord"), logits, labels, THREE), config)
    assert _tfma_failures(out)[0] is False
    rows = tfma_gates.read_gates(out, tfma_gates.gates_from_evaluation(out, THREE))
    assert [r["name"] for r in rows if r["passed"] is False] == ["accuracy", f"recall of '{THREE[0]}'"]


def test_stated_thresholds_read_back_from_bounds_with_and_without_the_tolerance():
    """An evaluation stores the applied bound (threshold - GATE_TOLERANCE); one from before the
    tolerance stored the threshold itself: both read as the stated threshold."""
    for stated in (0.7, 0.5, 0.8, -0.01, 0.0, 0.95):
        assert tfma_gates.stated_threshold(tfma_gates.applied_bound(stated)) == stated
        assert tfma_gates.stated_threshold(stated) == stated
    gate = tfma_gates.Gate("accuracy", "binary_accuracy", 0.7, "evaluator.accuracy_lower_bound")
    assert gate.bound == pytest.approx(0.7 - 1e-6, abs=1e-15)


def test_the_auc_gate_is_the_exact_auc_of_a_confident_model(tmp_path):
    """A confident model's probabilities crowd the top of [0, 1] (here 40 % of the top
    probabilities are 0.9999 or above, some exactly 1.0 in float32): TFMA's bucketed AUC reads
    them low, the gate's ExactAUC equals sklearn's rank AUC (ties half) for two classes and the
    macro average of three, and the threshold is applied to that value."""
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2], 60)
    logits = rng.normal(0, 6, (180, 3)).astype(np.float32)
    logits[np.arange(180), labels] += 12.0
    prob = tf.nn.softmax(logits).numpy()  # as the model computes it
    assert np.mean(prob.max(1) >= 0.9999) > 0.4 and np.any(prob == 1.0)
    # (TFMA's `AUC` at 10,000 thresholds reads 0.0035 low here, 0.0010 for the binary model)
    exact = roc_auc_score(labels, prob, multi_class="ovr", average="macro")
    config = tfma_gates.eval_config(THREE, 0.0, auc_lower_bound=exact - 1e-6,
                                    min_class_recall=0.0, max_accuracy_drop=0.01)
    (auc_config,) = [m for spec in config.metrics_specs for m in spec.metrics
                     if m.class_name == "ExactAUC"]
    assert auc_config.module == "components.exact_auc"
    out = _evaluate(str(tmp_path / "three"), _save(_ScoreModel(3), str(tmp_path / "m3")),
                    _write(str(tmp_path / "d3.tfrecord"), logits, labels, THREE), config)
    rows = {r["name"]: r for r in tfma_gates.read_gates(
        out, tfma_gates.gates_from_evaluation(out, THREE))}
    assert rows["macro one-vs-rest AUC"]["value"] == pytest.approx(exact, abs=1e-9)
    assert rows["macro one-vs-rest AUC"]["passed"] is True
    assert _tfma_failures(out) == (True, [])

    binary = (labels > 0).astype(int)  # 'coat' vs the rest, on a score that saturates too
    scores = (logits[:, 1:].max(1) - logits[:, 0])[:, None]
    exact = roc_auc_score(binary, tf.sigmoid(scores[:, 0]).numpy())  # the model's own
    config = tfma_gates.eval_config(["cat", "dog"], 0.0, exact - 1e-6, 0.0, 0.01)
    out = _evaluate(str(tmp_path / "two"), _save(_ScoreModel(1), str(tmp_path / "m2")),
                    _write(str(tmp_path / "d2.tfrecord"), scores, binary, ["cat", "dog"]),
                    config)
    rows = {r["name"]: r for r in tfma_gates.read_gates(
        out, tfma_gates.gates_from_evaluation(out, ["cat", "dog"]))}
    assert rows["AUC"]["value"] == pytest.approx(exact, abs=1e-9)
    assert _tfma_failures(out) == (True, [])


def test_gate_class_names_the_class_of_each_recall_gate():
    two = tfma_gates.gates_for(["cat", "dog"], 0.5, 0.5, 0.5, 0.01)
    rows = [{**g.__dict__} for g in two]
    assert [tfma_gates.gate_class(r, ["cat", "dog"]) for r in rows] == [
        None, None, "cat", "dog", None]
    three = [{**g.__dict__} for g in tfma_gates.gates_for(THREE, 0.5, 0.5, 0.5, 0.01)]
    assert [tfma_gates.gate_class(r, THREE) for r in three] == [None, None, *THREE, None]


def test_a_class_name_holding_a_quote_reads_unambiguously_in_its_gate_name():
    names = ["men's", "women's", "kids"]
    gates = tfma_gates.gates_for(names, 0.5, 0.5, 0.5, 0.01)
    assert [g.name for g in gates if g.slice] == [
        'recall of "men\'s"', 'recall of "women\'s"', "recall of 'kids'"]
    two = tfma_gates.gates_for(["it's", "dog"], 0.5, 0.5, 0.5, 0.01)
    assert [g.name for g in two][2:4] == ['recall of "it\'s"', "recall of 'dog'"]


def test_two_classes_put_each_classs_own_bound_on_recall_and_specificity():
    config = tfma_gates.eval_config(["ok", "defect"], 0.7, 0.8, 0.5, 0.01, {"defect": 0.9})
    bounds = {m.class_name: m.per_slice_thresholds[0].threshold.value_threshold.lower_bound.value
              for spec in config.metrics_specs for m in spec.metrics
              if m.class_name in ("Recall", "Specificity")}
    assert bounds == {"Recall": pytest.approx(tfma_gates.applied_bound(0.9)),  # class 1
                      "Specificity": pytest.approx(tfma_gates.applied_bound(0.5))}  # class 0
