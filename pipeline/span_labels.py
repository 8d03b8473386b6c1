"""Spans trained together must share their labels.

ImageExampleGen fixes a span's labels when it ingests it: label = the index of the class folder in
that run's class list (`data.class_names`, or the newest span's folders when not configured).
Transform, Tuner and Trainer read a window of spans (`retrain.num_spans` > 1: the latest ingestion
of each, pipeline/resolvers.SpanWindowStrategy). If the class list changed since an older span of
the window was ingested — a new class folder sorts in between, or the list was edited — the same
label means another class in different spans, and the model learns wrong labels without a sound.

`check_span_labels` refuses that before any work: every ingested span of the window must have
been labelled with a list of which this run's is an extension (the same classes at the same
indices, new classes only after them). Spans not ingested yet are ingested with this run's list
(by retrain's backfill), so they must hold a folder for each of its classes.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from pipeline.config import ConfigError, PipelineConfig
from pipeline.data_layout import (discover_class_names, has_span, is_uri,
                                  pattern_for_span, span_window, spans_on_disk)

if TYPE_CHECKING:
    from ml_metadata.proto.metadata_store_pb2 import Artifact

EXAMPLE_GEN = "ImageExampleGen"


def latest_ingestions(config: PipelineConfig) -> Dict[int, "Artifact"]:
    """{span: its latest LIVE Examples artifact from ImageExampleGen} (the one the span window
    resolver picks); empty without MLMD or ingestions."""
    return _latest_ingestions(config)[1]


def _latest_ingestions(config: PipelineConfig) -> Tuple[Any, Dict[int, "Artifact"]]:
    """(the MLMD store or None, latest_ingestions)."""
    if not os.path.exists(config.metadata_path):
        return None, {}
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipeline.mlmd import open_store, span_of
    store = open_store(config.metadata_path)
    ctx = store.get_context_by_type_and_name("node", f"{config.pipeline_name}.{EXAMPLE_GEN}")
    if ctx is None:
        return store, {}
    latest = {}
    for a in store.get_artifacts_by_context(ctx.id):
        span = span_of(a)
        if a.state != pb.Artifact.LIVE or span is None:
            continue
        if span not in latest or a.id > latest[span].id:
            latest[span] = a
    return store, latest


def ingested_class_names(config: PipelineConfig) -> Dict[int, List[str]]:
    """{span: the class list its latest ingestion was labelled with} (ImageExampleGen's
    `class_names` execution property)."""
    store, latest = _latest_ingestions(config)
    if not latest:
        return {}
    from ml_metadata.proto import metadata_store_pb2 as pb
    producer = {ev.artifact_id: ev.execution_id for ev in store.get_events_by_artifact_ids(
        [a.id for a in latest.values()]) if ev.type == pb.Event.OUTPUT}
    executions = {e.id: e for e in store.get_executions_by_id(list(set(producer.values())))}
    out = {}
    for span, artifact in latest.items():
        execution = executions.get(producer.get(artifact.id))
        if execution is not None and "class_names" in execution.custom_properties:
            out[span] = json.loads(execution.custom_properties["class_names"].string_value)
    return out


def label_conflict(old: List[str], new: List[str]) -> Optional[str]:
    """Why examples labelled with `old` cannot be trained with `new` (None when `new` keeps every
    class of `old` at its index): e.g. "'sneaker' is label 3 there and 4 here"."""
    for index, name in enumerate(old):
        if name not in new:
            return f"{name!r} (label {index} there) is not a class here"
        if new.index(name) != index:
            return f"{name!r} is label {index} there and {new.index(name)} here"
    return None


def check_span_labels(config: PipelineConfig, backfill: bool = False) -> None:
    """ConfigError, before any work, when spans this run trains on together cannot share labels.

    The spans checked are those the span window resolver picks: every ingested span (in MLMD,
    whether or not its folder is still on disk) above newest - num_spans, newest being the
    newest span on disk (local) or ingested. The newest itself is ingested again by this run
    when its class list changed, so it is not checked. `backfill` (retrain): spans of the window
    on disk never ingested are about to be ingested with this run's list, so each must hold
    every class folder (ImageExampleGen refuses a span without images of a class)."""
    n = config.retrain.num_spans
    if n <= 1:
        return
    new = list(config.data.class_names)
    ingested = ingested_class_names(config)
    local = has_span(config.data.train_pattern) and not is_uri(config.data_root)
    on_disk = spans_on_disk(config.data_root, config.data.train_pattern) if local else []
    if not ingested and not on_disk:
        return
    newest = max(on_disk[-1] if on_disk else -1, max(ingested, default=-1))
    older = [s for s in sorted(ingested) if newest - n < s < newest]
    conflicts = [(s, ingested[s], label_conflict(ingested[s], new)) for s in older]
    conflicts = [c for c in conflicts if c[2] is not None]
    if conflicts:
        span, old, why = conflicts[0]
        keep = [c for c in old if c in new] + [c for c in new if c not in old]
        remedy = (f"set data.class_names in your config file with the new class(es) after the "
                  f"old ones, e.g. `class_names: {json.dumps(keep, ensure_ascii=False)}` under "
                  f"`data:` (from then on, for every run), or "
                  if all(c in new for c in old) else "")
        raise ConfigError(
            f"data.class_names: span(s) {[c[0] for c in conflicts]} of the training window "
            f"were ingested with classes {old} and this run labels {new}: {why}, so a model "
            f"trained on both would learn wrong labels (a span's labels are fixed when it is "
            f"ingested). To train on them, {remedy}train on the newest span alone with --set "
            f"retrain.num_spans=1 until the window holds only spans of these classes")
    if backfill and local:
        pattern = config.data.train_pattern
        lacking = {s: [c for c in new if c not in discover_class_names(
                       config.data_root, pattern_for_span(pattern, s))]
                   for s in span_window(on_disk, n)[:-1] if s not in ingested}
        lacking = {s: missing for s, missing in lacking.items() if missing}
        if lacking:
            raise ConfigError(
                f"data.class_names: span(s) {sorted(lacking)} of the training window (not "
                f"ingested yet) have no folder for class(es) {lacking}, and a span is ingested "
                f"with every class of {new}: add images of those classes to the span(s), or "
                f"train on fewer spans with --set retrain.num_spans=N")
