"""pipeline/beam_dependencies.py: TFX's per-component TFX sdist is skipped for the in-process
runner only, checked on a real TFX Beam executor (StatisticsGen's)."""
import pytest
from tfx.components.statistics_gen.executor import Executor as StatisticsGenExecutor
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.utils import dependency_utils

from pipeline import beam_dependencies
from pipeline.beam_args import LOCAL_ARGS

PORTABLE_ARGS = ["--runner=PortableRunner", "--job_endpoint=localhost:1",
                 "--environment_type=LOOPBACK"]


@pytest.fixture
def skipping(monkeypatch):
    """Installs the wrapper; the original function is restored afterwards."""
    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags",
                        dependency_utils.make_beam_dependency_flags)
    beam_dependencies.skip_tfx_package_for_in_process_beam()
    return dependency_utils.make_beam_dependency_flags


def _executor_args(args, tmp_path):
    context = BaseBeamExecutor.Context(beam_pipeline_args=list(args), tmp_dir=str(tmp_path),
                                       unique_id="1")
    return StatisticsGenExecutor(context)._beam_pipeline_args  # pylint: disable=protected-access


@pytest.mark.parametrize("args,expected", [
    (LOCAL_ARGS, True),
    (PORTABLE_ARGS, False),
    (LOCAL_ARGS + ["--runner=PortableRunner"], False),  # the last --runner wins
    (["--runner=PortableRunner", "--runner=FnApiRunner"], True),
    ([], False),  # Beam's default runner: not assumed to be in-process
    # Beam's other spellings of the FnApiRunner (apache_beam.runners.runner.create_runner)
    (["--runner=fnapirunner"], True),
    (["--runner=FnApi"], True),
    (["--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner"], True),
    (["--runner=apache_beam.runners.portability.fn_api_runner.fn_runner.FnApiRunner"], True),
    (["--runner=DirectRunner"], False),  # may pick Prism, a separate process
    (["--runner=portable"], False),
    (["--runner=my_pkg.FnApiRunner"], False),  # another class of that name
])
def test_runs_in_process(args, expected):
    assert beam_dependencies.runs_in_process(args) is expected


@pytest.mark.parametrize("name", ["FnApiRunner", "fnapirunner", "FnApi",
                                  "apache_beam.runners.portability.fn_api_runner.FnApiRunner"])
def test_spellings_taken_as_in_process_are_the_fn_api_runner_for_beam(name):
    """The names treated as in-process are the ones Beam itself turns into an FnApiRunner."""
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.runners.runner import create_runner
    assert beam_dependencies.runs_in_process([f"--runner={name}"])
    assert type(create_runner(name)) is FnApiRunner  # pylint: disable=unidiomatic-typecheck


def test_local_runner_executor_builds_no_tfx_package(skipping, tmp_path):
    args = _executor_args(LOCAL_ARGS, tmp_path)
    assert not [a for a in args if a.startswith("--extra_package")]
    assert args[:len(LOCAL_ARGS)] == LOCAL_ARGS


def test_other_runners_keep_tfx_behaviour(skipping, tmp_path):
    # TFX really builds its ephemeral sdist here (a few seconds), as without the wrapper.
    args = _executor_args(PORTABLE_ARGS, tmp_path)
    packages = [a for a in args if a.startswith("--extra_package=")]
    assert len(packages) == 1 and "tfx_ephemeral" in packages[0]


def test_install_is_idempotent(skipping):
    beam_dependencies.skip_tfx_package_for_in_process_beam()
    assert dependency_utils.make_beam_dependency_flags is skipping
