"""The quiet console (pipeline/console.py): progress lines from TFX's own log records, the
project-warning filter, the file-descriptor redirection into the run log, and the CLI wiring."""
import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import console
from pipeline.console import ProgressHandler, is_project_warning, quiet_run

TFX_ROOT = Path(importlib.util.find_spec("tfx").submodule_search_locations[0])
DAG_RUNNER = str(TFX_ROOT / "orchestration" / "local" / "local_dag_runner.py")
LAUNCHER = str(TFX_ROOT / "orchestration" / "portable" / "launcher.py")
PROJECT = Path(console.PROJECT_ROOT)
TFX_LIKE = logging.getLogger("test_console.tfx_like")  # the handler matches messages, not names


def record(msg, *args, level=logging.INFO, name="absl", pathname=DAG_RUNNER, lineno=105):
    return logging.LogRecord(name=name, level=level, pathname=pathname, lineno=lineno, msg=msg,
                             args=args, exc_info=None)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture()
def progress():
    """(handler, lines it wrote, clock)."""
    lines, clock = [], Clock()
    return ProgressHandler(lines.append, clock=clock), lines, clock


def test_tfx_logs_the_messages_the_handler_recognises():
    """The exact format strings of TFX 1.16 (a TFX upgrade that rewords them fails here)."""
    dag_runner = Path(DAG_RUNNER).read_text(encoding="utf-8")
    launcher = Path(LAUNCHER).read_text(encoding="utf-8")
    for msg in (console.RUNNING, console.FINISHED, console.SKIPPED_NODE):
        assert f"logging.info('{msg}', node_id)" in dag_runner, msg
    assert f"logging.info('{console.CACHED}', execution.id)" in launcher
    assert f"logging.info('{console.SKIPPED_EXECUTION}'," in launcher
    assert f"logging.error('{console.EXECUTION_FAILED}'," in launcher


def test_start_then_finish_with_duration(progress):
    handler, lines, clock = progress
    clock.now += 12.3
    handler.handle(record(console.RUNNING, "Transform"))
    clock.now += 41.2
    handler.handle(record("Going to run a new execution %d", 7, pathname=LAUNCHER))
    handler.handle(record(console.FINISHED, "Transform", lineno=110))
    assert lines == ["[  12.3s] Transform ...", "[  53.5s] Transform ... done in 41.2 s"]


def test_cached_execution(progress):
    handler, lines, clock = progress
    handler.handle(record(console.RUNNING, "Trainer"))
    clock.now += 0.2
    handler.handle(record(console.CACHED, 42, pathname=LAUNCHER, lineno=428))
    handler.handle(record(console.FINISHED, "Trainer"))
    assert lines == ["[   0.0s] Trainer ...", "[   0.2s] Trainer ... cached"]
    handler.handle(record(console.RUNNING, "Evaluator"))  # the next one is not cached
    handler.handle(record(console.FINISHED, "Evaluator"))
    assert lines[-1] == "[   0.2s] Evaluator ... done in 0.0 s"


def test_skipped_execution_behind_a_false_condition(progress):
    handler, lines, _ = progress
    handler.handle(record(console.RUNNING, "ExportPusher"))
    handler.handle(record(console.SKIPPED_EXECUTION, "ExportPusher", pathname=LAUNCHER))
    handler.handle(record(console.FINISHED, "ExportPusher"))
    assert lines[-1].startswith("[   0.0s] ExportPusher ... skipped")
    assert "not blessed" in lines[-1]


def test_skipped_node(progress):
    handler, lines, _ = progress
    handler.handle(record(console.SKIPPED_NODE, "Tuner", lineno=91))
    assert lines == ["[   0.0s] Tuner ... skipped (not part of this run)"]


def test_failed_execution_is_one_line(progress):
    handler, lines, clock = progress
    handler.handle(record(console.RUNNING, "ExportPusher"))
    clock.now += 3.0
    handler.handle(record(console.EXECUTION_FAILED, 9, level=logging.ERROR, pathname=LAUNCHER))
    handler.failed()  # quiet_run's own call on the way out: no second line
    assert lines == ["[   0.0s] ExportPusher ...", "[   3.0s] ExportPusher ... FAILED after 3.0 s"]


def test_other_library_records_print_nothing(progress):
    handler, lines, _ = progress
    for level in (logging.INFO, logging.WARNING, logging.ERROR):
        handler.handle(record("Using deployment config:\n %s", "x", level=level))
        handler.handle(record("crcmod package not found", level=level, name="root",
                              pathname="/venv/site-packages/apache_beam/io/tfrecordio.py"))
        handler.handle(record("deprecated", level=level, name="tensorflow",
                              pathname="/venv/site-packages/tensorflow/python/util/deprecation.py"))
    assert lines == []


def test_project_warnings_pass_library_ones_do_not():
    executor = str(PROJECT / "components" / "image_example_gen" / "executor.py")
    runner = str(PROJECT / "pipeline" / "local_runner.py")
    assert is_project_warning(record("ImageExampleGen quarantined %s: %s", "a.png", "bad",
                                     level=logging.WARNING, pathname=executor))
    assert is_project_warning(record("marked executions of a killed or interrupted run CANCELED: %s", ["x"],
                                     level=logging.WARNING, pathname=runner))
    assert is_project_warning(record("pipeline run failed", level=logging.ERROR, pathname=runner))
    assert is_project_warning(record("weights: ...", level=logging.WARNING,
                                     name="pipeline.weights.provision", pathname="<string>"))
    # below WARNING, or a library's
    assert not is_project_warning(record("Training summary", pathname=runner))
    assert not is_project_warning(record("x", level=logging.WARNING, pathname=LAUNCHER))
    assert not is_project_warning(record("x", level=logging.ERROR, name="tensorflow",
                                         pathname="/v/site-packages/tensorflow/x.py"))
    # a look-alike path outside the project's packages
    assert not is_project_warning(record("x", level=logging.WARNING,
                                         pathname=str(PROJECT / "pipelines" / "x.py")))


def test_project_warning_lines_capped_per_call_site(progress):
    handler, lines, _ = progress
    pusher = str(PROJECT / "components" / "export_pusher" / "executor.py")
    for i in range(8):
        handler.handle(record("ExportPusher: TFLite %s rejected: %s", f"v{i}", "parity",
                              level=logging.WARNING, pathname=pusher, lineno=194))
    assert lines[0] == "[   0.0s] WARNING: ExportPusher: TFLite v0 rejected: parity"
    assert len(lines) == 6 and "see the full log" in lines[-1]


def test_the_datas_notes_print_as_notes_and_are_never_capped(progress):
    """helper-71, -73: the hash-split note read `WARNING:` in `run` and `note:` in `validate`;
    the data's notes, all logged from one call site, are each their own kind: none is capped."""
    handler, lines, _ = progress
    runner = str(PROJECT / "pipeline" / "local_runner.py")
    for i in range(7):
        rec = record("%s", f"data note {i}", level=logging.WARNING, pathname=runner, lineno=145)
        setattr(rec, console.NOTE, True)
        handler.handle(rec)
    assert [x.split("] ", 1)[1] for x in lines] == [f"note: data note {i}" for i in range(7)]


# ------------------------------------------------------------------------ fd redirection


def _fd_identity(fd):
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def test_fd_writes_and_logging_go_to_the_log_file(tmp_path, capfd):
    before = (_fd_identity(1), _fd_identity(2))
    with quiet_run(str(tmp_path)) as path:
        assert console.current_log() == path
        os.write(2, b"written to fd 2 at C level\n")
        os.write(1, b"written to fd 1 at C level\n")
        print("python print", file=sys.__stdout__, flush=True)  # (sys.stdout: pytest's)
        subprocess.run([sys.executable, "-c", "import os; os.write(2, b'a child process\\n')"],
                       check=True)
        TFX_LIKE.info("Component %s is running.", "Transform")
        logging.getLogger("apache_beam.x").info("a library INFO record")
        TFX_LIKE.info("Component %s is finished.", "Transform")
    assert (_fd_identity(1), _fd_identity(2)) == before
    assert console.current_log() is None
    assert Path(path).parent == tmp_path / "logs" and Path(path).name.startswith("run-")
    log = Path(path).read_text(encoding="utf-8")
    for text in ("written to fd 2 at C level", "written to fd 1 at C level", "python print",
                 "a child process", "Component Transform is running.", "a library INFO record"):
        assert text in log, text
    out, err = capfd.readouterr()
    assert out.splitlines()[0] == f"full log: {path}"
    assert out.splitlines()[-1] == f"full log: {path}"
    assert "Transform ... done in" in out and "Transform ..." in out
    assert "C level" not in out + err and "library INFO" not in out + err and err == ""
    os.write(2, b"after the run\n")
    assert "after the run" in capfd.readouterr().err


def test_fds_restored_when_the_body_raises(tmp_path, capfd):
    before = (_fd_identity(1), _fd_identity(2))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with pytest.raises(RuntimeError, match="boom"):
        with quiet_run(str(tmp_path)) as path:
            TFX_LIKE.info("Component %s is running.", "Trainer")
            os.write(2, b"before the failure\n")
            raise RuntimeError("boom")
    assert (_fd_identity(1), _fd_identity(2)) == before
    assert root.handlers == handlers and root.level == level
    assert "before the failure" in Path(path).read_text(encoding="utf-8")
    out, err = capfd.readouterr()
    assert "Trainer ... FAILED after" in out
    assert err == f"(full log: {path})\n"  # nobody else names it


def test_keyboard_interrupt_restores_and_names_the_log(tmp_path, capfd):
    before = (_fd_identity(1), _fd_identity(2))
    with pytest.raises(KeyboardInterrupt):
        with quiet_run(str(tmp_path)) as path:
            TFX_LIKE.info("Component %s is running.", "Tuner")
            raise KeyboardInterrupt
    assert (_fd_identity(1), _fd_identity(2)) == before
    out, err = capfd.readouterr()
    assert "Tuner ... interrupted after" in out and f"(full log: {path})" in err


def test_an_error_that_names_the_log_is_not_repeated(tmp_path, capfd):
    from pipeline.local_runner import RunFailedError
    with pytest.raises(RunFailedError):
        with quiet_run(str(tmp_path)) as path:
            raise RunFailedError("bad data", "tb.log", True, run_log=console.current_log())
    assert capfd.readouterr().err == ""
    assert path


def test_console_handlers_are_detached_for_the_run_only(tmp_path, capfd):
    root = logging.getLogger()
    stderr_handler = logging.StreamHandler(sys.stderr)
    root.addHandler(stderr_handler)
    try:
        with quiet_run(str(tmp_path)) as path:
            assert stderr_handler not in root.handlers
            TFX_LIKE.warning("a library warning")
        assert stderr_handler in root.handlers
    finally:
        root.removeHandler(stderr_handler)
    assert Path(path).read_text(encoding="utf-8").count("a library warning") == 1
    assert "a library warning" not in capfd.readouterr().err


def test_verbose_changes_nothing_and_nested_runs_share_one_log(tmp_path, capfd):
    with quiet_run(str(tmp_path / "v"), verbose=True) as path:
        assert path is None and console.current_log() is None
        os.write(2, b"straight to stderr\n")
    assert not (tmp_path / "v").exists()
    assert "straight to stderr" in capfd.readouterr().err
    with quiet_run(str(tmp_path)) as outer:
        with quiet_run(str(tmp_path), verbose=True) as inner:
            assert inner == outer
    assert os.listdir(tmp_path / "logs") == [Path(outer).name]


# ------------------------------------------------------------------------------- the CLI


@pytest.fixture()
def cli(monkeypatch, tiny_image_tree, tmp_path):
    """main(['run', ...]) with local_runner.run replaced by `fake` (no LiteRT check, no hook)."""
    import pipeline.__main__ as cli_main
    monkeypatch.setattr(cli_main, "_check_litert", lambda config, command: None)
    monkeypatch.setattr("pipeline.beam_launcher.install_bind_hook", lambda **kw: None)

    def call(fake, *extra):
        monkeypatch.setattr("pipeline.local_runner.run", fake)
        return cli_main.main(["run", "--set", f"data.root={tiny_image_tree}",
                              "--set", f"output.root={tmp_path}", *extra])
    return call


def test_cli_run_is_quiet_unless_verbose(cli):
    seen = []

    def fake(config, quiet=False):
        seen.append(quiet)
        raise KeyError("stop")
    for extra in ((), ("--verbose",)):
        with pytest.raises(KeyError):
            cli(fake, *extra)
    assert seen == [True, False]


def test_cli_error_names_the_traceback_and_the_full_log(cli, capsys):
    from pipeline.local_runner import RunFailedError

    def fake(config, quiet=False):
        raise RunFailedError("the pipeline failed: ValueError: x", "/o/logs/error-1.log", False,
                             run_log="/o/logs/run-1.log")
    assert cli(fake) == 1
    assert capsys.readouterr().err == ("error: the pipeline failed: ValueError: x\n"
                                       "(full traceback: /o/logs/error-1.log; "
                                       "full log: /o/logs/run-1.log)\n")


def test_cli_appends_a_failed_runs_error_and_exit_code_to_its_log(cli, capsys, tmp_path):
    """helper-67: logs/run-*.log never said how a run ended."""
    from pipeline.local_runner import RunFailedError
    log = tmp_path / "run-1.log"
    log.write_text("... the TFX stream ...\n")

    def fake(config, quiet=False):
        raise RunFailedError("split 'test': 10 of 500 files quarantined", "/o/logs/error-1.log",
                             True, run_log=str(log))
    assert cli(fake) == 4
    capsys.readouterr()
    assert log.read_text() == (
        "... the TFX stream ...\n\n=== outcome (as printed) ===\nerror: split 'test': 10 of 500 "
        "files quarantined\n(full traceback: /o/logs/error-1.log; full log: " + str(log)
        + ")\nexit code 4\n")


def test_cli_ctrl_c_is_one_line_and_exit_130(cli, capsys):
    """Ctrl-C during a run: one line saying what stays and what the next run does, exit 130
    (the shell's code for SIGINT), not a hundred lines of Beam's and TFX's stack."""
    def fake(config, quiet=False):
        raise KeyboardInterrupt
    assert cli(fake) == 130
    assert capsys.readouterr().err == (
        "interrupted: a model version is only ever published whole; this run's unfinished "
        "steps are marked CANCELED and the next run reuses every step that finished\n")


def test_cli_sigterm_takes_ctrl_cs_way_out_with_exit_143(cli, capsys):
    """helper-62: `docker stop` / `systemctl stop` (SIGTERM) ended a run with exit 143 and not a
    word; it now takes Ctrl-C's path (executions CANCELED, staging removed) and says so. The
    handler is the process's own again after main() returns."""
    import os
    import signal
    import time
    before = signal.getsignal(signal.SIGTERM)

    def fake(config, quiet=False):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here
        raise AssertionError("SIGTERM was not turned into an interrupt")
    assert cli(fake) == 143
    assert capsys.readouterr().err.startswith(
        "terminated (SIGTERM): a model version is only ever published whole")
    assert signal.getsignal(signal.SIGTERM) == before


def test_ctrl_c_inside_a_beam_stage_is_recognised_as_an_interrupt():
    """helper-62: Ctrl-C during StatisticsGen or Transform reached the CLI as Beam's
    `RuntimeError: KeyboardInterrupt [while running ...]`: exit 1 and 'FAILED'."""
    import apache_beam as beam

    from pipeline.local_runner import interrupted_inside

    def stage(_):
        raise KeyboardInterrupt
    with pytest.raises(Exception) as e:
        with beam.Pipeline() as p:
            _ = p | beam.Create([1]) | beam.Map(stage)
    assert not isinstance(e.value, KeyboardInterrupt)  # Beam's wrapping, as in a real run
    assert interrupted_inside(e.value)
    assert not interrupted_inside(RuntimeError("ValueError [while running 'Map(stage)']"))


@pytest.mark.parametrize("summary, extra, code", [
    ({"pushed": False, "blessed": False}, (), 0),  # not blessed: a normal outcome
    ({"pushed": False, "blessed": False}, ("--require-push",), 6),
    ({"pushed": False, "blessed": True}, ("--require-push",), 6),
    ({"pushed": True, "blessed": True, "push_cached": True}, ("--require-push",), 0),
])
def test_cli_require_push_exits_6_when_nothing_was_pushed(cli, monkeypatch, capsys, summary,
                                                          extra, code):
    monkeypatch.setattr("pipeline.summary.format_summary", lambda s: "=== run summary ===")
    assert cli(lambda config, quiet=False: dict(summary, wall_seconds=1.0), *extra) == code
    err = capsys.readouterr().err
    if code:
        why = "not blessed" if not summary["blessed"] else "the ExportPusher pushed nothing"
        assert err.startswith("error: --require-push: the run finished and pushed no model (")
        assert why in err
    else:
        assert "--require-push" not in err


def _quiet_import(tmp_path, module_dirs, level="2"):
    code = ("import sys; from pipeline.console import import_tensorflow_quietly; "
            "import_tensorflow_quietly(); print('after', file=sys.stderr)")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": level,
           "PYTHONPATH": os.pathsep.join([*module_dirs, str(Path(console.__file__).parents[1])])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


def test_tensorflows_startup_noise_is_dropped_and_other_lines_kept(tmp_path):
    """helper-66: with TF_CPP_MIN_LOG_LEVEL=2 (set by many users) `report` and `predict` began
    with three 'Unable to register cu* factory' lines. A stand-in module prints one noise line
    and one other line on file descriptor 2, as TensorFlow's C++ does: only the other stays."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "tensorflow.py").write_text(
        "import os\nos.write(2, b'E cuda_dnn.cc:10575] Unable to register cuDNN factory: x\\n'"
        " b'W something the user must see\\n')\n")
    done = _quiet_import(tmp_path, [str(fake)])
    assert done.returncode == 0, done.stderr
    assert done.stderr == "W something the user must see\nafter\n", done.stderr


def test_the_real_tensorflow_imports_without_its_startup_noise(tmp_path):
    done = _quiet_import(tmp_path, [])
    assert done.returncode == 0, done.stderr
    assert not any(noise in done.stderr for noise in console.STARTUP_NOISE), done.stderr
    assert done.stderr.endswith("after\n")


def test_an_error_importing_tensorflow_still_shows_and_raises(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "tensorflow.py").write_text("import os\nos.write(2, b'loading failed here\\n')\n"
                                        "raise ImportError('libcudart missing')\n")
    done = _quiet_import(tmp_path, [str(fake)])
    assert done.returncode == 1
    assert done.stderr.startswith("loading failed here\n") and "libcudart missing" in done.stderr


def test_a_closed_stderr_still_imports(tmp_path):
    """helper-72: `schedule` from cron with `2>&-` has no file descriptor 2 to duplicate."""
    code = ("import os, sys; os.close(2); from pipeline.console import import_tensorflow_quietly; "
            "import_tensorflow_quietly(); import tensorflow; print('imported')")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "tensorflow.py").write_text("")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(fake), str(Path(console.__file__).parents[1])])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0 and done.stdout == "imported\n", done.stderr

