"""Assembles and runs the TFX pipeline (config, create_pipeline, runners, CLI). No ML code."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
