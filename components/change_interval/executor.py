"""TFX's Evaluator executor, with TFMA's confidence intervals when there is a baseline.

The change gate compares the candidate with the baseline on the same test images; a drop of a
point on a few hundred images is often within what the choice of images alone moves. With a
baseline, TFMA's jackknife (20 buckets) then gives every metric, the candidate - baseline
difference included, a 95 % interval from those same examples (paired: both models on each
example), which the run summary prints beside the gate. The blessing is unchanged: TFMA checks
thresholds on the point values. Without a baseline (a first run) nothing changes and nothing
is spent; with one, the Evaluator takes longer (docs/pipeline.md gives a measured figure).
"""
from __future__ import annotations

from typing import Any, Dict, List

from tfx import types
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils


def with_confidence_intervals(eval_config_json: str) -> str:
    """The EvalConfig JSON (as TFX passes it) with options.compute_confidence_intervals set."""
    import tensorflow_model_analysis as tfma
    config = tfma.EvalConfig()
    proto_utils.json_to_proto(eval_config_json, config)
    config.options.compute_confidence_intervals.value = True
    return proto_utils.proto_to_json(config)


class Executor(tfx_evaluator.Executor):
    """`tfx.components.Evaluator`'s executor; intervals on when a baseline model is given."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        if input_dict.get(specs.BASELINE_MODEL_KEY) and exec_properties.get(
                specs.EVAL_CONFIG_KEY):
            exec_properties = {**exec_properties, specs.EVAL_CONFIG_KEY: with_confidence_intervals(
                exec_properties[specs.EVAL_CONFIG_KEY])}
        super().Do(input_dict, output_dict, exec_properties)
