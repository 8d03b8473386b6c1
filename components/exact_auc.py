"""`ExactAUC`: a TFMA metric, the exact ROC AUC for the Evaluator's AUC gate.

TFMA's own `AUC` buckets predictions into linearly spaced thresholds (10,000 by default). A
confident model's probabilities crowd the top bucket (many are 0.9999... or exactly 1.0 in
float32), and every positive/negative pair inside one bucket counts half, so the bucketed value
reads low: 0.02-0.03 below the exact AUC at 10,000 thresholds on the pipeline's small easy trees
(`benchmarks/auc_thresholds.py`), enough to fail a gate the model passes. This metric keeps every
(label, prediction, weight) of the slice and computes the Mann-Whitney statistic
(`modules.metrics.binary_auc`: ties count half, O(N log N)), so the gate's value is exact.

It is a binary metric like TFMA's `AUC`: on a [N, 1] sigmoid model it is the AUC of P(class 1);
with TFMA's `macro_average` aggregation (class weights for every class id) TFMA calls it once per
class id on the one-vs-rest binarization and averages, as for `AUC`. Its metric key is named
`auc`, so summaries and reports read it where they read TFMA's. A slice without positives or
without negatives (e.g. the per-class slices) has no AUC: NaN.

Memory: 3 floats per example and class id per slice (about 70 MB for 1M test examples x 3
classes); the jackknife of the change gate merges copies, never the inputs in place.

Used in the EvalConfig as `MetricConfig(class_name="ExactAUC", module="components.exact_auc")`;
TFMA imports this module in the Evaluator (locally and in the pipeline's container image).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

from modules.metrics import binary_auc

NAME = "auc"


class ExactAUC(metric_types.Metric):
    """Exact ROC AUC (see the module docstring)."""

    def __init__(self, name: str = NAME):
        super().__init__(metric_util.merge_per_key_computations(_exact_auc), name=name)


metric_types.register_metric(ExactAUC)


def _exact_auc(name: str = NAME, eval_config: Optional[config_pb2.EvalConfig] = None,
               model_name: str = "", output_name: str = "",
               sub_key: Optional[metric_types.SubKey] = None,
               aggregation_type: Optional[metric_types.AggregationType] = None,
               class_weights: Optional[Dict[int, float]] = None,
               example_weighted: bool = False) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 sub_key=sub_key, example_weighted=example_weighted)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=None,
        combiner=_ExactAUCCombiner(key, eval_config, aggregation_type, class_weights,
                                   example_weighted))]


class _Pairs:
    """Accumulator: the binary labels, predictions and example weights seen, as lists."""
    __slots__ = ("labels", "predictions", "weights")

    def __init__(self):
        self.labels: List[float] = []
        self.predictions: List[float] = []
        self.weights: List[float] = []


class _ExactAUCCombiner(beam.CombineFn):
    def __init__(self, key: metric_types.MetricKey,
                 eval_config: Optional[config_pb2.EvalConfig],
                 aggregation_type: Optional[metric_types.AggregationType],
                 class_weights: Optional[Dict[int, float]], example_weighted: bool):
        self._key = key
        self._eval_config = eval_config
        self._aggregation_type = aggregation_type
        self._class_weights = class_weights
        self._example_weighted = example_weighted

    def create_accumulator(self) -> _Pairs:
        return _Pairs()

    def add_input(self, accumulator: _Pairs,
                  element: metric_types.StandardMetricInputs) -> _Pairs:
        for label, prediction, weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name, sub_key=self._key.sub_key,
                aggregation_type=self._aggregation_type, class_weights=self._class_weights,
                example_weighted=self._example_weighted, flatten=True):
            accumulator.labels.append(float(metric_util.safe_to_scalar(label)))
            accumulator.predictions.append(float(metric_util.safe_to_scalar(prediction)))
            accumulator.weights.append(float(metric_util.safe_to_scalar(weight)))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_Pairs]) -> _Pairs:
        merged = _Pairs()  # a new one: the jackknife merges the same partitions many times
        for accumulator in accumulators:
            merged.labels.extend(accumulator.labels)
            merged.predictions.extend(accumulator.predictions)
            merged.weights.extend(accumulator.weights)
        return merged

    def extract_output(self, accumulator: _Pairs) -> Dict[metric_types.MetricKey, float]:
        value = binary_auc(np.asarray(accumulator.predictions),
                           np.asarray(accumulator.labels) > 0.5,
                           np.asarray(accumulator.weights)) if accumulator.labels else None
        return {self._key: float("nan") if value is None else value}
