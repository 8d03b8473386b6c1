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

Modules (steps as numbered above):

    orchestrator.py    run_compiled: parameters (1), order (2), task inputs (3), conditions (5)
    executor_input.py  the ExecutorInput (4) and placeholder resolution
    registry.py        ArtifactRegistry (`<root>/metadata.json`) and the resolver executors (6)
    task_handler.py    ImageTaskHandler: the preCacheCheck hook and the container (7, 8)
    results.py         TaskResult, RunResult, CompiledRunError, format_result
    kfp_local.py       kfp.local's modules (imported on use) and protobuf conversions
"""
from pipeline.compiled_runner.executor_input import ARTIFACT_NAME_PREFIX
from pipeline.compiled_runner.orchestrator import (check_local, run_compiled, run_parameters,
                                                   task_dependencies)
from pipeline.compiled_runner.registry import REGISTRY_FILE, ArtifactRegistry, schema_title
from pipeline.compiled_runner.results import (FAILED, NOT_RUN, SKIPPED, SUCCEEDED,
                                              CompiledRunError, RunResult, TaskResult,
                                              format_result)
from pipeline.compiled_runner.task_handler import (IMAGE_ENV, image_command,
                                                   image_task_handler_class)

__all__ = ["run_compiled", "run_parameters", "check_local", "task_dependencies",
           "ArtifactRegistry", "schema_title", "REGISTRY_FILE", "ARTIFACT_NAME_PREFIX",
           "CompiledRunError", "RunResult", "TaskResult", "format_result", "SUCCEEDED", "FAILED",
           "SKIPPED", "NOT_RUN", "IMAGE_ENV", "image_command", "image_task_handler_class"]
