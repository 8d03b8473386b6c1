"""Warm start: initialise a freshly built model from a previous model's weights, layer by layer.

The Trainer's `base_model` (fn_args.base_model) is a previous run's serving SavedModel (Keras
format, written by modules/export.py). Its layers are matched to the new model's by name; a layer
whose weight shapes differ (e.g. another image size or head width) keeps its fresh initialisation
and is listed in the result, so a config change never fails a warm-started run.
"""


from typing import Any, Dict

import tf_keras
from absl import logging


def warm_start(model: tf_keras.Model, base_model_dir: str) -> Dict[str, Any]:
    """Copies weights of same-named, same-shaped layers from the SavedModel at `base_model_dir`.

    Returns {'base_model', 'copied': [layer names], 'skipped': {layer: reason}}.
    """
    base = tf_keras.models.load_model(base_model_dir, compile=False)
    base_layers = {layer.name: layer for layer in base.layers}
    copied, skipped = [], {}
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        source = base_layers.get(layer.name)
        if source is None:
            skipped[layer.name] = "not in the base model"
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
