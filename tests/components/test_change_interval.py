"""components/change_interval: TFX's own Evaluator executor (real TFMA, real Beam) with TFMA's
confidence intervals switched on only when there is a baseline; the change gate's line then
carries the paired 95 % interval of the difference, and says when it holds the threshold."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components import tfma_gates
from components.change_interval.executor import Executor, with_confidence_intervals

NAMES = ["cat", "dog"]


class _ScoreModel(tf.Module):
    """serving_default(examples) -> {'probability': sigmoid(score + shift)}."""

    def __init__(self, shift: float = 0.0):
        super().__init__()
        self.shift = shift

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        spec = {"score": tf.io.FixedLenFeature([1], tf.float32)}
        return {"probability": tf.sigmoid(tf.io.parse_example(examples, spec)["score"]
                                          + self.shift)}


def _model(root, shift):
    art = standard_artifacts.Model()
    art.uri = str(root)
    module = _ScoreModel(shift)
    tf.saved_model.save(module, os.path.join(art.uri, "Format-Serving"),
                        signatures={"serving_default": module.serve})
    return art


def _examples(root, scores, labels):
    art = standard_artifacts.Examples()
    art.uri = str(root)
    art.split_names = artifact_utils.encode_split_names(["test"])
    os.makedirs(os.path.join(art.uri, "Split-test"))
    with tf.io.TFRecordWriter(os.path.join(art.uri, "Split-test", "data")) as w:
        for s, y in zip(scores, labels):
            w.write(tf.train.Example(features=tf.train.Features(feature={
                "score": tf.train.Feature(float_list=tf.train.FloatList(value=[float(s)])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(y)])),
                "class_name": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[NAMES[int(y)].encode()]))})).SerializeToString())
    return art


def _evaluate(tmp_path, name, baseline_shift=None):
    """The Evaluator executor on 200 examples: the candidate gets 20 wrong; a baseline with
    `baseline_shift` (None: no baseline) moves the borderline ones."""
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 2
    scores = np.where(labels == 1, 1.0, -1.0) * rng.uniform(0.05, 2.0, 200)
    scores[:20] *= -1
    root = tmp_path / name
    inputs = {"model": [_model(root / "candidate", 0.0)],
              "examples": [_examples(root / "examples", scores, labels)]}
    if baseline_shift is not None:
        inputs["baseline_model"] = [_model(root / "baseline", baseline_shift)]
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(root / "evaluation"), str(root / "blessing")
    os.makedirs(blessing.uri)
    config = tfma_gates.eval_config(NAMES, 0.0, 0.0, 0.0, max_accuracy_drop=0.01)
    Executor().Do(inputs, {"evaluation": [evaluation], "blessing": [blessing]},
                  {"eval_config": proto_utils.proto_to_json(config),
                   "example_splits": json.dumps(["test"])})
    gates = tfma_gates.gates_from_evaluation(evaluation.uri, NAMES)
    rows = tfma_gates.read_gates(evaluation.uri, gates)
    return next(r for r in rows if r["name"] == "accuracy vs baseline"), rows, blessing


def test_the_eval_config_gets_intervals_and_keeps_the_rest():
    config = tfma_gates.eval_config(NAMES, 0.7, 0.8, 0.5, max_accuracy_drop=0.01)
    text = with_confidence_intervals(proto_utils.proto_to_json(config))
    assert json.loads(text)["options"]["compute_confidence_intervals"] is True
    again = json.loads(text)
    del again["options"]
    assert again == {k: v for k, v in json.loads(proto_utils.proto_to_json(config)).items()
                     if k != "options"}


def test_with_a_baseline_the_change_gate_has_its_paired_interval(tmp_path):
    row, rows, blessing = _evaluate(tmp_path, "close", baseline_shift=0.3)
    lower, upper = row["interval"]
    assert lower < row["value"] < upper and upper - lower < 0.2
    assert row["value"] == pytest.approx(row["candidate_value"] - row["baseline_value"])
    line = tfma_gates.format_gate(row)
    assert f"95 % interval of the difference {lower:+.4f} to {upper:+.4f}" in line
    assert ("which holds the threshold" in line) == (lower < -0.01 <= upper)
    # the blessing is TFMA's verdict on the point values, as without intervals
    assert bool(blessing.get_int_custom_property("blessed")) == all(
        r["passed"] is not False for r in rows)


def test_far_apart_models_get_an_interval_that_does_not_hold_the_threshold(tmp_path):
    row, _, _ = _evaluate(tmp_path, "far", baseline_shift=-3.0)  # the baseline says 'cat'
    lower, upper = row["interval"]
    assert lower > -0.01 and "holds the threshold" not in tfma_gates.format_gate(row)


def test_without_a_baseline_nothing_changes(tmp_path):
    row, rows, _ = _evaluate(tmp_path, "alone")
    assert row["passed"] is None and "interval" not in row
    assert all(r.get("interval") is None for r in rows)


def test_interval_words_say_when_the_interval_holds_the_threshold():
    assert tfma_gates.interval_words([-0.041, 0.0144], -0.01) == (
        "95 % interval of the difference -0.0410 to +0.0144, which holds the threshold: within "
        "what the choice of test images moves; more test images narrow it")
    assert tfma_gates.interval_words([0.01, 0.05], -0.01) == (
        "95 % interval of the difference +0.0100 to +0.0500")
    assert "holds" not in tfma_gates.interval_words([-0.2, -0.05], -0.01)  # clearly worse
    # helper-73: two models right on the same images: a jackknife interval of no width
    assert tfma_gates.interval_words([0.0, 0.0], -0.01) == (
        "95 % interval of the difference +0.0000 to +0.0000 (no width: the two models are right "
        "and wrong on the same test images, so these images show no spread, not a certain "
        "difference beyond them)")


@pytest.mark.parametrize("on", [True, False])
def test_the_pipeline_uses_it_unless_switched_off(tmp_path, on):
    from tfx.components.evaluator import executor as tfx_evaluator

    from pipeline.config import load_config
    from pipeline.pipeline import create_pipeline
    config = load_config(overrides=[f"output.root={tmp_path}",
                                    f"evaluator.change_interval={str(on).lower()}"])
    (evaluator,) = [c for c in create_pipeline(config, weights=(None, "none")).components
                    if c.id == "Evaluator"]
    assert evaluator.executor_spec.executor_class is (Executor if on else tfx_evaluator.Executor)
    assert evaluator.executor_spec.beam_pipeline_args  # the pipeline's Beam args still apply
