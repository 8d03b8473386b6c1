"""Warm start: initialise a freshly built model from a previous model's weights, layer by layer.

The Trainer's `base_model` (fn_args.base_model) is a previous run's serving SavedModel (Keras
format, written by modules/export.py). Its layers are matched to the new model's by name; a layer
whose weight shapes differ (e.g. another image size or head width) keeps its fresh initialisation
and is listed in the result, so a config change never fails a warm-started run. The output layer
(`predictions`) is copied only when the base model was trained on the same class names in the same
order (its `training_summary.json`, beside the SavedModel): a class replaced by another of the same
count would otherwise start from the old class's weights.
"""


import os
from typing import Any, Dict, List, Optional, Sequence

import tf_keras
from absl import logging

from modules.class_names import trained_class_names
from modules.layer_names import OUTPUT_LAYER_NAME as OUTPUT_LAYER


def base_class_names(base_model_dir: str) -> Optional[List[str]]:
    """The class names the base model was trained on: its Model folder's training_summary.json,
    the parent of its serving SavedModel `<model>/Format-Serving`; None when it records none."""
    return trained_class_names(os.path.dirname(base_model_dir.rstrip("/")))


def warm_start(model: tf_keras.Model, base_model_dir: str,
               class_names: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Copies weights of same-named, same-shaped layers from the SavedModel at `base_model_dir`;
    the output layer only when the base's recorded class names equal `class_names` (None: not
    checked; a base that records none: not copied).

    Returns {'base_model', 'copied': [layer names], 'skipped': {layer: reason}}.
    """
    base = tf_keras.models.load_model(base_model_dir, compile=False)
    base_layers = {layer.name: layer for layer in base.layers}
    base_names = base_class_names(base_model_dir) if class_names is not None else None
    copied, skipped = [], {}
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        source = base_layers.get(layer.name)
        if source is None:
            skipped[layer.name] = "not in the base model"
            continue
        if layer.name == OUTPUT_LAYER and class_names is not None \
                and base_names != list(class_names):
            skipped[layer.name] = (f"the base model was trained on the classes {base_names}, "
                                   f"this model on {list(class_names)}" if base_names else
                                   "the base model records no class names")
            continue
        source_weights = source.get_weights()
        if [w.shape for w in source_weights] != [w.shape for w in weights]:
            skipped[layer.name] = (f"shapes {[tuple(w.shape) for w in source_weights]} in the base "
                                   f"model, {[tuple(w.shape) for w in weights]} here")
            continue
        layer.set_weights(source_weights)
        copied.append(layer.name)
    logging.info("Warm start from %s: copied %s; skipped %s", base_model_dir, copied, skipped)
    return {"base_model": base_model_dir, "copied": copied, "skipped": skipped}
