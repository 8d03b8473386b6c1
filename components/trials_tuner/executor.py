"""TFX Tuner executor plus the trials report (trials.json/csv/png) in the `tuner_results` artifact.

Same search and outputs as `tfx.components.tuner.executor.Executor` (best_hyperparameters.txt,
tuner_results.json); the base `Do` does not hand back the tuner, so `Do` is repeated here with the
base module's own `search` and `write_best_hyperparameters`, then the report is written.
"""
from typing import Any, Dict, List

from tfx import types
from tfx.components.tuner import executor as tuner_executor
from tfx.types import artifact_utils, standard_component_specs

from modules import tuning_report


class Executor(tuner_executor.Executor):
    """Local, sequential trials (TuneArgs / parallel trials belong to the Vertex Tuner)."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        if tuner_executor.get_tune_args(exec_properties):
            raise ValueError("TuneArgs (parallel trials) are not supported locally; "
                             "use the Vertex Tuner (tuner.parallel_trials > 1, target vertex)")
        tuner = tuner_executor.search(input_dict, exec_properties, self._get_tmp_dir())
        tuner_executor.write_best_hyperparameters(tuner, output_dict)
        results_uri = artifact_utils.get_single_uri(
            output_dict[standard_component_specs.TUNER_RESULTS_KEY])
        tuning_report.write_trials_report(tuning_report.trial_rows(tuner), results_uri)
