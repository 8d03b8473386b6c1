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

Memory: 24 bytes per example, per class id, slice and model (float64 label, prediction, weight
in numpy chunks): 1M test examples of 3 classes hold ~72 MB per slice and model for the macro
AUC, the per-class slices as much again, x2 with a baseline. Merges share the inputs' chunks
(never copy or modify them), so the change gate's jackknife adds no copies.

Used in the EvalConfig as `MetricConfig(class_name="ExactAUC", module="components.exact_auc")`;
TFMA imports this module in the Evaluator (locally and in the pipeline's container image).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

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
                                 sub_key=sub_key, aggregation_type=aggregation_type,
                                 example_weighted=example_weighted)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=None,
        combiner=_ExactAUCCombiner(key, eval_config, aggregation_type, class_weights,
                                   example_weighted))]


class _Pairs:
    """Accumulator: rows (label, prediction, example weight), as float64 [n, 3] chunks plus the
    rows added since the last chunk. Chunks are never modified once made, so merges share them."""
    __slots__ = ("chunks", "pending")
    CHUNK = 4096

    def __init__(self):
        self.chunks: List[np.ndarray] = []
        self.pending: List[Tuple[float, float, float]] = []

    def rows(self) -> np.ndarray:
        """All rows, [n, 3]."""
        parts = self.chunks + ([np.asarray(self.pending, np.float64)] if self.pending else [])
        return np.concatenate(parts) if parts else np.zeros((0, 3))


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
            accumulator.pending.append((float(metric_util.safe_to_scalar(label)),
                                        float(metric_util.safe_to_scalar(prediction)),
                                        float(metric_util.safe_to_scalar(weight))))
        if len(accumulator.pending) >= _Pairs.CHUNK:
            accumulator.chunks.append(np.asarray(accumulator.pending, np.float64))
            accumulator.pending = []
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_Pairs]) -> _Pairs:
        merged = _Pairs()  # a new one, sharing the inputs' chunks: the jackknife merges the same
        for accumulator in accumulators:  # partitions many times, and never copies rows here
            merged.chunks.extend(accumulator.chunks)
            if accumulator.pending:
                merged.chunks.append(np.asarray(accumulator.pending, np.float64))
        return merged

    def compact(self, accumulator: _Pairs) -> _Pairs:
        return self.merge_accumulators([accumulator])  # pending rows as a chunk, before a shuffle

    def extract_output(self, accumulator: _Pairs) -> Dict[metric_types.MetricKey, float]:
        rows = accumulator.rows()
        value = binary_auc(rows[:, 1], rows[:, 0] > 0.5, rows[:, 2]) if len(rows) else None
        return {self._key: float("nan") if value is None else value}
