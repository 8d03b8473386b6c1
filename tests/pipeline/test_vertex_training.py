"""Trainer and Tuner on Vertex AI Training (`vertex.training`, pipeline/vertex_training.py): the
compiled KFP v2 spec for `--profile full` sends them to Vertex AI Training with the requested
machines, GPUs, image and replicas; bad machine / GPU combinations are config errors; without the
block (and locally) nothing changes. Hermetic: compiled to JSON, nothing runs, no credentials."""
import json

import pytest

from modules.configs import RunConfig
from pipeline.config import ConfigError, load_config
from pipeline.kubeflow_v2_runner import compile_pipeline

IMAGE = "europe-west4-docker.pkg.dev/my-project/pipelines/image-classifier:gpu"
VERTEX = ["vertex.pipeline_root=gs://bkt/tfx", f"vertex.default_image={IMAGE}",
          "vertex.project=my-project", "vertex.region=europe-west4"]
TRAINER_T4 = ("vertex.training.trainer={machine_type: n1-standard-8, accelerator_type: "
              "NVIDIA_TESLA_T4, accelerator_count: 2, replica_count: 1}")
TUNER_L4 = ("vertex.training.tuner={machine_type: g2-standard-8, accelerator_type: NVIDIA_L4, "
            "accelerator_count: 1}")
TRAINER_CLASS = "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"
TUNER_CLASS = "tfx.extensions.google_cloud_ai_platform.tuner.executor.Executor"


def _compile(tmp_path, overrides, profile="full"):
    config = load_config(profile=profile, overrides=VERTEX + overrides)
    job = compile_pipeline(config, str(tmp_path / "job.json"))
    spec = job["pipelineSpec"]
    return {"config": config, "job": job, "tasks": spec["root"]["dag"]["tasks"],
            "executors": spec["deploymentSpec"]["executors"], "spec": spec}


def _executor_class(compiled, task):
    label = compiled["spec"]["components"][task]["executorLabel"]
    container = compiled["executors"][label]["container"]
    args = container["args"]
    return container["image"], args[args.index("--executor_class_path") + 1]


def _trainer_custom(compiled):
    return json.loads(compiled["job"]["runtimeConfig"]["parameterValues"]
                      ["trainer_custom_config"])


def _tuner_custom(compiled):
    raw = compiled["tasks"]["Tuner"]["inputs"]["parameters"]["custom_config"]
    return json.loads(raw["runtimeValue"]["constant"])


def test_full_profile_trainer_and_tuner_go_to_vertex_ai_training(tmp_path):
    c = _compile(tmp_path, [TRAINER_T4, TUNER_L4])
    assert _executor_class(c, "Trainer") == (IMAGE, TRAINER_CLASS)
    assert _executor_class(c, "Tuner") == (IMAGE, TUNER_CLASS)

    trainer = _trainer_custom(c)
    assert trainer["ai_platform_enable_vertex"] is True
    assert trainer["ai_platform_vertex_region"] == "europe-west4"
    args = trainer["ai_platform_training_args"]
    assert args["project"] == "my-project"
    assert args["job_spec"]["worker_pool_specs"] == [{
        "machine_spec": {"machine_type": "n1-standard-8", "accelerator_type": "NVIDIA_TESLA_T4",
                         "accelerator_count": 2},
        "replica_count": 1, "container_spec": {"image_uri": IMAGE}}]
    # The module config rides along (the full profile's), and run_fn reads it back; the image
    # size is Transform's, read from its output (pipeline.compiled_module_config).
    assert "image_size" not in trainer["model"]
    assert trainer["model"]["pooling"] == c["config"].model.pooling
    assert RunConfig.from_custom_config(trainer).trainer.epochs == c["config"].trainer.epochs

    tuner = _tuner_custom(c)
    assert tuner["ai_platform_tuning_args"]["job_spec"]["worker_pool_specs"] == [{
        "machine_spec": {"machine_type": "g2-standard-8", "accelerator_type": "NVIDIA_L4",
                         "accelerator_count": 1},
        "replica_count": 1, "container_spec": {"image_uri": IMAGE}}]
    assert tuner["ai_platform_enable_vertex"] is True
    assert RunConfig.from_custom_config(tuner).tuner.max_trials == 9
    tune_args = c["tasks"]["Tuner"]["inputs"]["parameters"]["tune_args"]
    assert json.loads(tune_args["runtimeValue"]["constant"]) == {"num_parallel_trials": 1}


def test_trainer_replicas_are_a_chief_and_a_worker_pool(tmp_path):
    c = _compile(tmp_path, [TRAINER_T4.replace("replica_count: 1", "replica_count: 3"),
                            "vertex.service_account=trainer@my-project.iam.gserviceaccount.com"])
    spec = _trainer_custom(c)["ai_platform_training_args"]["job_spec"]
    chief, workers = spec["worker_pool_specs"]
    assert chief["replica_count"] == 1 and workers["replica_count"] == 2
    for pool in (chief, workers):
        assert pool["machine_spec"]["accelerator_type"] == "NVIDIA_TESLA_T4"
        assert pool["container_spec"] == {"image_uri": IMAGE}
    assert spec["service_account"] == "trainer@my-project.iam.gserviceaccount.com"
    # No tuner block and one trial at a time: the Tuner stays in its pipeline step.
    assert _executor_class(c, "Tuner")[1] != TUNER_CLASS


def test_parallel_trials_on_the_tuner_machine(tmp_path):
    c = _compile(tmp_path, [TUNER_L4, "tuner.parallel_trials=3"])
    tune_args = c["tasks"]["Tuner"]["inputs"]["parameters"]["tune_args"]
    assert json.loads(tune_args["runtimeValue"]["constant"]) == {"num_parallel_trials": 3}
    (pool,) = _tuner_custom(c)["ai_platform_tuning_args"]["job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"]["machine_type"] == "g2-standard-8"  # TFX adds pool 1 from it
    # The Trainer without a block stays in its pipeline step, its custom_config the plain one.
    assert _executor_class(c, "Trainer")[1] == "tfx.components.trainer.executor.GenericExecutor"
    assert not any(k.startswith("ai_platform_") for k in _trainer_custom(c))


def test_without_the_block_nothing_changes(tmp_path):
    c = _compile(tmp_path, [], profile="quick")
    assert _executor_class(c, "Trainer")[1] == "tfx.components.trainer.executor.GenericExecutor"
    assert _executor_class(c, "Tuner")[1] != TUNER_CLASS
    custom = _trainer_custom(c)
    expected = json.loads(json.dumps(RunConfig.from_dict(custom).to_dict()))
    expected["model"].pop("image_size")  # compiled: Transform's (pipeline.compiled_module_config)
    assert custom == expected


def test_locally_the_block_is_ignored():
    from tfx import v1 as tfx

    from components.trials_tuner import TrialsTuner
    from pipeline.pipeline import create_components
    config = load_config(overrides=VERTEX + [TRAINER_T4, TUNER_L4])
    comps = {c.id: c for c in create_components(config, None, "none", kubeflow=False)}
    assert type(comps["Trainer"]) is tfx.components.Trainer
    assert type(comps["Tuner"]) is TrialsTuner
    assert not any(k.startswith("ai_platform_") for k in comps["Trainer"].exec_properties
                   ["custom_config"])


@pytest.mark.parametrize("block, message", [
    ("{machine_type: n1-standard-8, accelerator_type: NVIDIA_L4, accelerator_count: 1}",
     "vertex.training.trainer: NVIDIA_L4 does not attach to N1 machines"),
    ("{machine_type: e2-standard-8, accelerator_type: NVIDIA_TESLA_T4, accelerator_count: 1}",
     "vertex.training.trainer: NVIDIA_TESLA_T4 attaches to N1 machines only"),
    ("{machine_type: a2-highgpu-2g, accelerator_type: NVIDIA_TESLA_A100, accelerator_count: 1}",
     "vertex.training.trainer: machine_type a2-highgpu-2g comes with 2 x NVIDIA_TESLA_A100"),
    ("{machine_type: g2-standard-8}",
     "machine_type g2-standard-8 comes with 1 x NVIDIA_L4"),
    ("{machine_type: n1-standard-8, accelerator_type: NVIDIA_TESLA_T4, accelerator_count: 3}",
     "vertex.training.trainer.accelerator_count: NVIDIA_TESLA_T4 attaches in counts of 1, 2, 4"),
    ("{machine_type: n1-standard-8, accelerator_type: NVIDIA_TESLA_T4}",
     "vertex.training.trainer.accelerator_count: 0 with accelerator_type NVIDIA_TESLA_T4"),
    ("{machine_type: n1-standard-8, accelerator_type: TESLA_T4, accelerator_count: 1}",
     "vertex.training.trainer.accelerator_type: unknown accelerator 'TESLA_T4'"),
    ("{accelerator_type: NVIDIA_TESLA_T4, accelerator_count: 1}",
     "vertex.training.trainer.machine_type: empty"),
    ("{machine_type: n1-standard-8, replica_count: 0}",
     "vertex.training.trainer.replica_count: expected >= 1"),
    ("{machine_type: n1-standard-8, gpu: 1}", "unknown config key vertex.training.trainer.gpu"),
])
def test_bad_machine_and_accelerator_combinations_are_config_errors(block, message):
    with pytest.raises(ConfigError) as e:
        load_config(profile="full", overrides=VERTEX + [f"vertex.training.trainer={block}"])
    assert message in str(e.value)


def test_the_tuner_block_is_per_trial():
    with pytest.raises(ConfigError) as e:
        load_config(overrides=VERTEX + [TUNER_L4.replace("}", ", replica_count: 2}")])
    assert "vertex.training.tuner.replica_count: expected 1, got 2" in str(e.value)
    assert "tuner.parallel_trials" in str(e.value)


def test_vertex_ai_training_needs_a_project(tmp_path):
    config = load_config(overrides=[o for o in VERTEX if "project" not in o] + [TRAINER_T4])
    with pytest.raises(ConfigError) as e:
        compile_pipeline(config, str(tmp_path / "job.json"))
    assert "vertex.project" in str(e.value)


def test_accelerator_optimized_machines_compile(tmp_path):
    c = _compile(tmp_path, ["vertex.training.trainer={machine_type: a2-highgpu-1g, "
                            "accelerator_type: NVIDIA_TESLA_A100, accelerator_count: 1}"])
    (pool,) = _trainer_custom(c)["ai_platform_training_args"]["job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"] == {"machine_type": "a2-highgpu-1g",
                                    "accelerator_type": "NVIDIA_TESLA_A100",
                                    "accelerator_count": 1}
    cpu = _compile(tmp_path, ["vertex.training.trainer.machine_type=n1-highmem-16"])
    (pool,) = _trainer_custom(cpu)["ai_platform_training_args"]["job_spec"]["worker_pool_specs"]
    assert pool["machine_spec"] == {"machine_type": "n1-highmem-16"}
