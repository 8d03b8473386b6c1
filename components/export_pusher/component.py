"""ExportPusher component: pushes a blessed model as SavedModel + TFLite variants + report.json.

Extends TFX's Pusher (same inputs and blessing check, same PushedModel output) instead of adding an
exporter before it, so the conversion work is only done for blessed models and the push stays one
step that is atomic and recorded in MLMD like a standard push.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional, Sequence

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.types.system_executions import Deploy

from components.export_pusher import executor
from modules import tflite_variants as variant_table
from modules.configs import ExportConfig


class ExportPusherSpec(ComponentSpec):
    PARAMETERS = {
        "serving_dir": ExecutionParameter(type=str),
        "tflite_variants": ExecutionParameter(type=str),      # JSON list of variant names
        "min_agreement": ExecutionParameter(type=str),        # JSON {variant: fraction}
        "parity_examples": ExecutionParameter(type=int),      # examples per sample (stratified)
        "run_info": ExecutionParameter(type=str, optional=True),  # JSON, copied into report.json
        # JSON {variant: max |p - p_savedmodel|}; missing variants use the table's default
        "max_probability_diff": ExecutionParameter(type=str, optional=True),
        "parity_split": ExecutionParameter(type=str, optional=True),  # the gate's split
        # the split the report's metrics and confusion matrix come from ('' : parity_split)
        "held_out_split": ExecutionParameter(type=str, optional=True),
        # fraction of the gate's examples whose probabilities must be within max_probability_diff
        "probability_diff_fraction": ExecutionParameter(type=float, optional=True),
        "seed": ExecutionParameter(type=int, optional=True),  # the stratified samples' seed
        # Python of the LiteRT environment ('' : .venv-litert/bin/python under the project)
        "litert_python": ExecutionParameter(type=str, optional=True),
        "latency_runs": ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
        "transformed_examples": ChannelParameter(type=standard_artifacts.Examples),
        "transform_graph": ChannelParameter(type=standard_artifacts.TransformGraph),
        "model_evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation,
                                             optional=True),
        # ImageExampleGen's output: its data checks (quarantined files, leakage) go in the report
        "examples": ChannelParameter(type=standard_artifacts.Examples, optional=True),
        # What Transform read (the span window's raw Examples, one per span): which of its
        # transformed_examples is the newest span's (they carry no span of their own)
        "window_examples": ChannelParameter(type=standard_artifacts.Examples, optional=True),
        # The Tuner's trials (trials.json/.csv/.png), copied into the version and its report.
        "tuner_results": ChannelParameter(type=standard_artifacts.TunerResults, optional=True),
    }
    OUTPUTS = {
        "pushed_model": ChannelParameter(type=standard_artifacts.PushedModel),
    }
    TYPE_ANNOTATION = Deploy


class ExportPusher(base_component.BaseComponent):
    """Blessed model -> `<serving_dir>/<version>/{saved_model/, model_<variant>.tflite,
    labels.txt, MODEL.md, report.json, report.html, report_files/, tuner/}`.

    Each variant (modules/tflite_variants.py) is pushed only when it passes the parity gate
    (components/export_pusher/parity.py) in TensorFlow's interpreter and in standalone LiteRT,
    on a stratified sample of `parity_examples` examples of `parity_split` (the pipeline passes
    its validation split: the gate decides what is pushed). The report's metrics, per-class
    precision/recall and confusion matrix come from a sample of `held_out_split` (the pipeline
    passes test), which decides nothing.

    `run_info` (JSON) is copied into report.json; the report reads `weights_source`,
    `class_names`, `data_root` and `data_patterns` (for the data manifest hash) and `config`
    from it.
    """
    SPEC_CLASS = ExportPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: channel.BaseChannel, transformed_examples: channel.BaseChannel,
                 transform_graph: channel.BaseChannel, serving_dir: str,
                 model_blessing: Optional[channel.BaseChannel] = None,
                 model_evaluation: Optional[channel.BaseChannel] = None,
                 tuner_results: Optional[channel.BaseChannel] = None,
                 examples: Optional[channel.BaseChannel] = None,
                 window_examples: Optional[channel.BaseChannel] = None,
                 tflite_variants: Sequence[str] = variant_table.DEFAULT_VARIANTS,
                 min_agreement: Optional[Dict[str, float]] = None,
                 parity_examples: int = 1000, run_info: Optional[Dict[str, Any]] = None,
                 max_probability_diff: Optional[Dict[str, float]] = None,
                 parity_split: str = "eval", seed: int = 0, litert_python: str = "",
                 latency_runs: int = 50, held_out_split: str = "",
                 probability_diff_fraction: float = ExportConfig.probability_diff_fraction):
        for name in tflite_variants:
            variant_table.variant(name)  # ValueError naming the known variants
        spec = ExportPusherSpec(
            model=model, model_blessing=model_blessing, transformed_examples=transformed_examples,
            transform_graph=transform_graph, model_evaluation=model_evaluation,
            tuner_results=tuner_results, examples=examples, window_examples=window_examples,
            serving_dir=serving_dir, tflite_variants=json.dumps(list(tflite_variants)),
            min_agreement=json.dumps(min_agreement or {}), parity_examples=int(parity_examples),
            max_probability_diff=json.dumps(max_probability_diff or {}),
            parity_split=parity_split, held_out_split=held_out_split,
            probability_diff_fraction=float(probability_diff_fraction),
            seed=int(seed), litert_python=litert_python,
            latency_runs=int(latency_runs),
            run_info=json.dumps(run_info or {}, sort_keys=True),
            pushed_model=channel.Channel(type=standard_artifacts.PushedModel))
        super().__init__(spec=spec)
