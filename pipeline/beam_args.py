"""`beam_pipeline_args(config)`: the one place where the `beam:` config becomes Beam flags.

Runners (`beam.runner`):
  local     in-process FnApiRunner, pinned (Beam 2.72's default DirectRunner would try Prism first)
  portable  a Beam Job API endpoint + an EXTERNAL worker pool (`python -m pipeline beam-cluster`)
  dataflow  Google Cloud Dataflow (Runner v2); needs project, region, gs:// temp_location, and the
            project's code on the workers (sdk_container_image or setup_file)
  flink     Beam's Flink job server (jar) against a Flink master
  spark     Beam's Spark job server (jar) against a Spark master
`beam.extra_args` are appended verbatim (last wins in Beam's parser).
`beam.portable.bind_address` is not a Beam flag: it is where `beam-cluster` listens (checked here).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List

from pipeline.beam_launcher import check_bind_address
from pipeline.config.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.config.schema import BeamConfig, PipelineConfig

RUNNERS = ("local", "portable", "dataflow", "flink", "spark")
ENVIRONMENTS = ("EXTERNAL", "DOCKER", "PROCESS", "LOOPBACK")
LOCAL_ARGS = ["--runner=FnApiRunner", "--direct_num_workers=1"]


def _require(value: str, key: str, what: str) -> str:
    if not value:
        raise ConfigError(f"beam.{key}: required when beam.runner is "
                          f"'{key.split('.')[0]}' ({what})")
    return value


def _environment(env_type: str, env_config: str, key: str) -> List[str]:
    """--environment_type/--environment_config for the portable, flink and spark runners."""
    if env_type not in ENVIRONMENTS:
        raise ConfigError(f"beam.{key}.environment_type: expected one of "
                          f"{', '.join(ENVIRONMENTS)}, got {env_type!r}")
    if env_type in ("EXTERNAL", "DOCKER") and not env_config:
        what = ("the worker pool address host:port" if env_type == "EXTERNAL"
                else "the SDK container image with this project installed")
        raise ConfigError(f"beam.{key}.environment_config: required for environment_type "
                          f"{env_type} ({what})")
    args = [f"--environment_type={env_type}"]
    if env_config:
        args.append(f"--environment_config={env_config}")
    return args


def _portable(b: "BeamConfig") -> List[str]:
    p = b.portable
    endpoint = _require(p.job_endpoint, "portable.job_endpoint", "host:port of a Beam job service")
    args = ["--runner=PortableRunner", f"--job_endpoint={endpoint}"]
    args += _environment(p.environment_type, p.environment_config, "portable")
    if p.sdk_worker_parallelism < 1:
        raise ConfigError(f"beam.portable.sdk_worker_parallelism: expected >= 1, got "
                          f"{p.sdk_worker_parallelism}")
    args.append(f"--sdk_worker_parallelism={p.sdk_worker_parallelism}")
    if p.setup_file:
        args.append(f"--setup_file={p.setup_file}")
    return args


def _dataflow(b: "BeamConfig") -> List[str]:
    d = b.dataflow
    _require(d.project, "dataflow.project", "the GCP project id")
    _require(d.region, "dataflow.region", "e.g. us-central1")
    _require(d.temp_location, "dataflow.temp_location", "a gs:// path for temporary files")
    for key in ("temp_location", "staging_location"):
        value = getattr(d, key)
        if value and not value.startswith("gs://"):
            raise ConfigError(f"beam.dataflow.{key}: expected a gs:// path, got {value!r}")
    if not (d.sdk_container_image or d.setup_file):
        raise ConfigError("beam.dataflow: set sdk_container_image (an image with this project "
                          "installed) or setup_file, or the workers cannot import modules.*")
    if d.max_num_workers < 0:
        raise ConfigError(f"beam.dataflow.max_num_workers: expected >= 0 (0: Dataflow's "
                          f"default), got {d.max_num_workers}")
    args = ["--runner=DataflowRunner", f"--project={d.project}", f"--region={d.region}",
            f"--temp_location={d.temp_location}"]
    if d.staging_location:
        args.append(f"--staging_location={d.staging_location}")
    if d.sdk_container_image:
        args.append(f"--sdk_container_image={d.sdk_container_image}")
    if d.setup_file:
        args.append(f"--setup_file={d.setup_file}")
    if d.max_num_workers:
        args.append(f"--max_num_workers={d.max_num_workers}")
    if d.machine_type:
        args.append(f"--machine_type={d.machine_type}")
    args.append("--experiments=use_runner_v2")
    return args


def _job_server_runner(b: "BeamConfig", name: str) -> List[str]:
    """Flink or Spark: master URL, job-server jar, worker environment, parallelism."""
    c = getattr(b, name)
    _require(c.master_url, f"{name}.master_url",
             "host:port" if name == "flink" else "spark://host:7077")
    _require(c.job_server_jar, f"{name}.job_server_jar",
             f"path or URL of beam-runners-{name}-job-server jar")
    if name == "flink":
        args = ["--runner=FlinkRunner", f"--flink_master={c.master_url}",
                f"--flink_job_server_jar={c.job_server_jar}"]
    else:
        if not c.master_url.startswith(("spark://", "local")):
            raise ConfigError(f"beam.spark.master_url: expected spark://host:port or local[N], "
                              f"got {c.master_url!r}")
        args = ["--runner=SparkRunner", f"--spark_master_url={c.master_url}",
                f"--spark_job_server_jar={c.job_server_jar}"]
    args += _environment(c.environment_type, c.environment_config, name)
    if name == "flink":
        if c.parallelism < 0:
            raise ConfigError(f"beam.flink.parallelism: expected >= 0 (0: engine default), got "
                              f"{c.parallelism}")
        if c.parallelism:
            args.append(f"--parallelism={c.parallelism}")
    return args


def bind_address(b: "BeamConfig") -> str:
    """beam.portable.bind_address, normalised: 'localhost' (loopback only, the default), an IP
    address, or 0.0.0.0 / ::; else ConfigError."""
    try:
        return check_bind_address(b.portable.bind_address)
    except ValueError as e:
        raise ConfigError(f"beam.portable.bind_address: {e}") from None


def beam_pipeline_args(config: "PipelineConfig") -> List[str]:
    """The Beam flags for `config.beam` (a list of '--key=value' strings), or ConfigError."""
    b = config.beam
    bind_address(b)
    if b.runner not in RUNNERS:
        raise ConfigError(f"beam.runner: expected one of {', '.join(RUNNERS)}, got {b.runner!r}")
    if b.runner == "local":
        args = list(LOCAL_ARGS)
    elif b.runner == "portable":
        args = _portable(b)
    elif b.runner == "dataflow":
        args = _dataflow(b)
    else:
        args = _job_server_runner(b, b.runner)
    for i, extra in enumerate(b.extra_args):
        if not extra.startswith("--"):
            raise ConfigError(f"beam.extra_args[{i}]: expected a flag starting with '--', "
                              f"got {extra!r}")
    return args + list(b.extra_args)
