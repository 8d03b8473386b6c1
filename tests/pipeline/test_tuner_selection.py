"""Which Tuner the pipeline uses: TrialsTuner locally (sequential trials), TFX's Vertex Tuner with
TuneArgs(num_parallel_trials) when compiled for Vertex with `tuner.parallel_trials > 1`. Hermetic:
components are constructed and compiled to KFP v2 JSON, nothing runs, no cloud credentials."""
import json

import pytest

from pipeline.config import load_config

VERTEX = ["vertex.pipeline_root=gs://bkt/tfx", "vertex.default_image=registry/tfx-image:1",
          "vertex.project=my-project", "vertex.region=europe-west4"]


def _tuner(overrides, kubeflow):
    from pipeline.pipeline import create_components
    config = load_config(overrides=overrides)
    comps = create_components(config, "/app/weights/w.h5", "imagenet", kubeflow=kubeflow)
    (tuner,) = [c for c in comps if c.id == "Tuner"]
    return tuner


def test_vertex_with_parallel_trials_uses_the_vertex_tuner():
    from google.protobuf import json_format
    from tfx import v1 as tfx
    from tfx.proto import tuner_pb2

    gcp = tfx.extensions.google_cloud_ai_platform
    tuner = _tuner(VERTEX + ["tuner.parallel_trials=3"], kubeflow=True)
    assert type(tuner) is gcp.Tuner
    tune_args = tuner.exec_properties["tune_args"]  # stored as the proto's JSON
    assert json_format.Parse(tune_args, tuner_pb2.TuneArgs()).num_parallel_trials == 3
    custom = tuner.exec_properties["custom_config"]
    if isinstance(custom, str):
        custom = json.loads(custom)
    pool = custom[gcp.experimental.TUNING_ARGS_KEY]["job_spec"]["worker_pool_specs"][0]
    assert pool["container_spec"]["image_uri"] == "registry/tfx-image:1"
    assert custom[gcp.experimental.TUNING_ARGS_KEY]["project"] == "my-project"
    assert custom[gcp.ENABLE_VERTEX_KEY] is True
    assert custom[gcp.VERTEX_REGION_KEY] == "europe-west4"


@pytest.mark.parametrize("overrides,kubeflow", [
    (["tuner.parallel_trials=3"], False),   # locally trials always run one after another
    (VERTEX, True),                          # Vertex, but no parallel trials asked for
])
def test_otherwise_the_local_trials_tuner(overrides, kubeflow):
    from components.trials_tuner import TrialsTuner
    tuner = _tuner(overrides, kubeflow)
    assert type(tuner) is TrialsTuner
    assert not tuner.exec_properties.get("tune_args")


def test_compiled_vertex_spec_names_the_vertex_tuner(tmp_path):
    from pipeline.kubeflow_v2_runner import compile_pipeline
    config = load_config(overrides=VERTEX + ["tuner.parallel_trials=4"])
    job = compile_pipeline(config, str(tmp_path / "job.json"))
    spec = job.get("pipelineSpec", job)
    executors = spec["deploymentSpec"]["executors"]
    (tuner_exec,) = [v for k, v in executors.items() if k.startswith("Tuner")]
    text = json.dumps(tuner_exec)
    assert "google_cloud_ai_platform.tuner.executor.Executor" in text
    params = json.dumps(spec["root"]["dag"]["tasks"]["Tuner"])
    assert '\\"num_parallel_trials\\": 4' in params or '"num_parallel_trials": 4' in params


@pytest.mark.parametrize("override,message", [
    ("tuner.batch_size=[]", "tuner.batch_size: the search space is empty"),
    ("tuner.head_units=[]", "tuner.head_units: the search space is empty"),
    ("tuner.momentum=[0.9]", "unknown config key tuner.momentum"),
    ("tuner.batch_size=[16.5]", "tuner.batch_size[0]: expected int, got float"),
    ("tuner.learning_rate=0.01", "tuner.learning_rate: expected a list of float"),
    ("tuner.dropout=[0.2, 1.0]", "tuner.dropout: values must be in [0, 1)"),
    ("tuner.unfreeze_blocks=[0, 6]", "tuner.unfreeze_blocks: values must be in 0..5"),
    ("tuner.learning_rate=[0.01, 0.01]", "tuner.learning_rate: duplicate values"),
    ("tuner.parallel_trials=0", "tuner.parallel_trials: expected >= 1"),
])
def test_bad_search_space_is_a_config_error(override, message):
    from pipeline.config import ConfigError
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[override])
    assert message in str(e.value)


def test_optional_dimensions_reach_the_tuner_and_trainer_config():
    from modules.configs import RunConfig
    from pipeline.pipeline import module_config
    config = load_config(overrides=["tuner.head_units=[16, 64]", "tuner.unfreeze_blocks=[0, 2]",
                                    "tuner.learning_rate=[0.001, 0.01]"])
    custom = RunConfig.from_dict(module_config(config, None, "none"))  # through JSON types
    assert custom.tuner.search_space() == {"learning_rate": [0.001, 0.01],
                                           "batch_size": config.tuner.batch_size,
                                           "head_units": [16, 64], "unfreeze_blocks": [0, 2]}
    assert custom.trainer.fine_tune == config.trainer.fine_tune
