"""Which models a run read, from MLMD: the Evaluator's candidate and baseline, the Trainer's
warm start, each named by its MLMD artifact id and the serving version it was pushed as."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from pipeline.config import PipelineConfig, has_span
from pipeline.mlmd import open_store


def node_executions(store, pipeline_name: str, node: str) -> List[Any]:
    """MLMD executions of a pipeline node, oldest first."""
    ctx = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node}")
    return sorted(store.get_executions_by_context(ctx.id), key=lambda e: e.id) if ctx else []


def finished(executions: List[Any]) -> List[Any]:
    """The executions that completed or were served from the cache (their inputs and outputs
    are whole; a failed or running one may have read models it never judged)."""
    from ml_metadata.proto import metadata_store_pb2
    done = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
    return [e for e in executions if e.last_known_state in done]


def lineage_report(config: PipelineConfig) -> Dict[str, Any]:
    """For the latest run: the latest finished Evaluator's `candidate` and `baseline` (the
    models behind the gates the summary prints; a later failed Evaluator is skipped) and the
    latest Trainer's
    `warm_start_from` ({model_id, uri, version}: version None when no serving/<version>/ holds
    that model), `trainer_state` (an MLMD state name) and `trainer_model_id` (its output);
    `candidate_spans`: the spans the candidate was trained on (span layouts only)."""
    from components.export_pusher.executor import find_pushed_version
    from pipeline.resolvers import input_artifact_ids, output_artifact_ids

    store = open_store(config.metadata_path)

    def model_info(model_id: Optional[int]) -> Optional[Dict[str, Any]]:
        if model_id is None:
            return None
        (model,) = store.get_artifacts_by_id([model_id])
        version = find_pushed_version(config.serving_dir, model.uri)
        return {"model_id": model_id, "uri": model.uri, "version": version,
                "own_test_accuracy": pushed_test_accuracy(config.serving_dir, version),
                "own_evaluation": pushed_evaluation(config.serving_dir, version)}

    out: Dict[str, Any] = {}
    evaluators = finished(node_executions(store, config.pipeline_name, "Evaluator"))
    trainers = node_executions(store, config.pipeline_name, "Trainer")
    if evaluators:
        candidate = input_artifact_ids(store, evaluators[-1].id, "model")
        baseline = input_artifact_ids(store, evaluators[-1].id, "baseline_model")
        # The blessing names the baseline too (its custom property), for an Evaluator whose
        # input events lack the 'baseline_model' key.
        blessings = store.get_artifacts_by_id(output_artifact_ids(store, evaluators[-1].id,
                                                                  "blessing"))
        if not baseline and blessings and "baseline_model_id" in blessings[0].custom_properties:
            baseline = [blessings[0].custom_properties["baseline_model_id"].int_value]
        out["baseline"] = model_info(baseline[0] if baseline else None)
        if baseline:
            roots = training_data_roots(store, baseline[0])
            here = os.path.realpath(config.data_root)
            if roots and here not in {os.path.realpath(r) for r in roots}:
                out["baseline_data_roots"] = roots  # an output root shared by two data sets
        out["candidate"] = model_info(candidate[0] if candidate else None)
        if out["candidate"]:
            cost = pruning_cost(out["candidate"]["uri"])
            if cost:
                out["candidate_pruning"] = cost
            skipped = warm_start_skipped(out["candidate"]["uri"])
            if skipped:
                out["warm_start_skipped"] = skipped
        if candidate and has_span(config.data.train_pattern):
            # ExampleGen records span 0 for a layout without {SPAN}: not a span to report
            spans = trained_spans(store, candidate[0])
            if spans:
                out["candidate_spans"] = spans
        if not baseline and candidate:
            out["same_classes_other_order"] = reordered_blessed_model(
                store, candidate[0], before=blessings[0].id if blessings else None)
    if trainers:
        base = input_artifact_ids(store, trainers[-1].id, "base_model")
        out["warm_start_from"] = model_info(base[0] if base else None)
        out["trainer_state"] = _state_name(trainers[-1].last_known_state)
        made = output_artifact_ids(store, trainers[-1].id, "model")
        if made:
            out["trainer_model_id"] = made[-1]
    return out


def training_summary(model_uri: str) -> Dict[str, Any]:
    """A Model's training_summary.json (modules/trainer.run_fn) as a dict; {} when absent or
    unreadable."""
    import json
    try:
        with open(os.path.join(model_uri, "training_summary.json"), encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def pruning_cost(model_uri: str) -> Optional[Dict[str, Any]]:
    """{'before', 'after', 'target_sparsity'}: the model's validation accuracy before and
    after its pruning fine-tune (its training_summary.json), None without pruning or record."""
    record = training_summary(model_uri)
    try:
        before = record["pruning"]["validation_before"]["accuracy"]
        after = record["final_validation"]["accuracy"]
        return {"before": float(before), "after": float(after),
                "target_sparsity": record["pruning"].get("target_sparsity")}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def warm_start_skipped(model_uri: str) -> Dict[str, str]:
    """{layer: why} of the layers warm start did not copy into the model (its
    training_summary.json; e.g. the predictions layer of a model of other classes), {} when it
    copied every layer, did not warm-start, or left no record."""
    warm = training_summary(model_uri).get("warm_start")
    skipped = warm.get("skipped") if isinstance(warm, dict) else None
    return dict(skipped) if isinstance(skipped, dict) else {}


def raw_training_examples(store, model_id: int) -> List[Any]:
    """The raw Examples (ImageExampleGen's outputs) behind the Trainer that produced
    `model_id`: its `examples` input, or, for Transform's output, one hop up to the
    Transform's `examples` input."""
    from pipeline.resolvers import input_artifact_ids, producer_execution_ids
    raw = []
    for trainer in producer_execution_ids(store, model_id)[-1:]:
        for examples in store.get_artifacts_by_id(input_artifact_ids(store, trainer, "examples")):
            if "input_fingerprint" in examples.custom_properties:  # ExampleGen's own output
                raw.append(examples)
                continue
            for transform in producer_execution_ids(store, examples.id)[-1:]:
                raw += store.get_artifacts_by_id(input_artifact_ids(store, transform, "examples"))
    return raw


def trained_spans(store, model_id: int) -> List[int]:
    """The spans the Trainer that produced `model_id` read (`raw_training_examples`' `span`
    property), sorted. A layout without {SPAN} gives [0] (ExampleGen's driver records span 0):
    callers ask only for span layouts."""
    from pipeline.mlmd import span_of
    return sorted({s for s in map(span_of, raw_training_examples(store, model_id))
                   if s is not None})


def training_data_roots(store, model_id: int) -> List[str]:
    """The data roots (ImageExampleGen's `input_base`) the model was trained from, sorted."""
    from pipeline.resolvers import producer_execution_ids
    roots = set()
    for examples in raw_training_examples(store, model_id):
        for execution in store.get_executions_by_id(producer_execution_ids(store,
                                                                           examples.id)[:1]):
            value = execution.custom_properties.get("input_base")
            if value is not None and value.string_value:
                roots.add(value.string_value)
    return sorted(roots)


def reordered_blessed_model(store, candidate_id: int, before: Optional[int] = None
                            ) -> Optional[Dict[str, Any]]:
    """The newest blessed model ({model_id, class_names}) trained on the candidate's classes in
    another order, or None. It is never the change gate's baseline (a model's outputs follow its
    class order), so a run without a baseline says why when this exists. `before`: the
    evaluation's own blessing id; only blessings older than it count (a cached evaluation ran
    before any model blessed since)."""
    from pipeline.resolvers import class_names_at

    (candidate,) = store.get_artifacts_by_id([candidate_id])
    wanted = class_names_at(candidate.uri)
    if not wanted:
        return None
    blessed = sorted({b.custom_properties["current_model_id"].int_value
                      for b in store.get_artifacts_by_type("ModelBlessing")
                      if b.custom_properties["blessed"].int_value == 1
                      and (before is None or b.id < before)}, reverse=True)
    models = store.get_artifacts_by_id([i for i in blessed if i != candidate_id])
    for model in sorted(models, key=lambda m: -m.id):
        names = class_names_at(model.uri)
        if names and names != wanted and sorted(names) == sorted(wanted):
            return {"model_id": model.id, "class_names": names}
    return None


def summary_lineage(config: PipelineConfig) -> Dict[str, Any]:
    """`lineage_report` for the run summary, which must still print after a finished run: an
    unreadable MLMD or serving/ report gives {"error": "<type>: <message>"} instead."""
    try:
        return lineage_report(config)
    except Exception as e:  # pylint: disable=broad-except
        return {"error": f"{type(e).__name__}: {e}"}


def pushed_test_accuracy(serving_dir: str, version: Optional[int]) -> Optional[float]:
    """The SavedModel's held-out accuracy its pushed version's report.json records (on the test
    split of the data it was trained on), None when not pushed or not recorded."""
    from components.export_pusher.versioning import version_report
    value = (version_report(serving_dir, version).get("saved_model") or {}).get("accuracy")
    return float(value) if isinstance(value, (int, float)) else None


def pushed_evaluation(serving_dir: str, version: Optional[int]) -> Optional[Dict[str, float]]:
    """{'accuracy', 'examples'}: the TFMA evaluation that blessed a pushed version (its
    report.json), on the whole test split of its own run; None when not pushed or not
    recorded."""
    from components.export_pusher.versioning import version_report
    metrics = (version_report(serving_dir, version).get("evaluation") or {}).get("metrics") or {}
    from components.tfma_gates import accuracy_of
    accuracy = accuracy_of(metrics)
    examples = metrics.get("example_count")
    if not isinstance(accuracy, (int, float)) or not isinstance(examples, (int, float)):
        return None
    return {"accuracy": float(accuracy), "examples": float(examples)}


def describe_model(info: Optional[Dict[str, Any]]) -> str:
    """'model 12 (version 3)', 'model 12 (no pushed version holds it)' or 'none'."""
    if not info:
        return "none"
    version = info.get("version")
    return f"model {info['model_id']}" + (f" (version {version})" if version
                                          else " (no pushed version holds it)")


def _state_name(state: int) -> str:
    from ml_metadata.proto import metadata_store_pb2
    return metadata_store_pb2.Execution.State.Name(state)
