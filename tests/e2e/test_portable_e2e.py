"""End to end on Beam's portable stack: every Beam component runs in SDK worker processes.

A local job service + EXTERNAL worker pool (`pipeline.beam_cluster`) serve the whole pipeline run
with `beam.runner=portable`; the driver is a `python -m pipeline run` subprocess under a deadline
(a stuck job fails the test instead of hanging). A `sitecustomize` probe on the worker pool's
PYTHONPATH records when each SDK worker process started and which modules it imported: every Beam
component's execution window (MLMD) must contain a worker start, proving its Beam work ran there.

Reference: instead of a second, in-memory pipeline run (~4 more minutes), the outputs are checked
against fixed expectations (example counts per split, schema features, transform output shape,
blessing) and against in-memory recomputations in this process: Transform's output vs
`decode_and_resize` applied to the same raw examples, and the Evaluator's TFMA accuracy vs the
pushed SavedModel scored here on the same eval examples.
"""
import os


import glob
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.beam_cluster import beam_cluster
from pipeline.config import load_config
from pipeline.summary import run_summary

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO_ROOT = Path(__file__).resolve().parents[2]
BEAM_COMPONENTS = ["ImageExampleGen", "StatisticsGen", "Transform", "Evaluator"]
ALL_COMPONENTS = ["ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
                  "Tuner", "Trainer", "Evaluator", "ExportPusher"]
RUN_DEADLINE_S = 1200   # the whole driver run; a worker that cannot start would hang ~300 s/job

# Loaded into every process started with the probe dir on PYTHONPATH; only SDK workers record.
PROBE = textwrap.dedent('''
    import json, os, sys, threading, time
    _dir = os.environ.get("WORKER_PROBE_DIR")
    try:
        _cmd = open("/proc/self/cmdline", "rb").read().decode(errors="replace")
    except OSError:
        _cmd = ""
    if _dir and "SdkHarness" in _cmd:
        _started = time.time()
        _PREFIXES = ("components", "modules", "tensorflow_transform",
                     "tensorflow_model_analysis", "tensorflow_data_validation", "tf_keras")
        def _dump():
            path = os.path.join(_dir, "%d.json" % os.getpid())
            while True:
                mods = sorted(m for m in list(sys.modules) if m.split(".")[0] in _PREFIXES)
                with open(path + ".tmp", "w") as f:
                    json.dump({"pid": os.getpid(), "ppid": os.getppid(), "started": _started,
                               "modules": mods}, f)
                os.replace(path + ".tmp", path)
                time.sleep(0.5)
        threading.Thread(target=_dump, daemon=True).start()
''')


def _store(path):
    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = path
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(cfg)


@pytest.fixture(scope="module")
def portable(e2e_tree, fast_run_overrides, tmp_path_factory):
    """One pipeline run on the portable stack; the stack is stopped before the tests assert."""
    work = tmp_path_factory.mktemp("portable")
    probe_site, probe_dir = work / "probe_site", work / "probe"
    probe_site.mkdir()
    probe_dir.mkdir()
    (probe_site / "sitecustomize.py").write_text(PROBE)
    out = work / "outputs"
    sets = [f"data.root={e2e_tree}", f"output.root={out}", *fast_run_overrides,
            "export.tflite_variants=[float32]"]
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
    with beam_cluster(state_dir=str(work / "cluster"), smoke_timeout=0,
                      extra_env={"PYTHONPATH": str(probe_site),
                                 "WORKER_PROBE_DIR": str(probe_dir)}) as cluster:
        overrides = cluster.overrides() + sets
        cmd = [sys.executable, "-m", "pipeline", "run", "--verbose"] + [  # the full stream
            a for s in overrides for a in ("--set", s)]
        log_path = work / "driver.log"
        with open(log_path, "w", encoding="utf-8") as log:
            try:
                rc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, timeout=RUN_DEADLINE_S).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        job_log = Path(cluster.job_service_log).read_text(encoding="utf-8", errors="replace")
        pool_log = Path(cluster.worker_pool_log).read_text(encoding="utf-8", errors="replace")
    driver_log = log_path.read_text(errors="replace")
    assert rc == 0, f"portable run failed ({rc}); driver log tail:\n{driver_log[-4000:]}"
    config = load_config(overrides=overrides)
    probes = [json.loads(p.read_text()) for p in sorted(probe_dir.glob("*.json"))]
    return {"config": config, "summary": run_summary(config.metadata_path), "cluster": cluster,
            "driver_log": driver_log, "job_log": job_log, "pool_log": pool_log,
            "probes": probes}


def test_every_component_completed(portable):
    config = portable["config"]
    store = _store(config.metadata_path)
    for node in ALL_COMPONENTS:
        ctx = store.get_context_by_type_and_name("node", f"{config.pipeline_name}.{node}")
        assert ctx is not None, f"no MLMD context for {node}"
        executions = store.get_executions_by_context(ctx.id)
        assert [e.last_known_state for e in executions] == [
            metadata_store_pb2.Execution.COMPLETE], node


def test_beam_jobs_went_through_the_job_service(portable):
    assert "--runner=PortableRunner" in " ".join(portable["config"].beam_pipeline_args)
    done = portable["job_log"].count("with state DONE")
    # 1 preflight smoke job + ImageExampleGen, StatisticsGen, Transform, Evaluator at least.
    assert done >= 1 + len(BEAM_COMPONENTS), portable["job_log"][-3000:]
    assert "state FAILED" not in portable["job_log"]
    assert "prism" not in portable["driver_log"].lower()


def _workers_with(probes, module):
    return [p["pid"] for p in probes if module in p["modules"]]


def test_beam_work_ran_in_sdk_worker_processes(portable):
    """Every Beam component's execution started an SDK worker of the worker pool (not this
    process, not the driver), and the workers imported the libraries doing the work."""
    probes = portable["probes"]
    assert probes, "no SDK worker process ran (probe files missing)"
    pool_pid = portable["cluster"].worker_pool_pid
    assert all(p["ppid"] == pool_pid and p["pid"] != os.getpid() for p in probes)
    assert portable["pool_log"].count("Starting worker with command") == len(probes)
    config = portable["config"]
    store = _store(config.metadata_path)
    for node in BEAM_COMPONENTS:
        ctx = store.get_context_by_type_and_name("node", f"{config.pipeline_name}.{node}")
        (execution,) = store.get_executions_by_context(ctx.id)
        begin = execution.create_time_since_epoch / 1000.0
        end = execution.last_update_time_since_epoch / 1000.0
        started = [p["started"] for p in probes]
        assert any(begin <= t <= end for t in started), (node, begin, end, sorted(started))
    # StatisticsGen's TFDV, and Transform's TFT with the project's preprocessing module.
    assert _workers_with(probes, "tensorflow_data_validation.statistics.stats_impl")
    assert _workers_with(probes, "tensorflow_transform.beam.impl")
    assert _workers_with(probes, "modules.preprocessing")


def _records(uri, split):
    files = sorted(glob.glob(os.path.join(uri, f"Split-{split}", "*")))
    assert files, f"no records under {uri}/Split-{split}"
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _latest_uri(config, type_name, producer, output_key=""):
    """URI of the latest live `type_name` artifact written by node `producer` (under output key)."""
    store = _store(config.metadata_path)
    part = os.sep + os.path.join(producer, output_key) if output_key else os.sep + producer + os.sep
    artifacts = [a for a in store.get_artifacts_by_type(type_name)
                 if a.state == metadata_store_pb2.Artifact.LIVE and part in a.uri]
    assert artifacts, f"no live {type_name} artifact from {producer}"
    return max(artifacts, key=lambda a: a.id).uri


def test_example_counts_and_schema(portable, e2e_per_class):
    config = portable["config"]
    uri = _latest_uri(config, "Examples", "ImageExampleGen")
    role = {"train": "train", "eval": "validation", "test": "test"}  # tree folder -> split
    for folder, n in e2e_per_class.items():
        assert len(_records(uri, role[folder])) == 2 * n, folder  # two classes
    from tfx.utils import io_utils
    from tensorflow_metadata.proto.v0 import schema_pb2
    schema_uri = _latest_uri(config, "Schema", "SchemaGen")
    schema = io_utils.parse_pbtxt_file(os.path.join(schema_uri, "schema.pbtxt"),
                                       schema_pb2.Schema())
    assert {f.name for f in schema.feature} == {
        "image", "label", "class_name", "path", "height", "width"}


def test_transform_output_matches_in_memory_preprocessing(portable):
    """Transform (run by SDK workers) == `decode_and_resize` run here on the same raw examples."""
    from modules.preprocessing import decode_and_resize
    config = portable["config"]
    examples_uri = _latest_uri(config, "Examples", "ImageExampleGen")
    raw = [tf.train.Example.FromString(r) for r in _records(examples_uri, "test")]
    expected = [(int(e.features.feature["label"].int64_list.value[0]),
                 decode_and_resize(tf.constant(e.features.feature["image"].bytes_list.value[0]),
                                   32).numpy()) for e in raw]
    expected.sort(key=lambda t: (t[0], float(t[1].sum())))
    got = []
    transformed = _latest_uri(config, "Examples", "Transform", "transformed_examples")
    for r in _records(transformed, "test"):
        f = tf.train.Example.FromString(r).features.feature
        image = np.asarray(f["image_xf"].float_list.value, np.float32)
        assert image.shape == (32 * 32 * 3,)
        got.append((int(f["label"].int64_list.value[0]), image.reshape(32, 32, 3)))
    got.sort(key=lambda t: (t[0], float(t[1].sum())))
    assert [g[0] for g in got] == [e[0] for e in expected]
    for (_, g), (_, e) in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-3)


def test_blessed_pushed_and_tfma_accuracy_matches_in_memory_scoring(portable, e2e_per_class):
    summary = portable["summary"]
    assert summary["blessed"] is True and summary["pushed"] is True
    metrics = summary["metrics"]
    n_eval = 2 * e2e_per_class["test"]
    assert metrics["example_count"] == n_eval
    dest = summary["pushed_destination"]
    assert os.path.isdir(os.path.join(dest, "saved_model"))
    assert len(glob.glob(os.path.join(dest, "*.tflite"))) == 1  # export.tflite_variants=[float32]
    loaded = tf.saved_model.load(os.path.join(dest, "saved_model"))
    raw = _records(summary["data"]["examples_uri"], "test")
    labels = np.array([tf.train.Example.FromString(r).features.feature["label"]
                       .int64_list.value[0] for r in raw])
    prob = loaded.signatures["serving_default"](examples=tf.constant(raw))["probability"].numpy()
    accuracy = float(np.mean((prob[:, 0] > 0.5).astype(int) == labels))
    # Same model, same 20 examples: TFMA on the workers agrees with scoring here, allowing one
    # example exactly at the 0.5 threshold.
    assert abs(metrics["binary_accuracy"] - accuracy) <= 1.0 / n_eval + 1e-6, (
        metrics["binary_accuracy"], accuracy)
