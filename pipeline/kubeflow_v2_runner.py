"""`python -m pipeline compile`: the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines.

`KubeflowV2DagRunner` turns the same `create_components()` the local runner uses into a PipelineJob
JSON (a KFP v2 PipelineSpec plus runtime config). Every component runs in one container image
(`vertex.default_image`, built by `make image` from the Dockerfile) that holds the project, the
pinned stack and the VGG16 weights. Module code is referenced by dotted path
(`modules.trainer.run_fn`, ...), importable inside that image, so nothing is packaged or uploaded
at compile time (a `module_file` would make TFX build and upload a user-code wheel to the
pipeline root). The compiled JSON does not carry `TF_USE_LEGACY_KERAS=1`: the image sets it.

Runtime parameters (editable per run in the Vertex console or with `submit --param`):
`data_root`, `range_config` (which span; '' = newest), `eval_config` (the Evaluator's thresholds),
`trainer_custom_config` (epochs etc.; not the image size, which is Transform's) and `serving_dir`
(where ExportPusher writes; `submit` / `run-compiled` derive it from the run's pipeline root),
defaulting to the config's values, written both into the spec's input definitions
(`root.inputDefinitions.parameters.<name>.defaultValue`, what a plain KFP backend reads) and into
the job's `runtimeConfig.parameterValues` (what Vertex shows).

Three fixes are applied to TFX's output (`finish_spec`): those defaults; the ExportPusher's
trigger condition, which TFX 1.16 writes against `inputs.artifacts['_Evaluator.blessing']`, a key
the task does not declare when the blessing is also a regular input (`model_blessing`): the KFP v2
driver evaluates the condition against the task's own inputs, where that key does not exist; and
each executor's command, TFX's entry point wrapped by `pipeline.container_executor` so that a
Beam component with the in-process runner does not build TFX's sdist (as `python -m pipeline run`).

Without `vertex.pipeline_root` the spec is compiled with PLACEHOLDER_PIPELINE_ROOT (a bucket name
GCS cannot have) and `compile_warnings` says so: `run-compiled` runs such a spec locally,
`submit` / `schedule` refuse it until a root is set.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from pipeline.config import REPO_ROOT, ConfigError, PipelineConfig, is_uri

IMAGE_WORKDIR = "/app"  # WORKDIR of the Dockerfile: the project as copied into the image
# Upper case is not allowed in bucket names: nothing can ever be written under this root.
PLACEHOLDER_PIPELINE_ROOT = "gs://UNSET-vertex-pipeline-root/tfx"
SERVING_DIR_PARAMETER = "serving_dir"


def image_data_root(config: PipelineConfig) -> str:
    """ExampleGen's input_base on Vertex: `vertex.data_root`, else data.root inside the image."""
    if config.vertex.data_root:
        return config.vertex.data_root
    local = config.data_root
    if is_uri(local):
        return local
    rel = os.path.relpath(local, REPO_ROOT)
    if rel.startswith(".."):
        raise ConfigError(f"vertex.data_root: data.root {local} is outside the project, so it is "
                          f"not in the pipeline image; set vertex.data_root (e.g. "
                          f"gs://bucket/images)")
    return f"{IMAGE_WORKDIR}/{rel}"


def pipeline_root(config: PipelineConfig) -> str:
    """`vertex.pipeline_root`, or PLACEHOLDER_PIPELINE_ROOT when it is not set."""
    return config.vertex.pipeline_root or PLACEHOLDER_PIPELINE_ROOT


def serving_dir_for_root(root: str) -> str:
    """`<pipeline root>/serving` as a file system path: a gs:// root through Cloud Storage FUSE
    (`gs://b/p` -> `/gcs/b/p/serving`, mounted by Vertex AI at /gcs; the pusher renames
    directories, which needs a file system path), a local root as it is."""
    root = root.rstrip("/")
    if root.startswith("gs://"):
        return "/gcs/" + root[len("gs://"):] + "/serving"
    return os.path.join(root, "serving")


def vertex_serving_dir(config: PipelineConfig) -> str:
    """The `serving_dir` parameter's default: `vertex.serving_dir`, else the pipeline root's
    (serving_dir_for_root)."""
    if config.vertex.serving_dir:
        return config.vertex.serving_dir
    return serving_dir_for_root(pipeline_root(config))


def image_registry_host(image: str) -> Optional[str]:
    """The registry host of an image reference, or None (Docker's rule: the first path component
    is a host when it holds a '.' or a ':' or is 'localhost'; `name:tag` alone is a local tag)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def image_problem(image: str) -> Optional[str]:
    """Why Vertex AI cannot pull `image`, or None."""
    host = image_registry_host(image)
    if host is None:
        return (f"{image!r} has no registry host, so it is a local tag Vertex AI cannot pull; "
                f"build and push it to a registry (make image IMAGE=us-central1-docker.pkg.dev/"
                f"PROJECT/REPO/image-classifier:TAG; docker push ...) and set "
                f"vertex.default_image to that reference")
    if host.split(":")[0] in ("localhost", "127.0.0.1", "[::1]"):
        return (f"{image!r} is in a registry on this machine ({host}), which Vertex AI cannot "
                f"reach; push it to Artifact Registry and set vertex.default_image")
    return None


def compile_warnings(config: PipelineConfig) -> List[str]:
    """One line each: what the compiled spec cannot do on Vertex as configured (compile succeeds;
    `submit` / `schedule` refuse the same settings)."""
    out = []
    if not config.vertex.pipeline_root:
        out.append(f"warning: vertex.pipeline_root is not set: compiled with the placeholder "
                   f"{PLACEHOLDER_PIPELINE_ROOT} (run-compiled runs it locally; submit/schedule "
                   f"need --set vertex.pipeline_root=gs://BUCKET/PATH)")
    problem = image_problem(config.vertex.default_image) if config.vertex.default_image else None
    if problem:
        out.append(f"warning: vertex.default_image: {problem} (submit/schedule refuse it)")
    return out


def check_compilable(config: PipelineConfig) -> None:
    """ConfigError for settings KubeflowV2DagRunner cannot express."""
    v = config.vertex
    if v.pipeline_root and not v.pipeline_root.startswith("gs://"):
        raise ConfigError(f"vertex.pipeline_root: expected gs://bucket/path, got "
                          f"{v.pipeline_root!r}")
    if not v.default_image:
        raise ConfigError("vertex.default_image: empty; the pipeline image (make image "
                          "IMAGE=...) is required")
    if len(config.data.class_names) < 2:
        raise ConfigError(f"data.class_names: the compiled pipeline needs the class list (found "
                          f"{config.data.class_names}); set data.class_names when the data is "
                          f"not on this machine")
    local = v.data_root
    if local and not cloud_or_image_path(local) and os.path.isdir(local):
        # a spec for a local check (run-compiled) on a tree of this machine: its classes are
        # the ones compiled in, or ImageExampleGen fails in its container (helper-56)
        from pipeline.data_layout import classes_on_disk
        found = classes_on_disk(local, config.data.train_pattern)
        if found and sorted(found) != sorted(config.data.class_names):
            raise ConfigError(f"vertex.data_root: {local} holds the classes {found}, but the "
                              f"spec would be compiled for {list(config.data.class_names)}: "
                              f"compile with --set data.root={local} too (or, where "
                              f"data.class_names is set, set it to these)")
    if config.retrain.num_spans > 1:
        raise ConfigError("retrain.num_spans: a window of spans needs a span resolver that "
                          "KubeflowV2DagRunner cannot compile (it compiles only the "
                          "latest-artifact and latest-blessed-model resolvers); compile with "
                          "retrain.num_spans=1")
    if config.retrain.warm_start:
        raise ConfigError("retrain.warm_start: the warm-start resolver (latest blessed model not "
                          "trained on this run's data) is local only; compile with "
                          "retrain.warm_start=false")
    if config.model.weights not in ("imagenet", "none"):
        raise ConfigError(f"model.weights: {config.model.weights} is a local file; on Vertex use "
                          f"'imagenet' (baked into the image at vertex.weights_path) or 'none'")


def image_weights(config: PipelineConfig) -> Tuple[Optional[str], str]:
    """(weights path inside the image, source) for `model.weights`."""
    if config.model.weights == "none":
        return None, "none (random init; whole network trained)"
    path = config.vertex.weights_path
    if path.startswith(IMAGE_WORKDIR + "/"):
        return path, "imagenet (baked into the pipeline image)"
    return path, f"imagenet ({path})"  # a local check's (run-compiled) or a bucket's file


def parameter_defaults(config: PipelineConfig) -> Dict[str, str]:
    """The runtime parameters' default values (written into the spec's input definitions and its
    runtimeConfig)."""
    from pipeline.pipeline import runtime_parameters
    params = runtime_parameters(config, *image_weights(config), image_data_root(config),
                                vertex_serving_dir(config))
    return {name: p.default for name, p in params.items()}


def create_kubeflow_pipeline(config: PipelineConfig):
    """The TFX pipeline as it runs on Vertex: gs:// pipeline root, no local MLMD, image paths."""
    from tfx import v1 as tfx

    from pipeline.pipeline import create_components

    check_compilable(config)
    components = create_components(config, *image_weights(config), kubeflow=True,
                                   data_root=image_data_root(config),
                                   serving_dir=vertex_serving_dir(config))
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name, pipeline_root=pipeline_root(config),
        components=components, enable_cache=config.vertex.enable_caching,
        beam_pipeline_args=list(config.beam_pipeline_args))


def compile_pipeline(config: PipelineConfig, output_path: str) -> Dict[str, Any]:
    """Writes the PipelineJob JSON to `output_path`; returns it as a dict."""
    from tfx import v1 as tfx

    if not output_path.endswith(".json"):
        raise ConfigError(f"--output {output_path}: expected a .json file")
    output_dir = os.path.dirname(os.path.abspath(output_path))
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=config.vertex.default_image,
            display_name=config.vertex.display_name or config.pipeline_name,
            use_pipeline_spec_2_1=True),  # the schema KFP 2.x backends and Vertex both take
        output_dir=output_dir, output_filename=os.path.basename(output_path))
    # TFX puts a RuntimeParameter's type, not its default, into the spec: the defaults go into
    # the job's runtimeConfig.parameterValues (what Vertex shows and uses unless overridden) and,
    # by finish_spec, into the spec's own input definitions.
    defaults = parameter_defaults(config)
    job = runner.run(create_kubeflow_pipeline(config), parameter_values=defaults)
    job = finish_spec(job, defaults)
    with open(output_path, "w", encoding="utf-8") as f:
        json.dump(job, f, indent=2, sort_keys=True)
    return job


_CONDITION_INPUT = re.compile(r"inputs\.artifacts\['([^']+)'\]")


def finish_spec(job: Dict[str, Any], defaults: Dict[str, str]) -> Dict[str, Any]:
    """What TFX's compiler leaves out of a valid, self-contained KFP v2 spec:

    - each runtime parameter's default in `root.inputDefinitions.parameters.<name>` (`defaultValue`
      and `isOptional`, as KFP's own compiler writes them), so that a KFP backend or `kfp.local`
      loading the plain PipelineSpec sees them;
    - trigger conditions that name an input the task does not declare: TFX keys a
      `channel.future()` predicate `_<producer>.<output>` and adds that key as an input only when
      the channel is not already one; when it is (ExportPusher's `model_blessing` is
      Evaluator.blessing), the condition must use the declared key;
    - the sdist skip for in-process Beam: each executor command of TFX's entry point runs
      `pipeline.container_executor` (the same flags) instead.
    """
    spec = job["pipelineSpec"]
    declared = spec["root"].setdefault("inputDefinitions", {}).setdefault("parameters", {})
    for name, value in defaults.items():
        declared[name]["defaultValue"] = value
        declared[name]["isOptional"] = True
    for name, task in spec["root"]["dag"]["tasks"].items():
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition:
            task["triggerPolicy"]["condition"] = declared_condition(name, task, condition)
    for executor in spec["deploymentSpec"]["executors"].values():
        if "container" in executor:
            container = executor["container"]
            container["command"] = executor_command(container.get("command", []))
    return job


def executor_command(command: List[str]) -> List[str]:
    """`command` with TFX's executor entry point module replaced by `pipeline.container_executor`
    (`python -m <module>`); any other command as it is."""
    from pipeline.container_executor import EXECUTOR_MODULE, TFX_EXECUTOR_MODULE
    if command[1:] == ["-m", TFX_EXECUTOR_MODULE]:
        return [command[0], "-m", EXECUTOR_MODULE]
    return list(command)


def follow_serving_dir(job: Dict[str, Any], values: Dict[str, Any], root: str) -> Dict[str, Any]:
    """`values` plus `serving_dir` for a run under pipeline root `root`, when the spec's default
    was derived from the pipeline root it was compiled with (vertex.serving_dir not set) and the
    run's root differs: the serving dir follows the run's pipeline root. An explicit --param
    serving_dir, or a configured vertex.serving_dir, is kept."""
    spec_params = job.get("pipelineSpec", {}).get("root", {}).get("inputDefinitions", {}) \
        .get("parameters", {})
    if SERVING_DIR_PARAMETER not in spec_params or SERVING_DIR_PARAMETER in values:
        return dict(values)
    compiled_root = job.get("runtimeConfig", {}).get("gcsOutputDirectory", "")
    default = job.get("runtimeConfig", {}).get("parameterValues", {}).get(
        SERVING_DIR_PARAMETER, spec_params[SERVING_DIR_PARAMETER].get("defaultValue"))
    if (not compiled_root or default != serving_dir_for_root(compiled_root)
            or root.rstrip("/") == compiled_root.rstrip("/")):
        return dict(values)
    return {**values, SERVING_DIR_PARAMETER: serving_dir_for_root(root)}


def template_images(job: Dict[str, Any]) -> List[str]:
    """Every container image the spec runs."""
    executors = job.get("pipelineSpec", {}).get("deploymentSpec", {}).get("executors", {})
    return sorted({e["container"]["image"] for e in executors.values() if "container" in e})


def declared_condition(name: str, task: Dict[str, Any], condition: str) -> str:
    """`condition` with each `inputs.artifacts['_<producer>.<output>']` the task does not declare
    replaced by the declared input fed from that producer's output; ValueError if there is
    none."""
    inputs = task.get("inputs", {}).get("artifacts", {})
    by_source = {(i["taskOutputArtifact"]["producerTask"],
                  i["taskOutputArtifact"]["outputArtifactKey"]): key
                 for key, i in inputs.items() if "taskOutputArtifact" in i}

    def declared_key(match: "re.Match") -> str:
        key = match.group(1)
        if key in inputs:
            return match.group(0)
        producer, _, output = key[1:].partition(".")
        if not key.startswith("_") or (producer, output) not in by_source:
            raise ValueError(f"task {name}: trigger condition {condition!r} reads input {key!r}, "
                             f"which the task does not declare")
        return f"inputs.artifacts['{by_source[(producer, output)]}']"

    return _CONDITION_INPUT.sub(declared_key, condition)


def cloud_or_image_path(path: str) -> bool:
    """True for a path a Vertex task reads where it runs: Cloud Storage (gs://, its FUSE mount
    /gcs/) or the pipeline image's own files (/app/...); False for this machine's paths."""
    return path.startswith(("gs://", "/gcs/", IMAGE_WORKDIR + "/"))


def spec_paths(job: Dict[str, Any], parameters: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(what, path) of the files a compiled job reads or writes: the data_root and serving_dir
    runtime parameters (as given in `parameters`) and each task's custom_config weights_path
    ('<task> custom_config weights_path'); empty values left out."""
    paths = [("data_root", parameters.get("data_root", "")),
             ("serving_dir", parameters.get("serving_dir", ""))]
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    for task_name, task in sorted(tasks.items()):
        spec = task.get("inputs", {}).get("parameters", {}).get("custom_config", {})
        raw = (parameters.get(spec["componentInputParameter"]) if "componentInputParameter" in spec
               else spec.get("runtimeValue", {}).get("constant"))
        try:
            weights = json.loads(raw).get("weights_path") if isinstance(raw, str) else None
        except (ValueError, AttributeError):
            weights = None
        paths.append((f"{task_name} custom_config weights_path", weights or ""))
    return [(what, path) for what, path in paths if path]


def load_job(path: str) -> Dict[str, Any]:
    """The PipelineJob JSON at `path`; ConfigError naming the file when it is not JSON."""
    from pipeline.config import ConfigError
    try:
        with open(path, encoding="utf-8") as f:
            job = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        where = (f" (line {e.lineno}, column {e.colno}: {e.msg})"
                 if isinstance(e, json.JSONDecodeError) else "")
        raise ConfigError(f"{path}: not a JSON file{where}; make a spec with `python -m "
                          f"pipeline compile --output {path}`") from None
    spec = job.get("pipelineSpec") if isinstance(job, dict) else None
    tasks = (((spec or {}).get("root") or {}).get("dag") or {}).get("tasks") \
        if isinstance(spec, dict) and isinstance(spec.get("root"), dict) \
        and isinstance(spec["root"].get("dag"), dict) else None
    if not isinstance(tasks, dict):
        raise ConfigError(f"{path}: not a PipelineJob JSON (no pipelineSpec with tasks); make "
                          f"one with `python -m pipeline compile --output {path}`")
    return job
