"""Runs the pipeline locally with TFX's LocalDagRunner and SQLite MLMD, under the run lock."""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import time  # noqa: E402
from typing import Any, Dict  # noqa: E402

from pipeline.config import PipelineConfig  # noqa: E402
from pipeline.run_lock import run_lock  # noqa: E402


def run(config: PipelineConfig) -> Dict[str, Any]:
    """Runs every component (cached ones are reused); returns the run summary."""
    from absl import logging
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline
    from pipeline.summary import run_summary

    logging.set_verbosity(logging.INFO)
    with run_lock(config.output_root):
        started = time.time()
        tfx.orchestration.LocalDagRunner().run(create_pipeline(config))
        summary = run_summary(config.metadata_path)
        summary["wall_seconds"] = round(time.time() - started, 1)
    return summary
