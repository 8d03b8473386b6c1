"""pipeline/summary.py: which push the summary reports, over a real MLMD store (SQLite).

The push shown is the one of the ExportPusher that read the latest blessing, never merely the
newest PushedModel: a push killed half-way must not show an earlier run's version as pushed,
and a refused (FAILED) push must not be promised to the next run."""
import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.mlmd import CREATE, open_store
from pipeline.summary import _pushed_model_for

PUSHER = "components.export_pusher.component.ExportPusher"


def _artifact(store, type_id, **ints):
    a = pb.Artifact(type_id=type_id, uri="/x", state=pb.Artifact.LIVE)
    for k, v in ints.items():
        a.custom_properties[k].int_value = v
    return store.put_artifacts([a])[0]


def _execution(store, type_id, state, blessing_id, pushed_id=None):
    e = pb.Execution(type_id=type_id, last_known_state=state)
    events = [pb.Event(artifact_id=blessing_id, type=pb.Event.INPUT)]
    events[0].path.steps.add().key = "model_blessing"
    if pushed_id is not None:
        out = pb.Event(artifact_id=pushed_id, type=pb.Event.OUTPUT)
        out.path.steps.add().key = "pushed_model"
        events.append(out)
    [execution_id] = store.put_executions([e])
    for event in events:
        event.execution_id = execution_id
    store.put_events(events)
    return execution_id


@pytest.fixture()
def store(tmp_path):
    s = open_store(str(tmp_path / "m.sqlite"), CREATE)
    types = {name: s.put_artifact_type(pb.ArtifactType(name=name))
             for name in ("ModelBlessing", "PushedModel")}
    pusher = s.put_execution_type(pb.ExecutionType(name=PUSHER))
    return s, types, pusher


def test_a_push_killed_half_way_is_not_an_earlier_runs_push(store):
    s, types, pusher = store
    old_blessing = _artifact(s, types["ModelBlessing"], blessed=1)
    old_push = _artifact(s, types["PushedModel"], pushed=1)
    _execution(s, pusher, pb.Execution.COMPLETE, old_blessing, old_push)
    blessing = _artifact(s, types["ModelBlessing"], blessed=1)
    _execution(s, pusher, pb.Execution.RUNNING, blessing)  # killed: never finished
    [b] = s.get_artifacts_by_id([blessing])
    assert _pushed_model_for(s, b) == (None, True)
    _execution(s, pusher, pb.Execution.CANCELED, blessing)  # marked by the next run
    assert _pushed_model_for(s, b) == (None, True)
    [ob] = s.get_artifacts_by_id([old_blessing])
    pushed, stopped = _pushed_model_for(s, ob)
    assert pushed.id == old_push and not stopped


def test_a_refused_push_is_not_promised_to_the_next_run(store):
    s, types, pusher = store
    blessing = _artifact(s, types["ModelBlessing"], blessed=1)
    _execution(s, pusher, pb.Execution.FAILED, blessing)  # e.g. the parity gate refused
    [b] = s.get_artifacts_by_id([blessing])
    assert _pushed_model_for(s, b) == (None, False)
    cached = _artifact(s, types["PushedModel"], pushed=1)
    _execution(s, pusher, pb.Execution.CACHED, blessing, cached)  # an unchanged re-run
    assert _pushed_model_for(s, b)[0].id == cached


def test_gates_are_named_by_the_evaluated_models_classes_not_the_current_config(store, tmp_path):
    """`report` without the run's data.class_names ([ok, defect]) discovers [defect, ok]: the
    names come from the evaluated model's training summary, else class 0's recall would be
    printed as class 1's (user trial helper-49)."""
    import json

    from pipeline.summary import evaluated_class_names
    s, types, _ = store
    model_type = s.put_artifact_type(pb.ArtifactType(name="Model"))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "training_summary.json").write_text(json.dumps({"class_names": ["ok",
                                                                                 "defect"]}))
    [model] = s.put_artifacts([pb.Artifact(type_id=model_type, uri=str(model_dir))])
    blessing = _artifact(s, types["ModelBlessing"], blessed=1, current_model_id=model)
    [b] = s.get_artifacts_by_id([blessing])
    assert evaluated_class_names(s, b, ["defect", "ok"]) == ["ok", "defect"]
    from pipeline.summary import class_order_note
    assert class_order_note(s, b, ["ok", "defect"]) == []
    (model_dir / "training_summary.json").unlink()  # not recorded: the config's, said so
    assert evaluated_class_names(s, b, ["defect", "ok"]) == ["defect", "ok"]
    [note] = class_order_note(s, b, ["defect", "ok"])
    assert "class order is not recorded" in note and "['defect', 'ok']" in note
    assert evaluated_class_names(s, None, ["a", "b"]) == ["a", "b"]


def test_a_killed_pushs_staging_dir_removed_at_start_is_said():
    from pipeline.summary import format_summary
    text = format_summary({"metrics": {}, "gates": [], "blessed": False, "pushed": False,
                           "removed_staging_dirs": [".incomplete-1796558654"]})
    assert ("recovered from a killed push: removed its unfinished version dir(s) "
            ".incomplete-1796558654 (never served)") in text


def test_a_run_that_pushed_nothing_says_which_version_is_served(tmp_path):
    """helper-59: 'previously pushed versions are unchanged' did not say which one is served."""
    from pipeline.summary import format_summary
    base = {"metrics": {}, "gates": [], "blessed": False, "pushed": False,
            "serving_dir": str(tmp_path / "serving")}
    assert format_summary(base).splitlines()[-1] == (
        f"served: no version pushed yet under {tmp_path / 'serving'}")
    for version in ("1796557859", "1796557906", ".incomplete-1796557999"):
        (tmp_path / "serving" / version / "saved_model").mkdir(parents=True)
        (tmp_path / "serving" / version / "saved_model" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "serving" / "9999999999").mkdir()  # made by hand: not a version
    assert format_summary(base).splitlines()[-1] == (
        f"served: version 1796557906 ({tmp_path / 'serving' / '1796557906'}, the newest pushed; "
        f"`predict` uses it)")
    assert "served:" not in format_summary({k: v for k, v in base.items() if k != "serving_dir"})


def test_a_baseline_that_collapses_on_the_new_test_split_is_noted(tmp_path):
    """helper-65: a span with swapped labels passed the change gate (+0.24), the baseline
    scoring 0.15 on it against 0.78 on its own test split; the summary now says so."""
    import json

    from pipeline.lineage import pushed_test_accuracy
    from pipeline.summary import format_summary
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "report.json").write_text(json.dumps({"saved_model": {"accuracy": 0.78}}))
    assert pushed_test_accuracy(str(tmp_path), 7) == 0.78
    assert pushed_test_accuracy(str(tmp_path), 8) is None
    assert pushed_test_accuracy(str(tmp_path), None) is None
    change = {"name": "accuracy vs baseline", "kind": "change", "metric": "accuracy",
              "threshold": -0.01, "value": 0.2391, "passed": True,
              "candidate_value": 0.3913, "baseline_value": 0.1522,
              "config_key": "evaluator.max_accuracy_drop"}
    summary = {"metrics": {}, "gates": [change], "blessed": False, "pushed": False,
               "lineage": {"baseline": {"model_id": 17, "version": 7, "own_test_accuracy": 0.78}}}
    assert ("  note: the baseline scores 0.1522 on this test split against 0.7800 on the test "
            "split of its own version: the new images or their labels differ") \
        in format_summary(summary)
    change["baseline_value"] = 0.70  # a drop below 15 points: no note
    assert "the new images or their labels differ" not in format_summary(summary)


def test_the_baseline_line_says_when_the_test_split_changed_since_its_own_evaluation(
        tmp_path):
    """helper-71: after new images were added, the change gate scored the baseline 0.9250 on
    120 test images where its own summary and report had said 0.9394 (on 99), with nothing
    saying why."""
    import json

    from pipeline.lineage import pushed_evaluation
    from pipeline.summary import format_summary
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "report.json").write_text(json.dumps({"evaluation": {"metrics": {
        "sparse_categorical_accuracy": 93 / 99, "example_count": 99.0}}}))
    own = pushed_evaluation(str(tmp_path), 7)
    assert own == {"accuracy": 93 / 99, "examples": 99.0}
    assert pushed_evaluation(str(tmp_path), 8) is None
    change = {"name": "accuracy vs baseline", "kind": "change", "metric": "accuracy",
              "threshold": -0.01, "value": 0.025, "passed": True,
              "candidate_value": 0.95, "baseline_value": 0.925,
              "config_key": "evaluator.max_accuracy_drop"}
    summary = {"metrics": {"example_count": 120.0}, "gates": [change], "blessed": True,
               "pushed": False,
               "lineage": {"baseline": {"model_id": 15, "version": 7, "own_evaluation": own}}}
    assert ("  the baseline scored 0.9394 in the evaluation that blessed it and 0.9250 here: "
            "both models are scored on this run's 120 test images, more than its 99: the test "
            "split changed (images added or removed)") in format_summary(summary)
    summary["metrics"]["example_count"] = 99.0  # the same count, another score: other images
    assert ("both models are scored on this run's test images (its own evaluation had 99)"
            in format_summary(summary))
    change["baseline_value"] = 93 / 99  # the same test split: nothing to say
    assert "in the evaluation that blessed it" not in format_summary(summary)


def test_a_push_that_changes_the_classes_says_so(tmp_path):
    """helper-65: a 3-class version replaced the served 2-class one without a word; and a
    later 2-class run's served line named the 3-class version as if it were this run's."""
    import json

    from pipeline.summary import class_change_note, format_summary
    serving = tmp_path / "serving"

    def version(v, classes):
        (serving / str(v) / "saved_model").mkdir(parents=True)
        (serving / str(v) / "saved_model" / "saved_model.pb").write_bytes(b"")
        (serving / str(v) / "report.json").write_text(json.dumps(
            {"version": v, "run": {"class_names": classes}}))
    version(10, ["shirt", "tshirt_top"])
    version(11, ["shirt", "tshirt_top", "pullover"])
    report = json.loads((serving / "11" / "report.json").read_text())
    assert class_change_note(str(serving / "11"), report) == [
        "note: this version's classes ['shirt', 'tshirt_top', 'pullover'] differ from "
        "['shirt', 'tshirt_top'] of version 10, served before it: its output and labels.txt "
        "changed; a client that hard-codes the classes must change with it (no change gate "
        "compares models of different classes)"]
    assert class_change_note(str(serving / "10"), json.loads(
        (serving / "10" / "report.json").read_text())) == []  # nothing served before it
    text = format_summary({"metrics": {}, "gates": [], "blessed": False, "pushed": False,
                           "serving_dir": str(serving),
                           "per_class": {n: {"precision": 0.5, "recall": 0.5, "support": 10}
                                         for n in ("shirt", "tshirt_top")}})
    assert text.splitlines()[-1].endswith(
        "`predict` uses it; its classes ['shirt', 'tshirt_top', 'pullover'] are not this run's "
        "['shirt', 'tshirt_top'])")
