"""Executions left NEW/RUNNING by a killed or failed run: marked CANCELED (their pending outputs
ABANDONED).

A run that fails (a driver's exception, e.g. ExampleGen's fingerprint of an unreadable file)
leaves its current execution NEW/RUNNING too: the runner cancels those at once (`KILLED` is for
the ones the next run finds, whose process died without a word).

Only called while holding the run lock (pipeline/run_lock.py), which proves no other process is
running any of them. TFX's LocalDagRunner starts every run in a new `pipeline_run` context, so it
never resumes such executions itself; they would otherwise stay RUNNING in MLMD forever.
"""
from __future__ import annotations

import os
from typing import List

from pipeline.mlmd import READWRITE, open_store
from ml_metadata.proto import metadata_store_pb2

ACTIVE = (metadata_store_pb2.Execution.NEW, metadata_store_pb2.Execution.RUNNING)


KILLED = "process killed before the execution finished (found by the next run)"


def cancel_stale_executions(metadata_path: str, reason: str = KILLED) -> List[str]:
    """Marks every active execution CANCELED with `reason` (the `cancel_reason` property);
    returns '<type> #<id>' of each (empty: none)."""
    if not os.path.exists(metadata_path):
        return []
    store = open_store(metadata_path, READWRITE)
    stale = [e for e in store.get_executions() if e.last_known_state in ACTIVE]
    if not stale:
        return []
    types = {t.id: t.name for t in store.get_execution_types()}
    for execution in stale:
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
        execution.custom_properties["cancel_reason"].string_value = reason
    store.put_executions(stale)
    outputs = {ev.artifact_id for ev in store.get_events_by_execution_ids([e.id for e in stale])
               if ev.type in (metadata_store_pb2.Event.OUTPUT,
                              metadata_store_pb2.Event.PENDING_OUTPUT)}
    pending = [a for a in store.get_artifacts_by_id(list(outputs))
               if a.state in (metadata_store_pb2.Artifact.PENDING,
                              metadata_store_pb2.Artifact.UNKNOWN)]
    for artifact in pending:
        artifact.state = metadata_store_pb2.Artifact.ABANDONED
    if pending:
        store.put_artifacts(pending)
    return [f"{types.get(e.type_id, '?').rsplit('.', 1)[-1]} #{e.id}" for e in stale]


def cancel_after_failure(metadata_path: str, error: BaseException, log_path: str) -> None:
    """Marks the executions a failed run left NEW/RUNNING CANCELED (a driver's exception leaves
    its execution so), so that the next run does not report them as a killed run's. Never
    raises: when MLMD itself is what failed, the run's own error is the one to report."""
    from absl import logging
    try:
        left = cancel_stale_executions(
            metadata_path, reason=f"the run failed ({type(error).__name__}; traceback in "
                                  f"{log_path}) before the execution finished")
    except Exception as e:  # pylint: disable=broad-except
        logging.warning("could not mark this failed run's executions CANCELED: %s", e)
        return
    if left:
        logging.warning("marked executions of this failed run CANCELED: %s", left)
