"""The compiled KFP v2 / Vertex spec, executed: `python -m pipeline compile` with tiny spans of real
images baked in as `data_root`, then `python -m pipeline run-compiled` (every task's container
command run in this environment with the ExecutorInput Vertex would give it; issue #15).

Two runs on one --root (their artifact registry is what the resolvers read):
  1. defaults: every task succeeds, the newest span (2) is read, the model is blessed and pushed
     under the serving dir, which followed the run's pipeline root (not the compile-time one);
  2. `--param range_config` selecting span 1 and `--param eval_config` with impossible bounds:
     span 1 is read, the Evaluator's baseline is run 1's model (the latest-blessed-model
     resolver over run 1's artifacts), the model is not blessed, ExportPusher is skipped by its
     trigger condition and nothing new is pushed.
"""
import json
import os
import shutil
from pathlib import Path

import pytest

from pipeline.__main__ import main

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CLASSES = ("shirt", "tshirt_top")
PER_CLASS = 20
FAST = [  # as tests/e2e/test_retrain_spans.py: here the compiled form is under test, not the model
    "model.image_size=32", "model.head_units=16", "tuner.max_trials=1", "tuner.epochs=1",
    "tuner.learning_rate=[0.001]", "tuner.batch_size=[16]", "trainer.epochs=1",
    "trainer.fine_tune.unfreeze_blocks=0", "trainer.pruning.enabled=false",
    "export.tflite_variants=[float32]", "export.parity_examples=20",
    "evaluator.accuracy_lower_bound=0.0", "evaluator.auc_lower_bound=0.0",
    "evaluator.min_class_recall=0.0", "evaluator.max_accuracy_drop=1.0",
]
SPAN_1 = json.dumps({"static_range": {"start_span_number": 1, "end_span_number": 1}})


def _sets(items):
    return [a for item in items for a in ("--set", item)]


def _versions(serving):
    return sorted(n for n in os.listdir(serving) if n.isdigit()) if os.path.isdir(serving) else []


def _impossible(eval_config: str) -> str:
    """The compiled eval_config with accuracy and AUC lower bounds of 1.0."""
    config = json.loads(eval_config)
    for metric in config["metricsSpecs"][0]["metrics"]:
        for gate in metric.get("perSliceThresholds", []):
            bound = gate["threshold"].get("valueThreshold")
            if bound is not None and metric["className"] in ("BinaryAccuracy", "ExactAUC"):
                bound["lowerBound"] = 1.0
    return json.dumps(config)


def _last_run(root):
    with open(root / "metadata.json", encoding="utf-8") as f:
        record = json.load(f)["runs"][-1]["record"]
    with open(record, encoding="utf-8") as f:
        return json.load(f)


def _run(root, spec, *params):
    args = ["run-compiled", str(spec), "--root", str(root)]
    for p in params:
        args += ["--param", p]
    code = main(args)
    return code, _last_run(root)


@pytest.fixture(scope="module")
def flow(data_root, tmp_path_factory):
    from pipeline.config import load_config
    from pipeline.pipeline import resolve_weights
    base = tmp_path_factory.mktemp("run_compiled")
    incoming = base / "incoming"
    for n in (1, 2):
        for cls in CLASSES:
            (incoming / f"span-{n}" / cls).mkdir(parents=True)
            files = sorted((Path(data_root) / "train" / cls).glob("*.png"))
            for src in files[(n - 1) * PER_CLASS:n * PER_CLASS]:
                shutil.copy(src, incoming / f"span-{n}" / cls)
    weights, _ = resolve_weights(load_config())
    spec = base / "pipeline.json"
    settings = [f"data.root={incoming}", "data.train_pattern=span-{SPAN}/*/*",
                "data.eval_pattern=", f"vertex.data_root={incoming}",
                f"vertex.weights_path={weights}", f"output.root={base / 'outputs'}"] + FAST
    assert main(["compile", "--output", str(spec)] + _sets(settings)) == 0
    root = base / "root"
    # the first run reads a copy given as a runtime parameter (as a scheduled run on new data)
    moved = base / "incoming-copy"
    shutil.copytree(incoming, moved)
    first = _run(root, spec, f"data_root={moved}")
    job = json.loads(spec.read_text())
    strict = _impossible(job["runtimeConfig"]["parameterValues"]["eval_config"])
    serving = root / "pipeline_root" / "serving"
    versions_after_first = _versions(serving)
    second = _run(root, spec, f"range_config={SPAN_1}", f"eval_config={strict}")
    return {"first": first, "second": second, "serving": serving, "job": job,
            "versions_after_first": versions_after_first, "incoming": incoming, "moved": moved}


def _task(run, name):
    return run["tasks"][name]


def _output(run, task, key):
    artifact, = _task(run, task)["outputs"][key]
    return artifact


def _meta(artifact, key):
    """A metadata value; TFX's KFP v2 entry point writes custom properties either bare or as
    `custom:<key>` (ImageExampleGen's driver: `custom:span`)."""
    metadata = artifact["metadata"]
    return metadata[key] if key in metadata else metadata[f"custom:{key}"]


def test_first_run_every_task_succeeds(flow):
    code, run = flow["first"]
    assert code == 0
    assert run["state"] == "SUCCEEDED"
    states = {name: t["state"] for name, t in run["tasks"].items()}
    assert set(states) == set(flow["job"]["pipelineSpec"]["root"]["dag"]["tasks"])
    assert set(states.values()) == {"SUCCEEDED"}, states


def test_first_run_reads_the_newest_span_and_has_no_baseline(flow):
    _, run = flow["first"]
    assert _meta(_output(run, "ImageExampleGen", "examples"), "span") == 2
    # No blessed model yet: the resolvers found nothing, the Evaluator has no baseline.
    assert _task(run, "Evaluator")["inputs"]["baseline_model"] == []


def test_first_run_is_blessed_and_pushed_under_the_runs_pipeline_root(flow):
    _, run = flow["first"]
    assert _meta(_output(run, "Evaluator", "blessing"), "blessed") == 1
    serving = flow["serving"]
    # The spec was compiled with the placeholder root; the serving dir followed this run's root.
    assert run["parameters"]["serving_dir"] == str(serving)
    version, = flow["versions_after_first"]
    assert (serving / version / "saved_model" / "saved_model.pb").is_file()
    assert (serving / version / "model_float32.tflite").is_file()
    pushed = _output(run, "ExportPusher", "pushed_model")
    assert _meta(pushed, "pushed") == 1
    assert _meta(pushed, "pushed_destination") == str(serving / version)
    # the report names the data this run read (its data_root parameter), not the compiled one
    report = json.loads((serving / version / "report.json").read_text())
    assert report["run"]["data_root"] == str(flow["moved"])
    assert report["run"]["data_root_compiled"] == str(flow["incoming"])
    assert report["run"]["config"]["data"]["root"] == str(flow["moved"])  # as read (helper-68)
    manifest = report["data_manifest"]
    assert manifest["root"] == str(flow["moved"])
    trained = report["spans"]["trained_on"]  # the manifest covers these spans only (helper-67)
    assert manifest["spans"] == trained and trained
    assert manifest["files"] == sum(len(list(Path(flow["moved"]).glob(f"span-{n}/*/*.png")))
                                    for n in trained)


def test_second_run_reads_the_selected_span(flow):
    code, run = flow["second"]
    assert code == 0, run
    assert _meta(_output(run, "ImageExampleGen", "examples"), "span") == 1


def test_second_run_finds_the_first_runs_model_as_baseline(flow):
    _, first = flow["first"]
    _, second = flow["second"]
    baseline, = _task(second, "Evaluator")["inputs"]["baseline_model"]
    assert baseline["uri"] == _output(first, "Trainer", "model")["uri"]
    assert baseline["uri"] != _output(second, "Trainer", "model")["uri"]
    # The Evaluator compared against it (its blessing records the baseline's artifact name).
    blessing = _output(second, "Evaluator", "blessing")
    assert _meta(blessing, "baseline_model_id") == _output(first, "Trainer", "model")["name"]


def test_second_run_fails_the_stricter_gate_and_is_not_pushed(flow):
    _, run = flow["second"]
    assert _task(run, "Evaluator")["state"] == "SUCCEEDED"
    assert _meta(_output(run, "Evaluator", "blessing"), "blessed") == 0
    pusher = _task(run, "ExportPusher")
    assert pusher["state"] == "SKIPPED" and "condition false" in pusher["reason"]
    assert _versions(flow["serving"]) == flow["versions_after_first"]


def test_the_closing_lines_name_each_gate_and_which_failed(flow):
    """run-compiled's console says why a model was not pushed, as `run`'s summary does (user
    trial helper-55: only 'ExportPusher SKIPPED (condition false ...)')."""
    from pipeline.compiled_runner.results import gate_lines
    first = gate_lines(flow["first"][1]["tasks"])
    assert first[0].startswith("evaluation (TFMA on the SavedModel, held-out test split): "
                               "accuracy=") and "(95 % interval " in first[0]
    assert first[1] == "blessed: yes"
    assert any(line.startswith("  gate recall of 'shirt'") and " test images; 95 % interval "
               in line for line in first), first
    second = gate_lines(flow["second"][1]["tasks"])
    assert second[1].startswith("blessed: NO (failed: ")
    assert any(" FAIL (set evaluator." in line for line in second), second


BEAM_TASKS = ("ImageExampleGen", "StatisticsGen", "Transform", "Evaluator")
SDIST_LOG = "Attempting to infer TFX Python dependency for beam"  # tfx.utils.dependency_utils


def test_beam_tasks_run_the_wrapped_entry_point_and_build_no_tfx_sdist(flow):
    """The compiled command (pipeline/container_executor.py) installs the in-process-Beam skip:
    TFX's entry point alone logs SDIST_LOG and builds its sdist in each of these tasks."""
    _, run = flow["first"]
    for name in BEAM_TASKS:
        log = Path(_task(run, name)["log"]).read_text(encoding="utf-8")
        assert "-m pipeline.container_executor" in log, name
        assert SDIST_LOG not in log, name
