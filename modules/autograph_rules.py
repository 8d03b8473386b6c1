"""AutoGraph leaves Keras's own code alone, as it did when Keras shipped inside TensorFlow.

TensorFlow 2.16's AutoGraph has a `DoNotConvert('keras')` rule but none for `tf_keras`, the Keras 2
package this project builds with, so the first `fit` / `predict` / `evaluate` in a process
converted ~2,000 tf_keras functions (engine, utils, optimizers, metrics) source to source: about
15 s of the Tuner's first trial on 2 cores, and again in every process that traces a model.
Keras 2 is written to be traced as is; later TensorFlow releases list `tf_keras` beside `keras`.
`exclude_tf_keras` adds the same rule (idempotent); modules/training.py calls it on import.
"""
from tensorflow.python.autograph.core import config as autograph_config


def exclude_tf_keras() -> None:
    """Puts `DoNotConvert('tf_keras')` first among AutoGraph's conversion rules (once)."""
    rules = autograph_config.CONVERSION_RULES
    if any(isinstance(rule, autograph_config.DoNotConvert) and rule.matches("tf_keras")
           for rule in rules):
        return
    autograph_config.CONVERSION_RULES = (autograph_config.DoNotConvert("tf_keras"),) + rules
