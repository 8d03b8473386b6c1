"""Steps 7 and 8: a container task run as subprocesses of this environment in place of the
image (ImageTaskHandler), its ExecutorOutput read back and its artifacts registered."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Dict, List, Optional

from pipeline.compiled_runner.executor_input import resolve_command
from pipeline.compiled_runner.kfp_local import kfp_local, struct_dict
from pipeline.compiled_runner.registry import ArtifactRegistry
from pipeline.compiled_runner.results import TaskFailed
from pipeline.config import REPO_ROOT, ConfigError

# The image's environment that the compiled spec relies on (the Dockerfile's ENV; a test checks
# that it sets these): Keras 2 for TensorFlow, unbuffered logs.
IMAGE_ENV = {"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1"}


def image_task_handler_class():
    """ImageTaskHandler: kfp.local's task handler interface, for a container component run in
    this environment. kfp.local's SubprocessRunner runs only KFP lightweight Python components
    (it refuses any other command) and its DockerRunner needs a Docker engine, which this
    machine lacks."""
    kfp = kfp_local()

    class ImageTaskHandler(kfp["handler"].ITaskHandler):
        def __init__(self, image: str, full_command: List[str], pipeline_root: str, runner: Any,
                     log_path: str = "", cwd: str = "", env: Optional[Dict[str, str]] = None):
            super().__init__(image, full_command, pipeline_root, runner)
            self.image, self.full_command = image, image_command(full_command)
            self.log_path, self.cwd, self.env = log_path, cwd or str(REPO_ROOT), env

        def run(self):
            os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(f"$ {' '.join(self.full_command[:4])} ... (image {self.image})\n")
                log.flush()
                code = subprocess.run(self.full_command, cwd=self.cwd, env=self.env,
                                      stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL).returncode
                log.write(f"exit code {code}\n")
            return kfp["status"].Status.SUCCESS if code == 0 else kfp["status"].Status.FAILURE

    return ImageTaskHandler


def image_command(full_command: List[str]) -> List[str]:
    """The container's command with the image's `python` replaced by this interpreter (the image
    is this environment); any other program is refused."""
    if not full_command or full_command[0] not in ("python", "python3"):
        raise ConfigError(f"run-compiled runs containers of this project's image (python -m ...); "
                          f"this one runs {full_command[:1]}")
    return [sys.executable] + list(full_command[1:])


def task_env() -> Dict[str, str]:
    """This process's environment with the image's ENV."""
    env = dict(os.environ)
    env.update(IMAGE_ENV)
    return env


def execute(name: str, component, container: Dict[str, Any], executor_input, task_root: str,
            log_path: str, *, job: str, pipeline_root: str, pipeline_name: str,
            registry: ArtifactRegistry) -> Dict[str, Any]:
    """Runs the `preCacheCheck` hook (if any), then the container; returns the task's outputs
    and adds its artifacts to the registry. Raises TaskFailed."""
    kfp = kfp_local()
    handler_cls = image_task_handler_class()
    env = task_env()
    os.makedirs(task_root, exist_ok=True)
    hook = container.get("lifecycle", {}).get("preCacheCheck")
    if hook:  # ImageExampleGen's driver: span and fingerprint, before the executor
        command = resolve_command(hook.get("command", []) + hook.get("args", []),
                                  executor_input, component, job, name, pipeline_root)
        if handler_cls(container["image"], command, pipeline_root, None, log_path,
                       env=env).run() != kfp["status"].Status.SUCCESS:
            raise TaskFailed(f"preCacheCheck (driver) failed; see {log_path}")
        driver_output = kfp["eo"].load_executor_output(executor_input.outputs.output_file)
        for key, artifacts in driver_output.artifacts.items():
            if key in executor_input.outputs.artifacts and artifacts.artifacts:
                executor_input.outputs.artifacts[key].artifacts[0].metadata.update(
                    struct_dict(artifacts.artifacts[0].metadata))
    command = resolve_command(list(container.get("command", [])) +
                              list(container.get("args", [])), executor_input, component, job,
                              name, pipeline_root)
    status = handler_cls(container["image"], command, pipeline_root, None, log_path,
                         env=env).run()
    if status != kfp["status"].Status.SUCCESS:
        raise TaskFailed(f"the container exited non-zero; see {log_path}")
    outputs = kfp["eo"].get_outputs_for_task(executor_input=executor_input,
                                             component_spec=component)
    for key, value in outputs.items():
        for artifact in (value if isinstance(value, list) else [value]):
            if hasattr(artifact, "uri"):
                registry.add({"name": artifact.name, "uri": artifact.uri,
                              "metadata": dict(artifact.metadata),
                              "type": _type_dict(executor_input, key)},
                             pipeline_name, job, name, key)
    missing = sorted(set(executor_input.outputs.artifacts) - set(outputs))
    if missing:
        raise TaskFailed(f"the executor wrote no output artifact {missing[0]!r} into "
                         f"{executor_input.outputs.output_file}")
    return outputs


def _type_dict(executor_input, key: str) -> Dict[str, Any]:
    from google.protobuf import json_format
    artifacts = executor_input.outputs.artifacts[key].artifacts
    return json_format.MessageToDict(artifacts[0].type) if artifacts else {}
