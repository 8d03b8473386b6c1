"""Step 4: the ExecutorInput a task gets (kfp.local's, extended with what Vertex gives TFX), and
the container command with its placeholders resolved against it."""
from __future__ import annotations

import copy
from typing import Any, Dict, List

from pipeline.compiled_runner.kfp_local import kfp_local

ARTIFACT_NAME_PREFIX = "local/metadataStores/default/artifacts/"


def build_executor_input(component, arguments: Dict[str, Any], task_root: str, job: str,
                         task_name: str):
    """kfp.local's ExecutorInput for the task, with what Vertex adds for TFX: unique
    artifact names, the declared input artifact types, empty lists."""
    empty = [k for k in component.input_definitions.artifacts
             if isinstance(arguments.get(k), list) and not arguments[k]]
    spec = copy.deepcopy(component)
    for key in empty:
        del spec.input_definitions.artifacts[key]
    executor_input = kfp_local()["ei"].construct_executor_input(
        component_spec=spec, arguments={k: v for k, v in arguments.items() if k not in empty},
        task_root=task_root, block_input_artifact=False)
    for key in empty:
        executor_input.inputs.artifacts[key].SetInParent()
    for key, artifacts in executor_input.inputs.artifacts.items():
        for artifact in artifacts.artifacts:
            artifact.type.CopyFrom(component.input_definitions.artifacts[key].artifact_type)
    for key, artifacts in executor_input.outputs.artifacts.items():
        for artifact in artifacts.artifacts:
            artifact.name = f"{ARTIFACT_NAME_PREFIX}{job}.{task_name}.{key}"
    return executor_input


def resolve_command(command: List[str], executor_input, component, job: str, task_name: str,
                    pipeline_root: str) -> List[str]:
    """`command` with its placeholders (`{{$}}`: the ExecutorInput JSON) replaced."""
    kfp = kfp_local()
    executor_input_dict = kfp["ei"].executor_input_to_dict(
        executor_input=executor_input, component_spec=component)
    return kfp["ph"].replace_placeholders(
        full_command=command, executor_input_dict=executor_input_dict,
        pipeline_resource_name=job, task_resource_name=task_name,
        pipeline_root=pipeline_root, unique_pipeline_id=job)
