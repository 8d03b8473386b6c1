"""User module code that TFX loads by dotted path (preprocessing_fn, tuner_fn, run_fn, ...).

Importing this package sets TF_USE_LEGACY_KERAS=1 so TFT and tfmot get Keras 2 (tf_keras).
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
