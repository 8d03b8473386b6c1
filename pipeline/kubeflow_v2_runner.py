"""`python -m pipeline compile`: the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines.

`KubeflowV2DagRunner` turns the same `create_components()` the local runner uses into a PipelineJob
JSON (a KFP v2 PipelineSpec plus runtime config). Every component runs in one container image
(`vertex.default_image`, built by `make image` from the Dockerfile) that holds the project, the
pinned stack and the VGG16 weights. Module code is referenced by dotted path
(`modules.trainer.run_fn`, ...), importable inside that image, so nothing is packaged or uploaded
at compile time (a `module_file` would make TFX build and upload a user-code wheel to the
pipeline root). The compiled JSON does not carry `TF_USE_LEGACY_KERAS=1`: the image sets it.

Runtime parameters (editable per run in the Vertex console or with `submit --param`):
`data_root`, `range_config` (which span; '' = newest), `eval_config` (the Evaluator's thresholds)
and `trainer_custom_config` (epochs etc.), defaulting to the config's values.
"""
from __future__ import annotations

import os


import json
from typing import Any, Dict, Optional, Tuple

from pipeline.config import REPO_ROOT, ConfigError, PipelineConfig, is_uri

IMAGE_WORKDIR = "/app"  # WORKDIR of the Dockerfile: the project as copied into the image


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


def vertex_serving_dir(config: PipelineConfig) -> str:
    """Where ExportPusher writes on Vertex: `vertex.serving_dir`, else the pipeline root's bucket
    through Cloud Storage FUSE (`gs://b/p` -> `/gcs/b/p/serving`; the pusher renames directories,
    which needs a file system path)."""
    if config.vertex.serving_dir:
        return config.vertex.serving_dir
    return "/gcs/" + config.vertex.pipeline_root[len("gs://"):].rstrip("/") + "/serving"


def check_compilable(config: PipelineConfig) -> None:
    """ConfigError for settings KubeflowV2DagRunner cannot express."""
    v = config.vertex
    if not v.pipeline_root:
        raise ConfigError("vertex.pipeline_root: set it to a gs://bucket/path for the artifacts of "
                          "Vertex runs (e.g. --set vertex.pipeline_root=gs://my-bucket/tfx)")
    if not v.pipeline_root.startswith("gs://"):
        raise ConfigError(f"vertex.pipeline_root: expected gs://bucket/path, got "
                          f"{v.pipeline_root!r}")
    if not v.default_image:
        raise ConfigError("vertex.default_image: empty; the pipeline image (make image "
                          "IMAGE=...) is required")
    if len(config.data.class_names) < 2:
        raise ConfigError(f"data.class_names: the compiled pipeline needs the class list (found "
                          f"{config.data.class_names}); set data.class_names when the data is "
                          f"not on this machine")
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
    return config.vertex.weights_path, "imagenet (baked into the pipeline image)"


def parameter_defaults(config: PipelineConfig) -> Dict[str, str]:
    """The runtime parameters' default values (written into the spec's runtimeConfig)."""
    from pipeline.pipeline import runtime_parameters
    params = runtime_parameters(config, *image_weights(config), image_data_root(config))
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
        pipeline_name=config.pipeline_name, pipeline_root=config.vertex.pipeline_root,
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
    # the job's runtimeConfig.parameterValues (what Vertex shows and uses unless overridden).
    return runner.run(create_kubeflow_pipeline(config),
                      parameter_values=parameter_defaults(config))


def load_job(path: str) -> Dict[str, Any]:
    with open(path) as f:
        return json.load(f)
