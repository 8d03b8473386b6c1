"""Spans trained together must share their labels.

ImageExampleGen fixes a span's labels when it ingests it: label = the index of the class folder in
that run's class list (`data.class_names`, or the newest span's folders when not configured).
Transform, Tuner and Trainer read a window of spans (`retrain.num_spans` > 1: the latest ingestion
of each, pipeline/resolvers.SpanWindowStrategy). If the class list changed since an older span of
the window was ingested — a new class folder sorts in between, or the list was edited — the same
label means another class in different spans, and the model learns wrong labels without a sound.

`check_span_labels` refuses that before any work: every ingested span of the window must have
been labelled with a list of which this run's is an extension (the same classes at the same
indices, new classes only after them). Spans not ingested yet are ingested with this run's list.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Dict, List, Optional

from pipeline.config import ConfigError, PipelineConfig
from pipeline.data_layout import has_span, is_uri, span_window, spans_on_disk

if TYPE_CHECKING:
    from ml_metadata.proto.metadata_store_pb2 import Artifact

EXAMPLE_GEN = "ImageExampleGen"


def latest_ingestions(config: PipelineConfig) -> Dict[int, "Artifact"]:
    """{span: its latest LIVE Examples artifact from ImageExampleGen} (the one the span window
    resolver picks); empty without MLMD or ingestions."""
    if not os.path.exists(config.metadata_path):
        return {}
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipeline.mlmd import open_store
    store = open_store(config.metadata_path)
    ctx = store.get_context_by_type_and_name("node", f"{config.pipeline_name}.{EXAMPLE_GEN}")
    if ctx is None:
        return {}
    latest = {}
    for a in store.get_artifacts_by_context(ctx.id):
        if a.state != pb.Artifact.LIVE or "span" not in a.custom_properties:
            continue
        value = a.custom_properties["span"]
        span = int(value.string_value) if value.string_value else value.int_value
        if span not in latest or a.id > latest[span].id:
            latest[span] = a
    return latest


def ingested_class_names(config: PipelineConfig) -> Dict[int, List[str]]:
    """{span: the class list its latest ingestion was labelled with} (ImageExampleGen's
    `class_names` execution property)."""
    latest = latest_ingestions(config)
    if not latest:
        return {}
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipeline.mlmd import open_store
    store = open_store(config.metadata_path)
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


def window_on_disk(config: PipelineConfig) -> List[int]:
    """The spans of the training window on a local disk, newest last ([] without spans or for a
    remote data.root, which cannot be listed)."""
    if not has_span(config.data.train_pattern) or is_uri(config.data_root):
        return []
    return span_window(spans_on_disk(config.data_root, config.data.train_pattern),
                       config.retrain.num_spans)


def check_span_labels(config: PipelineConfig, window: List[int]) -> None:
    """ConfigError when an ingested span of `window` (span numbers, newest last; the newest is
    ingested again by this run) was labelled with a class list this run's does not extend."""
    if config.retrain.num_spans <= 1 or len(window) < 2:
        return
    new = list(config.data.class_names)
    ingested = ingested_class_names(config)
    conflicts = [(span, ingested[span], label_conflict(ingested[span], new))
                 for span in window[:-1] if span in ingested]
    conflicts = [c for c in conflicts if c[2] is not None]
    if not conflicts:
        return
    span, old, why = conflicts[0]
    spans = [c[0] for c in conflicts]
    added = [n for n in new if n not in old]
    keep_order = [n for n in old if n in new] + added
    remedy = (f"list the new class(es) after the old ones, e.g. --set 'data.class_names=["
              f"{','.join(keep_order)}]', or " if added and all(n in new for n in old) else "")
    raise ConfigError(
        f"data.class_names: span(s) {spans} of the training window were ingested with classes "
        f"{old} and this run labels {new}: {why}, so a model trained on both would learn wrong "
        f"labels (a span's labels are fixed when it is ingested). To train on them, "
        f"{remedy}train on the newest span alone with --set retrain.num_spans=1 until the "
        f"window holds only spans of these classes")
