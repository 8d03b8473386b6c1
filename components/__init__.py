"""Custom TFX components (ImageExampleGen, AnomaliesGate, TrialsTuner, ExportPusher) and the
Evaluator's gate definitions.

Importing this package sets TF_USE_LEGACY_KERAS=1 before any executor imports TensorFlow, so TFT
and tfmot get Keras 2 (tf_keras), as in `modules` and `pipeline`.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
