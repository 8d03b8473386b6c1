"""`create_pipeline(config)`: the nine components wired into one TFX pipeline. No ML code here.

ImageExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator
                -> Transform -> Tuner -> Trainer -> Evaluator (vs latest blessed) -> ExportPusher
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import dataclasses  # noqa: E402
from typing import Any, Dict, List, Optional, Tuple  # noqa: E402

import tensorflow_model_analysis as tfma  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
from tfx.proto import example_gen_pb2  # noqa: E402

from components.export_pusher import ExportPusher  # noqa: E402
from components.image_example_gen import ImageExampleGen  # noqa: E402
from pipeline.config import PipelineConfig  # noqa: E402

PREPROCESSING_FN = "modules.preprocessing.preprocessing_fn"
TUNER_FN = "modules.tuning.tuner_fn"
RUN_FN = "modules.trainer.run_fn"


def resolve_weights(config: PipelineConfig) -> Tuple[Optional[str], str]:
    """(weights file path or None, source description) for `model.weights`."""
    choice = config.model.weights
    if choice == "none":
        return None, "none (random init; whole network trained)"
    from modules import weights  # local import: provisioning pulls in onnx only when needed
    if choice == "imagenet":
        info = weights.load_vgg16_weights_info() or weights.provision_vgg16_weights()
    else:
        info = weights.provision_vgg16_weights(weights_file=config.model.weights)
    return info.path, f"imagenet ({info.source})"


def module_config(config: PipelineConfig, weights_path: Optional[str],
                  weights_source: str) -> Dict[str, Any]:
    """The `custom_config` handed to tuner_fn and run_fn (plain JSON types only)."""
    t, tr, m = config.tuner, config.trainer, config.model
    return {
        "seed": config.seed,
        "class_names": list(config.data.class_names),
        "image_size": m.image_size,
        "head_units": m.head_units,
        "dropout": m.dropout,
        "weights_path": weights_path or "",
        "weights_source": weights_source,
        "epochs": tr.epochs,
        "learning_rate": t.learning_rate[0],
        "batch_size": t.batch_size[0],
        "fine_tune": dataclasses.asdict(tr.fine_tune),
        "pruning": dataclasses.asdict(tr.pruning),
        "augmentation": dataclasses.asdict(tr.augmentation),
        "strategy": t.strategy,
        "max_trials": t.max_trials,
        "tuner_epochs": t.epochs,
        "cv_folds": t.cv_folds,
        "search_space": {"learning_rate": list(t.learning_rate), "batch_size": list(t.batch_size)},
    }


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """Accuracy and AUC gates, plus 'not worse than the latest blessed model' on accuracy."""
    ev = config.evaluator
    binary = len(config.data.class_names) == 2
    accuracy = tfma.MetricConfig(
        class_name="BinaryAccuracy" if binary else "SparseCategoricalAccuracy",
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": ev.accuracy_lower_bound}),
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": -ev.max_accuracy_drop})))
    metrics = [tfma.MetricConfig(class_name="ExampleCount"), accuracy]
    if binary:
        metrics.append(tfma.MetricConfig(
            class_name="AUC", threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(lower_bound={"value": ev.auc_lower_bound}))))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key="label")],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=["class_name"])],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)])


def create_components(config: PipelineConfig, weights_path: Optional[str],
                      weights_source: str) -> List[Any]:
    """The pipeline's components in topological order."""
    d = config.data
    example_gen = ImageExampleGen(
        input_base=config.data_root, class_names=d.class_names,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="train", pattern=d.train_pattern),
            example_gen_pb2.Input.Split(name="eval", pattern=d.eval_pattern)]),
        max_quarantine_fraction=d.max_quarantine_fraction, max_image_pixels=d.max_image_pixels)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"],
                                          infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={"image_size": config.model.image_size})
    custom = module_config(config, weights_path, weights_source)
    tuner = tfx.components.Tuner(
        tuner_fn=TUNER_FN, examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]), custom_config=custom)
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN, examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        hyperparameters=tuner.outputs["best_hyperparameters"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]), custom_config=custom)
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"], eval_config=eval_config(config))
    pusher = ExportPusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        model_evaluation=evaluator.outputs["evaluation"],
        transformed_examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        serving_dir=config.serving_dir,
        tflite_variants=config.export.tflite_variants,
        min_agreement=dict(config.export.min_agreement),
        parity_examples=config.export.parity_examples,
        run_info={"profile": config.profile, "weights_source": weights_source,
                  "class_names": list(d.class_names), "data_root": config.data_root})
    return [example_gen, statistics_gen, schema_gen, example_validator, transform, tuner,
            trainer, model_resolver, evaluator, pusher]


def create_pipeline(config: PipelineConfig, metadata_connection_config: Any = None,
                    weights: Optional[Tuple[Optional[str], str]] = None) -> tfx.dsl.Pipeline:
    """The TFX pipeline for `config`; MLMD defaults to SQLite at `config.metadata_path`."""
    weights_path, weights_source = weights if weights is not None else resolve_weights(config)
    if metadata_connection_config is None:
        os.makedirs(config.output_root, exist_ok=True)
        metadata_connection_config = tfx.orchestration.metadata.sqlite_metadata_connection_config(
            config.metadata_path)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name, pipeline_root=config.pipeline_root,
        components=create_components(config, weights_path, weights_source),
        enable_cache=True, metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(config.beam_pipeline_args))
