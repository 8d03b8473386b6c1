"""TrialsTuner: TFX's standard Tuner that also writes the trials report into `tuner_results`."""
from components.trials_tuner.component import TrialsTuner

__all__ = ["TrialsTuner"]
