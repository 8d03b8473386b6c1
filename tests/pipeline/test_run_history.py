"""pipeline/run_history on a real SQLite MLMD laid out as TFX's LocalDagRunner lays it out (one
`pipeline_run` context per run, executions typed by component class path): `report` dates the
evaluation it shows and says when a later run stopped before finishing (helper-67). The same
lines on a real pipeline's MLMD: tests/e2e/test_reliability_e2e.py."""
import os
import time

from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.mlmd import CREATE, open_store
from pipeline.run_history import evaluation_note, later_run_note, runs, traceback_after, utc
from pipeline.summary import newest_finished_evaluator

EVALUATOR = "tfx.components.evaluator.component.Evaluator"
GATE = "components.anomalies_gate.component.AnomaliesGate"


class Store:
    """A real MLMD store with helpers to record runs and their executions."""

    def __init__(self, path):
        self.store = open_store(str(path), CREATE)
        self.run_type = self.store.put_context_type(pb.ContextType(name="pipeline_run"))
        self.types = {name: self.store.put_execution_type(pb.ExecutionType(name=name))
                      for name in (EVALUATOR, GATE)}

    def run(self, name):
        [ctx] = self.store.put_contexts([pb.Context(type_id=self.run_type, name=name)])
        return ctx

    def execution(self, run, kind, state, reason=""):
        execution = pb.Execution(type_id=self.types[kind], last_known_state=state)
        if reason:
            execution.custom_properties["cancel_reason"].string_value = reason
        [eid] = self.store.put_executions([execution])
        self.store.put_attributions_and_associations(
            [], [pb.Association(context_id=run, execution_id=eid)])
        return eid


def test_the_evaluation_is_dated_and_a_finished_newest_run_adds_nothing(tmp_path):
    s = Store(tmp_path / "m.sqlite")
    run = s.run("2026-12-06T09:00:00.000001")
    s.execution(run, GATE, pb.Execution.COMPLETE)
    s.execution(run, EVALUATOR, pb.Execution.COMPLETE)
    evaluator = newest_finished_evaluator(s.store)
    [line] = evaluation_note(s.store, evaluator)
    (ctx,) = runs(s.store)
    assert line == (f"evaluated: {utc(evaluator.last_update_time_since_epoch)}, in the run "
                    f"started {utc(ctx.create_time_since_epoch)} (the gates and figures below "
                    f"are this evaluation's)")
    assert utc(0) == "1970-01-01 00:00 UTC"
    assert later_run_note(s.store, evaluator, str(tmp_path), running=False) == []
    assert evaluation_note(s.store, None) == []


def test_a_later_failed_run_is_named_with_its_step_and_traceback(tmp_path):
    s = Store(tmp_path / "m.sqlite")
    first = s.run("2026-12-06T09:00:00.000001")
    s.execution(first, EVALUATOR, pb.Execution.COMPLETE)
    time.sleep(0.01)
    (tmp_path / "logs").mkdir()
    old = tmp_path / "logs" / "error-20261205-090000.log"
    old.write_text("an older run's")
    os.utime(old, (0, 0))  # written long before the newest run started
    second = s.run("2026-12-06T10:00:00.000001")
    s.execution(second, GATE, pb.Execution.FAILED)
    newest = tmp_path / "logs" / "error-20261206-100001.log"
    newest.write_text("RuntimeError: ExampleValidator found anomalies")
    evaluator = newest_finished_evaluator(s.store)
    [note] = later_run_note(s.store, evaluator, str(tmp_path), running=False)
    started = utc(runs(s.store)[-1].create_time_since_epoch)
    assert note == (f"note: the newest run (started {started}) did not finish: AnomaliesGate "
                    f"failed; traceback: {newest}. It evaluated and pushed nothing: the "
                    f"figures below are an earlier run's")
    assert traceback_after(str(tmp_path), runs(s.store)[-1].create_time_since_epoch) == str(newest)
    # while a run holds the lock, the in-progress note speaks instead
    assert later_run_note(s.store, evaluator, str(tmp_path), running=True) == []


def test_a_cancelled_or_killed_later_run_gives_its_recorded_reason(tmp_path):
    s = Store(tmp_path / "m.sqlite")
    first = s.run("r1")
    s.execution(first, EVALUATOR, pb.Execution.COMPLETE)
    evaluator = newest_finished_evaluator(s.store)
    second = s.run("r2")
    s.execution(second, GATE, pb.Execution.COMPLETE)
    eid = s.execution(second, EVALUATOR, pb.Execution.RUNNING)  # SIGKILL: nobody updated it
    [note] = later_run_note(s.store, evaluator, str(tmp_path), running=False)
    assert "did not finish: Evaluator was left running (the process was killed). It" in note
    [execution] = s.store.get_executions_by_id([eid])
    execution.last_known_state = pb.Execution.CANCELED  # as the next run's start marks it
    execution.custom_properties["cancel_reason"].string_value = (
        "the run was interrupted (Ctrl-C / SIGINT or SIGTERM) before the execution finished")
    s.store.put_executions([execution])
    [note] = later_run_note(s.store, evaluator, str(tmp_path), running=False)
    assert ("did not finish: Evaluator was cancelled (the run was interrupted (Ctrl-C / SIGINT "
            "or SIGTERM) before the execution finished). It evaluated and pushed nothing") in note
    assert "traceback" not in note


def test_a_store_without_runs_or_evaluations_gives_no_lines(tmp_path):
    store = open_store(str(tmp_path / "m.sqlite"), CREATE)
    assert runs(store) == [] and newest_finished_evaluator(store) is None
    assert later_run_note(store, None, str(tmp_path), running=False) == []


def test_a_refused_run_on_an_existing_output_root_is_recorded_and_named(tmp_path, capsys):
    """helper-67: a nightly run refused with a config error (an emptied class folder) left no
    trace under the output root; `report` showed the day before as the latest."""
    from pipeline.__main__ import main
    from pipeline.run_history import record_refusal, refusal_note
    data = tmp_path / "data"
    for split in ("train", "eval"):
        for cls in ("shirt", "tshirt_top"):
            (data / split / cls).mkdir(parents=True)
    out = tmp_path / "out"
    assert record_refusal(str(out), "cmd", "config error: x", 2) is None  # no runs there yet
    out.mkdir()
    s = Store(out / "metadata.sqlite")  # an output root that holds runs
    s.execution(s.run("r1"), EVALUATOR, pb.Execution.COMPLETE)
    started = runs(s.store)[-1].create_time_since_epoch
    assert refusal_note(str(out), started) == []
    time.sleep(0.01)
    assert main(["run", "--set", f"data.root={data}", "--set", f"output.root={out}"]) == 2
    assert "config error: " in capsys.readouterr().err
    [log] = sorted((out / "logs").glob("refused-*.log"))
    command, error, code = log.read_text(encoding="utf-8").splitlines()
    assert command == f"python -m pipeline run --set data.root={data} --set output.root={out}"
    assert error.startswith("config error: data.root: ") and code == "exit code 2"
    os.utime(log, (time.time() + 2, time.time() + 2))  # written after the newest run started
    evaluator = newest_finished_evaluator(s.store)
    [note] = later_run_note(s.store, evaluator, str(out), running=False)
    assert note.startswith("note: a later run was refused with a config error at ")
    assert note.endswith(f": {error} ({log}); nothing below is from it")


def test_a_cached_evaluation_is_dated_by_its_own_evaluation_not_the_cache_hit(tmp_path):
    """helper-68: a fully cached run at 10:00 re-uses the 09:00 evaluation; 'evaluated: 10:00'
    was false."""
    from pipeline.summary import _finished_evaluator_outputs
    s = Store(tmp_path / "m.sqlite")
    kinds = {n: s.store.put_artifact_type(pb.ArtifactType(name=n))
             for n in ("ModelEvaluation", "ModelBlessing")}
    evaluation, blessing = s.store.put_artifacts([pb.Artifact(type_id=kinds["ModelEvaluation"]),
                                                  pb.Artifact(type_id=kinds["ModelBlessing"])])

    def outputs(eid):
        events = []
        for key, artifact in (("evaluation", evaluation), ("blessing", blessing)):
            event = pb.Event(execution_id=eid, artifact_id=artifact, type=pb.Event.OUTPUT)
            event.path.steps.add().key = key
            events.append(event)
        s.store.put_events(events)

    outputs(s.execution(s.run("r1"), EVALUATOR, pb.Execution.COMPLETE))
    second = s.run("r2")
    outputs(s.execution(second, EVALUATOR, pb.Execution.CACHED))
    evaluator = newest_finished_evaluator(s.store)
    artifact = _finished_evaluator_outputs(s.store)[0]
    assert artifact.id == evaluation and evaluator.last_known_state == pb.Execution.CACHED
    [line] = evaluation_note(s.store, evaluator, artifact)
    assert line == (f"evaluated: {utc(artifact.create_time_since_epoch)} (served from the cache "
                    f"in the run started {utc(runs(s.store)[-1].create_time_since_epoch)}) (the "
                    f"gates and figures below are this evaluation's)")


def test_a_newest_run_that_failed_between_steps_is_named_by_its_traceback(tmp_path):
    """helper-68: a run whose failure registered no execution (between two steps) was not
    named."""
    s = Store(tmp_path / "m.sqlite")
    s.execution(s.run("r1"), EVALUATOR, pb.Execution.COMPLETE)
    evaluator = newest_finished_evaluator(s.store)
    time.sleep(0.01)
    s.execution(s.run("r2"), GATE, pb.Execution.COMPLETE)
    assert later_run_note(s.store, evaluator, str(tmp_path), running=False) == []
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "error-20261206-100001.log"
    log.write_text("RuntimeError: a resolver failed")
    [note] = later_run_note(s.store, evaluator, str(tmp_path), running=False)
    assert f"did not finish: it failed between steps; traceback: {log}. It evaluated" in note
