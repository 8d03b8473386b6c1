"""`PredictedClassShares`: a TFMA metric, where a slice's test images went.

On each slice it reports, per class id k, the share of the slice's examples whose predicted class
is k (argmax of a [K] softmax; a [1] sigmoid output is class 1 when >= 0.5, as the gates and the
report decide). On the slice `class_name == c` that is row c of the confusion matrix: for a failed
`recall of 'c'` gate, the run summary says which classes c's test images were taken for, even
when nothing is pushed (a pushed version's report has the full confusion matrix). Keys: name
`predicted_as`, sub_key class_id k. It decides nothing (no threshold, no confidence interval).

Used in the EvalConfig as `MetricConfig(class_name="PredictedClassShares",
module="components.predicted_classes", config='{"num_classes": K}')`.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

NAME = "predicted_as"


class PredictedClassShares(metric_types.Metric):
    """Share of a slice's examples predicted as each class (see the module docstring)."""

    def __init__(self, num_classes: int = 2, name: str = NAME):
        super().__init__(_predicted_class_shares, num_classes=num_classes, name=name)

    @property
    def compute_confidence_interval(self) -> bool:
        return False  # a diagnostic: no interval


metric_types.register_metric(PredictedClassShares)


def _predicted_class_shares(num_classes: int, name: str = NAME,
                            eval_config: Optional[config_pb2.EvalConfig] = None,
                            model_names: Optional[List[str]] = None,
                            output_names: Optional[List[str]] = None,
                            example_weighted: bool = False) -> metric_types.MetricComputations:
    computations = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            keys = [metric_types.MetricKey(name=name, model_name=model_name,
                                           output_name=output_name,
                                           sub_key=metric_types.SubKey(class_id=k),
                                           example_weighted=example_weighted)
                    for k in range(num_classes)]
            computations.append(metric_types.MetricComputation(
                keys=keys, preprocessors=None,
                combiner=_SharesCombiner(keys, eval_config, model_name, output_name,
                                         example_weighted)))
    return computations


class _SharesCombiner(beam.CombineFn):
    """Accumulator: float64 [num_classes] weighted counts of predicted classes."""

    def __init__(self, keys: List[metric_types.MetricKey],
                 eval_config: Optional[config_pb2.EvalConfig], model_name: str,
                 output_name: str, example_weighted: bool):
        self._keys = keys
        self._eval_config = eval_config
        self._model_name = model_name
        self._output_name = output_name
        self._example_weighted = example_weighted

    def create_accumulator(self) -> np.ndarray:
        return np.zeros(len(self._keys))

    def add_input(self, accumulator: np.ndarray,
                  element: metric_types.StandardMetricInputs) -> np.ndarray:
        for _, prediction, weight in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._model_name,
                output_name=self._output_name, example_weighted=self._example_weighted,
                flatten=False, allow_none=True):
            scores = np.asarray(prediction, np.float64).ravel()
            k = int(scores[0] >= 0.5) if scores.size == 1 else int(np.argmax(scores))
            if k < len(accumulator):
                accumulator[k] += float(np.sum(weight))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        return np.sum([np.asarray(a) for a in accumulators], axis=0)  # a new array

    def extract_output(self, accumulator: np.ndarray) -> Dict[metric_types.MetricKey, float]:
        total = float(np.sum(accumulator))
        return {key: (float(accumulator[k]) / total if total else float("nan"))
                for k, key in enumerate(self._keys)}
