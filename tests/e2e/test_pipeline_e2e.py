"""End to end: the real LocalDagRunner over a tiny slice of the embedded data, real MLMD, real Beam.

One session-scoped run (then an immediate re-run; the `runs` fixture in conftest.py) backs every
assertion here and in test_deployed_contract.py, to keep CI time low.
"""
import os


import glob

import pytest
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2

from modules.layer_names import CONV_LAYER_NAMES, HEAD_LAYER_NAMES

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

COMPONENTS = ["ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
              "Tuner", "Trainer", "Evaluator", "ExportPusher"]


def test_every_component_finished(runs):
    for node, executions in runs["after_first"].items():
        assert executions, f"no MLMD execution for {node}"
        assert executions[-1].last_known_state == metadata_store_pb2.Execution.COMPLETE, node


def test_blessed_and_pushed(runs, e2e_per_class):
    first = runs["first"]
    assert first["blessed"] is True
    assert first["pushed"] is True
    dest = first["pushed_destination"]
    assert os.path.isdir(os.path.join(dest, "saved_model"))
    assert os.path.dirname(dest) == runs["config"].serving_dir
    assert first["report"]["run"]["weights_source"].startswith("imagenet")
    assert first["metrics"]["example_count"] == 2 * e2e_per_class["test"]  # TFMA on test only


def test_pushed_saved_model_scores_a_serialized_example(runs, e2e_tree):
    dest = runs["first"]["pushed_destination"]
    image_path = sorted(glob.glob(os.path.join(e2e_tree, "eval", "shirt", "*.png")))[0]
    with open(image_path, "rb") as f:
        data = f.read()
    example = tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}))
    loaded = tf.saved_model.load(os.path.join(dest, "saved_model"))
    out = loaded.signatures["serving_default"](
        examples=tf.constant([example.SerializeToString()]))
    prob = out["probability"].numpy()
    assert prob.shape == (1, 1)
    assert 0.0 <= float(prob[0, 0]) <= 1.0


def test_immediate_rerun_is_served_from_cache(runs):
    """Every component CACHED, the Evaluator and ExportPusher too: the baseline is the latest
    blessed model other than the candidate (pipeline/resolvers.BaselineModelStrategy), so the
    first run's blessing does not change the re-run's Evaluator inputs."""
    before, after = runs["after_first"], runs["after_second"]
    for node in COMPONENTS:
        new = after[node][len(before[node]):]
        assert len(new) == 1, f"{node}: expected one new execution on re-run, got {len(new)}"
        assert new[0].last_known_state == metadata_store_pb2.Execution.CACHED, node


def test_rerun_pushes_no_new_version(runs):
    from pipeline.summary import format_summary
    versions = [v for v in os.listdir(runs["config"].serving_dir) if v.isdigit()]
    assert len(versions) == 1, versions
    assert runs["second"]["pushed_destination"] == runs["first"]["pushed_destination"]
    # and the summary says the push is an earlier run's
    assert runs["first"]["push_cached"] is False and runs["second"]["push_cached"] is True
    assert "this run's ExportPusher was cached" in format_summary(runs["second"])
    assert "ExportPusher was cached" not in format_summary(runs["first"])


def test_pushed_version_has_the_run_report(runs, e2e_per_class):
    """report.json facts (exported sparsity, manifest, versions, config) and report.html + plots."""
    import json
    dest = runs["first"]["pushed_destination"]
    with open(os.path.join(dest, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    config = runs["config"]
    pruning = report["training"]["pruning"]
    # the quick profile's layers 'all': the 13 conv layers and the head
    assert pruning["layers"] == [*CONV_LAYER_NAMES, *HEAD_LAYER_NAMES]
    assert pruning["score"] == "activation_aware"
    sparsity = report["sparsity"]
    assert set(sparsity["layers"]) == set(pruning["layers"])
    target = config.trainer.pruning.target_sparsity
    for layer, value in sparsity["layers"].items():
        if layer in HEAD_LAYER_NAMES:
            # |w| * rms(x): the weights of inputs that are always 0 on the train images (dead
            # ReLUs) go first, so a Dense layer may be sparser than the target, never less
            assert target - 0.02 <= value < 1.0, layer
        else:
            assert value == pytest.approx(target, abs=0.02), layer
    assert report["data_manifest"]["files"] == 2 * sum(e2e_per_class.values())
    assert len(report["data_manifest"]["sha256"]) == 64
    assert report["library_versions"]["tfx"] == "1.16.0"
    assert report["run"]["config"]["trainer"]["pruning"]["layers"] == "all"
    # frozen ImageNet base, no augmentation: phase 1 trained the head on features computed once
    assert report["training"]["phase1"]["features_cached"] is True
    # and phase 2 trained block 5 and the head on block4_pool's outputs computed once
    steps = report["training"]["phase2"]["steps"]
    assert steps and all(step["features_cached"] for step in steps)
    # the pruning fine-tune (retrain_blocks 1): blocks 1-4 pruned once and frozen, block 5 and
    # the head retrained on block4_pool's outputs computed once; redone with every block
    # retrained only when that ends > 2 validation points below the dense model (fallback)
    pruning = report["training"]["pruning"]
    fallback = pruning["fallback"]
    assert (fallback["margin"], fallback["retrain_blocks"]) == (0.02, 1)
    assert fallback["first"]["pruned_once_and_frozen"] == [
        n for n in CONV_LAYER_NAMES if not n.startswith("block5")]
    assert fallback["first"]["features_cached"] is True, (
        pruning.get("features_not_cached_because"))
    assert fallback["ran"] == (fallback["accuracy"] < fallback["dense_accuracy"] - 0.02)
    assert pruning["retrain_blocks"] == (fallback["second_retrain_blocks"]
                                         if fallback["kept"] == "second" else 1)
    assert report["training"]["final_validation"]["accuracy"] == pytest.approx(
        fallback["second_accuracy"] if fallback["kept"] == "second"
        else fallback["accuracy"])
    # where the Trainer's time went (seconds per phase, the SavedModel export included)
    assert {"phase1", "phase2", "pruning", "final_validation", "export"} <= set(
        report["training"]["seconds"])
    assert report["weights_source"].startswith("imagenet")
    assert report["deployed"] in report["tflite"]
    assert os.path.isfile(os.path.join(dest, "report.html"))
    # the quick profile trains without augmentation: no augmentation plot, a note instead (the
    # plot itself: tests/components/test_export_pusher.py)
    assert config.trainer.augmentation.enabled is False
    assert set(report["plots"]) == {"accuracy_vs_size", "confusion"}
    assert report["augmentation_note"] == "Augmentation was disabled for this model."
    for plot in report["plots"].values():
        assert os.path.isfile(os.path.join(dest, plot)), plot
    # the local TrialsTuner writes trials.json/csv/png into tuner_results; they are copied
    # beside the report
    (tuner_dir,) = glob.glob(os.path.join(config.pipeline_root, "Tuner", "tuner_results", "*"))
    for name in ("trials.json", "trials.csv", "trials.png"):
        assert os.path.isfile(os.path.join(tuner_dir, name)), name
        assert f"tuner/{name}" in report["tuner_files"], name
        assert os.path.isfile(os.path.join(dest, "tuner", name)), name


def test_pushed_report_keeps_the_gates_that_blessed_it(runs, e2e_per_class, e2e_ignored):
    """report.json and report.html carry the Evaluator's metrics and every gate with its value,
    the same as the run summary printed (the summary reads MLMD; the report is what ships)."""
    import json
    from components.image_example_gen.data_checks import ignored_files
    from pipeline.summary import format_data_report
    dest = runs["first"]["pushed_destination"]
    with open(os.path.join(dest, "report.json"), encoding="utf-8") as f:
        evaluation = json.load(f)["evaluation"]
    assert evaluation["blessed"] is True and evaluation["failed"] == []
    assert evaluation["metrics"]["example_count"] == 2 * e2e_per_class["test"]
    assert evaluation["metrics"] == pytest.approx(runs["first"]["metrics"])
    gates = {g["name"]: g for g in evaluation["gates"]}
    assert gates.keys() == {g["name"] for g in runs["first"]["gates"]}
    assert {"accuracy", "AUC"} <= gates.keys()
    assert gates["accuracy"]["value"] == pytest.approx(evaluation["metrics"]["binary_accuracy"])
    assert gates["accuracy"]["config_key"] == "evaluator.accuracy_lower_bound"
    with open(os.path.join(dest, "report.html"), encoding="utf-8") as f:
        page = f.read()
    assert "Evaluator gates (TFMA, held-out test split)" in page
    # ... and the data checks of the ExampleGen run it was trained from (a clean tree here)
    with open(os.path.join(dest, "report.json"), encoding="utf-8") as f:
        checks = json.load(f)["data_checks"]
    assert checks["examples_uri"] == runs["first"]["data"]["examples_uri"]
    assert checks["quarantine"]["quarantined"] == 0 and checks["leakage"]["leaked_files"] == 0
    # the tree's notes.txt, Thumbs.db and nested folder were ignored, not quarantined, and listed
    assert sorted(ignored_files(checks)) == sorted(e2e_ignored)
    assert "ignored (not read: no image extension, a nested folder, or outside a class folder)" \
        in page
    assert "notes.txt" in page
    assert any(line.startswith("ignored (not read: no image extension, a nested folder, or "
                               "outside a class folder): 4 path(s)")
               for line in format_data_report(runs["first"]["data"]))
    assert "evaluator.accuracy_lower_bound" in page


def test_report_records_distribution_and_precision(runs):
    """The local default: one CPU, the default strategy (a no-op), float32, XLA off (#18)."""
    training = runs["first"]["report"]["training"]
    d = training["distribution"]
    assert d["strategy"] == "_DefaultDistributionStrategy" and d["replicas"] == 1
    assert d["global_batch_size"] == d["per_replica_batch_size"] == \
        training["hyperparameters"]["batch_size"]
    assert training["precision"]["mixed_precision"] == "none"
    assert training["precision"]["output_dtype"] == "float32"
    assert training["jit_compile"] is False
