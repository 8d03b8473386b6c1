"""`create_pipeline(config)`: the ten components wired into one TFX pipeline. No ML code here.

ImageExampleGen -> StatisticsGen -> SchemaGen (or ImportSchemaGen) -> ExampleValidator
    -> AnomaliesGate (fails on any anomaly) -> Transform -> Tuner -> Trainer
    -> Evaluator (test split, vs the latest blessed model of the same classes) -> ExportPusher

ExportPusher sits in a `tfx.dsl.Cond` on the Evaluator's blessing (a trigger condition on
Kubeflow / Vertex). With `retrain.num_spans > 1` a span window resolver feeds Transform; with
`retrain.warm_start` a resolver feeds the Trainer's base_model (pipeline/resolvers.py).
`create_components(..., kubeflow=True)` is what pipeline/kubeflow_v2_runner.py compiles.
"""
from __future__ import annotations

import os


import dataclasses
import json
from typing import Any, Dict, List, Optional, Tuple

import tensorflow_model_analysis as tfma
from google.protobuf import json_format
# TFX's names from their own modules, not `tfx.v1`: that package also imports every extension,
# and google_cloud_ai_platform's google.cloud.aiplatform alone adds seconds to each local run.
# The Vertex classes are imported only where a Vertex target asks for them.
from tfx.components import Evaluator, ExampleValidator, SchemaGen, StatisticsGen, Transform
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)
from tfx.orchestration import metadata
from tfx.orchestration.data_types import RuntimeParameter
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, range_config_pb2, trainer_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from components import tfma_gates
from components.anomalies_gate import AnomaliesGate
from components.change_interval import executor as change_interval_executor
from components.export_pusher import ExportPusher
from components.image_example_gen import ImageExampleGen
from modules.configs import PreprocessingConfig, RunConfig
from modules.splits import TEST, TRAIN, VALIDATION
from pipeline import vertex_training
from pipeline.config import PipelineConfig

PREPROCESSING_FN = "modules.preprocessing.preprocessing_fn"
TUNER_FN = "modules.tuning.tuner_fn"
RUN_FN = "modules.trainer.run_fn"


def resolve_weights(config: PipelineConfig, pin: bool = False) -> Tuple[Optional[str], str]:
    """(weights file path or None, source description) for `model.weights`; `pin`: the path
    under the output root that names the weights by their sha256 (`weights.cache.pin_under`),
    the same whatever $HOME a run has."""
    choice = config.model.weights
    if choice == "none":
        return None, "none (random init; whole network trained)"
    from pipeline import weights  # local import: only needed when model.weights is not "none"
    if choice == "imagenet":
        info = weights.load_vgg16_weights_info() or weights.provision_vgg16_weights()
    else:
        info = weights.provision_vgg16_weights(weights_file=config.model.weights)
    if pin:
        from pipeline.weights.cache import pin_under
        return pin_under(info, config.output_root), f"imagenet ({info.source})"
    return info.path, f"imagenet ({info.source})"


def module_config(config: PipelineConfig, weights_path: Optional[str],
                  weights_source: str) -> Dict[str, Any]:
    """The `custom_config` handed to tuner_fn and run_fn: a modules.configs.RunConfig as plain
    JSON types (the same dataclasses the pipeline config is composed of)."""
    return RunConfig(seed=config.seed, class_names=list(config.data.class_names),
                     weights_path=weights_path or "", weights_source=weights_source,
                     model=config.model, trainer=config.trainer, tuner=config.tuner).to_dict()


def compiled_module_config(config: PipelineConfig, weights_path: Optional[str],
                           weights_source: str) -> Dict[str, Any]:
    """`module_config` as the compiled (Kubeflow / Vertex) pipeline hands it to the Tuner and the
    Trainer: without `model.image_size`. The image size is Transform's (compile-time, in its
    `custom_config`); tuner_fn and run_fn read it from the Transform output
    (modules/image_size.with_transform_image_size), so `trainer_custom_config`, a per-run parameter,
    cannot change it for the Trainer alone (it used to: the Trainer built a 64-pixel model on
    Transform's 32-pixel images, a warning in the log). Adding it back by hand is checked there:
    a value other than Transform's fails the Trainer."""
    custom = module_config(config, weights_path, weights_source)
    custom["model"] = {k: v for k, v in custom["model"].items() if k != "image_size"}
    return custom


def preprocessing_config(config: PipelineConfig) -> Dict[str, Any]:
    """Transform's `custom_config`: a modules.configs.PreprocessingConfig as a dict."""
    return dataclasses.asdict(PreprocessingConfig(
        image_size=config.model.image_size, background=list(config.data.alpha_background)))


def tuner_component(config: PipelineConfig, custom: Dict[str, Any], examples: Any,
                    transform_graph: Any, target: str = "local") -> Any:
    """The Tuner node (id 'Tuner'), chosen by where the pipeline runs.

    target 'local', or 'vertex' without `tuner.parallel_trials > 1` or `vertex.training.tuner`:
    `TrialsTuner` (TFX's Tuner whose executor also writes trials.json/csv/png into
    `tuner_results`), trials one after another in the step's container.
    target 'vertex' with either: TFX's Vertex Tuner (`tfx.extensions.google_cloud_ai_platform.Tuner`)
    with TuneArgs(num_parallel_trials=N): one Vertex AI Training job of the pipeline image on the
    `vertex.training.tuner` machine (pipeline/vertex_training.py), a chief plus N-1 workers
    sharing one oracle (its `tuner_results` has TFX's tuner_results.json only, no trials.* files).
    """
    common = dict(tuner_fn=TUNER_FN, examples=examples, transform_graph=transform_graph,
                  train_args=trainer_pb2.TrainArgs(splits=[TRAIN]),
                  eval_args=trainer_pb2.EvalArgs(splits=[VALIDATION]))
    if target not in ("local", "vertex"):
        raise ValueError(f"tuner target {target!r}: expected 'local' or 'vertex'")
    if target == "vertex" and vertex_training.vertex_tuner(config):
        from tfx.extensions.google_cloud_ai_platform.tuner.component import Tuner
        from tfx.proto import tuner_pb2
        return Tuner(
            tune_args=tuner_pb2.TuneArgs(num_parallel_trials=config.tuner.parallel_trials),
            custom_config=vertex_training.tuner_custom_config(config, custom),
            **common).with_id("Tuner")
    from components.trials_tuner import TrialsTuner
    return TrialsTuner(custom_config=custom, **common).with_id("Tuner")


def gates(config: PipelineConfig):
    """The Evaluator's gates for this config's classes (components/tfma_gates.py)."""
    ev = config.evaluator
    return tfma_gates.gates_for(config.data.class_names, ev.accuracy_lower_bound,
                                ev.auc_lower_bound, ev.min_class_recall, ev.max_accuracy_drop,
                                dict(ev.class_recall))


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """Accuracy, AUC (macro one-vs-rest for 3+ classes) and per-class recall gates, plus 'not
    worse than the latest blessed model of the same classes' on accuracy, on the test split.

    Gates apply to the overall slice only: the per-class slices (`class_name`) are reported, but a
    one-class slice has no AUC and per-class accuracy is not what the thresholds are about.
    """
    ev = config.evaluator
    return tfma_gates.eval_config(config.data.class_names, ev.accuracy_lower_bound,
                                  ev.auc_lower_bound, ev.min_class_recall, ev.max_accuracy_drop,
                                  dict(ev.class_recall))


def example_gen_io(config: PipelineConfig) -> Tuple[example_gen_pb2.Input,
                                                    Optional[example_gen_pb2.Output], float]:
    """ExampleGen's input splits (train / validation / test, pipeline/data_layout.py), the output
    hash split when one input is partitioned by path, and the carved validation fraction."""
    layout = config.split_layout
    splits = [example_gen_pb2.Input.Split(name=name, pattern=pattern)
              for name, pattern in layout.patterns.items()]
    if not layout.hashed:
        return example_gen_pb2.Input(splits=splits), None, layout.validation_fraction
    return (example_gen_pb2.Input(splits=splits),
            example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
                splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=n)
                        for name, n in layout.hash_buckets.items()],
                partition_feature_name="path")), 0.0)


def runtime_parameters(config: PipelineConfig, weights_path: Optional[str], weights_source: str,
                       data_root: str, serving_dir: str = "") -> Dict[str, Any]:
    """RuntimeParameters of the compiled (Kubeflow / Vertex) pipeline, defaults from `config`.

    Top-level execution properties are the only place KubeflowV2DagRunner accepts them:
    ImageExampleGen's input_base (`data_root`) and range_config (`range_config`: a RangeConfig as
    JSON, e.g. {"static_range": {"start_span_number": 3, "end_span_number": 3}}; '' = the newest
    span), the Evaluator's eval_config (`eval_config`: thresholds, tfma.EvalConfig JSON), the
    Trainer's custom_config (`trainer_custom_config`: epochs, fine-tuning, pruning..., JSON; no
    `model.image_size`, see compiled_module_config) and ExportPusher's serving_dir (`serving_dir`:
    `submit` and `run-compiled` set it from the run's pipeline root unless given).
    """
    defaults = {
        "data_root": data_root,
        "range_config": "",
        "eval_config": json_format.MessageToJson(eval_config(config), sort_keys=True,
                                                 indent=None),
        "trainer_custom_config": json.dumps(vertex_training.trainer_custom_config(
            config, compiled_module_config(config, weights_path, weights_source)),
            sort_keys=True),
        "serving_dir": serving_dir or config.serving_dir,
    }
    return {name: RuntimeParameter(name=name, ptype=str, default=value)
            for name, value in defaults.items()}


def span_window(config: PipelineConfig, kubeflow: bool = False) -> Dict[str, Any]:
    """The span window resolver's config: which spans Transform, Tuner and Trainer read
    (`retrain.num_spans` > 1). Run locally on a {SPAN} layout: `spans`, the span numbers on
    disk in the window ending at the newest span *on disk* (`data_layout.span_window`, what
    `retrain` ingests and reports), within their static range, so a span folder removed or
    renamed after its ingestion is not read again, inside the window or at its end (TFX's
    RollingRange ends at the newest span ever ingested into MLMD, which outlives its folder).
    Compiled (`kubeflow`), a data root that is not a local folder, or a layout without {SPAN}
    (one span, 0): RollingRange, as before."""
    from pipeline.config import has_span
    n = config.retrain.num_spans
    if not kubeflow and has_span(config.data.train_pattern) and os.path.isdir(config.data_root):
        from pipeline.config import spans_on_disk
        from pipeline.data_layout import span_window as window_on_disk
        window = window_on_disk(spans_on_disk(config.data_root, config.data.train_pattern), n)
        if window:
            return {"range_config": range_config_pb2.RangeConfig(
                static_range=range_config_pb2.StaticRange(start_span_number=window[0],
                                                          end_span_number=window[-1])),
                    "spans": window}
    return {"range_config": range_config_pb2.RangeConfig(
        rolling_range=range_config_pb2.RollingRange(num_spans=n))}


def create_components(config: PipelineConfig, weights_path: Optional[str],
                      weights_source: str, kubeflow: bool = False,
                      data_root: Optional[str] = None,
                      serving_dir: Optional[str] = None) -> List[Any]:
    """The pipeline's components in topological order.

    `kubeflow=True` (compile for KFP v2 / Vertex): `data_root` (ExampleGen's input_base),
    `range_config` (which span; '' = the newest), `eval_config` (the Evaluator's thresholds, JSON),
    `trainer_custom_config` (epochs etc., JSON) and `serving_dir` become RuntimeParameters with
    the config's values as defaults; `data_root` / `serving_dir` override the local paths.
    """
    d = config.data
    data_root = data_root or config.data_root
    serving_dir = serving_dir or config.serving_dir
    params = runtime_parameters(config, weights_path, weights_source, data_root,
                                serving_dir) if kubeflow else {}
    input_config, output_config, validation_fraction = example_gen_io(config)
    example_gen = ImageExampleGen(
        input_base=params.get("data_root", data_root),
        class_names=d.class_names, input_config=input_config, output_config=output_config,
        range_config=params.get("range_config"),
        max_quarantine_fraction=d.max_quarantine_fraction, max_image_pixels=d.max_image_pixels,
        validation_fraction=validation_fraction)
    # Transform, Tuner and Trainer read a rolling window of spans; the other components the newest.
    training_examples = example_gen.outputs["examples"]
    span_resolver = None
    if config.retrain.num_spans > 1:
        from pipeline.resolvers import SpanWindowStrategy
        span_resolver = Resolver(
            strategy_class=SpanWindowStrategy,
            config=span_window(config, kubeflow),
            examples=Channel(type=standard_artifacts.Examples,
                                     producer_component_id=example_gen.id,
                                     output_key="examples")).with_id("span_window_resolver")
        span_resolver.add_upstream_node(example_gen)
        training_examples = span_resolver.outputs["examples"]
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    if d.schema_path:  # new spans are validated against a curated schema
        schema_gen = ImportSchemaGen(schema_file=config.schema_path)
    else:
        schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"],
                                              infer_feature_shape=True)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    transform = Transform(
        examples=training_examples, schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config=preprocessing_config(config))
    # ExampleValidator only records anomalies; the gate fails the run on any, before Transform.
    anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"])
    transform.add_upstream_node(anomalies_gate)
    custom = (compiled_module_config if kubeflow else module_config)(config, weights_path,
                                                                      weights_source)
    tuner = tuner_component(config, custom, transform.outputs["transformed_examples"],
                            transform.outputs["transform_graph"],
                            target="vertex" if kubeflow else "local")
    warm_start_resolver = None
    if config.retrain.warm_start:
        from pipeline.resolvers import WarmStartModelStrategy
        warm_start_resolver = Resolver(
            strategy_class=WarmStartModelStrategy,
            model=Channel(type=standard_artifacts.Model),
            model_blessing=Channel(type=standard_artifacts.ModelBlessing),
            examples=training_examples).with_id("warm_start_model_resolver")
    trainer = vertex_training.trainer_class(config, kubeflow)(
        run_fn=RUN_FN, examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        hyperparameters=tuner.outputs["best_hyperparameters"],
        base_model=warm_start_resolver.outputs["model"] if warm_start_resolver else None,
        train_args=trainer_pb2.TrainArgs(splits=[TRAIN]),
        eval_args=trainer_pb2.EvalArgs(splits=[VALIDATION]),
        custom_config=params.get("trainer_custom_config", custom))
    model_resolver = baseline_model_resolver(trainer, kubeflow)
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"], example_splits=[TEST],
        eval_config=params.get("eval_config", eval_config(config)))
    if config.evaluator.change_interval:  # TFX's executor + TFMA's intervals with a baseline
        evaluator.executor_spec = executor_spec.BeamExecutorSpec(
            change_interval_executor.Executor)
    # Only a blessed model is pushed: the condition is on the Evaluator's blessing (on Kubeflow /
    # Vertex a triggerPolicy condition; locally the node is skipped when it is false).
    with Cond(evaluator.outputs["blessing"].future()[0]
                      .custom_property("blessed") == 1):
        pusher = ExportPusher(
            model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
            model_evaluation=evaluator.outputs["evaluation"],
            transformed_examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            tuner_results=tuner.outputs["tuner_results"], examples=example_gen.outputs["examples"],
            # only with a span window: the one artifact would otherwise be both inputs, and
            # MLMD keeps one event per artifact (the `examples` one would be lost)
            window_examples=training_examples if span_resolver is not None else None,
            serving_dir=params.get("serving_dir", serving_dir),
            tflite_variants=config.export.tflite_variants,
            min_agreement=dict(config.export.min_agreement),
            max_probability_diff=dict(config.export.max_probability_diff),
            parity_examples=config.export.parity_examples, parity_split=VALIDATION,
            held_out_split=TEST,
            probability_diff_fraction=config.export.probability_diff_fraction,
            seed=config.seed, litert_python=config.export.litert_python,
            latency_runs=config.export.latency_runs,
            run_info={"profile": config.profile, "weights_source": weights_source,
                      "class_names": list(d.class_names), "data_root": data_root,
                      "data_patterns": sorted(set(config.split_layout.patterns.values())),
                      "splits": config.split_layout.description,
                      "config": resolved_config(config, data_root)})
    resolvers = [r for r in (span_resolver, warm_start_resolver) if r is not None]
    return [example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate,
            *resolvers, transform, tuner, trainer, model_resolver, evaluator, pusher]


def resolved_config(config: PipelineConfig, data_root: str) -> Dict[str, Any]:
    """The config as report.json / report.html record it ("Resolved config"): its paths as the
    run read them (`data.root` absolute, or the data root a compiled pipeline reads;
    `data.schema_path` absolute), not relative to a working directory the reader does not know
    (helper-67)."""
    values = config.to_dict()
    values["data"] = {**values["data"], "root": data_root,
                      "schema_path": config.schema_path}
    return values


def baseline_model_resolver(trainer: Any, kubeflow: bool) -> Any:
    """The Evaluator's baseline: the latest blessed model other than this run's candidate
    (pipeline/resolvers.BaselineModelStrategy, runs after the Trainer); compiled for Kubeflow /
    Vertex, TFX's LatestBlessedModelStrategy (the only model strategy KFP v2 compiles)."""
    channels = {"model": Channel(type=standard_artifacts.Model),
                "model_blessing": Channel(type=standard_artifacts.ModelBlessing)}
    if kubeflow:
        strategy = LatestBlessedModelStrategy
    else:
        from pipeline.resolvers import BaselineModelStrategy
        strategy = BaselineModelStrategy
        channels["candidate"] = trainer.outputs["model"]
    return Resolver(strategy_class=strategy, **channels).with_id(
        "latest_blessed_model_resolver")


def create_pipeline(config: PipelineConfig, metadata_connection_config: Any = None,
                    weights: Optional[Tuple[Optional[str], str]] = None) -> Pipeline:
    """The TFX pipeline for `config`; MLMD defaults to SQLite at `config.metadata_path`."""
    weights_path, weights_source = (weights if weights is not None
                                    else resolve_weights(config, pin=True))
    if metadata_connection_config is None:
        os.makedirs(config.output_root, exist_ok=True)
        metadata_connection_config = metadata.sqlite_metadata_connection_config(
            config.metadata_path)
    return Pipeline(
        pipeline_name=config.pipeline_name, pipeline_root=config.pipeline_root,
        components=create_components(config, weights_path, weights_source),
        enable_cache=True, metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(config.beam_pipeline_args))
