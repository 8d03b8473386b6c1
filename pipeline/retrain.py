"""`python -m pipeline retrain`: retrain on the newest span of data, safe to run from cron.

Data arrives in spans, e.g. `incoming/span-<N>/<class>/*.png` with

    data: {root: incoming, train_pattern: "span-{SPAN}/*/*", eval_pattern: ""}

(`eval_pattern: ''`: no split folders; each file goes to train, validation or test by a hash of its
path, `data.split_hash_buckets`).
One `retrain`:

1. takes the run lock on the output root first: a second `retrain` (or `run`) while one is
   running exits at once with "already running" (exit code 3), before TensorFlow is imported;
2. finds the spans on disk; ImageExampleGen's driver (TFX's FileBasedDriver) ingests the newest;
   with `retrain.num_spans: N > 1`, Transform, Tuner and Trainer read the latest ingestion of
   each span on disk in the window of N span numbers ending at the newest span on disk (a span
   folder removed or renamed since its ingestion is not read), and spans of that window
   never ingested yet, or whose files changed since their ingestion (input fingerprint), are
   ingested first (ExampleGen only);
3. runs the pipeline: unchanged data is served from TFX's cache (no new training); new data trains a
   candidate, warm-started from the latest blessed model when `retrain.warm_start: true`, that the
   Evaluator compares with the latest blessed model (LatestBlessedModelStrategy): it is pushed as a
   new version only if it is not worse (`evaluator.max_accuracy_drop`) and passes the absolute gates.

Cron line (daily at 03:00; the lock makes overlapping ticks harmless):

    0 3 * * * cd /path/to/project && mkdir -p outputs/incoming && \
        .venv/bin/python -m pipeline retrain --config retrain.yaml >> outputs/incoming/retrain.log 2>&1

(retrain.log gets one line per component, the warnings and the summary; each run's full log is
`<output.root>/logs/run-*.log`, or add `--verbose` to get the full stream in retrain.log.)
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from pipeline.data_layout import missing_in_window, span_window
from pipeline.config import (ConfigError, PipelineConfig, has_span,
                             spans_on_disk)
from pipeline.console import current_log, quiet_run
from pipeline.lineage import describe_model
from pipeline.run_lock import run_lock
from pipeline.span_labels import check_span_labels, latest_ingestions
from pipeline.span_leakage import format_window_leakage, window_leakage
from pipeline.stale_executions import cancel_after_failure


def check_span_layout(config: PipelineConfig) -> None:
    if not has_span(config.data.train_pattern):
        flat = (" (data.root holds class folders alone, so the default patterns became a hash "
                "split of '*/*')" if config.data.train_pattern == "*/*" else "")
        raise ConfigError(
            f"retrain reads data in spans: data.train_pattern "
            f"{config.data.train_pattern!r}{flat} has no "
            f"{{SPAN}}; e.g. --set data.root=incoming --set 'data.train_pattern=span-{{SPAN}}/*/*' "
            f"--set data.eval_pattern= (files under incoming/span-<N>/<class>/)")


def ingested_spans(config: PipelineConfig) -> List[int]:
    """Spans ImageExampleGen has ingested (LIVE Examples artifacts in MLMD)."""
    return sorted(latest_ingestions(config))


def ingest_span(config: PipelineConfig, span: int) -> None:
    """Runs ImageExampleGen alone on one span (RangeConfig static_range), same node as the
    pipeline's, so the span window resolver finds its Examples."""
    from tfx.orchestration import metadata
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.pipeline import Pipeline
    from tfx.proto import range_config_pb2

    from components.image_example_gen import ImageExampleGen
    from pipeline.beam_dependencies import skip_tfx_package_for_in_process_beam
    from pipeline.pipeline import example_gen_io

    input_config, output_config, validation_fraction = example_gen_io(config)
    d = config.data
    example_gen = ImageExampleGen(
        input_base=config.data_root, class_names=d.class_names, input_config=input_config,
        output_config=output_config,
        range_config=range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
            start_span_number=span, end_span_number=span)),
        max_quarantine_fraction=d.max_quarantine_fraction, max_image_pixels=d.max_image_pixels,
        validation_fraction=validation_fraction)
    skip_tfx_package_for_in_process_beam()
    LocalDagRunner().run(Pipeline(
        pipeline_name=config.pipeline_name, pipeline_root=config.pipeline_root,
        components=[example_gen], enable_cache=True,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            config.metadata_path),
        beam_pipeline_args=list(config.beam_pipeline_args)))


def span_fingerprint(config: PipelineConfig, span: int, listing: str = "") -> Optional[str]:
    """The input fingerprint ImageExampleGen's driver would record for `span` now (file count,
    bytes, mtimes and relative paths of the image files it reads: components/image_example_gen/
    driver.py; `listing` 'visible' or 'all': the files earlier releases counted, driver.LISTINGS);
    None when it cannot be computed (no file of that span)."""
    from tfx.proto import range_config_pb2

    from components.image_example_gen.driver import ImageFileInputProcessor
    from pipeline.pipeline import example_gen_io
    input_config, _, _ = example_gen_io(config)
    processor = ImageFileInputProcessor(
        config.data_root, input_config.splits, range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span,
                                                      end_span_number=span)))
    try:
        processor.resolve_span_and_version()
        from components.image_example_gen.driver import READ
        return processor.get_input_fingerprint(span, None, listing=listing or READ)
    except (ValueError, AssertionError, OSError):
        return None


PATHS_FIELD = ",paths_sha256:"  # ImageFileInputProcessor's addition to TFX's fingerprint


def changed_since_ingestion(config: PipelineConfig, span: int, examples) -> bool:
    """Whether `span`'s files on disk differ from those its latest ingestion (`examples`, an
    Examples artifact recording TFX's `input_fingerprint`) read: images added, removed,
    replaced or moved to another class folder."""
    recorded = examples.custom_properties.get("input_fingerprint")
    if recorded is None or not recorded.string_value:
        return False
    def differs(now: Optional[str]) -> bool:
        if now is not None and PATHS_FIELD not in recorded.string_value:
            # recorded by a release before the paths digest (helper-43): compare what it did
            now = now.split(PATHS_FIELD)[0]
        return now is not None and now != recorded.string_value
    # recorded before hidden files (review helper-52) or non-image files (helper-59) were left
    # out, e.g. a tree with a .DS_Store or a notes.txt: the same images are not a change
    from components.image_example_gen.driver import LISTINGS
    return all(differs(span_fingerprint(config, span, listing)) for listing in LISTINGS)


def _ingest_or_fail(config: PipelineConfig, span: int) -> None:
    """ingest_span, with a failure reported like a failed run (RunFailedError: one message,
    the traceback in <output.root>/logs/)."""
    from pipeline import local_runner
    try:
        ingest_span(config, span)
    except Exception as e:  # pylint: disable=broad-except
        local_runner.raise_if_interrupted(e, config.metadata_path)  # Ctrl-C inside Beam
        log_path = local_runner._write_traceback(  # pylint: disable=protected-access
            config.output_root, e)
        cancel_after_failure(config.metadata_path, e, log_path)
        known = isinstance(e, local_runner.known_error_types())
        last_line = (str(e).strip().splitlines() or [""])[-1][:500]
        detail = str(e) if known else f"{type(e).__name__}: {last_line}"
        raise local_runner.RunFailedError(f"ingesting span {span} (of the window): {detail}",
                                          log_path, known, run_log=current_log()) from e


def retrain(config: PipelineConfig, quiet: bool = False) -> Dict[str, Any]:
    """One retraining run (see the module docstring); returns the run summary plus `spans` and
    `lineage`. `quiet`: one console line per component, the full stream in a log file
    (pipeline/console.py), backfill included. Raises ConfigError, AlreadyRunningError or
    RunFailedError."""
    check_span_layout(config)
    root = config.output_root
    with run_lock(root):
        from pipeline.local_runner import claim_output_root, run
        claim_output_root(config, root)

        spans = spans_on_disk(config.data_root, config.data.train_pattern)
        if not spans:
            raise ConfigError(f"data.train_pattern: no span under {config.data_root} matches "
                              f"{config.data.train_pattern!r}")
        window = span_window(spans, config.retrain.num_spans)
        check_span_labels(config, backfill=True)  # before the backfill
        backfilled, reingested = [], []
        with quiet_run(config.output_root, verbose=not quiet):
            if len(window) > 1:
                known = latest_ingestions(config)
                for span in window[:-1]:
                    if span not in known:
                        _ingest_or_fail(config, span)
                        backfilled.append(span)
                    elif changed_since_ingestion(config, span, known[span]):
                        # images of an older span were added, removed or replaced: the window
                        # must train on what is on disk now, not on its first ingestion
                        _ingest_or_fail(config, span)
                        reingested.append(span)
            summary = run(config, quiet=quiet)
            summary["spans"] = {"on_disk": spans, "newest": spans[-1], "window": window,
                                "missing": missing_in_window(spans, config.retrain.num_spans),
                                "backfilled": backfilled, "reingested": reingested,
                                "leakage": window_leakage(
                                    config, window,
                                    spans[:-1] if config.retrain.warm_start else None)}
    return summary


def format_retrain(summary: Dict[str, Any]) -> str:
    """Lines added after the run summary: spans, warm start, the Trainer's state (the baseline
    is on the summary's change-gate line)."""
    spans, lineage = summary["spans"], summary.get("lineage", {})
    trained = lineage.get("candidate_spans") or spans["window"]  # MLMD lineage, else the plan
    holes = spans.get("missing") or []
    lines = [f"spans: newest {spans['newest']}, trained on {trained}"
             + (f" (the window on disk is {spans['window']}: a span of it that was never "
                f"ingested is not read)" if trained != spans["window"] else "")
             + (f" (span(s) {holes} of the window are not on disk)" if holes else "")
             + (f" (ingested first: {spans['backfilled']})" if spans["backfilled"] else "")
             + (f" (files, sizes or modification times changed on disk since ingested, so "
                f"ingested again: {spans['reingested']})" if spans.get("reingested") else "")]
    leakage = format_window_leakage(spans.get("leakage") or [], spans["newest"],
                                    spans["window"])
    if leakage:
        lines.append(leakage)
    return "\n".join(lines + trainer_lines(lineage))


def trainer_lines(lineage: Dict[str, Any]) -> List[str]:
    """The Trainer's state in the latest run and the model it warm-started from (MLMD lineage):
    printed by `retrain` and by `report`; [] when lineage has no Trainer."""
    if "trainer_state" not in lineage:
        return []
    state = lineage["trainer_state"]
    if state not in ("COMPLETE", "CACHED"):  # helper-67: a killed Trainer "trained a new model"
        how = {"FAILED": "failed", "CANCELED": "was cancelled (its run was killed, interrupted "
                                               "or failed)"}.get(
            state, f"did not finish ({state}: still running, or its process was killed)")
        return [f"trainer: the newest Trainer {how}: no model from it"
                + (" yet" if state in ("RUNNING", "NEW") else "")
                + "; any model evaluated above was trained by an earlier run"]
    candidate = (lineage.get("candidate") or {}).get("model_id")
    if state == "COMPLETE" and lineage.get("trainer_model_id") and candidate and \
            lineage["trainer_model_id"] != candidate:  # (a cached one re-used an earlier model)
        return [f"trainer: the newest Trainer made model {lineage['trainer_model_id']}, which was "
                f"never evaluated (its run stopped before its Evaluator finished, or has not "
                f"reached it yet); the evaluation above is of model {candidate}"]
    if state == "CACHED":
        return ["trainer: unchanged data, served from the cache (no training)"]
    warm = (f", warm-started from {describe_model(lineage['warm_start_from'])}"
            if lineage.get("warm_start_from") else "")
    skipped = lineage.get("warm_start_skipped") or {}
    if warm and skipped:  # helper-65: a model of other classes; its head was not copied
        warm += (" (not copied, trained afresh: "
                 + "; ".join(f"{name}: {skipped[name]}" for name in sorted(skipped)) + ")")
    return ["trainer: trained a new model" + warm]
