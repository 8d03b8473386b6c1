"""Compiling and fitting the transfer model: shared by the Tuner's trials and the Trainer."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from typing import Dict  # noqa: E402

import tf_keras  # noqa: E402


def compile_model(model: tf_keras.Model, learning_rate: float, num_classes: int) -> None:
    """Adam + cross-entropy; metrics `accuracy` and `auc` (binary: of P(label == 1))."""
    if num_classes == 2:
        loss = tf_keras.losses.BinaryCrossentropy()
        metrics = [tf_keras.metrics.BinaryAccuracy(name="accuracy"),
                   tf_keras.metrics.AUC(name="auc")]
    else:
        loss = tf_keras.losses.SparseCategoricalCrossentropy()
        metrics = [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate=learning_rate), loss=loss,
                  metrics=metrics)


def evaluate(model: tf_keras.Model, dataset) -> Dict[str, float]:
    """{'loss': ..., 'accuracy': ..., 'auc': ...} on `dataset`."""
    return {k: float(v) for k, v in model.evaluate(dataset, verbose=0, return_dict=True).items()}
