"""TrialsTuner: `tfx.components.Tuner` with an executor that also writes the trials report.

TFX 1.16's Tuner takes no `custom_executor_spec` argument, so the executor is swapped the way
TFX's own Vertex Tuner does it: a subclass overriding `EXECUTOR_SPEC`. Inputs, outputs and
parameters are the standard Tuner's.
"""
from tfx.components.tuner import component as tuner_component
from tfx.dsl.components.base import executor_spec

from components.trials_tuner import executor


class TrialsTuner(tuner_component.Tuner):
    """Standard Tuner; `tuner_results` also holds trials.json, trials.csv and trials.png."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
