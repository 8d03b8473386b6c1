"""End to end: the real LocalDagRunner over a tiny slice of the embedded data, real MLMD, real Beam.

One module-scoped run (then an immediate re-run) backs every assertion, to keep CI time low.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import glob  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from ml_metadata import metadata_store  # noqa: E402
from ml_metadata.proto import metadata_store_pb2  # noqa: E402

from pipeline.config import load_config  # noqa: E402
from pipeline.local_runner import run  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

COMPONENTS = ["ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
              "Tuner", "Trainer", "Evaluator", "ExportPusher"]
DONE = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)


def _store(path):
    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = path
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(cfg)


def _executions_by_node(store, pipeline_name):
    out = {}
    for node in COMPONENTS:
        ctx = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node}")
        out[node] = sorted(store.get_executions_by_context(ctx.id), key=lambda e: e.id) if ctx else []
    return out


@pytest.fixture(scope="module")
def runs(e2e_tree, fast_run_overrides, tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e_outputs")
    config = load_config(overrides=[f"data.root={e2e_tree}", f"output.root={out}",
                                    *fast_run_overrides])
    first = run(config)
    store = _store(config.metadata_path)
    after_first = _executions_by_node(store, config.pipeline_name)
    second = run(config)
    after_second = _executions_by_node(_store(config.metadata_path), config.pipeline_name)
    return {"config": config, "first": first, "second": second,
            "after_first": after_first, "after_second": after_second}


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
    assert first["metrics"]["example_count"] == 2 * e2e_per_class["eval"]


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


def test_pushed_tflite_runs_in_interpreter(runs):
    dest = runs["first"]["pushed_destination"]
    files = sorted(glob.glob(os.path.join(dest, "*.tflite")))
    assert files, f"no .tflite in {dest}"
    for path in files:
        interpreter = tf.lite.Interpreter(model_path=path)
        runner = interpreter.get_signature_runner("serving_image")
        (name,) = runner.get_input_details()
        out = runner(**{name: np.full((1, 32, 32, 3), 128.0, np.float32)})["probability"]
        assert out.shape == (1, 1) and 0.0 <= float(out[0, 0]) <= 1.0, path


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
    versions = [v for v in os.listdir(runs["config"].serving_dir) if v.isdigit()]
    assert len(versions) == 1, versions
    assert runs["second"]["pushed_destination"] == runs["first"]["pushed_destination"]


def test_pushed_version_has_the_run_report(runs, e2e_per_class):
    """report.json facts (exported sparsity, manifest, versions, config) and report.html + plots."""
    import json
    dest = runs["first"]["pushed_destination"]
    with open(os.path.join(dest, "report.json")) as f:
        report = json.load(f)
    config = runs["config"]
    pruning = report["training"]["pruning"]
    # default layers 'trainable': the head and block 5 (unfrozen by phase 2's one step)
    assert pruning["layers"] == ["block5_conv1", "block5_conv2", "block5_conv3", "head_dense",
                                 "predictions"]
    sparsity = report["sparsity"]
    assert set(sparsity["layers"]) == set(pruning["layers"])
    for layer, value in sparsity["layers"].items():
        assert value == pytest.approx(config.trainer.pruning.target_sparsity, abs=0.02), layer
    assert report["data_manifest"]["files"] == 2 * sum(e2e_per_class.values())
    assert len(report["data_manifest"]["sha256"]) == 64
    assert report["library_versions"]["tfx"] == "1.16.0"
    assert report["run"]["config"]["trainer"]["pruning"]["layers"] == "trainable"
    assert report["weights_source"].startswith("imagenet")
    assert report["deployed"] in report["tflite"]
    assert os.path.isfile(os.path.join(dest, "report.html"))
    for plot in ("accuracy_vs_size", "confusion", "augmentation"):
        assert os.path.isfile(os.path.join(dest, report["plots"][plot])), plot
    # whatever the Tuner wrote into its tuner_results artifact is copied beside the report
    tuner_dirs = glob.glob(os.path.join(config.pipeline_root, "Tuner", "tuner_results", "*"))
    for name in ("trials.json", "trials.csv", "trials.png"):
        if any(os.path.isfile(os.path.join(d, name)) for d in tuner_dirs):
            assert f"tuner/{name}" in report["tuner_files"], name
            assert os.path.isfile(os.path.join(dest, "tuner", name)), name
