"""Steps 1, 2, 3 and 5: the run's parameters, what is refused up front, the task order, and the
DAG run task by task (kfp.local's run_dag, with conditions, resolvers and skips)."""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Dict, List

from pipeline.compiled_runner.executor_input import build_executor_input
from pipeline.compiled_runner.kfp_local import executor_spec, kfp_local
from pipeline.compiled_runner.registry import ArtifactRegistry, resolve
from pipeline.compiled_runner.results import (FAILED, NOT_RUN, SKIPPED, SUCCEEDED,
                                              CompiledRunError, RunResult, TaskFailed,
                                              TaskResult, artifact_summary, dsl_summary)
from pipeline.compiled_runner.task_handler import execute, image_command
from pipeline.config import REPO_ROOT, ConfigError


def task_dependencies(tasks) -> Dict[str, List[str]]:
    """{task: its upstream tasks}: `dependentTasks` plus the producer of every input artifact
    and parameter (kfp.local reads `dependentTasks` alone, which KFP's own compiler always
    fills; TFX's does not for a resolver fed by another resolver)."""
    out = {}
    for name, task in tasks.items():
        upstream = set(task.dependent_tasks)
        upstream.update(i.task_output_artifact.producer_task
                        for i in task.inputs.artifacts.values()
                        if i.HasField("task_output_artifact"))
        upstream.update(p.task_output_parameter.producer_task
                        for p in task.inputs.parameters.values()
                        if p.HasField("task_output_parameter"))
        out[name] = sorted(upstream)
    return out


def run_parameters(job: Dict[str, Any], given: Dict[str, Any], pipeline_root: str) -> Dict[str, Any]:
    """Step 1: the job's runtimeConfig values, then `given`; serving_dir follows pipeline_root;
    the spec's defaults for the rest (kfp.local's join_user_inputs_and_defaults)."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    from pipeline.kubeflow_v2_runner import follow_serving_dir
    values = dict(job.get("runtimeConfig", {}).get("parameterValues", {}))
    values.update(follow_serving_dir(job, given, pipeline_root))
    root = json_format.ParseDict(job["pipelineSpec"]["root"], pipeline_spec_pb2.ComponentSpec())
    missing = [name for name, p in root.input_definitions.parameters.items()
               if name not in values and not p.HasField("default_value")]
    if missing:
        raise ConfigError(f"runtime parameter(s) {', '.join(sorted(missing))}: no value in the "
                          f"job's runtimeConfig and no default in the spec; pass --param NAME=VALUE")
    return kfp_local()["dag"].join_user_inputs_and_defaults(values, root.input_definitions)


def check_local(job: Dict[str, Any], parameters: Dict[str, Any]) -> None:
    """What cannot run here, refused before any task: Cloud Storage (gs:// and its FUSE mount
    /gcs/) and files that exist only inside the image (/app/...)."""
    from pipeline.kubeflow_v2_runner import IMAGE_WORKDIR, spec_paths
    remedies = {"data_root": "--param data_root=DIR", "serving_dir": "--param serving_dir=DIR"}
    for what, path in spec_paths(job, parameters):
        remedy = remedies.get(what, "compile with --set vertex.weights_path=FILE (`python -m "
                                    "pipeline weights` prints this machine's)")
        if not path:
            continue
        if path.startswith("gs://") or path.startswith("/gcs/"):
            raise ConfigError(f"{what} is {path}: Cloud Storage is not reachable from "
                              f"run-compiled (local files only); {remedy}")
        if path.startswith(IMAGE_WORKDIR + "/") and not os.path.exists(path):
            raise ConfigError(f"{what} is {path}, a path inside the pipeline image that does not "
                              f"exist here; {remedy}")
        if what.endswith("weights_path") and not os.path.isfile(path):
            raise ConfigError(f"{what}: {path} does not exist; {remedy}")
        if what == "data_root" and not os.path.isdir(path):  # else ImageExampleGen, minutes in
            raise ConfigError(f"data_root: {path} is not a folder here; {remedy}")


def run_compiled(spec_path: str, given: Dict[str, Any], root: str,
                 echo=print) -> RunResult:
    """Runs the compiled PipelineJob JSON at `spec_path` under `root` (pipeline root
    `<root>/pipeline_root`, registry `<root>/metadata.json`, logs and the run record under
    `<root>/runs/<job>/`). Raises CompiledRunError when a task fails."""
    from pipeline.kubeflow_v2_runner import load_job
    from pipeline.run_lock import run_lock
    job = load_job(spec_path)
    root = os.path.abspath(root)  # load_job refused a file that is not a PipelineJob
    pipeline_root = os.path.join(root, "pipeline_root")
    parameters = run_parameters(job, given, pipeline_root)
    check_local(job, parameters)
    for executor in job["pipelineSpec"]["deploymentSpec"]["executors"].values():
        if "container" in executor:
            image_command(list(executor["container"].get("command", [])))
    with run_lock(root):
        return _Run(job, parameters, root, pipeline_root, echo).run()


class _Run:
    def __init__(self, job: Dict[str, Any], parameters: Dict[str, Any], root: str,
                 pipeline_root: str, echo):
        from google.protobuf import json_format
        from kfp.pipeline_spec import pipeline_spec_pb2
        self.kfp = kfp_local()
        self.spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec(),
                                          ignore_unknown_fields=True)
        self.spec_dict = job["pipelineSpec"]
        self.pipeline_name = self.spec.pipeline_info.name
        self.job = self.kfp["ei"].get_local_pipeline_resource_name(self.pipeline_name)
        self.parameters, self.root, self.pipeline_root, self.echo = (parameters, root,
                                                                     pipeline_root, echo)
        self.registry = ArtifactRegistry(root)
        self.logs = os.path.join(root, "runs", self.job)
        self.results: Dict[str, TaskResult] = {}

    # ---- the DAG (kfp.local's run_dag, with conditions, resolvers and skips)

    def run(self) -> RunResult:
        started = time.time()
        os.makedirs(self.logs, exist_ok=True)
        self.echo(f"run-compiled {self.pipeline_name}: job {self.job}, pipeline root "
                  f"{self.pipeline_root} (each container runs as {sys.executable} in "
                  f"{REPO_ROOT})")
        io_store = self.kfp["io"].IOStore()
        for k, v in self.parameters.items():
            io_store.put_parent_input(k, v)
        dag = self.spec.root.dag
        upstream = task_dependencies(dag.tasks)
        order = self.kfp["graph"].topological_sort(upstream)
        state = SUCCEEDED
        while order:
            name = order.pop()
            task = dag.tasks[name]
            if state == FAILED:
                self.results[name] = TaskResult(name, NOT_RUN, reason="an earlier task failed")
                continue
            skipped_by = [d for d in upstream[name]
                          if self.results.get(d) and self.results[d].state == SKIPPED]
            if skipped_by:
                result = TaskResult(name, SKIPPED, reason=f"upstream {skipped_by[0]} skipped")
            else:
                result = self.run_task(name, task, io_store)
            self.results[name] = result
            self.echo(f"  {name:<55} {result.state:<9} {result.seconds:7.1f} s"
                      + (f"  ({result.reason})" if result.reason else ""))
            if result.state == FAILED:
                state = FAILED
        run = RunResult(self.job, self.pipeline_name, state, self.pipeline_root,
                        {k: v for k, v in self.parameters.items()}, self.results,
                        record=os.path.join(self.logs, "run.json"),
                        seconds=round(time.time() - started, 1))
        with open(run.record, "w", encoding="utf-8") as f:
            json.dump(run.to_dict(), f, indent=1, sort_keys=True)
        self.registry.add_run({"job": self.job, "pipeline_name": self.pipeline_name,
                               "state": state, "record": run.record,
                               "tasks": {n: r.state for n, r in self.results.items()}})
        if state == FAILED:
            failed = next(r for r in self.results.values() if r.state == FAILED)
            raise CompiledRunError(f"task {failed.name} failed: {failed.reason} (log: "
                                   f"{failed.log or run.record})", run)
        return run

    def run_task(self, name: str, task, io_store) -> TaskResult:
        started = time.time()
        result = TaskResult(name, SUCCEEDED, log=os.path.join(self.logs, f"{name}.log"))
        component = self.spec.components[task.component_ref.name]
        executor = self.spec_dict["deploymentSpec"]["executors"][component.executor_label]
        try:
            arguments = self.kfp["dag"].make_task_arguments(task.inputs, io_store)
            task_root = self.kfp["ei"].construct_local_task_root(self.pipeline_root, self.job,
                                                                name)
            executor_input = build_executor_input(component, arguments, task_root, self.job,
                                                  name)
            result.inputs = artifact_summary(executor_input.inputs.artifacts)
            if task.trigger_policy.condition and not self.condition(task, executor_input):
                result.state, result.reason = SKIPPED, (
                    f"condition false: {task.trigger_policy.condition}")
                return result
            if "resolver" in executor:
                outputs = resolve(self.registry, self.pipeline_name, component,
                                  executor["resolver"], executor_input)
            elif "container" in executor:
                outputs = execute(name, component, executor["container"], executor_input,
                                  task_root, result.log, job=self.job,
                                  pipeline_root=self.pipeline_root,
                                  pipeline_name=self.pipeline_name, registry=self.registry)
            elif "importer" in executor:
                from kfp.local import importer_handler
                outputs, _ = importer_handler.run_importer(
                    pipeline_resource_name=self.job, component_name=name,
                    component_spec=component, executor_spec=executor_spec(executor),
                    arguments=arguments, pipeline_root=self.pipeline_root,
                    unique_pipeline_id=self.job)
            else:
                raise ValueError(f"unknown executor {sorted(executor)}")
        except TaskFailed as e:
            result.state, result.reason = FAILED, str(e)
            return result
        except Exception as e:  # pylint: disable=broad-except
            result.state, result.reason = FAILED, f"{type(e).__name__}: {e}"
            return result
        finally:
            result.seconds = round(time.time() - started, 1)
        for key, value in outputs.items():
            io_store.put_task_output(name, key, value)
        result.outputs = {k: [dsl_summary(a) for a in (v if isinstance(v, list) else [v])]
                          for k, v in outputs.items()}
        return result

    # ---- step 5: trigger conditions

    def condition(self, task, executor_input) -> bool:
        from google.protobuf import json_format

        from pipeline.cel_condition import ConditionError, evaluate
        context = json_format.MessageToDict(executor_input, preserving_proto_field_name=True)
        try:
            return evaluate(task.trigger_policy.condition, context)
        except ConditionError as e:
            raise TaskFailed(f"trigger condition: {e}") from None
