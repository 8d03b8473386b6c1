"""Compiling and fitting the transfer model: shared by the Tuner's trials and the Trainer."""


from typing import Any, Dict, Optional, Sequence

import numpy as np
import tf_keras

from modules.autograph_rules import exclude_tf_keras

exclude_tf_keras()  # before any model is traced (modules/autograph_rules.py)


def compile_model(model: tf_keras.Model, learning_rate: float, num_classes: int,
                  jit_compile: bool = False) -> None:
    """Adam + cross-entropy; metrics `accuracy` and `auc` (binary: of P(label == 1)).

    A model with float16 layers (`trainer.mixed_precision: float16`) gets Adam inside a dynamic
    LossScaleOptimizer (small float16 gradients would underflow); bfloat16 needs none.
    `jit_compile` (`trainer.jit_compile`) compiles the train/eval steps with XLA. Call it inside
    the distribution strategy's scope (modules/distribution.py) when there is one.
    """
    if num_classes == 2:
        loss = tf_keras.losses.BinaryCrossentropy()
        metrics = [tf_keras.metrics.BinaryAccuracy(name="accuracy"),
                   tf_keras.metrics.AUC(name="auc")]
    else:
        loss = tf_keras.losses.SparseCategoricalCrossentropy()
        metrics = [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    optimizer = tf_keras.optimizers.Adam(learning_rate=learning_rate)
    if any(getattr(getattr(layer, "dtype_policy", None), "name", "") == "mixed_float16"
           for layer in model.layers):
        optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=bool(jit_compile))


def evaluate(model: tf_keras.Model, dataset) -> Dict[str, float]:
    """{'loss': ..., 'accuracy': ..., 'auc': ...} on `dataset`."""
    return {k: float(v) for k, v in model.evaluate(dataset, verbose=0, return_dict=True).items()}


def evaluate_stripped(model: tf_keras.Model, dataset, learning_rate: float, num_classes: int,
                      jit_compile: bool = False) -> Dict[str, float]:
    """`evaluate` on a model just stripped of its compression wrappers, recompiled first so its
    metrics start fresh."""
    compile_model(model, learning_rate, num_classes, jit_compile=jit_compile)
    return evaluate(model, dataset)


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


def early_stopping(patience: int, start_from_epoch: int = 0) -> list:
    """[EarlyStopping on the validation loss, best weights restored, epochs before
    `start_from_epoch` (0-based) neither counted nor selected] when patience > 0, else []."""
    if patience <= 0:
        return []
    return [tf_keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(patience),
                                             restore_best_weights=True,
                                             start_from_epoch=int(start_from_epoch))]


def history_dict(history) -> Dict[str, Any]:
    """A Keras `History` as {metric: [per-epoch values, rounded to 5 digits]} (JSON-ready)."""
    return {k: [round(float(v), 5) for v in vals] for k, vals in history.history.items()}
