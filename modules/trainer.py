"""TFX Trainer `run_fn`: VGG16 transfer learning, magnitude pruning with retraining, export.

Phase 1 trains the head on a frozen ImageNet base (or the whole network when `weights: none`:
a frozen random base learns nothing). Then the head (and any trainable conv layers) is wrapped with
`prune_low_magnitude` and fine-tuned with `UpdatePruningStep`; `strip_pruning` runs before export.
Writes `<model>/Format-Serving` (signatures in modules/export.py) and `<model>/training_summary.json`.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import json  # noqa: E402
import time  # noqa: E402
from typing import Any, Dict  # noqa: E402

import keras_tuner  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras  # noqa: E402
from absl import logging  # noqa: E402

from modules import export, pruning  # noqa: E402
from modules.augmentation import AugmentationConfig  # noqa: E402
from modules.data import make_dataset  # noqa: E402
from modules.model import HEAD_LAYER_NAMES, build_model, set_base_trainable  # noqa: E402
from modules.training import compile_model, evaluate  # noqa: E402

SUMMARY_FILE = "training_summary.json"


def chosen_hyperparameters(fn_args, custom_config: Dict[str, Any]) -> Dict[str, Any]:
    """The Tuner's best values (learning_rate, batch_size, ...) over the config's defaults."""
    values = {"learning_rate": float(custom_config["learning_rate"]),
              "batch_size": int(custom_config["batch_size"])}
    source = "config"
    if fn_args.hyperparameters:
        hp = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)
        values.update(hp.values)
        source = "tuner"
    values["source"] = source
    return values


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor)."""
    cfg = fn_args.custom_config
    seed = int(cfg["seed"])
    tf_keras.utils.set_random_seed(seed)
    hp = chosen_hyperparameters(fn_args, cfg)
    num_classes = len(cfg["class_names"])
    batch_size = int(hp["batch_size"])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train_ds = make_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output,
                            batch_size, shuffle=True, seed=seed)
    eval_ds = make_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                           batch_size)
    weights_path = cfg.get("weights_path") or None
    model = build_model(int(cfg["image_size"]), num_classes, weights_path=weights_path,
                        head_units=int(hp.get("head_units", cfg["head_units"])),
                        dropout=float(hp.get("dropout", cfg["dropout"])),
                        base_trainable=weights_path is None,
                        augmentation=AugmentationConfig(**cfg.get("augmentation", {})),
                        seed=seed)
    started = time.time()
    compile_model(model, hp["learning_rate"], num_classes)
    history = model.fit(train_ds, validation_data=eval_ds, epochs=int(cfg["epochs"]), verbose=2)
    summary: Dict[str, Any] = {
        "hyperparameters": hp, "weights_path": weights_path,
        "weights_source": cfg.get("weights_source", "none"),
        "phase1": {"epochs": int(cfg["epochs"]), "history": _history(history),
                   "eval": evaluate(model, eval_ds)},
    }

    if weights_path and cfg.get("fine_tune", {}).get("unfreeze_blocks", 0) > 0:
        summary["phase2"] = _gradual_unfreezing(model, cfg["fine_tune"], num_classes, train_ds,
                                                eval_ds)
    prune_cfg = cfg.get("pruning", {})
    if prune_cfg.get("enabled", False):
        # Unfrozen conv layers are fine-tuned at phase 2's lower learning rate, never phase 1's.
        prune_lr = (float(cfg["fine_tune"]["learning_rate"]) if "phase2" in summary
                    else float(hp["learning_rate"]))
        model, summary["pruning"] = _prune_and_fine_tune(model, prune_cfg, prune_lr, num_classes,
                                                         train_ds, eval_ds, fn_args.model_run_dir)
    summary["train_seconds"] = round(time.time() - started, 1)
    summary["final_eval"] = evaluate_stripped(model, eval_ds, hp["learning_rate"], num_classes)
    logging.info("Training summary: %s", json.dumps(summary, default=str))

    export.export_serving_model(model, tf_transform_output, fn_args.serving_model_dir)
    model_dir = os.path.dirname(fn_args.serving_model_dir.rstrip("/"))
    with tf.io.gfile.GFile(os.path.join(model_dir, SUMMARY_FILE), "w") as f:
        f.write(json.dumps(summary, indent=2, default=str))


def _gradual_unfreezing(model, ft_cfg, num_classes, train_ds, eval_ds) -> Dict[str, Any]:
    """Phase 2: unfreeze the top 1, 2, ... `unfreeze_blocks` conv blocks, one step each.

    Each step recompiles with the lower learning rate and trains up to `epochs_per_step` epochs
    with early stopping on the eval split's loss (best weights restored).
    """
    steps = []
    for blocks in range(1, int(ft_cfg["unfreeze_blocks"]) + 1):
        unfrozen = set_base_trainable(model, True, top_blocks=blocks)
        compile_model(model, float(ft_cfg["learning_rate"]), num_classes)
        history = model.fit(train_ds, validation_data=eval_ds, verbose=2,
                            epochs=int(ft_cfg["epochs_per_step"]), callbacks=[
                                tf_keras.callbacks.EarlyStopping(
                                    monitor="val_loss", patience=int(ft_cfg["patience"]),
                                    restore_best_weights=True)])
        steps.append({"unfrozen_blocks": blocks, "trainable_conv_layers": unfrozen,
                      "history": _history(history), "eval": evaluate(model, eval_ds)})
    return {"learning_rate": float(ft_cfg["learning_rate"]), "steps": steps}


def _prune_and_fine_tune(model, prune_cfg, learning_rate, num_classes, train_ds, eval_ds, log_dir):
    """Wraps the trainable Dense/Conv layers for pruning, fine-tunes, strips. Returns (model, info)."""
    layer_names = [l.name for l in model.layers
                   if l.trainable and l.weights and (l.name in HEAD_LAYER_NAMES or
                                                     l.name.startswith("block"))]
    steps_per_epoch = int(tf.data.experimental.cardinality(train_ds).numpy())
    if steps_per_epoch < 0:  # unknown cardinality
        steps_per_epoch = sum(1 for _ in train_ds)
    epochs = int(prune_cfg.get("fine_tune_epochs", 1))
    schedule = pruning.PruningSchedule(
        kind=prune_cfg.get("schedule", "constant"),
        target_sparsity=float(prune_cfg["target_sparsity"]),
        initial_sparsity=float(prune_cfg.get("initial_sparsity", 0.0)),
        begin_step=int(prune_cfg.get("begin_step", 0)),
        end_step=int(prune_cfg.get("end_step", -1)),
        frequency=int(prune_cfg.get("frequency", 100)),
    ).build(total_steps=steps_per_epoch * epochs)
    pruned = pruning.apply_pruning(model, layer_names, schedule)
    compile_model(pruned, learning_rate, num_classes)
    history = pruned.fit(train_ds, validation_data=eval_ds, epochs=epochs, verbose=2, callbacks=[
        pruning.sparsity.UpdatePruningStep(),
        pruning.sparsity.PruningSummaries(log_dir=os.path.join(log_dir, "pruning"))])
    stripped = pruning.strip_pruning(pruned)
    info = {"layers": layer_names, "learning_rate": learning_rate,
            "target_sparsity": float(prune_cfg["target_sparsity"]),
            "fine_tune_epochs": epochs, "history": _history(history),
            "layer_sparsity": pruning.layer_sparsity(stripped, layer_names),
            "overall_sparsity": pruning.overall_sparsity(stripped, layer_names)}
    return stripped, info


def evaluate_stripped(model, eval_ds, learning_rate: float, num_classes: int) -> Dict[str, float]:
    """Metrics of the final (stripped) model, recompiled so its metrics are fresh."""
    compile_model(model, learning_rate, num_classes)
    return evaluate(model, eval_ds)


def _history(history) -> Dict[str, Any]:
    return {k: [round(float(v), 5) for v in vals] for k, vals in history.history.items()}
