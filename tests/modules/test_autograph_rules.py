"""modules/autograph_rules.py: AutoGraph leaves tf_keras's code alone (as TensorFlow's own rule
for `keras` does), still converts the project's, and the rule is added once."""
import tf_keras
from tensorflow.python.autograph.core import config as autograph_config
from tensorflow.python.autograph.impl import conversion

import modules.training  # noqa: F401  (adds the rule on import)
from modules import autograph_rules
from modules.model import VGGPreprocess


def _tf_keras_rules():
    return [r for r in autograph_config.CONVERSION_RULES
            if isinstance(r, autograph_config.DoNotConvert) and r.matches("tf_keras")]


def test_tf_keras_is_not_converted_and_the_project_still_is():
    assert conversion.is_allowlisted(tf_keras.Model.train_step)
    assert conversion.is_allowlisted(tf_keras.layers.Dense.call)
    assert not conversion.is_allowlisted(VGGPreprocess.call)


def test_the_rule_is_added_once():
    autograph_rules.exclude_tf_keras()
    autograph_rules.exclude_tf_keras()
    assert len(_tf_keras_rules()) == 1
