"""Compiling and fitting the transfer model: shared by the Tuner's trials and the Trainer."""


from typing import Dict, Optional, Sequence

import numpy as np
import tf_keras


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


def balanced_class_weight(labels: Sequence[int], num_classes: int) -> Dict[int, float]:
    """{class: n / (num_classes * n_class)} (scikit-learn's 'balanced'): each class contributes
    equally to the loss whatever its image count; classes absent from `labels` get 1.0."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=num_classes)
    total = counts.sum()
    return {c: (float(total) / (num_classes * counts[c]) if counts[c] else 1.0)
            for c in range(num_classes)}


def class_weight_for(mode: str, labels: Sequence[int], num_classes: int
                     ) -> Optional[Dict[int, float]]:
    """`trainer.class_weight`: 'balanced' -> balanced_class_weight, 'none' -> None."""
    if mode == "none":
        return None
    if mode == "balanced":
        return balanced_class_weight(labels, num_classes)
    raise ValueError(f"class_weight: expected 'balanced' or 'none', got {mode!r}")


def early_stopping(patience: int) -> list:
    """[EarlyStopping on the validation loss, best weights restored] when patience > 0, else []."""
    if patience <= 0:
        return []
    return [tf_keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(patience),
                                             restore_best_weights=True)]
