"""`python -m pipeline run` in a child process: a quiet console (one line per component start and
finish, then the summary) with the full TensorFlow/TFX stream in `<output.root>/logs/run-*.log`;
run twice on one output root, the second run showing every component as cached."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ["ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
              "Tuner", "Trainer", "Evaluator", "ExportPusher"]
MAX_CONSOLE_LINES = 60
# A line TensorFlow's C++ logging writes straight to fd 2, e.g.
# "2026-01-01 10:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom operations ..."
TF_CPP_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] \S+\.cc:\d+\] ", re.M)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def cli_runs(e2e_tree, fast_run_overrides, tmp_path_factory):
    """Two `python -m pipeline run` on one fresh output root: {'first', 'second'} -> the
    completed process (text stdout, stderr)."""
    out = tmp_path_factory.mktemp("console_outputs")
    # one training epoch and one TFLite variant: this test is about the console, not the model
    sets = [f"data.root={e2e_tree}", f"output.root={out}", *fast_run_overrides,
            "trainer.epochs=1", "export.tflite_variants=[float32]"]
    args = [sys.executable, "-m", "pipeline", "run"] + [a for s in sets for a in ("--set", s)]
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="0")
    runs = {}
    for name in ("first", "second"):
        runs[name] = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                    timeout=1200)
        assert runs[name].returncode == 0, (name, runs[name].stdout[-3000:],
                                            runs[name].stderr[-3000:])
    return runs


def test_report_prints_the_summary_and_nothing_of_the_stack(cli_runs, e2e_tree):
    """`report` on the runs' outputs: the summary alone, no TensorFlow deprecation notice
    (TFMA's reader logs one) and no C++ lines."""
    out = re.search(r"MLMD: (\S+)/metadata\.sqlite", cli_runs["first"].stdout).group(1)
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.run([sys.executable, "-m", "pipeline", "report", "--set",
                           f"data.root={e2e_tree}", "--set", f"output.root={out}"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "=== run summary ===" in proc.stdout
    assert proc.stderr == "", proc.stderr[-3000:]
    # the Trainer line from MLMD lineage; no span line for a tree without {SPAN} (ExampleGen
    # records span 0 there)
    assert re.search(r"^trainer: (trained a new model|unchanged data, served from the cache)",
                     proc.stdout, re.M), proc.stdout[-2000:]
    assert "span(s)" not in proc.stdout


def _lines(proc):
    return proc.stdout.splitlines()


def _log_path(proc) -> Path:
    first = _lines(proc)[0]
    assert first.startswith("full log: "), first
    return Path(first[len("full log: "):])


def _component_lines(proc, node):
    pattern = re.compile(rf"^\[\s*\d+\.\ds\] {node} \.\.\.( (?P<end>.*))?$")
    return [m for m in map(pattern.match, _lines(proc)) if m]


def test_console_is_one_line_per_component_start_and_finish(cli_runs):
    proc = cli_runs["first"]
    lines = _lines(proc) + proc.stderr.splitlines()
    assert len(lines) < MAX_CONSOLE_LINES, "\n".join(lines)
    assert proc.stderr == ""
    summary_at = _lines(proc).index("=== run summary ===")
    for node in COMPONENTS:
        matches = _component_lines(proc, node)
        assert [m["end"] is None for m in matches] == [True, False], (node, proc.stdout)
        assert re.fullmatch(r"done in \d+\.\d s", matches[1]["end"]), matches[1].group(0)
        assert _lines(proc).index(matches[1].group(0)) < summary_at
    assert not any("INFO" in line or "tensorflow/" in line for line in lines)


def test_log_path_printed_first_and_before_the_summary(cli_runs):
    lines = _lines(cli_runs["first"])
    path = _log_path(cli_runs["first"])
    summary_at = lines.index("=== run summary ===")
    assert lines[summary_at - 2] == f"full log: {path}" and lines[summary_at - 1] == ""
    assert path.is_file() and path.parent.name == "logs" and path.name.startswith("run-")


def test_log_file_holds_the_full_stream(cli_runs):
    log = _log_path(cli_runs["first"]).read_text(errors="replace")
    for node in COMPONENTS:  # TFX's INFO records, through Python logging
        assert f"INFO absl local_dag_runner.py:105] Component {node} is running." in log, node
    assert TF_CPP_LINE.search(log), "no TensorFlow C++ log line (written to fd 2)"
    assert "val_loss" in log  # Keras fit progress (stdout)
    assert len(log.splitlines()) > 10 * MAX_CONSOLE_LINES
    # how the run ended, as the console said it (helper-67: logs/ alone could not tell)
    outcome = log[log.rindex("\n=== outcome (as printed) ===\n"):]
    assert "=== run summary ===" in outcome and "wall time: " in outcome
    assert outcome.endswith("\nexit code 0\n"), outcome[-500:]


def test_second_run_shows_every_component_cached(cli_runs):
    proc = cli_runs["second"]
    assert len(_lines(proc)) < MAX_CONSOLE_LINES, proc.stdout
    for node in COMPONENTS:
        ends = [m["end"] for m in _component_lines(proc, node)]
        assert ends == [None, "cached"], (node, proc.stdout)
    assert _log_path(proc) != _log_path(cli_runs["first"]) and _log_path(proc).is_file()
    assert "=== run summary ===" in _lines(proc)
