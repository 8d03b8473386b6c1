"""`beam:` config -> Beam flags: exact lists per runner, clear errors, and a pinned local runner."""
import logging

import pytest

from pipeline.beam_args import LOCAL_ARGS, beam_pipeline_args, bind_address
from pipeline.config import ConfigError, load_config

DATAFLOW = ["beam.runner=dataflow", "beam.dataflow.project=my-proj",
            "beam.dataflow.region=europe-west4", "beam.dataflow.temp_location=gs://bkt/tmp",
            "beam.dataflow.sdk_container_image=europe-docker.pkg.dev/my-proj/img/tfx:1",
            "beam.dataflow.max_num_workers=8"]
DATAFLOW_ARGS = ["--runner=DataflowRunner", "--project=my-proj", "--region=europe-west4",
                 "--temp_location=gs://bkt/tmp",
                 "--sdk_container_image=europe-docker.pkg.dev/my-proj/img/tfx:1",
                 "--max_num_workers=8", "--experiments=use_runner_v2"]
FLINK = ["beam.runner=flink", "beam.flink.master_url=flink-jm:8081",
         "beam.flink.job_server_jar=/jars/beam-runners-flink-1.18-job-server-2.72.0.jar",
         "beam.flink.environment_config=registry/tfx-sdk:1", "beam.flink.parallelism=4"]
FLINK_ARGS = ["--runner=FlinkRunner", "--flink_master=flink-jm:8081",
              "--flink_job_server_jar=/jars/beam-runners-flink-1.18-job-server-2.72.0.jar",
              "--environment_type=DOCKER", "--environment_config=registry/tfx-sdk:1",
              "--parallelism=4"]
SPARK = ["beam.runner=spark", "beam.spark.master_url=spark://spark-master:7077",
         "beam.spark.job_server_jar=/jars/beam-runners-spark-3-job-server-2.72.0.jar",
         "beam.spark.environment_type=EXTERNAL", "beam.spark.environment_config=pool:50000"]
SPARK_ARGS = ["--runner=SparkRunner", "--spark_master_url=spark://spark-master:7077",
              "--spark_job_server_jar=/jars/beam-runners-spark-3-job-server-2.72.0.jar",
              "--environment_type=EXTERNAL", "--environment_config=pool:50000"]
PORTABLE = ["beam.runner=portable", "beam.portable.job_endpoint=localhost:8099",
            "beam.portable.environment_config=localhost:50000"]
PORTABLE_ARGS = ["--runner=PortableRunner", "--job_endpoint=localhost:8099",
                 "--environment_type=EXTERNAL", "--environment_config=localhost:50000",
                 "--sdk_worker_parallelism=1"]


def _args(overrides):
    return load_config(overrides=overrides, check_paths=False).beam_pipeline_args


@pytest.mark.parametrize("overrides,expected", [
    ([], ["--runner=FnApiRunner", "--direct_num_workers=1"]),
    (PORTABLE, PORTABLE_ARGS),
    (DATAFLOW, DATAFLOW_ARGS),
    (FLINK, FLINK_ARGS),
    (SPARK, SPARK_ARGS),
], ids=["local", "portable", "dataflow", "flink", "spark"])
def test_exact_flags_per_runner(overrides, expected):
    assert _args(overrides) == expected
    config = load_config(overrides=overrides, check_paths=False)
    assert beam_pipeline_args(config) == expected  # the property and the function agree


def test_extra_args_are_appended_last():
    assert _args(DATAFLOW + ["beam.extra_args=[--job_name=nightly]"]) == \
        DATAFLOW_ARGS + ["--job_name=nightly"]


def test_yaml_beam_section(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("beam:\n  runner: portable\n  portable:\n    job_endpoint: localhost:8099\n"
                    "    environment_config: localhost:50000\n")
    assert load_config(str(path), check_paths=False).beam_pipeline_args == PORTABLE_ARGS


@pytest.mark.parametrize("overrides,message", [
    (["beam.runner=prism"], "beam.runner: expected one of local, portable"),
    (["beam.runner=portable"], "beam.portable.job_endpoint: required"),
    (["beam.runner=portable", "beam.portable.job_endpoint=localhost:1"],
     "beam.portable.environment_config: required for environment_type EXTERNAL"),
    (["beam.runner=portable", "beam.portable.job_endpoint=localhost:1",
      "beam.portable.environment_type=SUBPROCESS"], "beam.portable.environment_type: expected"),
    (["beam.runner=dataflow"], "beam.dataflow.project: required"),
    (["beam.runner=dataflow", "beam.dataflow.project=p"], "beam.dataflow.temp_location: required"),
    (["beam.runner=dataflow", "beam.dataflow.project=p", "beam.dataflow.temp_location=/tmp/x"],
     "beam.dataflow.temp_location: expected a gs:// path"),
    (["beam.runner=dataflow", "beam.dataflow.project=p",
      "beam.dataflow.temp_location=gs://b/t"], "set sdk_container_image"),
    (["beam.runner=flink", "beam.flink.master_url=jm:8081"], "beam.flink.job_server_jar: required"),
    (["beam.runner=spark", "beam.spark.master_url=jm:7077", "beam.spark.job_server_jar=x.jar",
      "beam.spark.environment_config=img"], "beam.spark.master_url: expected spark://"),
    (DATAFLOW + ["beam.extra_args=[job_name=x]"], "beam.extra_args[0]: expected a flag"),
    (["beam.runer=local"], "unknown config key beam.runer"),
    (["beam_pipeline_args=[--runner=DirectRunner]"], "unknown config key beam_pipeline_args"),
    (["beam.portable.bind_address=pool.example.org"], "beam.portable.bind_address: expected"),
])
def test_bad_combinations_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=None) as info:
        load_config(overrides=overrides, check_paths=False)
    assert message in str(info.value)


def _run_tiny_beam_job(args, caplog):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.util import assert_that, equal_to
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        p = beam.Pipeline(options=PipelineOptions(args))
        assert_that(p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x + 1), equal_to([2, 3, 4]))
        p.run().wait_until_finish()
    return p, "\n".join(r.getMessage() for r in caplog.records)


def test_local_runner_is_pinned_in_process_without_prism(caplog):
    pipeline, logs = _run_tiny_beam_job(LOCAL_ARGS, caplog)
    assert type(pipeline.runner).__name__ == "FnApiRunner"
    assert "prism" not in logs.lower()
    # Control: Beam's default runner does try Prism first (so the assertion above can fail).
    # Offline the download fails within ~2 s and Beam falls back in-process.
    _, default_logs = _run_tiny_beam_job([], caplog)
    assert "PrismRunner" in default_logs


@pytest.mark.parametrize("value,expected", [
    ("localhost", "localhost"), ("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"),
    ('"::"', "::"), ("192.0.2.7", "192.0.2.7")])
def test_bind_address_is_loopback_by_default_and_never_a_beam_flag(value, expected):
    assert load_config(check_paths=False).beam.portable.bind_address == "localhost"
    config = load_config(overrides=PORTABLE + [f"beam.portable.bind_address={value}"],
                         check_paths=False)
    assert bind_address(config.beam) == expected
    assert config.beam_pipeline_args == PORTABLE_ARGS  # where beam-cluster listens, not a flag
