"""No throw-away TFX package per Beam component when Beam runs in this process.

Every Beam-based TFX executor (ExampleGen, StatisticsGen, Transform, Evaluator) calls
`tfx.utils.dependency_utils.make_beam_dependency_flags` on its Beam args. Unless they already name
a dependency (--extra_packages, --setup_file, --requirements_file, --sdk_container_image, ...), it
copies TFX's installed source to a temp dir and runs `setup.py sdist` so that *remote* workers get
`--extra_package=tfx_ephemeral-<version>.tar.gz`: 2-3 s per component, four times per run (seen in
a run's log as 'Attempting to infer TFX Python dependency for beam').

`beam.runner: local` is the in-process FnApiRunner (pipeline/beam_args.py): its workers are this
interpreter, which has TFX, and it never stages packages, so the sdist is built and ignored.
`skip_tfx_package_for_in_process_beam()` makes the function return such args unchanged; any other
runner (portable, Dataflow, Flink, Spark) still gets TFX's own behaviour.
"""
from __future__ import annotations

import functools
from typing import Callable, Dict, List, Sequence

# The in-process FnApiRunner's class, by both of the paths Beam accepts for it.
IN_PROCESS_RUNNERS = ("apache_beam.runners.portability.fn_api_runner.FnApiRunner",
                      "apache_beam.runners.portability.fn_api_runner.fn_runner.FnApiRunner")
_MARK = "_skips_tfx_package_in_process"


def runner_path(name: str) -> str:
    """A --runner value as the class path Beam resolves it to (apache_beam.runners.runner.
    create_runner): a known runner's name in any case, with or without the 'Runner' suffix
    ('fnapi', 'FnApiRunner'), becomes its path; anything else is returned as given."""
    known = _known_runners()
    return known.get(name.lower(), known.get(name.lower() + "runner", name))


@functools.lru_cache(maxsize=None)
def _known_runners() -> Dict[str, str]:
    """Beam's known runners: lower-case class name -> class path."""
    from apache_beam.options.pipeline_options import StandardOptions
    return {path.rsplit(".", 1)[-1].lower(): path for path in StandardOptions.ALL_KNOWN_RUNNERS}


def runs_in_process(beam_pipeline_args: Sequence[str]) -> bool:
    """Whether these Beam args select an in-process runner (the last --runner wins, as in
    Beam's parser; no --runner means Beam's default, which is not treated as in-process)."""
    from apache_beam.options.pipeline_options import PipelineOptions
    runner = PipelineOptions(flags=list(beam_pipeline_args)).get_all_options().get("runner")
    return isinstance(runner, str) and runner_path(runner) in IN_PROCESS_RUNNERS


def skip_tfx_package_for_in_process_beam() -> None:
    """Wraps TFX's `make_beam_dependency_flags` (idempotent) for executors created afterwards in
    this process: in-process runner args are returned as they are, others go to TFX's function."""
    from tfx.utils import dependency_utils

    original: Callable[[List[str]], List[str]] = dependency_utils.make_beam_dependency_flags
    if getattr(original, _MARK, False):
        return

    def make_beam_dependency_flags(beam_pipeline_args: List[str]) -> List[str]:
        if runs_in_process(beam_pipeline_args):
            return list(beam_pipeline_args)
        return original(beam_pipeline_args)

    setattr(make_beam_dependency_flags, _MARK, True)
    make_beam_dependency_flags.__doc__ = original.__doc__
    dependency_utils.make_beam_dependency_flags = make_beam_dependency_flags
