"""The compiled pipeline's container command: `python -m pipeline.container_executor <args>`.

It is TFX's KFP v2 executor entry point
(`tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor`, the command TFX compiles
into every executor) with the same flags, run after
`pipeline.beam_dependencies.skip_tfx_package_for_in_process_beam()`, as `python -m pipeline run`
does: with the in-process Beam runner (`beam.runner: local`) a Beam component in the container
no longer builds TFX's throw-away sdist for remote workers it does not have. Other runners keep
TFX's behaviour. `finish_spec` (pipeline/kubeflow_v2_runner.py) writes this command into the
spec; the Docker image holds the project at its WORKDIR, so the module imports there as
`components.*` and `modules.*` do.
"""
from __future__ import annotations

# The module TFX compiles as every executor's command, and what finish_spec puts in its place.
TFX_EXECUTOR_MODULE = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
EXECUTOR_MODULE = "pipeline.container_executor"


def main() -> None:
    """Parses argv with TFX's own parser and runs TFX's entry point (absl `app.run`, as its
    `__main__` does)."""
    import importlib

    from absl import app

    from pipeline.beam_dependencies import skip_tfx_package_for_in_process_beam

    tfx_entry = importlib.import_module(TFX_EXECUTOR_MODULE)
    skip_tfx_package_for_in_process_beam()
    app.run(tfx_entry.main, flags_parser=tfx_entry._parse_flags)  # pylint: disable=protected-access


if __name__ == "__main__":
    main()
