"""TFX Trainer `run_fn`: VGG16 transfer learning, magnitude pruning with retraining, export.

Phase 1 trains the head on a frozen ImageNet base (or the whole network when `weights: none`:
a frozen random base learns nothing); without augmentation, on the base's features computed once
(modules/feature_cache.py). Phase 2 unfreezes the top conv blocks one at a time at a
lower learning rate (without augmentation, on the frozen blocks' outputs computed once).
Optionally (`structured_pruning`, off by default) the lowest-L1-norm conv filters are removed
and the smaller model fine-tuned. Then the layers chosen by `pruning.layers`
(default: the head and the trainable conv layers) are wrapped with `prune_low_magnitude` and
fine-tuned with `UpdatePruningStep`; `strip_pruning` runs before export. Optionally
(`clustering`, off by default) the same layers are then clustered, sparsity preserved, fine-tuned
and stripped; and (`quantization_aware`, off by default) a last quantization-aware fine-tune keeps
the zeros and clusters (tfmot PQAT / PCQAT) for the int8 TFLite variant.
All of it runs in a `tf.distribute` strategy's scope chosen by what the process sees (one device:
the default strategy; several GPUs: MirroredStrategy; TF_CONFIG with several replicas:
MultiWorkerMirroredStrategy; modules/distribution.py), with `trainer.mixed_precision`,
`trainer.jit_compile` and the `trainer.input` tf.data settings.
Writes `<model>/Format-Serving` (signatures in modules/export.py; float32 even after
mixed-precision training) and `<model>/training_summary.json` (the chief only).
"""
import dataclasses
import json
import os
import tempfile
import time
from typing import Any, Dict, Optional, Sequence, Tuple

import keras_tuner
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from absl import logging

from modules import distribution, export, feature_cache, mirroring
from modules.compression_steps import (  # noqa: F401  (re-exported: tests, benchmarks)
    cluster_and_fine_tune, filter_prune_and_fine_tune, prune_and_fine_tune, prune_with_fallback,
    pruned_layer_names, quantization_aware_fine_tune)
from modules.class_names import TRAINING_SUMMARY
from modules.configs import FineTuneConfig, RunConfig
from modules.data import labels_of_files, make_dataset
from modules.image_size import with_transform_image_size
from modules.layer_names import CONV_LAYER_NAMES
from modules.model import (build_model_from_config, dtype_policy_of, float32_copy, policy_name,
                           set_base_trainable, uses_mixed_precision)
from modules.training import (class_weight_for, compile_model, early_stopping, evaluate,
                              evaluate_stripped)
from modules.training import history_dict as _history
from modules.stopwatch import Laps, timed
from modules.warm_start import warm_start

SUMMARY_FILE = TRAINING_SUMMARY


def chosen_hyperparameters(fn_args, config: RunConfig) -> Dict[str, Any]:
    """The Tuner's best values (learning_rate, batch_size, ...) over the config's (the first
    value of each tuner.* list)."""
    values = {"learning_rate": float(config.tuner.learning_rate[0]),
              "batch_size": int(config.tuner.batch_size[0])}
    source = "config"
    if fn_args.hyperparameters:
        hp = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)
        # Hyperband's bookkeeping (tuner/epochs, tuner/trial_id, ...) is not a hyperparameter
        values.update({k: v for k, v in hp.values.items() if not k.startswith("tuner/")})
        source = "tuner"
    values["source"] = source
    return values


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor); custom_config is a RunConfig as a dict (plus
    the Vertex Trainer's job keys when it runs on Vertex AI Training: ignored here)."""
    strategy = distribution.choose_strategy()  # first: a multi-worker strategy must precede ops
    cfg = RunConfig.from_custom_config(fn_args.custom_config)
    tr = cfg.trainer
    seed = cfg.seed
    tf_keras.utils.set_random_seed(seed)
    hp = chosen_hyperparameters(fn_args, cfg)
    batch_size = distribution.global_batch_size(int(hp["batch_size"]), strategy)
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    cfg = with_transform_image_size(cfg, fn_args.custom_config, tf_transform_output)
    train_ds = make_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output,
                            batch_size, shuffle=True, seed=seed, input_config=tr.input,
                            shard_by_data=multi_worker)
    eval_ds = make_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output,
                           batch_size, input_config=tr.input, shard_by_data=multi_worker)
    chief = distribution.is_chief()
    scratch = None if chief else tempfile.mkdtemp(prefix="worker-")
    model, summary = train(cfg, hp, train_ds, eval_ds, labels_of_files(fn_args.train_files),
                           strategy=strategy, base_model=fn_args.base_model,
                           log_dir=fn_args.model_run_dir if chief else scratch)
    logging.info("Training summary: %s", json.dumps(summary, default=str))

    # Every worker of a multi-worker strategy takes part in the save; only the chief's counts.
    with timed(summary["seconds"], "export"):
        export.export_serving_model(model, tf_transform_output,
                                   fn_args.serving_model_dir if chief else
                                   os.path.join(scratch, "model"))
    if not chief:
        tf.io.gfile.rmtree(scratch)
        distribution.wait_for_chief_export(fn_args.serving_model_dir)
        return
    model_dir = os.path.dirname(fn_args.serving_model_dir.rstrip("/"))
    with tf.io.gfile.GFile(os.path.join(model_dir, SUMMARY_FILE), "w") as f:
        f.write(json.dumps(summary, indent=2, default=str))


def train(cfg: RunConfig, hp: Dict[str, Any], train_ds, eval_ds, train_labels,
          strategy: Optional[tf.distribute.Strategy] = None, base_model: Optional[str] = None,
          log_dir: Optional[str] = None, callbacks: Sequence[Any] = ()
          ) -> Tuple[tf_keras.Model, Dict[str, Any]]:
    """Phases 1 (head), 2 (gradual unfreezing), the optional structured pruning, magnitude
    pruning, the optional clustering and quantization-aware training; returns the final
    (stripped; with `quantization_aware`, the QAT) model and the training summary. run_fn and
    benchmarks/full_profile_gpu.py call it.

    `train_ds` / `eval_ds` yield global batches: `hp['batch_size']` per replica times the
    strategy's replicas. Model building, warm start, pruning wrappers and every compile run in
    `strategy.scope()` (default: the current strategy). `train_labels` (int [N]) weigh the
    classes; `callbacks` are added to every fit (the benchmark times epochs with them).
    """
    tr = cfg.trainer
    seed = cfg.seed
    num_classes = cfg.num_classes
    strategy = strategy or tf.distribute.get_strategy()
    if tr.augmentation.mirrored_copies:  # every train image and its mirror (2x the batches)
        train_ds = mirroring.mirrored_batches(
            train_ds, distribution.global_batch_size(int(hp["batch_size"]), strategy), seed,
            tr.input)
        train_labels = np.concatenate([train_labels, train_labels])
    weights_path = cfg.weights_path or None
    jit = tr.jit_compile
    with strategy.scope():
        model = build_model_from_config(cfg, hp, weights_path, seed)
        # Warm start (retrain.warm_start): the Trainer's base_model is an earlier blessed model.
        warm = warm_start(model, base_model, cfg.class_names) if base_model else None
        started = time.time()
        seconds: Dict[str, float] = {}  # wall time per phase, summary["seconds"]
        lap = Laps(seconds)

        class_weight = class_weight_for(tr.class_weight, train_labels, num_classes)
        compile_model(model, hp["learning_rate"], num_classes, jit_compile=jit)
        examples = len(train_labels)
        not_cached = feature_cache.why_not_cached(model, strategy, examples=examples)
        if not_cached is None:  # frozen base, no augmentation: its features computed once
            history = feature_cache.fit_on_features(
                model, train_ds, eval_ds, epochs=tr.epochs, learning_rate=hp["learning_rate"],
                num_classes=num_classes, batch_size=int(hp["batch_size"]), seed=seed,
                class_weight=class_weight, patience=tr.early_stopping_patience,
                callbacks=callbacks, jit_compile=jit)
        else:
            history = model.fit(train_ds, validation_data=eval_ds, epochs=tr.epochs, verbose=2,
                                class_weight=class_weight,
                                callbacks=[*early_stopping(tr.early_stopping_patience),
                                           *callbacks])
        summary: Dict[str, Any] = {
            "class_names": list(cfg.class_names),
            "data_roles": {"fit": "train", "early_stopping_and_selection": "validation"},
            "hyperparameters": hp, "weights_path": weights_path,
            "weights_source": cfg.weights_source,
            "seed": seed, "augmentation": dataclasses.asdict(tr.augmentation),
            "warm_start": warm,
            "distribution": distribution.describe(strategy, int(hp["batch_size"])),
            "precision": {"mixed_precision": tr.mixed_precision,
                          "dtype_policy": dtype_policy_of(cfg),
                          "layers_in_16_bits": sum(policy_name(layer).startswith("mixed_")
                                                   for layer in model.layers),
                          "loss_scaling": isinstance(model.optimizer,
                                                     tf_keras.mixed_precision.LossScaleOptimizer),
                          "output_dtype": model.output.dtype.name,
                          "exported_dtype": "float32"},
            "jit_compile": bool(jit),
            "input": dataclasses.asdict(tr.input),
            "class_weight": ({str(k): round(v, 4) for k, v in class_weight.items()}
                             if class_weight else None),
            "phase1": {"epochs": tr.epochs, "epochs_run": len(history.epoch),
                       "features_cached": not_cached is None,
                       **({"features_not_cached_because": not_cached} if not_cached else {}),
                       "early_stopping_patience": tr.early_stopping_patience,
                       "history": _history(history), "validation": evaluate(model, eval_ds)},
        }
        lap("phase1")

        ft_cfg = fine_tune_config(cfg, hp)
        if weights_path and ft_cfg.unfreeze_blocks > 0:
            summary["phase2"] = _gradual_unfreezing(
                model, ft_cfg, num_classes, train_ds, eval_ds, callbacks=callbacks,
                class_weight=class_weight, jit_compile=jit,
                baseline=(summary["phase1"]["validation"] if ft_cfg.select_on_validation
                          else None),
                cached=feature_cache.CacheContext(strategy, examples, int(hp["batch_size"]),
                                                  seed))
            lap("phase2")
        # Pretrained conv layers (unfrozen by phase 2, or pruned: `layers: all` or named) are
        # fine-tuned at phase 2's lower learning rate, never phase 1's.
        def fine_tune_lr(conv_touched: bool) -> float:
            return float(tr.fine_tune.learning_rate
                         if "phase2" in summary or (weights_path and conv_touched)
                         else hp["learning_rate"])

        if tr.structured_pruning.enabled:
            sp_cfg = tr.structured_pruning
            model, summary["structured_pruning"] = filter_prune_and_fine_tune(
                model, sp_cfg, float(sp_cfg.learning_rate or fine_tune_lr(True)), num_classes,
                train_ds, eval_ds, class_weight=class_weight, callbacks=callbacks,
                jit_compile=jit)
            lap("structured_pruning")
        tfmot_steps = tr.pruning.enabled or tr.clustering.enabled or tr.quantization_aware.enabled
        if tfmot_steps and uses_mixed_precision(model):
            # tfmot's wrappers hand a 16-bit layer float32 masked weights (a dtype clash):
            # the pruning fine-tune runs in float32 on the same (float32 master) weights.
            model = float32_copy(model)
            summary["precision"]["pruning_fine_tune_dtype"] = "float32"
        compressed = pruned_layer_names(model, tr.pruning.layers)
        prune_lr = float(tr.pruning.learning_rate or
                         fine_tune_lr(any(n in CONV_LAYER_NAMES for n in compressed)))
        if tr.pruning.enabled:
            compile_model(model, prune_lr, num_classes, jit_compile=jit)  # e.g. a float32 copy
            dense_validation = evaluate(model, eval_ds)
            model, summary["pruning"] = prune_with_fallback(
                model, tr.pruning, prune_lr, num_classes, train_ds, eval_ds,
                float(dense_validation["accuracy"]), log_dir=log_dir,
                class_weight=class_weight, callbacks=callbacks, jit_compile=jit,
                cached=feature_cache.CacheContext(strategy, examples, int(hp["batch_size"]),
                                                  seed + 10))
            summary["pruning"]["validation_before"] = dense_validation
            compressed = summary["pruning"]["layers"]
            lap("pruning")
        if tr.clustering.enabled:
            model, summary["clustering"] = cluster_and_fine_tune(
                model, tr.clustering, compressed, float(tr.clustering.learning_rate or prune_lr),
                num_classes, train_ds, eval_ds, class_weight=class_weight,
                callbacks=callbacks, jit_compile=jit)
            lap("clustering")
        if tr.quantization_aware.enabled:
            qa = tr.quantization_aware
            model, summary["quantization_aware"] = quantization_aware_fine_tune(
                model, qa, compressed, float(qa.learning_rate or prune_lr), num_classes,
                train_ds, eval_ds, preserve_clusters=tr.clustering.enabled,
                class_weight=class_weight, callbacks=callbacks, jit_compile=jit)
            lap("quantization_aware")
        summary["train_seconds"] = round(time.time() - started, 1)
        summary["final_validation"] = evaluate_stripped(model, eval_ds, hp["learning_rate"],
                                                        num_classes, jit_compile=jit)
        lap("final_validation")
        summary["seconds"] = seconds
    return model, summary


def fine_tune_config(config: RunConfig, hp: Dict[str, Any]) -> FineTuneConfig:
    """Phase 2 settings: `trainer.fine_tune`, with the Tuner's `unfreeze_blocks` when it tuned it."""
    ft = config.trainer.fine_tune
    if "unfreeze_blocks" in hp:
        ft = dataclasses.replace(ft, unfreeze_blocks=int(hp["unfreeze_blocks"]))
    return ft


def _better(a: Dict[str, float], b: Dict[str, float]) -> bool:
    """Validation result a beats b: higher accuracy, or the same accuracy and a lower loss."""
    return (a["accuracy"], -a["loss"]) > (b["accuracy"], -b["loss"])


def _gradual_unfreezing(model, ft_cfg: FineTuneConfig, num_classes, train_ds, eval_ds,
                        callbacks=(), class_weight=None, jit_compile: bool = False,
                        baseline: Optional[Dict[str, float]] = None,
                        cached: Optional[feature_cache.CacheContext] = None
                        ) -> Dict[str, Any]:
    """Phase 2: unfreeze the top 1, 2, ... `unfreeze_blocks` conv blocks, one step each.

    Each step recompiles with the lower learning rate and trains up to `epochs_per_step` epochs
    with early stopping on the validation split's loss (best weights restored; never the test
    split). With `cached` (a feature_cache.CacheContext), a step that
    `feature_cache.why_not_cached` accepts trains the unfrozen blocks and the head on the frozen
    blocks' outputs computed once (`features_cached` in the step). With `baseline` (phase 1's
    validation {'loss', 'accuracy', ...}), a step is kept only if it beats the best so far on
    validation (`_better`); otherwise the weights before it are restored and unfreezing stops
    (the layers stay trainable for the pruning fine-tune). Fine-tuning a few hundred images
    can overfit the unfrozen block: this is model selection on the validation split, as early
    stopping is.
    """
    steps = []
    best, best_weights = baseline, (model.get_weights() if baseline else None)
    for blocks in range(1, ft_cfg.unfreeze_blocks + 1):
        unfrozen = set_base_trainable(model, True, top_blocks=blocks)
        compile_model(model, ft_cfg.learning_rate, num_classes, jit_compile=jit_compile)
        cut = feature_cache.phase2_cut(blocks)
        not_cached = feature_cache.why_not_at(cached, model, cut, "all blocks unfrozen")
        if not_cached is None:
            history = feature_cache.fit_on_features(
                model, train_ds, eval_ds, epochs=ft_cfg.epochs_per_step,
                learning_rate=ft_cfg.learning_rate, num_classes=num_classes,
                batch_size=cached.batch_size, seed=cached.seed + blocks,
                class_weight=class_weight, patience=ft_cfg.patience, callbacks=callbacks,
                jit_compile=jit_compile, cut=cut)
        else:
            history = model.fit(train_ds, validation_data=eval_ds, verbose=2,
                                epochs=ft_cfg.epochs_per_step, class_weight=class_weight,
                                callbacks=[*early_stopping(ft_cfg.patience), *callbacks])
        validation = evaluate(model, eval_ds)
        step = {"unfrozen_blocks": blocks, "trainable_conv_layers": unfrozen,
                "features_cached": not_cached is None,
                **({"features_not_cached_because": not_cached} if not_cached else {}),
                "history": _history(history), "validation": validation}
        steps.append(step)
        if best is None:
            continue
        step["kept"] = _better(validation, best)
        if not step["kept"]:
            model.set_weights(best_weights)
            logging.info("Phase 2 step %d did not beat the validation accuracy %.4f (got %.4f): "
                         "weights before it restored, unfreezing stops.", blocks,
                         best["accuracy"], validation["accuracy"])
            break
        best, best_weights = validation, model.get_weights()
    out: Dict[str, Any] = {"learning_rate": ft_cfg.learning_rate, "steps": steps}
    if baseline is not None:
        out["selected_by"] = "validation accuracy (then loss) against phase 1 and earlier steps"
        out["kept_steps"] = sum(1 for s in steps if s.get("kept"))
    return out
