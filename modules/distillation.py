"""Soft targets from the dense model for the pruning fine-tune (knowledge distillation, Hinton
et al. 2015, at temperature 1: the models end in softmax / sigmoid, so their probabilities are
the targets).

`Distiller` wraps the model being pruned (the student) and a frozen copy of it taken before
pruning (the teacher). Each training step fits the student to
`(1 - weight) * y + weight * teacher(x)` — y one-hot [batch, classes] (multi-class) or the 0/1
label [batch, 1] (binary, one sigmoid unit) — so the loss is
`(1 - weight) * CE(y, student) + weight * CE(teacher, student)`; class weights arrive as sample
weights, as in a plain fit. The teacher is called with `training=False`: augmentation layers in
the model (`aug_*`) are skipped for it, so it scores the un-augmented image. Evaluation (the
validation loss that early stopping reads) and the reported `loss` and metrics use the hard
labels only, as the plain fine-tune's do.
"""
from typing import Optional

import tensorflow as tf
import tf_keras


def frozen_copy(model: tf_keras.Model) -> tf_keras.Model:
    """A copy of `model` (same architecture and weights), not trainable: the teacher."""
    copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.trainable = False
    return copy


def soft_targets(labels: tf.Tensor, teacher_probs: tf.Tensor, weight: float) -> tf.Tensor:
    """(1 - weight) * labels + weight * teacher_probs, labels as integer classes [batch] or
    [batch, 1]; teacher_probs [batch, classes] (softmax) or [batch, 1] (binary sigmoid). Returns
    float32 targets of teacher_probs' shape."""
    probs = tf.cast(teacher_probs, tf.float32)
    if probs.shape[-1] == 1:
        hard = tf.reshape(tf.cast(labels, tf.float32), tf.shape(probs))
    else:
        hard = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), probs.shape[-1],
                          dtype=tf.float32)
    return (1.0 - weight) * hard + weight * probs


class Distiller(tf_keras.Model):
    """Trains `student` on soft targets from `teacher` (see the module doc); calling it calls the
    student. Compile it with the student's loss and metrics (`training.compile_model`): they
    score the hard labels."""

    def __init__(self, student: tf_keras.Model, teacher: tf_keras.Model, weight: float,
                 name: Optional[str] = "distiller"):
        super().__init__(name=name)
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"distillation weight: expected 0 < weight <= 1, got {weight}")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.weight = float(weight)

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def train_step(self, data):
        x, y, sample_weight = tf_keras.utils.unpack_x_y_sample_weight(data)
        teacher_probs = self.teacher(x, training=False)
        target = soft_targets(y, teacher_probs, self.weight)
        soft_loss = (tf_keras.losses.BinaryCrossentropy() if target.shape[-1] == 1
                     else tf_keras.losses.CategoricalCrossentropy())
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = soft_loss(target, tf.cast(y_pred, tf.float32), sample_weight=sample_weight)
            if self.losses:
                loss += tf.add_n(self.losses)
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        # the reported loss and metrics: hard labels, as the plain fit's
        self.compiled_loss(y, y_pred, sample_weight, regularization_losses=self.losses)
        return self.compute_metrics(x, y, y_pred, sample_weight)
