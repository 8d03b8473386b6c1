"""Trainer and Tuner on Vertex AI Training, compiled for Vertex (`vertex.training` in the config).

With `vertex.training.trainer.machine_type` set, the compiled pipeline's Trainer is TFX's
`tfx.extensions.google_cloud_ai_platform.Trainer`: its pipeline step only launches a Vertex AI
CustomJob that runs the same executor (`modules.trainer.run_fn`) in the pipeline image on the
requested machines. Worker pools (Vertex's order: pool 0 the chief, pool 1 the workers):

    replica_count 1   [{machine_spec, replica_count: 1, container_spec: {image_uri}}]
    replica_count N   the same, plus pool 1 with N - 1 workers of the same machine; Vertex sets
                      TF_CONFIG on every replica -> MultiWorkerMirroredStrategy
                      (modules/distribution.py)

With `vertex.training.tuner.machine_type` set (or `tuner.parallel_trials > 1`), the Tuner is TFX's
Vertex Tuner: every trial runs on the block's machine (per trial: replica_count 1); TFX adds pool
1 with `parallel_trials - 1` workers of the same spec. machine_type '' keeps the step in its
pipeline container (the Tuner with parallel trials then uses DEFAULT_TUNER_MACHINE_TYPE).
Locally none of this applies. The machine / GPU checks are pipeline/config/machines.py.
"""
from __future__ import annotations

from typing import Any, Dict, List

from pipeline.config.errors import ConfigError
from pipeline.config.schema import MachineConfig, PipelineConfig

DEFAULT_TUNER_MACHINE_TYPE = "n1-standard-4"  # parallel trials without vertex.training.tuner


def on_vertex_training(machine: MachineConfig) -> bool:
    return bool(machine.machine_type)


def machine_spec(machine: MachineConfig) -> Dict[str, Any]:
    """Vertex's MachineSpec: machine_type, plus accelerator_type / _count when a GPU is asked."""
    spec: Dict[str, Any] = {"machine_type": machine.machine_type}
    if machine.accelerator_type:
        spec["accelerator_type"] = machine.accelerator_type
        spec["accelerator_count"] = int(machine.accelerator_count)
    return spec


def worker_pool_specs(machine: MachineConfig, image: str) -> List[Dict[str, Any]]:
    """Pool 0 (chief, one replica) and, for replica_count > 1, pool 1 (the other replicas)."""
    pool = {"machine_spec": machine_spec(machine), "replica_count": 1,
            "container_spec": {"image_uri": image}}
    pools = [pool]
    if machine.replica_count > 1:
        pools.append({**pool, "machine_spec": dict(pool["machine_spec"]),
                      "container_spec": dict(pool["container_spec"]),
                      "replica_count": int(machine.replica_count) - 1})
    return pools


def job_args(config: PipelineConfig, machine: MachineConfig) -> Dict[str, Any]:
    """The CustomJob arguments TFX's extension reads from custom_config (`project` is taken out
    by TFX; `job_spec` is Vertex's CustomJobSpec)."""
    v = config.vertex
    if not v.project:
        raise ConfigError("vertex.project: Vertex AI Training jobs (vertex.training.trainer / "
                          ".tuner, tuner.parallel_trials > 1) run in a project; set "
                          "vertex.project=<project id>")
    job_spec: Dict[str, Any] = {"worker_pool_specs": worker_pool_specs(machine, v.default_image)}
    if v.service_account:
        job_spec["service_account"] = v.service_account
    args: Dict[str, Any] = {"project": v.project, "job_spec": job_spec}
    if v.labels:
        args["labels"] = dict(v.labels)
    return args


def trainer_custom_config(config: PipelineConfig, custom: Dict[str, Any]) -> Dict[str, Any]:
    """The Trainer's custom_config on Vertex: `custom` (the RunConfig) plus the extension's keys
    when `vertex.training.trainer` is set; `custom` unchanged otherwise. run_fn drops the
    extension's keys (RunConfig.from_custom_config)."""
    machine = config.vertex.training.trainer
    if not on_vertex_training(machine):
        return custom
    from tfx import v1 as tfx
    gcp = tfx.extensions.google_cloud_ai_platform
    return {**custom, gcp.TRAINING_ARGS_KEY: job_args(config, machine),
            gcp.ENABLE_VERTEX_KEY: True, gcp.VERTEX_REGION_KEY: config.vertex.region}


def tuner_custom_config(config: PipelineConfig, custom: Dict[str, Any]) -> Dict[str, Any]:
    """The Vertex Tuner's custom_config: `custom` plus the tuning job (per-trial machine)."""
    from tfx import v1 as tfx
    gcp = tfx.extensions.google_cloud_ai_platform
    machine = config.vertex.training.tuner
    if not on_vertex_training(machine):
        machine = MachineConfig(machine_type=DEFAULT_TUNER_MACHINE_TYPE)
    return {**custom, gcp.experimental.TUNING_ARGS_KEY: job_args(config, machine),
            gcp.ENABLE_VERTEX_KEY: True, gcp.VERTEX_REGION_KEY: config.vertex.region}


def trainer_class(config: PipelineConfig, kubeflow: bool) -> Any:
    """TFX's Trainer, or the Vertex AI Training one when compiled with vertex.training.trainer
    (imported only then: the extension imports google.cloud.aiplatform, seconds per run)."""
    if kubeflow and on_vertex_training(config.vertex.training.trainer):
        from tfx.extensions.google_cloud_ai_platform.trainer.component import Trainer
        return Trainer
    from tfx.components import Trainer
    return Trainer


def vertex_tuner(config: PipelineConfig) -> bool:
    """Whether the compiled Tuner is TFX's Vertex Tuner (a Vertex AI Training job)."""
    return (config.tuner.parallel_trials > 1
            or on_vertex_training(config.vertex.training.tuner))
