"""When the evaluation `report` shows was made, and whether a later run stopped without one.

TFX's LocalDagRunner puts every run's executions in a new `pipeline_run` context (its name is
the run id). `report` shows the newest *finished* Evaluator's gates; when the newest run failed,
was interrupted or killed before its Evaluator finished, the operator reading `report` the
next morning must be told that the figures are an earlier run's and what stopped the newest one
(helper-65, helper-67).
"""
from __future__ import annotations

import glob
import os
import time
from typing import Any, List, Optional

from ml_metadata.proto import metadata_store_pb2

REFUSED_GLOB = "refused-*.log"  # a run or retrain refused with a config error
RUN_CONTEXT = "pipeline_run"  # tfx.dsl.compiler.constants.PIPELINE_RUN_CONTEXT_TYPE_NAME
STOPPED = (metadata_store_pb2.Execution.FAILED, metadata_store_pb2.Execution.CANCELED)
ACTIVE = (metadata_store_pb2.Execution.NEW, metadata_store_pb2.Execution.RUNNING)


def utc(ms: int) -> str:
    """Milliseconds since the epoch (MLMD's times) as 'YYYY-MM-DD HH:MM UTC'."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def runs(store) -> List[Any]:
    """The `pipeline_run` contexts, oldest first (by creation time, then id)."""
    try:
        contexts = store.get_contexts_by_type(RUN_CONTEXT)
    except Exception:  # pylint: disable=broad-except  (no such type yet: no run recorded)
        return []
    return sorted(contexts, key=lambda c: (c.create_time_since_epoch, c.id))


def run_of(store, execution_id: int) -> Optional[Any]:
    """The `pipeline_run` context an execution belongs to, or None."""
    return next((c for c in store.get_contexts_by_execution(execution_id)
                 if c.type == RUN_CONTEXT), None) if _has_types(store) else None


def _has_types(store) -> bool:
    try:
        store.get_context_type(RUN_CONTEXT)
    except Exception:  # pylint: disable=broad-except
        return False
    return True


def _node(store, execution) -> str:
    """The execution's component name (its type is the component's class path)."""
    (kind,) = store.get_execution_types_by_id([execution.type_id])
    return kind.name.rsplit(".", 1)[-1]


def traceback_after(output_root: str, started_ms: int) -> Optional[str]:
    """The first `logs/error-*.log` written after `started_ms` (the runner writes one per
    failed run), or None."""
    logs = sorted(glob.glob(os.path.join(output_root, "logs", "error-*.log")))
    return next((p for p in logs if os.path.getmtime(p) * 1000 >= started_ms - 1000), None)


def evaluation_note(store, evaluator, evaluation=None) -> List[str]:
    """'evaluated: <time>, in the run started <time>' for the Evaluator execution whose gates
    the summary shows (empty without one). The time is its ModelEvaluation artifact's creation
    (`evaluation`): a cached Evaluator re-uses an earlier run's evaluation (helper-68), and says
    so; without the artifact, the execution's own time."""
    if evaluator is None:
        return []
    run = run_of(store, evaluator.id)
    made = (evaluation.create_time_since_epoch if evaluation is not None
            else evaluator.last_update_time_since_epoch)
    cached = evaluator.last_known_state == metadata_store_pb2.Execution.CACHED
    where = ((f" (served from the cache in the run started {utc(run.create_time_since_epoch)})"
              if cached else f", in the run started {utc(run.create_time_since_epoch)}")
             if run else "")
    return [f"evaluated: {utc(made)}{where} (the gates and figures below are this "
            f"evaluation's)"]


def later_run_note(store, evaluator, output_root: str, running: bool) -> List[str]:
    """A line when the newest run is not the evaluation's run and stopped before finishing:
    which step failed, was cancelled (with its recorded reason) or was left running by a killed
    process, and the traceback's path. Empty when the newest run is the evaluation's, or is
    `running` (another note says so). A later run refused with a config error
    (`record_refusal`) is named first."""
    recorded = runs(store)
    if not recorded or running:
        return []
    newest = recorded[-1]
    refused = refusal_note(output_root, newest.create_time_since_epoch)
    own = run_of(store, evaluator.id) if evaluator is not None else None
    if own is not None and own.id == newest.id:
        return refused
    executions = sorted(store.get_executions_by_context(newest.id), key=lambda e: e.id)
    stopped = [e for e in executions if e.last_known_state in STOPPED + ACTIVE]
    if not stopped:
        # a run that finished without an Evaluator (e.g. retrain's ingestion) says nothing;
        # one that failed between steps (no execution recorded) left its traceback
        log = traceback_after(output_root, newest.create_time_since_epoch)
        if log is None:
            return refused
        return refused + [
            f"note: the newest run (started {utc(newest.create_time_since_epoch)}) did not "
            f"finish: it failed between steps; traceback: {log}. It evaluated and pushed "
            f"nothing: the figures below are an earlier run's"]
    first = stopped[0]
    state = metadata_store_pb2.Execution.State.Name(first.last_known_state)
    how = {"FAILED": "failed",
           "CANCELED": "was cancelled",
           }.get(state, "was left running (the process was killed)")
    reason = first.custom_properties.get("cancel_reason")
    why = f" ({reason.string_value})" if reason is not None and reason.string_value else ""
    log = traceback_after(output_root, newest.create_time_since_epoch) if not why else None
    where = f"; traceback: {log}" if log else ""
    return refused + [
        f"note: the newest run (started {utc(newest.create_time_since_epoch)}) did not "
        f"finish: {_node(store, first)} {how}{why}{where}. It evaluated and pushed "
        f"nothing: the figures below are an earlier run's"]


def record_refusal(output_root: str, command: str, message: str, code: int) -> Optional[str]:
    """Writes `<output_root>/logs/refused-<UTC time>[-N].log` (the command, its one-line error and
    exit code) for a run or retrain refused with a config error, when `output_root` already holds
    runs (its MLMD): a cron job's refusal is then visible under the output root, and `report`
    names it (helper-67). Returns the path, None when nothing was written; never raises."""
    if not os.path.exists(os.path.join(output_root, "metadata.sqlite")):
        return None
    try:
        logs = os.path.join(output_root, "logs")
        os.makedirs(logs, exist_ok=True)
        stem = os.path.join(logs, time.strftime("refused-%Y%m%d-%H%M%S", time.gmtime()))
        for n in range(1, 1000):  # two refusals in one second: two files
            path = f"{stem}.log" if n == 1 else f"{stem}-{n}.log"
            try:
                with open(path, "x", encoding="utf-8") as f:
                    f.write(f"{command}\n{message}\nexit code {code}\n")
                return path
            except FileExistsError:
                continue
        return None
    except OSError:
        return None


def refusal_note(output_root: str, after_ms: int) -> List[str]:
    """A line naming the newest `refused-*.log` written after `after_ms` (the newest run's
    start): a later run was refused with a config error; [] when there is none."""
    logs = sorted(glob.glob(os.path.join(output_root, "logs", REFUSED_GLOB)),
                  key=lambda p: (os.path.getmtime(p), p))  # '-2.log' sorts before '.log'
    newer = [p for p in logs if os.path.getmtime(p) * 1000 > after_ms]
    if not newer:
        return []
    try:
        with open(newer[-1], encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    error = lines[1] if len(lines) > 1 else "?"
    more = f" ({len(newer)} refusals since the newest run)" if len(newer) > 1 else ""
    return [f"note: a later run was refused with a config error at "
            f"{utc(os.path.getmtime(newer[-1]) * 1000)}{more}: {error} ({newer[-1]}); nothing "
            f"below is from it"]
