"""Reliability end to end: the real CLI (`python -m pipeline run`) as subprocesses on tiny data.

One output root is shared by a chain of module-scoped runs, each step building on the last:
  1. two runs started at once: one exits at once ("already running", exit 3), the other is
     SIGKILLed (whole process group) while the Trainer runs;
  2. the re-run reuses everything that had finished (CACHED in MLMD) and is SIGKILLed mid-push
     (as soon as the `.incomplete-*` staging directory appears);
  3. the next re-run completes and pushes version 1: no partial version directory, no execution
     left NEW/RUNNING in MLMD (the two killed ones are CANCELED);
  4. a deliberately worse model (train labels swapped) with a corrupt file and a train/eval
     duplicate: quarantined and leakage listed in the CLI summary, not blessed, not pushed,
     version 1 byte-identical (sha256 of every file);
  5. a new data set with a class the curated schema does not know: ExampleValidator's anomaly
     stops the run before Transform (exit 4, readable list, no traceback).
Plus one short run whose quarantined fraction is above the limit (exit 4, one clear message).
"""
import glob
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO_ROOT = Path(__file__).resolve().parents[2]
CLASSES = ("shirt", "tshirt_top")
# Enough data and head epochs for the baseline to beat chance clearly, so a model trained on
# swapped labels is clearly worse (with 20 images per class and 1 epoch both sit at ~0.5, and the
# gate rightly cannot tell them apart); augmentation, phase 2 and pruning are off (tested
# elsewhere): they slow the head's learning on so few images.
PER_CLASS = {"train": 100, "eval": 30}
FAST = [  # small model; one TFLite variant (parity itself is tested elsewhere)
    "model.image_size=32", "model.head_units=16", "tuner.max_trials=1", "tuner.epochs=1",
    "tuner.learning_rate=[0.001]", "tuner.batch_size=[16]", "trainer.epochs=8",
    "trainer.augmentation.enabled=false", "trainer.fine_tune.unfreeze_blocks=0",
    "trainer.pruning.enabled=false",
    "export.tflite_variants=[float32]", "export.parity_examples=20",
    # Absolute bounds off: the gate under test is "not worse than the latest blessed model".
    "evaluator.accuracy_lower_bound=0.0", "evaluator.auc_lower_bound=0.0",
    "evaluator.min_class_recall=0.0",
    "evaluator.max_accuracy_drop=0.01",
]
BEFORE_TRAINER = ["ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                  "AnomaliesGate", "Transform", "Tuner"]
ACTIVE = (metadata_store_pb2.Execution.NEW, metadata_store_pb2.Execution.RUNNING)
TIMEOUT = 900  # seconds per CLI run


# ----------------------------------------------------------------------------------- helpers


def _copy_slice(data_root, dest: Path) -> Path:
    for split, n in PER_CLASS.items():
        for cls in CLASSES:
            (dest / split / cls).mkdir(parents=True, exist_ok=True)
            for src in sorted(glob.glob(os.path.join(data_root, split, cls, "*.png")))[:n]:
                shutil.copy(src, dest / split / cls)
    return dest


def _cli(data: Path, out: Path, log: Path, *extra: str) -> subprocess.Popen:
    """Starts `python -m pipeline run --verbose` (the full TFX stream: the kill points are found in
    it) in its own process group; stdout+stderr go to `log`."""
    args = [sys.executable, "-m", "pipeline", "run", "--verbose", "--set", f"data.root={data}",
            "--set", f"output.root={out}"]
    for item in FAST + list(extra):
        args += ["--set", item]
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONUNBUFFERED="1")
    with open(log, "w", encoding="utf-8") as f:
        return subprocess.Popen(args, cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)


def _wait(proc: subprocess.Popen, timeout: float = TIMEOUT) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def _kill_when(proc: subprocess.Popen, condition, what: str, timeout: float = TIMEOUT) -> None:
    """SIGKILLs the whole process group as soon as `condition()` holds."""
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"run ended (exit {proc.returncode}) before {what}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def _store(path) -> metadata_store.MetadataStore:
    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = str(path)
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(cfg)


def _executions(out: Path):
    """{node id: [executions, oldest first]} from MLMD."""
    store = _store(out / "metadata.sqlite")
    result = {}
    for ctx in store.get_contexts_by_type("node"):
        node = ctx.name.split(".", 1)[1]
        result[node] = sorted(store.get_executions_by_context(ctx.id), key=lambda e: e.id)
    return result


def _states(execs):
    return [metadata_store_pb2.Execution.State.Name(e.last_known_state) for e in execs]


def _tree_hashes(root: Path):
    """{relative path: sha256} of every file under `root`."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def _versions(serving: Path):
    return sorted(n for n in os.listdir(serving) if n.isdigit()) if serving.is_dir() else []


def _leftovers(serving: Path):
    return sorted(n for n in os.listdir(serving) if not n.isdigit()) if serving.is_dir() else []


# --------------------------------------------------------------------------------- the chain


@pytest.fixture(scope="module")
def env(data_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reliability")
    return {"tmp": tmp, "data": _copy_slice(data_root, tmp / "data"), "out": tmp / "out",
            "logs": tmp}


@pytest.fixture(scope="module")
def killed_in_trainer(env):
    """Two runs started at once; the loser must exit 3, the winner is SIGKILLed in the Trainer."""
    logs = [env["logs"] / "run1a.log", env["logs"] / "run1b.log"]
    procs = [_cli(env["data"], env["out"], log) for log in logs]
    started = time.time()
    while all(p.poll() is None for p in procs):
        assert time.time() - started < 300, "neither concurrent run exited"
        time.sleep(0.2)
    loser = next(i for i, p in enumerate(procs) if p.poll() is not None)
    loser_seconds = time.time() - started
    winner = procs[1 - loser]

    def trainer_running():
        text = logs[1 - loser].read_text()
        at = text.find("Component Trainer is running.")
        return at >= 0 and "Going to run a new execution" in text[at:]

    _kill_when(winner, trainer_running, "the Trainer to start")
    time.sleep(0.5)
    return {"loser_code": procs[loser].returncode, "loser_seconds": loser_seconds,
            "loser_output": logs[loser].read_text(), "winner_log": logs[1 - loser],
            "after": _executions(env["out"])}


@pytest.fixture(scope="module")
def killed_in_push(env, killed_in_trainer):
    """The re-run, SIGKILLed as soon as the push's staging directory exists."""
    serving = env["out"] / "serving"
    proc = _cli(env["data"], env["out"], env["logs"] / "run2.log")
    _kill_when(proc, lambda: bool(glob.glob(str(serving / ".incomplete-*"))),
               "the push to start")
    from pipeline.summary import run_summary
    return {"leftovers": _leftovers(serving), "versions": _versions(serving),
            "after": _executions(env["out"]), "log": (env["logs"] / "run2.log").read_text(),
            "summary": run_summary(str(env["out"] / "metadata.sqlite"))}


@pytest.fixture(scope="module")
def completed(env, killed_in_push):
    """The second re-run: must complete and push version 1."""
    log = env["logs"] / "run3.log"
    code = _wait(_cli(env["data"], env["out"], log))
    serving = env["out"] / "serving"
    return {"code": code, "output": log.read_text(), "after": _executions(env["out"]),
            "versions": _versions(serving), "leftovers": _leftovers(serving)}


@pytest.fixture(scope="module")
def worse(env, completed, real_png):
    """Train labels swapped (shirt <-> tshirt_top), one corrupt PNG, one eval image also in train."""
    data = env["tmp"] / "worse_data"
    shutil.copytree(env["data"], data)
    for cls in CLASSES:
        os.rename(data / "train" / cls, data / "train" / f"{cls}.tmp")
    for a, b in (CLASSES, CLASSES[::-1]):
        os.rename(data / "train" / f"{a}.tmp", data / "train" / b)
    png = real_png.read_bytes()
    (data / "train" / "shirt" / "corrupt.png").write_bytes(png[: len(png) // 2])
    leaked = sorted((data / "eval" / "shirt").iterdir())[0]
    shutil.copy(leaked, data / "train" / "shirt" / "leaked_copy.png")
    serving = env["out"] / "serving"
    (version,) = _versions(serving)
    before = _tree_hashes(serving / version)
    log = env["logs"] / "run4.log"
    code = _wait(_cli(data, env["out"], log, "data.max_quarantine_fraction=0.05"))
    return {"code": code, "output": log.read_text(), "version": version, "before": before,
            "after_hashes": _tree_hashes(serving / version), "versions": _versions(serving),
            "leaked": leaked.name}


@pytest.fixture(scope="module")
def drifted(env, worse):
    """A new data set with a class the curated schema (run 3's inferred one) has never seen."""
    (schema,) = [p for p in glob.glob(str(env["out"] / "pipeline_root" / "SchemaGen" / "schema" /
                                          "*" / "schema.pbtxt"))][:1] or [None]
    assert schema, "no SchemaGen schema.pbtxt in the pipeline root"
    curated = env["tmp"] / "schema.pbtxt"
    shutil.copy(schema, curated)
    data = env["tmp"] / "drift_data"
    shutil.copytree(env["data"], data)
    for split in PER_CLASS:  # a third class, 'dress', appears in the new data
        shutil.copytree(data / split / "shirt", data / split / "dress")
    before = _executions(env["out"])
    log = env["logs"] / "run5.log"
    code = _wait(_cli(data, env["out"], log, f"data.schema_path={curated}"))
    return {"code": code, "output": log.read_text(), "before": before,
            "after": _executions(env["out"])}


# ------------------------------------------------------------------------------------- tests


def test_second_concurrent_run_exits_at_once_with_already_running(killed_in_trainer):
    assert killed_in_trainer["loser_code"] == 3, killed_in_trainer["loser_output"][-2000:]
    assert "already running" in killed_in_trainer["loser_output"]
    assert "Traceback" not in killed_in_trainer["loser_output"]
    # "at once": only the Python start-up (no TFX import, no component) before the lock check
    assert killed_in_trainer["loser_seconds"] < 60


def test_trainer_was_killed_while_running(killed_in_trainer):
    after = killed_in_trainer["after"]
    assert _states(after["Trainer"]) == ["RUNNING"], after["Trainer"]
    for node in BEFORE_TRAINER:
        assert _states(after[node]) == ["COMPLETE"], (node, _states(after[node]))


def test_rerun_after_kill_reuses_finished_components(killed_in_push):
    after = killed_in_push["after"]
    for node in BEFORE_TRAINER:
        assert _states(after[node]) == ["COMPLETE", "CACHED"], (node, _states(after[node]))
    # the killed Trainer execution is marked CANCELED and the Trainer runs again
    assert _states(after["Trainer"]) == ["CANCELED", "COMPLETE"]
    assert "marked executions of a killed or interrupted run CANCELED" in killed_in_push["log"]


def test_kill_during_push_leaves_no_version_directory(killed_in_push):
    assert killed_in_push["versions"] == []
    assert all(n.startswith(".incomplete-") for n in killed_in_push["leftovers"])
    assert _states(killed_in_push["after"]["ExportPusher"]) == ["RUNNING"]
    # `report` then: blessed, and its push did not finish (never an earlier run's push)
    summary = killed_in_push["summary"]
    assert summary["blessed"] and not summary["pushed"] and summary["push_unfinished"]


def test_rerun_after_kill_during_push_completes_and_pushes(completed):
    assert completed["code"] == 0, completed["output"][-3000:]
    assert "pushed version" in completed["output"]
    assert len(completed["versions"]) == 1
    assert completed["leftovers"] == [], "partial push left behind"
    # removed as the run starts, whether or not it pushes, and said (helper-62)
    assert "recovered from a killed push: removed its unfinished version dir(s) .incomplete-" \
        in completed["output"]


def test_mlmd_consistent_after_kills(completed):
    after = completed["after"]
    active = {n: _states(e) for n, e in after.items()
              if any(x.last_known_state in ACTIVE for x in e)}
    assert active == {}, f"executions left NEW/RUNNING: {active}"
    cancelled = sorted(n for n, e in after.items() for x in e
                       if x.last_known_state == metadata_store_pb2.Execution.CANCELED)
    assert cancelled == ["ExportPusher", "Trainer"]
    assert _states(after["Trainer"])[-1] == "CACHED"  # finished in the push-killed run: reused
    assert _states(after["ExportPusher"])[-1] == "COMPLETE"


def test_pushed_version_is_complete(env, completed):
    (version,) = completed["versions"]
    files = set(_tree_hashes(env["out"] / "serving" / version))
    assert {"report.json", "model_float32.tflite", "saved_model/saved_model.pb"} <= files


def test_worse_model_is_not_blessed_and_not_pushed(worse):
    assert worse["code"] == 0, worse["output"][-3000:]
    assert "blessed: NO (failed: accuracy vs baseline)" in worse["output"]
    # the summary names the gate, its threshold, the measured value and the key to change
    line = next(x for x in worse["output"].splitlines() if "gate accuracy vs baseline" in x)
    assert "(candidate - baseline >= -0.0100)" in line, line
    assert "FAIL (set evaluator.max_accuracy_drop)" in line, line
    assert re.search(r"\(candidate 0\.\d{4}, baseline 0\.\d{4}, on the same examples; 95 % "
                     r"interval of the difference [-+]\d\.\d{4} to [-+]\d\.\d{4}", line), line
    # ... and which model the baseline is: the pushed version's
    assert re.search(r"baseline of the change gate: model \d+ \(version "
                     + re.escape(str(worse["version"])) + r"\), the latest blessed model of the "
                     r"same classes other than the candidate; candidate: model \d+",
                     worse["output"]), worse["output"][-3000:]
    assert worse["versions"] == [worse["version"]]


def test_previous_version_is_byte_identical(worse):
    assert worse["before"], "nothing hashed"
    assert worse["after_hashes"] == worse["before"]


def test_quarantine_and_leakage_listed_in_cli_summary(worse):
    out = worse["output"]
    assert "quarantined (not used): 1 file(s)" in out
    assert "train/shirt/corrupt.png: not a decodable image" in out
    assert "LEAKAGE: 1 image(s) with identical bytes in more than one split" in out
    # each path with its split (the train/ copy may have been carved into validation)
    assert re.search(r"train/shirt/leaked_copy\.png \((train|validation)\) == eval/shirt/"
                     + re.escape(worse["leaked"]) + r" \(test\)", out), out[-3000:]


def test_drift_stops_the_run_before_training_with_readable_anomalies(drifted):
    out = drifted["output"]
    assert drifted["code"] == 4, out[-3000:]
    error = out[out.rindex("error: "):]
    assert "ExampleValidator found" in error and "feature 'class_name'" in error, error
    assert "dress" in error, error
    assert "Traceback" not in error
    before, after = drifted["before"], drifted["after"]
    for node in ("Transform", "Tuner", "Trainer", "Evaluator", "ExportPusher"):
        assert len(after.get(node, [])) == len(before.get(node, [])), f"{node} ran on drifted data"
    assert _states(after["AnomaliesGate"])[-1] == "FAILED"


def test_report_after_the_failed_run_dates_the_evaluation_and_names_the_failure(env, drifted):
    """The operator's `report` the next morning (helper-67): the gates shown are run 4's, so it
    says when that evaluation was made and that the newest run (5) stopped at AnomaliesGate,
    with that run's traceback."""
    proc = subprocess.run([sys.executable, "-m", "pipeline", "report", "--set",
                           f"output.root={env['out']}"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    note = next((x for x in lines if x.startswith("note: the newest run (started ")), None)
    assert note is not None, proc.stdout[:3000]
    assert " did not finish: AnomaliesGate failed; traceback: " in note, note
    log = note.split("traceback: ", 1)[1].split(". It evaluated", 1)[0]
    text = Path(log).read_text(encoding="utf-8") if os.path.isfile(log) else ""
    assert "ExampleValidator found" in text, log
    assert note.endswith("It evaluated and pushed nothing: the figures below are an earlier "
                         "run's"), note
    assert re.search(r"^evaluated: \d{4}-\d\d-\d\d \d\d:\d\d UTC, in the run started "
                     r"\d{4}-\d\d-\d\d \d\d:\d\d UTC ", proc.stdout, re.M), proc.stdout[:3000]
    assert lines.index(note) < next(i for i, x in enumerate(lines) if x.startswith("evaluated: "))


def test_quarantine_above_limit_is_one_clear_cli_error(tmp_path, data_root, real_png):
    data = tmp_path / "data"
    for split in ("train", "eval", "test"):  # eval/ is validation, test/ held out: no carving
        for cls in CLASSES:
            (data / split / cls).mkdir(parents=True)
            for src in sorted(glob.glob(os.path.join(data_root, split, cls, "*.png")))[:3]:
                shutil.copy(src, data / split / cls)
    # truncated PNGs: their headers are fine (validate cannot tell), their pixels are not; one
    # per split is within the allowance, two are not, in every split named at once
    cut = real_png.read_bytes()[: len(real_png.read_bytes()) // 2]
    for rel in ("train/shirt/scan.png", "train/shirt/scan2.png", "test/shirt/scan.png",
                "test/shirt/scan2.png", "eval/shirt/scan.png"):
        (data / rel).write_bytes(cut)  # the same bytes in two splits: not leakage
    (data / "train" / "shirt" / "notes.txt").write_text("ignored: no image extension")
    log = tmp_path / "run.log"
    code = _wait(_cli(data, tmp_path / "out", log))
    out = log.read_text()
    assert code == 4, out[-3000:]
    error = out[out.rindex("error: "):]
    assert "split 'train': 2 of 8 files (25.0%) could not be read, above " \
           "data.max_quarantine_fraction=1.0% of the split (at most 1)" in error, error
    assert " | split 'test': 2 of 8 files" in error, error
    assert "split 'validation'" not in error, error  # 1 of 7: within its allowance
    assert "train/shirt/scan.png" in error and "notes.txt" not in error
    assert "Fix or remove these files, or raise data.max_quarantine_fraction" in error
    assert "identical bytes" not in out  # quarantined copies were never read
    assert "Traceback" not in error and "full traceback:" in error


def test_a_class_left_without_readable_images_stops_after_example_gen(tmp_path, data_root,
                                                                      real_png):
    """Below the quarantine limit, but every validation file of one class unreadable: the run
    stops at ImageExampleGen naming the split, the class and its files (user trial: the Tuner
    and Trainer had run without the class and only its recall gate failed). Truncated files:
    their headers pass `validate` (which refuses files unreadable from the header itself,
    test_data_layout), only the full decode finds them."""
    data = tmp_path / "data"
    for split in ("train", "eval", "test"):
        for cls in CLASSES:
            (data / split / cls).mkdir(parents=True)
            if (split, cls) == ("eval", "shirt"):
                continue
            for src in sorted(glob.glob(os.path.join(data_root, split, cls, "*.png")))[:3]:
                shutil.copy(src, data / split / cls)
    png = real_png.read_bytes()
    (data / "eval" / "shirt" / "a.png").write_bytes(png[: len(png) // 2])
    (data / "eval" / "shirt" / "b.png").write_bytes(png[: len(png) // 3])
    log = tmp_path / "run.log"
    code = _wait(_cli(data, tmp_path / "out", log, "data.max_quarantine_fraction=0.5"))
    out = log.read_text()
    assert code == 4, out[-3000:]
    error = out[out.rindex("error: "):]
    assert ("split 'validation': class 'shirt' has no readable image: all 2 of its files there "
            "were quarantined (eval/shirt/a.png: not a decodable image") in error, error
    assert "; eval/shirt/b.png: not a decodable image" in error, error
    assert "so no model could learn" in error, error
    assert not (tmp_path / "out" / "pipeline_root" / "Trainer").exists()  # stopped before it
