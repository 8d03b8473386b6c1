"""Resolver strategies for retraining on spans, and the MLMD lineage helpers they rest on.

`SpanWindowStrategy`: TFX's SpanRangeStrategy (RollingRange) keeping one Examples artifact per span:
the latest ingestion of it (a span whose files changed is ingested again by ExampleGen; training on
both ingestions would count its images twice).

`WarmStartModelStrategy`: the Trainer's `base_model` for warm starts. The latest blessed model
*not trained on exactly the examples this run trains on*: on new data that is the latest blessed
model; on an unchanged re-run it is the same model as in the run that trained on this data, so the
Trainer's inputs are unchanged and TFX serves it from the cache instead of fine-tuning the newest
model on the same data again (and again at every cron tick).

`BaselineModelStrategy`: the Evaluator's `baseline_model`. The latest blessed model *other than
the candidate* and *trained on the same class names* (read from each model's
training_summary.json): comparing a model with itself measures nothing (and with TFX's
LatestBlessedModelStrategy every unchanged re-run after a blessing re-ran the Evaluator and the
ExportPusher once), and a model of another class set is not a baseline for this one at all.

All three are local-only: KubeflowV2DagRunner compiles only LatestArtifactStrategy and
LatestBlessedModelStrategy resolvers (the compiled pipeline uses the latter for the baseline).
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Set

from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.input_resolution.strategies.span_range_strategy import SpanRangeStrategy
from tfx.dsl.components.common import resolver

from pipeline.mlmd import span_of

from modules.class_names import TRAINING_SUMMARY, trained_class_names  # noqa: F401


def model_class_names(model: types.Artifact) -> Optional[List[str]]:
    """The class names a Model was trained on (its training_summary.json), None if unknown."""
    return class_names_at(model.uri)


def class_names_at(model_uri: str) -> Optional[List[str]]:
    """`model_class_names` for a Model artifact's uri (an MLMD proto has no Artifact class)."""
    return trained_class_names(model_uri)


# ------------------------------------------------------------------------------------ lineage


def _events(store, artifact_ids: Iterable[int]) -> List[metadata_store_pb2.Event]:
    ids = list(artifact_ids)
    return list(store.get_events_by_artifact_ids(ids)) if ids else []


def producer_execution_ids(store, artifact_id: int) -> List[int]:
    """Executions that output the artifact (the original one first; cached re-uses after it)."""
    return sorted(e.execution_id for e in _events(store, [artifact_id])
                  if e.type == metadata_store_pb2.Event.OUTPUT)


def input_artifact_ids(store, execution_id: int, key: str) -> List[int]:
    """Artifacts the execution read under input key `key` (e.g. 'examples', 'baseline_model')."""
    return sorted(e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
                  if e.type in (metadata_store_pb2.Event.INPUT,
                                metadata_store_pb2.Event.DECLARED_INPUT)
                  and e.path.steps and e.path.steps[0].key == key)


def output_artifact_ids(store, execution_id: int, key: str) -> List[int]:
    """Artifacts the execution output under key `key` (e.g. 'model', 'blessing')."""
    return sorted(e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
                  if e.type == metadata_store_pb2.Event.OUTPUT
                  and e.path.steps and e.path.steps[0].key == key)


def training_examples_ids(store, model_id: int) -> Set[int]:
    """ExampleGen Examples behind a Model: Trainer <- transformed examples <- Transform <- them."""
    producers = producer_execution_ids(store, model_id)
    if not producers:
        return set()
    out: Set[int] = set()
    for transformed in input_artifact_ids(store, producers[0], "examples"):
        transform_runs = producer_execution_ids(store, transformed)
        if transform_runs:
            out.update(input_artifact_ids(store, transform_runs[0], "examples"))
    return out


def blessed_model_ids(blessings: Iterable[types.Artifact]) -> List[int]:
    """Model ids blessed by the Evaluator (custom property current_model_id), newest first."""
    ids = {b.get_int_custom_property("current_model_id") for b in blessings
           if b.get_int_custom_property("blessed") == 1}
    return sorted(ids, reverse=True)


# ------------------------------------------------------------------------------------ strategies


def _span(artifact: types.Artifact) -> int:
    """A TFX Artifact's span (0 when it has none, as TFX's own span resolution reads it)."""
    span = span_of(artifact.mlmd_artifact)
    return 0 if span is None else span


def _blessing_of(chosen: List[types.Artifact], blessings: Iterable[types.Artifact]
                 ) -> List[types.Artifact]:
    """The latest positive blessing of the model in `chosen` (zero or one model), as a list."""
    return [b for b in blessings
            if chosen and b.get_int_custom_property("current_model_id") == chosen[0].id
            and b.get_int_custom_property("blessed") == 1][-1:]


class SpanWindowStrategy(SpanRangeStrategy):
    """SpanRangeStrategy (static or rolling range) with one artifact per span: the latest one.
    `spans` (optional): only these span numbers, those of the range present on disk
    (pipeline.pipeline.span_window): a span ingested earlier whose folder is gone is not read,
    though its number lies inside the range."""

    def __init__(self, range_config: Any, spans: Optional[List[int]] = None):
        super().__init__(range_config)
        self._spans = None if spans is None else set(spans)

    def _resolve(self, input_dict: Dict[str, List[types.Artifact]]):
        result = {}
        for key, artifacts in super()._resolve(input_dict).items():
            latest: Dict[int, types.Artifact] = {}
            for a in artifacts:
                if self._spans is not None and _span(a) not in self._spans:
                    continue
                if _span(a) not in latest or a.id > latest[_span(a)].id:
                    latest[_span(a)] = a
            result[key] = [latest[s] for s in sorted(latest, reverse=True)]
        return result


class WarmStartModelStrategy(resolver.ResolverStrategy):
    """Latest blessed model not trained on exactly the `examples` input (see module docstring).

    Inputs: `model` and `model_blessing` (all, as for LatestBlessedModelStrategy) and `examples`
    (what this run's Transform reads). Output `model`: zero or one model.
    """

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        models = {m.id: m for m in input_dict["model"]}
        current = {a.id for a in input_dict.get("examples", [])}
        chosen: List[types.Artifact] = []
        for model_id in blessed_model_ids(input_dict["model_blessing"]):
            if model_id in models and training_examples_ids(store, model_id) != current:
                chosen = [models[model_id]]
                break
        blessing = _blessing_of(chosen, input_dict["model_blessing"])
        return {"model": chosen, "model_blessing": blessing,
                "examples": list(input_dict.get("examples", []))}


class BaselineModelStrategy(resolver.ResolverStrategy):
    """Latest blessed model that is not the `candidate` and has its class names (see module
    docstring).

    Inputs: `model` and `model_blessing` (all, as for LatestBlessedModelStrategy) and `candidate`
    (this run's Trainer output). Output `model`: zero or one model; `model_blessing` its blessing.
    """

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        models = {m.id: m for m in input_dict["model"]}
        candidates = {m.id for m in input_dict.get("candidate", [])}
        wanted = next((model_class_names(m) for m in input_dict.get("candidate", [])), None)
        chosen = next(([models[i]] for i in blessed_model_ids(input_dict["model_blessing"])
                       if i in models and i not in candidates
                       and wanted is not None and model_class_names(models[i]) == wanted), [])
        blessing = _blessing_of(chosen, input_dict["model_blessing"])
        return {"model": chosen, "model_blessing": blessing,
                "candidate": list(input_dict.get("candidate", []))}
