"""TFX Trainer `run_fn`: VGG16 transfer learning, magnitude pruning with retraining, export.

Phase 1 trains the head on a frozen ImageNet base (or the whole network when `weights: none`:
a frozen random base learns nothing). Phase 2 unfreezes the top conv blocks one at a time at a
lower learning rate. Then the layers chosen by `pruning.layers` (default: the head and the
trainable conv layers) are wrapped with `prune_low_magnitude` and fine-tuned with
`UpdatePruningStep`; `strip_pruning` runs before export.
Writes `<model>/Format-Serving` (signatures in modules/export.py) and `<model>/training_summary.json`.
"""
import dataclasses
import json
import os
import time
from typing import Any, Dict, List, Optional

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from absl import logging

from modules import export, pruning
from modules.configs import FineTuneConfig, PruningConfig, RunConfig
from modules.data import labels_of_files, make_dataset
from modules.image_size import with_transform_image_size
from modules.layer_names import CONV_LAYER_NAMES, resolve_pruning_layers
from modules.model import build_model_from_config, set_base_trainable
from modules.training import (class_weight_for, compile_model, early_stopping,
                              evaluate)
from modules.warm_start import warm_start

SUMMARY_FILE = "training_summary.json"


def chosen_hyperparameters(fn_args, config: RunConfig) -> Dict[str, Any]:
    """The Tuner's best values (learning_rate, batch_size, ...) over the config's (the first
    value of each tuner.* list)."""
    values = {"learning_rate": float(config.tuner.learning_rate[0]),
              "batch_size": int(config.tuner.batch_size[0])}
    source = "config"
    if fn_args.hyperparameters:
        hp = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)
        values.update(hp.values)
        source = "tuner"
    values["source"] = source
    return values


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor); custom_config is a RunConfig as a dict."""
    cfg = RunConfig.from_dict(fn_args.custom_config)
    tr = cfg.trainer
    seed = cfg.seed
    tf_keras.utils.set_random_seed(seed)
    hp = chosen_hyperparameters(fn_args, cfg)
    num_classes = cfg.num_classes
    batch_size = int(hp["batch_size"])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    cfg = with_transform_image_size(cfg, fn_args.custom_config, tf_transform_output)
    train_ds = make_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output,
                            batch_size, shuffle=True, seed=seed)
    eval_ds = make_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                           batch_size)
    weights_path = cfg.weights_path or None
    model = build_model_from_config(cfg, hp, weights_path, seed)
    # Warm start (retrain.warm_start): the Trainer's base_model is an earlier blessed model.
    warm = warm_start(model, fn_args.base_model) if fn_args.base_model else None
    started = time.time()
    class_weight = class_weight_for(tr.class_weight, labels_of_files(fn_args.train_files),
                                    num_classes)
    compile_model(model, hp["learning_rate"], num_classes)
    history = model.fit(train_ds, validation_data=eval_ds, epochs=tr.epochs, verbose=2,
                        class_weight=class_weight,
                        callbacks=early_stopping(tr.early_stopping_patience))
    summary: Dict[str, Any] = {
        "class_names": list(cfg.class_names),
        "data_roles": {"fit": "train", "early_stopping_and_selection": "validation"},
        "hyperparameters": hp, "weights_path": weights_path,
        "weights_source": cfg.weights_source,
        "seed": seed, "augmentation": dataclasses.asdict(tr.augmentation), "warm_start": warm,
        "class_weight": ({str(k): round(v, 4) for k, v in class_weight.items()}
                         if class_weight else None),
        "phase1": {"epochs": tr.epochs, "epochs_run": len(history.epoch),
                   "early_stopping_patience": tr.early_stopping_patience,
                   "history": _history(history), "validation": evaluate(model, eval_ds)},
    }

    ft_cfg = fine_tune_config(cfg, hp)
    if weights_path and ft_cfg.unfreeze_blocks > 0:
        summary["phase2"] = _gradual_unfreezing(model, ft_cfg, num_classes, train_ds,
                                                eval_ds, class_weight=class_weight)
    if tr.pruning.enabled:
        # Pretrained conv layers (unfrozen by phase 2, or pruned: `layers: all` or named) are
        # fine-tuned at phase 2's lower learning rate, never phase 1's.
        conv_pruned = any(n in CONV_LAYER_NAMES for n in
                          pruned_layer_names(model, tr.pruning.layers))
        prune_lr = (tr.pruning.learning_rate if tr.pruning.learning_rate
                    else tr.fine_tune.learning_rate
                    if "phase2" in summary or (weights_path and conv_pruned)
                    else float(hp["learning_rate"]))
        model, summary["pruning"] = prune_and_fine_tune(model, tr.pruning, float(prune_lr),
                                                        num_classes, train_ds, eval_ds,
                                                        fn_args.model_run_dir,
                                                        class_weight=class_weight)
    summary["train_seconds"] = round(time.time() - started, 1)
    summary["final_validation"] = evaluate_stripped(model, eval_ds, hp["learning_rate"],
                                                    num_classes)
    logging.info("Training summary: %s", json.dumps(summary, default=str))

    export.export_serving_model(model, tf_transform_output, fn_args.serving_model_dir)
    model_dir = os.path.dirname(fn_args.serving_model_dir.rstrip("/"))
    with tf.io.gfile.GFile(os.path.join(model_dir, SUMMARY_FILE), "w") as f:
        f.write(json.dumps(summary, indent=2, default=str))


def fine_tune_config(config: RunConfig, hp: Dict[str, Any]) -> FineTuneConfig:
    """Phase 2 settings: `trainer.fine_tune`, with the Tuner's `unfreeze_blocks` when it tuned it."""
    ft = config.trainer.fine_tune
    if "unfreeze_blocks" in hp:
        ft = dataclasses.replace(ft, unfreeze_blocks=int(hp["unfreeze_blocks"]))
    return ft


def _gradual_unfreezing(model, ft_cfg: FineTuneConfig, num_classes, train_ds, eval_ds,
                        callbacks=(), class_weight=None) -> Dict[str, Any]:
    """Phase 2: unfreeze the top 1, 2, ... `unfreeze_blocks` conv blocks, one step each.

    Each step recompiles with the lower learning rate and trains up to `epochs_per_step` epochs
    with early stopping on the validation split's loss (best weights restored; never the test
    split).
    """
    steps = []
    for blocks in range(1, ft_cfg.unfreeze_blocks + 1):
        unfrozen = set_base_trainable(model, True, top_blocks=blocks)
        compile_model(model, ft_cfg.learning_rate, num_classes)
        history = model.fit(train_ds, validation_data=eval_ds, verbose=2,
                            epochs=ft_cfg.epochs_per_step, class_weight=class_weight,
                            callbacks=[*early_stopping(ft_cfg.patience), *callbacks])
        steps.append({"unfrozen_blocks": blocks, "trainable_conv_layers": unfrozen,
                      "history": _history(history), "validation": evaluate(model, eval_ds)})
    return {"learning_rate": ft_cfg.learning_rate, "steps": steps}


def pruned_layer_names(model, layers_spec) -> List[str]:
    """`trainer.pruning.layers` resolved against `model`'s currently trainable conv layers."""
    trainable_conv = [n for n in CONV_LAYER_NAMES if model.get_layer(n).trainable]
    return resolve_pruning_layers(layers_spec, trainable_conv)


def prune_and_fine_tune(model, prune_cfg: PruningConfig, learning_rate: float, num_classes: int,
                        train_ds, eval_ds=None, log_dir: Optional[str] = None,
                        class_weight: Optional[Dict[int, float]] = None):
    """Wraps the chosen Dense/Conv layers for pruning, fine-tunes, strips. Returns (model, info).

    Pruned conv layers that are still frozen (`layers: all` or named explicitly) are made
    trainable first: pruning without retraining would only cut weights.
    """
    layer_names = pruned_layer_names(model, prune_cfg.layers)
    for name in layer_names:
        model.get_layer(name).trainable = True
    steps_per_epoch = int(tf.data.experimental.cardinality(train_ds).numpy())
    if steps_per_epoch < 0:  # unknown cardinality
        steps_per_epoch = sum(1 for _ in train_ds)
    epochs = prune_cfg.fine_tune_epochs
    schedule = pruning.build_schedule(prune_cfg, total_steps=steps_per_epoch * epochs)
    pruned = pruning.apply_pruning(model, layer_names, schedule)
    compile_model(pruned, learning_rate, num_classes)
    callbacks = [pruning.sparsity.UpdatePruningStep()]
    if log_dir:
        callbacks.append(pruning.sparsity.PruningSummaries(
            log_dir=os.path.join(log_dir, "pruning")))
    history = pruned.fit(train_ds, validation_data=eval_ds, epochs=epochs,
                         verbose=2, callbacks=callbacks, class_weight=class_weight)
    stripped = pruning.strip_pruning(pruned)
    info = {"layers": layer_names, "layers_config": prune_cfg.layers,
            "learning_rate": learning_rate, "schedule": prune_cfg.schedule,
            "target_sparsity": prune_cfg.target_sparsity,
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
