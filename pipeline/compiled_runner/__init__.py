"""`python -m pipeline run-compiled PIPELINE.json`: the compiled KFP v2 spec, executed on this machine.

The step before `submit`: the JSON that Vertex AI Pipelines would receive is run task by task, each
container's `command` + `args` as a subprocess of this Python environment in place of the image
(the image is this project's environment: the Dockerfile installs the same lock and the project),
with the ExecutorInput Vertex would hand it, and each task's ExecutorOutput read back. What Vertex
does at each step, and what stands in for it here (KFP's own local execution, `kfp.local`, is used
wherever it applies; it refuses this spec as a whole: container components under its
SubprocessRunner, `resolver` executors and trigger conditions):

1. Parameters. Vertex: the job's `runtimeConfig.parameterValues`, then the submitted values.
   Here: the same, then `--param`; a parameter with neither takes the spec's input definition
   default (`kfp.local.dag_orchestrator.join_user_inputs_and_defaults`). `serving_dir` follows
   this run's pipeline root as `submit` makes it follow Vertex's (kubeflow_v2_runner).
2. Order. Vertex: every task whose upstream tasks are done, concurrently; upstream is the task's
   `dependentTasks` and the producers of its inputs (TFX leaves a resolver fed by another resolver
   without `dependentTasks`). Here: one at a time in that topological order
   (`kfp.local.graph_utils.topological_sort` over `task_dependencies`).
3. Task inputs. Constants, pipeline parameters and upstream outputs
   (`kfp.local.dag_orchestrator.make_task_arguments` over a `kfp.local.io.IOStore`).
4. ExecutorInput (`kfp.local.executor_input_utils.construct_executor_input`): output artifact URIs
   and `outputFile` under the pipeline root (Vertex: `<root>/<project number>/<job>/<task>_<id>/`;
   here `<root>/pipeline_root/<job>/<task>/`), extended where TFX needs what Vertex gives: every
   artifact has a unique name (Vertex: its ML Metadata resource name; the Evaluator records the
   candidate's and the resolver looks the model up by it), input artifacts carry the consuming
   component's declared `artifactType` (TFX's types are instance schemas, which kfp.local would
   turn into `system.Artifact`), and an input a resolver found nothing for is an empty list.
5. Trigger condition. Vertex / the KFP driver evaluate the CEL condition against the task's
   ExecutorInput: false skips the task (and the tasks after it), an error fails it
   (pipeline/cel_condition.py).
6. Resolver executors (`resolver.outputArtifactQueries`). Vertex: a query of its ML Metadata
   store, the latest LIVE artifact matching the filter (placeholders in it resolved against the
   task's inputs, `kfp.local.placeholder_utils.resolve_io_placeholders`). Here: the same filter
   over a registry of the artifacts of earlier local runs of the same pipeline under --root
   (`<root>/metadata.json`).
7. Container. Vertex: the `lifecycle.preCacheCheck` hook first (ImageExampleGen's driver: span,
   fingerprint), whose ExecutorOutput updates the task's output artifacts before the executor
   runs; then the container's `command` + `args` with placeholders (`{{$}}`: the ExecutorInput
   JSON) resolved (`kfp.local.placeholder_utils.replace_placeholders`). Here: both as subprocesses
   (ImageTaskHandler, a `kfp.local` task handler) with `python` this environment's interpreter,
   the project root as working directory (the image's WORKDIR holds the project) and the image's
   ENV (IMAGE_ENV).
8. Outputs. Vertex: the ExecutorOutput in `outputFile` becomes the task's output artifacts in ML
   Metadata. Here: `kfp.local.executor_output_utils`, then the registry.

Not emulated: caching (every task runs), retries, concurrency, machine types, the image build,
GCS and its FUSE mount (gs:// and /gcs/ paths are refused up front), IAM and the service account,
Vertex's Tuner service (tuner.parallel_trials > 1), quotas.
"""
from __future__ import annotations

import copy
import datetime
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import yaml

from pipeline.config import REPO_ROOT, ConfigError

# The image's environment that the compiled spec relies on (the Dockerfile's ENV; a test checks
# that it sets these): Keras 2 for TensorFlow, unbuffered logs.
IMAGE_ENV = {"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1"}
REGISTRY_FILE = "metadata.json"
ARTIFACT_NAME_PREFIX = "local/metadataStores/default/artifacts/"
SUCCEEDED, FAILED, SKIPPED, NOT_RUN = "SUCCEEDED", "FAILED", "SKIPPED", "NOT_RUN"


class CompiledRunError(RuntimeError):
    """A task of the compiled pipeline failed (the message names it and its log)."""

    def __init__(self, message: str, result: "RunResult"):
        super().__init__(message)
        self.result = result


@dataclass
class TaskResult:
    name: str
    state: str
    seconds: float = 0.0
    log: str = ""
    reason: str = ""
    inputs: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)
    outputs: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)


@dataclass
class RunResult:
    job: str
    pipeline_name: str
    state: str
    pipeline_root: str
    parameters: Dict[str, Any]
    tasks: Dict[str, TaskResult]
    record: str = ""
    seconds: float = 0.0

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------- registry


def schema_title(artifact_type: Dict[str, Any]) -> str:
    """`tfx.Model` from an ArtifactTypeSchema dict (`schemaTitle`, or the `title` of an
    `instanceSchema`, which is how TFX declares its types)."""
    if artifact_type.get("schemaTitle"):
        return artifact_type["schemaTitle"]
    return (yaml.safe_load(artifact_type.get("instanceSchema") or "") or {}).get("title", "")


class ArtifactRegistry:
    """`<root>/metadata.json`: the artifacts the local runs produced, standing in for Vertex's ML
    Metadata store (what resolver queries read), and one line per run."""

    def __init__(self, root: str):
        self.path = os.path.join(root, REGISTRY_FILE)
        self.data: Dict[str, Any] = {"artifacts": [], "runs": []}
        if os.path.isfile(self.path):
            with open(self.path) as f:
                self.data = json.load(f)

    def save(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def add(self, artifact: Dict[str, Any], pipeline_name: str, job: str, task: str,
            key: str) -> None:
        record = {"id": len(self.data["artifacts"]) + 1, "name": artifact["name"],
                  "schema_title": schema_title(artifact.get("type", {})),
                  "type": artifact.get("type", {}), "uri": artifact.get("uri", ""),
                  "metadata": artifact.get("metadata", {}), "state": "LIVE",
                  "create_time": datetime.datetime.now().isoformat(timespec="microseconds"),
                  "pipeline_name": pipeline_name, "job": job, "task": task, "output_key": key}
        self.data["artifacts"].append(record)
        self.save()

    def add_run(self, summary: Dict[str, Any]) -> None:
        self.data["runs"].append(summary)
        self.save()

    def query(self, query_filter: str, pipeline_name: str) -> List[Dict[str, Any]]:
        """The artifacts of `pipeline_name` matching a resolver filter, newest first. The filter
        is what TFX compiles: `key=value` clauses joined by ' AND ' over schema_title, state,
        name and metadata.<key>.number_value / string_value."""
        clauses = [_parse_clause(c, query_filter) for c in query_filter.split(" AND ")]
        found = [a for a in self.data["artifacts"] if a["pipeline_name"] == pipeline_name
                 and all(_matches(a, key, value) for key, value in clauses)]
        return sorted(found, key=lambda a: a["id"], reverse=True)


def _parse_clause(clause: str, query_filter: str) -> Tuple[str, str]:
    key, sep, value = clause.strip().partition("=")
    if not sep or not key:
        raise ValueError(f"resolver filter {query_filter!r}: cannot read clause {clause!r}")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return key.strip(), value


def _matches(artifact: Dict[str, Any], key: str, value: str) -> bool:
    if key in ("schema_title", "state", "name", "uri"):
        return str(artifact.get(key)) == value
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "metadata" and parts[2] in ("number_value",
                                                                    "string_value"):
        have = artifact["metadata"].get(parts[1])
        if parts[2] == "string_value":
            return isinstance(have, str) and have == value
        try:
            return isinstance(have, (int, float)) and float(have) == float(value)
        except ValueError:
            return False
    raise ValueError(f"resolver filter: unsupported clause key {key!r} (run-compiled reads "
                     f"schema_title, state, name and metadata.<key>.number_value/string_value)")


# ------------------------------------------------------------------------------- the runner


def _kfp():
    """kfp.local's modules (imported on use: the CLI's other commands do not need them)."""
    from kfp.local import (dag_orchestrator, executor_input_utils, executor_output_utils,
                           graph_utils, io, placeholder_utils, status, task_handler_interface)
    return dict(dag=dag_orchestrator, ei=executor_input_utils, eo=executor_output_utils,
                graph=graph_utils, io=io, ph=placeholder_utils, status=status,
                handler=task_handler_interface)


def image_task_handler_class():
    """ImageTaskHandler: kfp.local's task handler interface, for a container component run in
    this environment. kfp.local's SubprocessRunner runs only KFP lightweight Python components
    (it refuses any other command) and its DockerRunner needs a Docker engine, which this
    machine lacks."""
    kfp = _kfp()

    class ImageTaskHandler(kfp["handler"].ITaskHandler):
        def __init__(self, image: str, full_command: List[str], pipeline_root: str, runner: Any,
                     log_path: str = "", cwd: str = "", env: Optional[Dict[str, str]] = None):
            super().__init__(image, full_command, pipeline_root, runner)
            self.image, self.full_command = image, image_command(full_command)
            self.log_path, self.cwd, self.env = log_path, cwd or str(REPO_ROOT), env

        def run(self):
            os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
            with open(self.log_path, "a") as log:
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


def _task_env() -> Dict[str, str]:
    env = dict(os.environ)
    env.update(IMAGE_ENV)
    return env


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
    return _kfp()["dag"].join_user_inputs_and_defaults(values, root.input_definitions)


def check_local(job: Dict[str, Any], parameters: Dict[str, Any]) -> None:
    """What cannot run here, refused before any task: Cloud Storage (gs:// and its FUSE mount
    /gcs/) and files that exist only inside the image (/app/...)."""
    from pipeline.kubeflow_v2_runner import IMAGE_WORKDIR
    paths = [("data_root", parameters.get("data_root", ""), "--param data_root=DIR"),
             ("serving_dir", parameters.get("serving_dir", ""), "--param serving_dir=DIR")]
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    for task_name, task in sorted(tasks.items()):
        spec = task.get("inputs", {}).get("parameters", {}).get("custom_config", {})
        raw = (parameters.get(spec["componentInputParameter"]) if "componentInputParameter" in spec
               else spec.get("runtimeValue", {}).get("constant"))
        try:
            weights = json.loads(raw).get("weights_path") if isinstance(raw, str) else None
        except (ValueError, AttributeError):
            weights = None
        if weights:
            paths.append((f"{task_name} custom_config weights_path", weights,
                          "compile with --set vertex.weights_path=FILE (`python -m pipeline "
                          "weights` prints this machine's)"))
    for what, path, remedy in paths:
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


def run_compiled(spec_path: str, given: Dict[str, Any], root: str,
                 echo=print) -> RunResult:
    """Runs the compiled PipelineJob JSON at `spec_path` under `root` (pipeline root
    `<root>/pipeline_root`, registry `<root>/metadata.json`, logs and the run record under
    `<root>/runs/<job>/`). Raises CompiledRunError when a task fails."""
    from pipeline.kubeflow_v2_runner import load_job
    from pipeline.run_lock import run_lock
    job = load_job(spec_path)
    if "pipelineSpec" not in job:
        raise ConfigError(f"{spec_path}: not a PipelineJob JSON (no pipelineSpec); make one with "
                          f"`python -m pipeline compile --output {spec_path}`")
    root = os.path.abspath(root)
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
        self.kfp = _kfp()
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
        with open(run.record, "w") as f:
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
            executor_input = self.executor_input(name, component, arguments, task_root)
            result.inputs = _artifact_summary(executor_input.inputs.artifacts)
            if task.trigger_policy.condition and not self.condition(task, executor_input):
                result.state, result.reason = SKIPPED, (
                    f"condition false: {task.trigger_policy.condition}")
                return result
            if "resolver" in executor:
                outputs = self.resolve(component, executor["resolver"], executor_input)
            elif "container" in executor:
                outputs = self.execute(name, component, executor["container"], executor_input,
                                       task_root, result.log)
            elif "importer" in executor:
                from kfp.local import importer_handler
                outputs, _ = importer_handler.run_importer(
                    pipeline_resource_name=self.job, component_name=name,
                    component_spec=component, executor_spec=_executor_spec(executor),
                    arguments=arguments, pipeline_root=self.pipeline_root,
                    unique_pipeline_id=self.job)
            else:
                raise ValueError(f"unknown executor {sorted(executor)}")
        except _TaskFailed as e:
            result.state, result.reason = FAILED, str(e)
            return result
        except Exception as e:  # pylint: disable=broad-except
            result.state, result.reason = FAILED, f"{type(e).__name__}: {e}"
            return result
        finally:
            result.seconds = round(time.time() - started, 1)
        for key, value in outputs.items():
            io_store.put_task_output(name, key, value)
        result.outputs = {k: [_dsl_summary(a) for a in (v if isinstance(v, list) else [v])]
                          for k, v in outputs.items()}
        return result

    # ---- step 4: the ExecutorInput

    def executor_input(self, task_name: str, component, arguments: Dict[str, Any],
                       task_root: str):
        """kfp.local's ExecutorInput for the task, with what Vertex adds for TFX: unique
        artifact names, the declared input artifact types, empty lists."""
        empty = [k for k in component.input_definitions.artifacts
                 if isinstance(arguments.get(k), list) and not arguments[k]]
        spec = copy.deepcopy(component)
        for key in empty:
            del spec.input_definitions.artifacts[key]
        executor_input = self.kfp["ei"].construct_executor_input(
            component_spec=spec, arguments={k: v for k, v in arguments.items() if k not in empty},
            task_root=task_root, block_input_artifact=False)
        for key in empty:
            executor_input.inputs.artifacts[key].SetInParent()
        for key, artifacts in executor_input.inputs.artifacts.items():
            for artifact in artifacts.artifacts:
                artifact.type.CopyFrom(component.input_definitions.artifacts[key].artifact_type)
        for key, artifacts in executor_input.outputs.artifacts.items():
            for artifact in artifacts.artifacts:
                artifact.name = f"{ARTIFACT_NAME_PREFIX}{self.job}.{task_name}.{key}"
        return executor_input

    # ---- step 5: trigger conditions

    def condition(self, task, executor_input) -> bool:
        from google.protobuf import json_format

        from pipeline.cel_condition import ConditionError, evaluate
        context = json_format.MessageToDict(executor_input, preserving_proto_field_name=True)
        try:
            return evaluate(task.trigger_policy.condition, context)
        except ConditionError as e:
            raise _TaskFailed(f"trigger condition: {e}") from None

    # ---- step 6: resolvers

    def resolve(self, component, resolver: Dict[str, Any], executor_input) -> Dict[str, Any]:
        from google.protobuf import json_format
        from kfp.pipeline_spec import pipeline_spec_pb2
        context = json_format.MessageToDict(executor_input)
        outputs: Dict[str, Any] = {}
        for key, query in resolver.get("outputArtifactQueries", {}).items():
            query_filter = query.get("filter", "")
            # A filter that reads an input the upstream resolver found nothing for finds nothing.
            if any(not a.get("artifacts") for a in context.get("inputs", {})
                   .get("artifacts", {}).values()) and "{{$.inputs.artifacts" in query_filter:
                outputs[key] = []
                continue
            query_filter = self.kfp["ph"].resolve_io_placeholders(context, query_filter)
            found = self.registry.query(query_filter, self.pipeline_name)[:query.get("limit")
                                                                        or 1]
            declared = component.output_definitions.artifacts[key].artifact_type
            outputs[key] = [self.kfp["eo"].runtime_artifact_to_dsl_artifact(
                pipeline_spec_pb2.RuntimeArtifact(
                    name=a["name"], uri=a["uri"], type=declared,
                    metadata=_struct(a["metadata"]))) for a in found]
            if len(outputs[key]) == 1 and not component.output_definitions.artifacts[key] \
                    .is_artifact_list:
                outputs[key] = outputs[key][0]
        return outputs

    # ---- steps 7 and 8: the container

    def execute(self, name: str, component, container: Dict[str, Any], executor_input,
                task_root: str, log_path: str) -> Dict[str, Any]:
        handler_cls = image_task_handler_class()
        env = _task_env()
        os.makedirs(task_root, exist_ok=True)
        hook = container.get("lifecycle", {}).get("preCacheCheck")
        if hook:  # ImageExampleGen's driver: span and fingerprint, before the executor
            command = self.resolve_command(hook.get("command", []) + hook.get("args", []),
                                           executor_input, component, name)
            if handler_cls(container["image"], command, self.pipeline_root, None, log_path,
                           env=env).run() != self.kfp["status"].Status.SUCCESS:
                raise _TaskFailed(f"preCacheCheck (driver) failed; see {log_path}")
            driver_output = self.kfp["eo"].load_executor_output(
                executor_input.outputs.output_file)
            for key, artifacts in driver_output.artifacts.items():
                if key in executor_input.outputs.artifacts and artifacts.artifacts:
                    executor_input.outputs.artifacts[key].artifacts[0].metadata.update(
                        _struct_dict(artifacts.artifacts[0].metadata))
        command = self.resolve_command(list(container.get("command", [])) +
                                       list(container.get("args", [])), executor_input,
                                       component, name)
        status = handler_cls(container["image"], command, self.pipeline_root, None, log_path,
                             env=env).run()
        if status != self.kfp["status"].Status.SUCCESS:
            raise _TaskFailed(f"the container exited non-zero; see {log_path}")
        outputs = self.kfp["eo"].get_outputs_for_task(executor_input=executor_input,
                                                      component_spec=component)
        for key, value in outputs.items():
            for artifact in (value if isinstance(value, list) else [value]):
                if hasattr(artifact, "uri"):
                    self.registry.add({"name": artifact.name, "uri": artifact.uri,
                                       "metadata": dict(artifact.metadata),
                                       "type": _type_dict(executor_input, key)},
                                      self.pipeline_name, self.job, name, key)
        missing = sorted(set(executor_input.outputs.artifacts) - set(outputs))
        if missing:
            raise _TaskFailed(f"the executor wrote no output artifact {missing[0]!r} into "
                              f"{executor_input.outputs.output_file}")
        return outputs

    def resolve_command(self, command: List[str], executor_input, component,
                        task_name: str) -> List[str]:
        executor_input_dict = self.kfp["ei"].executor_input_to_dict(
            executor_input=executor_input, component_spec=component)
        return self.kfp["ph"].replace_placeholders(
            full_command=command, executor_input_dict=executor_input_dict,
            pipeline_resource_name=self.job, task_resource_name=task_name,
            pipeline_root=self.pipeline_root, unique_pipeline_id=self.job)


class _TaskFailed(Exception):
    pass


def _executor_spec(executor: Dict[str, Any]):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    return json_format.ParseDict(executor,
                                 pipeline_spec_pb2.PipelineDeploymentConfig.ExecutorSpec())


def _struct(values: Dict[str, Any]):
    from google.protobuf import struct_pb2
    s = struct_pb2.Struct()
    s.update(values or {})
    return s


def _struct_dict(struct) -> Dict[str, Any]:
    from google.protobuf import json_format
    return json_format.MessageToDict(struct)


def _type_dict(executor_input, key: str) -> Dict[str, Any]:
    from google.protobuf import json_format
    artifacts = executor_input.outputs.artifacts[key].artifacts
    return json_format.MessageToDict(artifacts[0].type) if artifacts else {}


def _artifact_summary(artifact_lists) -> Dict[str, List[Dict[str, Any]]]:
    from google.protobuf import json_format
    return {key: [{"name": a.name, "uri": a.uri,
                   "metadata": json_format.MessageToDict(a.metadata)} for a in lst.artifacts]
            for key, lst in artifact_lists.items()}


def _dsl_summary(artifact: Any) -> Dict[str, Any]:
    return {"name": artifact.name, "uri": artifact.uri, "metadata": dict(artifact.metadata)}


def format_result(result: RunResult) -> str:
    """The closing lines of `run-compiled`."""
    skipped = [n for n, t in result.tasks.items() if t.state == SKIPPED]
    lines = [f"{result.state}: {sum(t.state == SUCCEEDED for t in result.tasks.values())} of "
             f"{len(result.tasks)} tasks succeeded" + (f", skipped: {', '.join(skipped)}"
                                                       if skipped else "")
             + f" ({result.seconds} s)"]
    serving = result.parameters.get("serving_dir")
    pushed = [t for t in result.tasks.values() if t.state == SUCCEEDED and "pushed_model" in
              t.outputs]
    if pushed and serving:
        lines.append(f"pushed under {serving}")
    lines.append(f"run record: {result.record}")
    return "\n".join(lines)
