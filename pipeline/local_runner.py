"""Runs the pipeline locally with TFX's LocalDagRunner and SQLite MLMD, under the run lock.

The lock is taken before the TFX stack is imported, so a second run on the same outputs exits in
seconds. A component failure becomes `RunFailedError`: one readable message for the CLI (the
component's own message for known errors: bad image tree, data anomalies, parity), with the full
traceback written to `<output_root>/logs/`. With `quiet=True` (the CLI's default) the console shows
one line per component and the project's warnings, the full stream goes to
`<output_root>/logs/run-*.log` (pipeline/console.py).
"""
from __future__ import annotations

import os


import time
import traceback
from typing import Any, Dict, Optional, Tuple

from pipeline.config import ConfigError, PipelineConfig
from pipeline.console import current_log, quiet_run
from pipeline.run_lock import run_lock


class RunFailedError(RuntimeError):
    """The pipeline run failed; `str()` is the user-facing message, `log_path` the traceback,
    `run_log` the run's full log (None: the stream went to the console)."""

    def __init__(self, message: str, log_path: str, known: bool, run_log: Optional[str] = None):
        super().__init__(message)
        self.log_path = log_path
        self.known = known
        self.run_log = run_log


def known_error_types() -> Tuple[type, ...]:
    """Errors whose message is written for users (printed as is, without a traceback)."""
    from components.anomalies_gate import AnomaliesFoundError
    from components.export_pusher.executor import ParityError
    from components.export_pusher.versioning import ServingNotWritableError, ServingSpaceError
    from components.image_example_gen.executor import ImageFolderError
    return (ImageFolderError, AnomaliesFoundError, ParityError, ServingSpaceError,
            ServingNotWritableError)


def interrupted_inside(error: BaseException) -> bool:
    """Whether `error` is Ctrl-C (or SIGTERM: __main__._terminate_as_interrupt) that a library re-raised
    as another exception: Beam turns a KeyboardInterrupt in its stages into `RuntimeError:
    KeyboardInterrupt [while running '...']` (helper-62: exit 1 and 'FAILED' instead of the
    interrupt's one line and exit 130)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, KeyboardInterrupt) or str(error).startswith("KeyboardInterrupt"):
            return True
        error = error.__cause__ or error.__context__
    return False


def raise_if_interrupted(error: BaseException, metadata_path: str) -> None:
    """When `error` is Ctrl-C or SIGTERM re-raised by a library (`interrupted_inside`): marks
    this run's unfinished executions CANCELED and raises KeyboardInterrupt from it; else
    returns."""
    if interrupted_inside(error):
        cancel_interrupted(metadata_path)
        raise KeyboardInterrupt from error


def cancel_interrupted(metadata_path: str) -> None:
    """Marks this interrupted run's unfinished executions CANCELED (not a killed run's)."""
    from absl import logging

    from pipeline.stale_executions import cancel_stale_executions
    try:
        cancel_stale_executions(metadata_path, reason="the run was interrupted (Ctrl-C / SIGINT "
                                "or SIGTERM) before the execution finished")
    except Exception as e:  # pylint: disable=broad-except  (the interrupt is what to report)
        logging.warning("could not mark this interrupted run's executions CANCELED: %s", e)


def _write_traceback(output_root: str, exc: BaseException) -> str:
    logs = os.path.join(output_root, "logs")
    os.makedirs(logs, exist_ok=True)
    path = os.path.join(logs, time.strftime("error-%Y%m%d-%H%M%S.log"))
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(traceback.format_exception(exc)))
    return path


def run(config: PipelineConfig, quiet: bool = False) -> Dict[str, Any]:
    """Runs every component (cached ones are reused); returns the run summary. `quiet`: see
    pipeline/console.py (joins the caller's quiet run if there is one).

    Raises AlreadyRunningError (another run holds the lock) or RunFailedError (a component failed).
    """
    from pipeline.span_labels import check_span_labels
    root = config.output_root
    with run_lock(root):
        claim_output_root(config, root)
        check_span_labels(config)  # before any work
        with quiet_run(config.output_root, verbose=not quiet):
            return _run(config, quiet)


def claim_output_root(config: PipelineConfig, locked: str) -> None:
    """Records the data root in its default output root `locked` (the one this run locked;
    pipeline/config/output_owner.py), so another data set with the same folder name gets its
    own. ConfigError when another data set claimed it between the lock and the claim."""
    if config.output.root:
        return
    from pipeline.config import schema
    from pipeline.config.output_owner import claim, owner
    claim(locked, config.data_root, str(schema.REPO_ROOT))
    if config.output_root != locked:
        raise ConfigError(f"{locked} was claimed by another data set ({owner(locked)}) as this "
                          f"run started; run again: this data set's outputs go to "
                          f"{config.output_root}")


def _run(config: PipelineConfig, quiet: bool) -> Dict[str, Any]:
    """run's body, inside its lock and quiet_run."""
    from absl import logging
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.beam_dependencies import skip_tfx_package_for_in_process_beam
    from pipeline.pipeline import create_pipeline
    from pipeline.stale_executions import cancel_after_failure, cancel_stale_executions
    from pipeline.lineage import summary_lineage
    from pipeline.summary import run_summary

    logging.set_verbosity(logging.INFO)
    skip_tfx_package_for_in_process_beam()
    started = time.time()
    cancelled = cancel_stale_executions(config.metadata_path)
    if cancelled:
        logging.warning("marked executions of a killed or interrupted run CANCELED: %s", cancelled)
    # a killed push's staging dir (a SavedModel and .tflite files, ~150 MB): removed now, not
    # only when this run pushes (helper-62); another root's push in progress is left alone
    from components.export_pusher.versioning import remove_incomplete
    staged = remove_incomplete(config.serving_dir)
    if staged:
        logging.warning("removed the staging dir(s) of interrupted pushes: %s", staged)
    from pipeline.config.validate import data_notes
    from pipeline.console import NOTE
    for note in data_notes(config):  # the console prints `note: ...`, as `validate` does
        logging.warning("%s", note, extra={NOTE: True})
    try:
        LocalDagRunner().run(create_pipeline(config))
    except KeyboardInterrupt:  # Ctrl-C: this run's unfinished executions are not a killed run's
        cancel_interrupted(config.metadata_path)
        raise
    except Exception as e:  # pylint: disable=broad-except
        raise_if_interrupted(e, config.metadata_path)  # Ctrl-C inside a Beam stage
        log_path = _write_traceback(config.output_root, e)
        logging.error("pipeline run failed; traceback in %s", log_path)
        cancel_after_failure(config.metadata_path, e, log_path)
        known = isinstance(e, known_error_types())
        message = str(e) if known else (
            f"the pipeline failed: {type(e).__name__}: "
            f"{(str(e).strip().splitlines() or [''])[-1][:500]}")
        raise RunFailedError(message, log_path, known, run_log=current_log()) from e
    summary = run_summary(config.metadata_path, list(config.data.class_names))
    summary["lineage"] = summary_lineage(config)
    summary["cancelled_stale_executions"] = cancelled
    summary["removed_staging_dirs"] = staged
    summary["wall_seconds"] = round(time.time() - started, 1)
    summary["run_log"] = current_log()  # the CLI appends the outcome to it
    return summary
