"""lineage_report on a real SQLite MLMD: the models named beside the change gate come from the
latest Evaluator that finished, not from a later one that failed."""
import json
import os

from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.config import load_config
from pipeline.lineage import lineage_report
from pipeline.mlmd import CREATE, open_store


def _execution(store, type_id, state, events, context_id=None):
    """An execution of `type_id` in `state` with one event per `events` item, key -> (artifact
    id, event type), each with its key as the path step; associated with `context_id`."""
    [eid] = store.put_executions([pb.Execution(type_id=type_id, last_known_state=state)])
    if context_id is not None:
        store.put_attributions_and_associations([], [pb.Association(context_id=context_id,
                                                                    execution_id=eid)])
    made = []
    for key, (artifact_id, event_type) in events.items():
        event = pb.Event(execution_id=eid, artifact_id=artifact_id, type=event_type)
        event.path.steps.add().key = key
        made.append(event)
    store.put_events(made)
    return eid


def _evaluator(store, types, context_id, state, candidate, baseline):
    return _execution(store, types["Evaluator"], state, {"model": (candidate, pb.Event.INPUT),
                                                         "baseline_model": (baseline,
                                                                            pb.Event.INPUT)},
                      context_id)


def test_a_failed_evaluator_after_a_finished_one_does_not_name_the_baseline(tmp_path):
    config = load_config(overrides=[f"output.root={tmp_path}"])
    store = open_store(config.metadata_path, CREATE)
    types = {"Evaluator": store.put_execution_type(pb.ExecutionType(name="Evaluator"))}
    model_type = store.put_artifact_type(pb.ArtifactType(name="Model"))
    node = store.put_context_type(pb.ContextType(name="node"))
    [ctx] = store.put_contexts([pb.Context(type_id=node,
                                           name=f"{config.pipeline_name}.Evaluator")])
    m1, m2, m3, m4 = store.put_artifacts(
        [pb.Artifact(type_id=model_type, uri=str(tmp_path / f"model{i}")) for i in range(4)])
    os.makedirs(os.path.join(config.serving_dir, "1"))
    with open(os.path.join(config.serving_dir, "1", "report.json"), "w", encoding="utf-8") as f:
        json.dump({"model_uri": str(tmp_path / "model0")}, f)

    _evaluator(store, types, ctx, pb.Execution.COMPLETE, candidate=m2, baseline=m1)
    assert (lineage_report(config)["baseline"]["model_id"],
            lineage_report(config)["candidate"]["model_id"]) == (m1, m2)
    assert lineage_report(config)["baseline"]["version"] == 1
    _evaluator(store, types, ctx, pb.Execution.FAILED, candidate=m4, baseline=m3)
    report = lineage_report(config)
    assert (report["baseline"]["model_id"], report["candidate"]["model_id"]) == (m1, m2)
    _evaluator(store, types, ctx, pb.Execution.CACHED, candidate=m4, baseline=m2)
    report = lineage_report(config)
    assert (report["baseline"]["model_id"], report["candidate"]["model_id"]) == (m2, m4)
    assert report["baseline"]["version"] is None


def _model_dir(tmp_path, name, class_names):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "training_summary.json").write_text(json.dumps({"class_names": class_names}))
    return str(folder)


def test_a_blessed_model_of_the_same_classes_in_another_order_is_named_not_compared(tmp_path):
    """Reordered data.class_names: no baseline (outputs follow the class order), and the
    summary says which blessed model that excludes and the order that would compare with it."""
    from pipeline.summary import format_summary
    config = load_config(overrides=[f"output.root={tmp_path / 'out'}"])
    os.makedirs(config.output_root)
    store = open_store(config.metadata_path, CREATE)
    types = {"Evaluator": store.put_execution_type(pb.ExecutionType(name="Evaluator"))}
    model_type = store.put_artifact_type(pb.ArtifactType(name="Model"))
    blessing_type = store.put_artifact_type(pb.ArtifactType(name="ModelBlessing"))
    node = store.put_context_type(pb.ContextType(name="node"))
    [ctx] = store.put_contexts([pb.Context(type_id=node,
                                           name=f"{config.pipeline_name}.Evaluator")])
    orders = {"old": ["b", "a", "c"], "older": ["c", "b", "a"], "other": ["a", "b", "d"],
              "new": ["a", "b", "c"]}
    ids = dict(zip(["older", "old", "other", "new"], store.put_artifacts(
        [pb.Artifact(type_id=model_type, uri=_model_dir(tmp_path, n, orders[n]))
         for n in ["older", "old", "other", "new"]])))
    blessings = []
    for name in ("older", "old", "other"):
        b = pb.Artifact(type_id=blessing_type, uri=str(tmp_path / f"blessing-{name}"))
        b.custom_properties["blessed"].int_value = 1
        b.custom_properties["current_model_id"].int_value = ids[name]
        blessings.append(b)
    store.put_artifacts(blessings)
    [eid] = store.put_executions([pb.Execution(type_id=types["Evaluator"],
                                               last_known_state=pb.Execution.COMPLETE)])
    store.put_attributions_and_associations([], [pb.Association(context_id=ctx,
                                                                execution_id=eid)])
    event = pb.Event(execution_id=eid, artifact_id=ids["new"], type=pb.Event.INPUT)
    event.path.steps.add().key = "model"
    store.put_events([event])

    report = lineage_report(config)
    assert report["baseline"] is None and report["candidate"]["model_id"] == ids["new"]
    assert report["same_classes_other_order"] == {"model_id": ids["old"],
                                                  "class_names": ["b", "a", "c"]}
    text = format_summary({"metrics": {}, "blessed": True, "pushed": False, "gates": [],
                           "lineage": report})
    assert (f"  no baseline, though model {ids['old']} (blessed) has these classes in another "
            f"order, ['b', 'a', 'c']") in text
    assert "list data.class_names in that order" in text


def _evaluator_outputs(store, types, state, blessed=None, reuse=None):
    """An Evaluator execution in `state` that output a new evaluation and blessing (blessed:
    0/1) or, cached, re-used `reuse` = (evaluation, blessing) ids."""
    if reuse is None:
        evaluation = pb.Artifact(type_id=types["ModelEvaluation"], state=pb.Artifact.LIVE)
        blessing = pb.Artifact(type_id=types["ModelBlessing"], state=pb.Artifact.LIVE)
        blessing.custom_properties["blessed"].int_value = blessed
        reuse = store.put_artifacts([evaluation, blessing])
    _execution(store, types["Evaluator"], state,
               {"evaluation": (reuse[0], pb.Event.OUTPUT), "blessing": (reuse[1], pb.Event.OUTPUT)})
    return reuse


def test_the_summary_reads_the_latest_finished_evaluators_own_outputs(tmp_path):
    """A cached Evaluator re-uses older artifacts than the newest by id, and a failed one's
    gates were never applied: the summary's blessing is the latest finished Evaluator's."""
    from pipeline.summary import _finished_evaluator_outputs
    store = open_store(str(tmp_path / "m.sqlite"), CREATE)
    types = {"Evaluator": store.put_execution_type(pb.ExecutionType(
        name="tfx.components.evaluator.component.Evaluator"))}
    for name in ("ModelEvaluation", "ModelBlessing"):
        types[name] = store.put_artifact_type(pb.ArtifactType(name=name))
    assert _finished_evaluator_outputs(store) == (None, None, None)
    first = _evaluator_outputs(store, types, pb.Execution.COMPLETE, blessed=1)
    second = _evaluator_outputs(store, types, pb.Execution.COMPLETE, blessed=0)
    evaluation, blessing, state = _finished_evaluator_outputs(store)
    assert (evaluation.id, blessing.id, state) == (*second, pb.Execution.COMPLETE)
    _evaluator_outputs(store, types, pb.Execution.CACHED, reuse=first)
    _evaluator_outputs(store, types, pb.Execution.FAILED, blessed=0)
    evaluation, blessing, state = _finished_evaluator_outputs(store)
    assert (evaluation.id, blessing.id, state) == (*first, pb.Execution.CACHED)
    assert blessing.custom_properties["blessed"].int_value == 1


def test_a_model_blessed_after_a_cached_evaluation_is_not_named_for_it(tmp_path):
    """reordered_blessed_model(before=<the evaluation's blessing id>) counts older blessings
    only."""
    from pipeline.lineage import reordered_blessed_model
    store = open_store(str(tmp_path / "m.sqlite"), CREATE)
    model_type = store.put_artifact_type(pb.ArtifactType(name="Model"))
    blessing_type = store.put_artifact_type(pb.ArtifactType(name="ModelBlessing"))
    candidate, later = store.put_artifacts(
        [pb.Artifact(type_id=model_type, uri=_model_dir(tmp_path, n, order))
         for n, order in (("candidate", ["a", "b"]), ("later", ["b", "a"]))])
    own = pb.Artifact(type_id=blessing_type)
    own.custom_properties["blessed"].int_value = 0
    own.custom_properties["current_model_id"].int_value = candidate
    newer = pb.Artifact(type_id=blessing_type)
    newer.custom_properties["blessed"].int_value = 1
    newer.custom_properties["current_model_id"].int_value = later
    own_id, _ = store.put_artifacts([own, newer])
    assert reordered_blessed_model(store, candidate)["model_id"] == later
    assert reordered_blessed_model(store, candidate, before=own_id) is None


def test_a_baseline_trained_on_another_data_root_is_named(tmp_path):
    """An explicit output.root shared by two data sets of the same classes (helper-43): the
    change gate's baseline came from the other data set without a word; lineage now reads
    the data root each model was trained from (ImageExampleGen's input_base) and the summary
    says so. A baseline from this run's data root gets no note."""
    from pipeline.summary import format_summary
    config = load_config(overrides=[f"output.root={tmp_path / 'out'}"])  # the embedded data
    os.makedirs(config.output_root)
    store = open_store(config.metadata_path, CREATE)
    types = {n: store.put_execution_type(pb.ExecutionType(name=n))
             for n in ("ImageExampleGen", "Trainer", "Evaluator")}
    examples_type = store.put_artifact_type(pb.ArtifactType(name="Examples"))
    model_type = store.put_artifact_type(pb.ArtifactType(name="Model"))
    node = store.put_context_type(pb.ContextType(name="node"))
    [ctx] = store.put_contexts([pb.Context(type_id=node,
                                           name=f"{config.pipeline_name}.Evaluator")])

    def model_from(root):
        raw = pb.Artifact(type_id=examples_type, uri=str(tmp_path / f"ex-{len(root)}"))
        raw.custom_properties["input_fingerprint"].string_value = "f"
        raw.custom_properties["span"].int_value = 0
        [raw_id] = store.put_artifacts([raw])
        [gen] = store.put_executions([pb.Execution(type_id=types["ImageExampleGen"])])
        execution = store.get_executions_by_id([gen])[0]
        execution.custom_properties["input_base"].string_value = root
        store.put_executions([execution])
        store.put_events([pb.Event(execution_id=gen, artifact_id=raw_id,
                                   type=pb.Event.OUTPUT)])
        [model] = store.put_artifacts([pb.Artifact(type_id=model_type,
                                                   uri=str(tmp_path / f"m-{len(root)}"))])
        _execution(store, types["Trainer"], pb.Execution.COMPLETE,
                   {"examples": (raw_id, pb.Event.INPUT), "model": (model, pb.Event.OUTPUT)})
        return model

    other = model_from("/data/someone-else")
    mine = model_from(config.data_root)
    candidate = model_from(config.data_root + "/")
    _evaluator(store, types, ctx, pb.Execution.COMPLETE, candidate=candidate, baseline=other)
    report = lineage_report(config)
    assert report["baseline_data_roots"] == ["/data/someone-else"]
    assert "candidate_spans" not in report  # span 0 of a layout without {SPAN}
    text = format_summary({"metrics": {}, "blessed": True, "pushed": False, "gates": [],
                           "lineage": report})
    assert ("  note: the baseline was trained on data under /data/someone-else, not this "
            "run's data.root") in text
    _evaluator(store, types, ctx, pb.Execution.COMPLETE, candidate=candidate, baseline=mine)
    assert "baseline_data_roots" not in lineage_report(config)


def test_the_newest_trainers_own_model_is_reported_beside_the_evaluated_candidate(tmp_path):
    """lineage_report's `trainer_model_id` is the newest Trainer's output, read from MLMD
    (helper-68: only a hand-built dict was tested): the trainer line compares it with the
    candidate the Evaluator judged."""
    from pipeline.retrain import trainer_lines
    config = load_config(overrides=[f"output.root={tmp_path}"])
    store = open_store(config.metadata_path, CREATE)
    types = {n: store.put_execution_type(pb.ExecutionType(name=n)) for n in ("Evaluator",
                                                                              "Trainer")}
    model_type = store.put_artifact_type(pb.ArtifactType(name="Model"))
    node = store.put_context_type(pb.ContextType(name="node"))
    ctx = {n: store.put_contexts([pb.Context(type_id=node, name=f"{config.pipeline_name}.{n}")])[0]
           for n in ("Evaluator", "Trainer")}
    m0, m1, m2 = store.put_artifacts([pb.Artifact(type_id=model_type,
                                              uri=str(tmp_path / f"m{i}")) for i in range(3)])
    _execution(store, types["Trainer"], pb.Execution.COMPLETE, {"model": (m1, pb.Event.OUTPUT)},
               ctx["Trainer"])
    _evaluator(store, types, ctx["Evaluator"], pb.Execution.COMPLETE, candidate=m1, baseline=m0)
    report = lineage_report(config)
    assert (report["trainer_model_id"], report["candidate"]["model_id"]) == (m1, m1)
    assert trainer_lines(report) == ["trainer: trained a new model"]
    # the next run trained m2 and stopped before its Evaluator finished
    _execution(store, types["Trainer"], pb.Execution.COMPLETE, {"model": (m2, pb.Event.OUTPUT)},
               ctx["Trainer"])
    report = lineage_report(config)
    assert trainer_lines(report) == [
        f"trainer: the newest Trainer made model {m2}, which was never evaluated (its run "
        f"stopped before its Evaluator finished, or has not reached it yet); the evaluation "
        f"above is of model {m1}"]
