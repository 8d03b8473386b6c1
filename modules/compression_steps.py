"""The compression fine-tunes the Trainer runs after phase 2, each on the validation split for
selection (never test): magnitude pruning (tfmot `prune_low_magnitude`, the best validation
epoch at the target sparsity kept), structured filter pruning (modules/structured_pruning.py),
sparsity-preserving clustering (modules/clustering.py) and pruning-preserving QAT
(modules/qat.py). Each returns (model, info for training_summary.json). Call them inside the
distribution strategy's scope when there is one (the wrappers create variables).
"""
import dataclasses
import os
from typing import Any, Dict, List, Optional, Sequence

import tensorflow as tf
from absl import logging

from modules import (activation_aware, clustering, distillation, feature_cache, pruning, qat,
                     structured_pruning)
from modules.data import arrays_dataset
from modules.configs import (ClusteringConfig, PruningConfig, QuantizationAwareConfig,
                             StructuredPruningConfig)
from modules.layer_names import CONV_LAYER_NAMES, resolve_pruning_layers
from modules.training import (compile_model, early_stopping, evaluate, evaluate_stripped,
                              history_dict as _history)


def pruned_layer_names(model, layers_spec) -> List[str]:
    """`trainer.pruning.layers` resolved against `model`'s currently trainable conv layers."""
    trainable_conv = [n for n in CONV_LAYER_NAMES if model.get_layer(n).trainable]
    return resolve_pruning_layers(layers_spec, trainable_conv)


def prune_and_fine_tune(model, prune_cfg: PruningConfig, learning_rate: float, num_classes: int,
                        train_ds, eval_ds=None, log_dir: Optional[str] = None,
                        class_weight: Optional[Dict[int, float]] = None, callbacks=(),
                        jit_compile: bool = False,
                        cached: Optional[feature_cache.CacheContext] = None):
    """Wraps the chosen Dense/Conv layers for pruning, fine-tunes, strips. Returns (model, info).

    Pruned conv layers that are still frozen (`layers: all` or named explicitly) are made
    trainable first: pruning without retraining would only cut weights. With `retrain_blocks`
    < 5, only the layers above block{5-k}_pool are retrained: the pruned layers below are pruned
    once (`pruning.prune_once`) and every layer below stays frozen; with `cached` and
    `feature_cache.why_not_cached` accepting it, the fine-tune
    trains copies of the layers above on the cut's outputs computed once (same training; info
    `features_cached`). With `eval_ds` (the validation role, never test) and
    `early_stopping_patience` > 0, the fine-tune stops when the validation loss stops improving
    and the best epoch's weights are kept, counting only epochs that end at the target sparsity
    (`pruning.recovery_start_epoch`). With `distillation` > 0 the fine-tune fits soft targets
    mixed from the labels and the dense model's probabilities (modules/distillation.py). Call
    it inside the distribution strategy's scope when there
    is one (the wrappers create variables).
    """
    layer_names = pruned_layer_names(model, prune_cfg.layers)
    cut = feature_cache.phase2_cut(prune_cfg.retrain_blocks)
    below = set(feature_cache.layers_below(model, cut)) if cut else set()
    once = [n for n in layer_names if n in below]
    for name in below:
        model.get_layer(name).trainable = False
    for name in layer_names:
        model.get_layer(name).trainable = name not in below
    if once:
        pruning.prune_once(model, once, prune_cfg.target_sparsity)
    retrained = [n for n in layer_names if n not in below]
    scales = {}
    if prune_cfg.score == "activation_aware":
        scales = activation_aware.input_rms(
            model, activation_aware.dense_layer_names(model, retrained), train_ds)
    # Decided on the model as phase 2 left it: the scaled copy below shares its layers with it
    # (two inbound nodes each), which is no longer a chain that features can be cut from.
    not_cached = feature_cache.why_not_at(cached, model, cut, "every block retrained")
    if not_cached is None:  # the layers above the cut, trained on its outputs
        x, y = feature_cache.features_at(model, train_ds, cut)
        fit_ds = arrays_dataset(x, y, cached.batch_size, True, cached.seed)
        val_ds = (arrays_dataset(*feature_cache.features_at(model, eval_ds, cut), 1024, False,
                                 cached.seed) if eval_ds is not None else None)
        target = feature_cache.tail_copy(model, x.shape[1:], cut)
    else:
        fit_ds, val_ds, target = train_ds, eval_ds, model
    if scales:  # the Dense layers that are fitted, whichever model holds them
        target = activation_aware.scale_dense_layers(target, scales)
    steps_per_epoch = int(tf.data.experimental.cardinality(fit_ds).numpy())
    if steps_per_epoch < 0:  # unknown cardinality
        steps_per_epoch = sum(1 for _ in fit_ds)
    epochs = prune_cfg.fine_tune_epochs
    schedule = pruning.build_schedule(prune_cfg, total_steps=steps_per_epoch * epochs)
    teacher = (distillation.frozen_copy(target) if prune_cfg.distillation > 0 else None)
    pruned = pruning.apply_pruning(target, retrained, schedule)
    fitted = (distillation.Distiller(pruned, teacher, prune_cfg.distillation)
              if teacher is not None else pruned)
    compile_model(fitted, learning_rate, num_classes, jit_compile=jit_compile)
    # UpdatePruningStep first: it re-masks the kernels at each epoch's end, before early
    # stopping keeps that epoch's weights.
    fit_callbacks = [pruning.sparsity.UpdatePruningStep()]
    selection = None
    start = pruning.recovery_start_epoch(schedule, steps_per_epoch)
    if val_ds is not None and prune_cfg.early_stopping_patience > 0 and start < epochs:
        (selection,) = early_stopping(prune_cfg.early_stopping_patience, start_from_epoch=start)
        fit_callbacks.append(selection)
    fit_callbacks.extend(callbacks)
    if log_dir:
        fit_callbacks.append(pruning.sparsity.PruningSummaries(
            log_dir=os.path.join(log_dir, "pruning")))
    history = fitted.fit(fit_ds, validation_data=val_ds, epochs=epochs,
                         verbose=2, callbacks=fit_callbacks, class_weight=class_weight)
    stripped = pruning.strip_pruning(pruned)
    if scales:
        stripped = activation_aware.fold_scales(stripped)
    if not_cached is None:  # the trained copies' weights into the model
        for name in feature_cache.layers_above(model, cut):
            model.get_layer(name).set_weights(stripped.get_layer(name).get_weights())
        stripped = model
    info = {"layers": layer_names, "layers_config": prune_cfg.layers, "score": prune_cfg.score,
            "activation_aware_layers": sorted(scales),
            "learning_rate": learning_rate, "schedule": prune_cfg.schedule,
            "target_sparsity": prune_cfg.target_sparsity,
            "retrain_blocks": prune_cfg.retrain_blocks, "pruned_once_and_frozen": once,
            "distillation": prune_cfg.distillation,
            "features_cached": not_cached is None,
            **({"features_not_cached_because": not_cached} if not_cached else {}),
            "fine_tune_epochs": epochs, "epochs_run": len(history.epoch),
            "target_sparsity_from_step": pruning.target_step(schedule),
            "history": _history(history),
            "layer_sparsity": pruning.layer_sparsity(stripped, layer_names),
            "overall_sparsity": pruning.overall_sparsity(stripped, layer_names)}
    if selection is not None and selection.best_weights is not None:
        info["selected_epoch"] = int(selection.best_epoch) + 1  # 1-based, as Keras logs it
        info["selected_by"] = (f"validation loss, epochs {start + 1}..{epochs} (at the target "
                               f"sparsity), patience {prune_cfg.early_stopping_patience}")
    return stripped, info


def prune_with_fallback(model, prune_cfg: PruningConfig, learning_rate: float, num_classes: int,
                        train_ds, eval_ds, dense_accuracy: float, **kwargs):
    """`prune_and_fine_tune`; then, when `prune_cfg.fallback_margin` is set (validate.py keeps
    it >= 0), `retrain_blocks` < 5 and the pruned model's validation accuracy (`eval_ds`, the
    validation role, never test) is more than the margin below `dense_accuracy` (the dense
    model's, same split), the fine-tune runs again from the dense weights retraining the top
    `fallback_retrain_blocks` blocks (5: every block), and the model with the higher validation
    accuracy is kept (the first on a tie).
    Returns (model, info); info["fallback"] records both accuracies and which was kept
    ('first' or 'second'); info itself is the kept fine-tune's."""
    margin = prune_cfg.fallback_margin
    if margin is None or prune_cfg.retrain_blocks >= 5 or eval_ds is None:
        return prune_and_fine_tune(model, prune_cfg, learning_rate, num_classes, train_ds,
                                   eval_ds, **kwargs)
    jit = bool(kwargs.get("jit_compile", False))
    dense_weights = model.get_weights()
    first, info = prune_and_fine_tune(model, prune_cfg, learning_rate, num_classes, train_ds,
                                      eval_ds, **kwargs)
    first_validation = evaluate_stripped(first, eval_ds, learning_rate, num_classes, jit)
    fallback: Dict[str, Any] = {"margin": margin, "dense_accuracy": dense_accuracy,
                                "retrain_blocks": prune_cfg.retrain_blocks,
                                "second_retrain_blocks": prune_cfg.fallback_retrain_blocks,
                                "accuracy": first_validation["accuracy"],
                                "kept": "first",
                                "first": {k: info[k] for k in (
                                    "features_cached", "pruned_once_and_frozen", "epochs_run")}}
    if first_validation["accuracy"] >= dense_accuracy - margin:
        fallback["ran"] = False
        return first, {**info, "fallback": fallback}
    # The stripped model shares its layers with `model`: keep the first result's weights
    # aside before the dense weights are put back.
    first_weights = first.get_weights()
    model.set_weights(dense_weights)
    wider = dataclasses.replace(prune_cfg, retrain_blocks=prune_cfg.fallback_retrain_blocks,
                                fallback_margin=None)
    second, second_info = prune_and_fine_tune(model, wider, learning_rate, num_classes,
                                              train_ds, eval_ds, **kwargs)
    second_validation = evaluate_stripped(second, eval_ds, learning_rate, num_classes, jit)
    fallback.update(ran=True, second_accuracy=second_validation["accuracy"],
                    second=second_info)
    if second_validation["accuracy"] > first_validation["accuracy"]:
        fallback["kept"] = "second"
        return second, {**second_info, "fallback": fallback}
    second.set_weights(first_weights)  # same layers, same order: the first result back
    return second, {**info, "fallback": fallback}


def filter_prune_and_fine_tune(model, sp_cfg: StructuredPruningConfig, learning_rate: float,
                               num_classes: int, train_ds, eval_ds,
                               class_weight: Optional[Dict[int, float]] = None, callbacks=(),
                               jit_compile: bool = False):
    """Removes the lowest-L1-norm filters (modules/structured_pruning.py), then fine-tunes the
    smaller model up to `fine_tune_epochs` with early stopping on the validation split (`eval_ds`;
    never test). Conv layers that lost filters are made trainable. Returns (model, info)."""
    params_before = int(model.count_params())
    smaller, counts = structured_pruning.prune_filters(model, sp_cfg.fractions)
    pruned = structured_pruning.removed_filters(counts)
    for name in pruned:
        smaller.get_layer(name).trainable = True
    info: Dict[str, Any] = {
        "fractions": dict(sp_cfg.fractions), "filters": counts, "layers_pruned": pruned,
        "params_before": params_before, "params_after": int(smaller.count_params()),
        "learning_rate": learning_rate, "fine_tune_epochs": sp_cfg.fine_tune_epochs}
    compile_model(smaller, learning_rate, num_classes, jit_compile=jit_compile)
    info["validation_before_fine_tune"] = evaluate(smaller, eval_ds)
    if sp_cfg.fine_tune_epochs > 0:
        history = smaller.fit(train_ds, validation_data=eval_ds, epochs=sp_cfg.fine_tune_epochs,
                              verbose=2, class_weight=class_weight,
                              callbacks=[*early_stopping(sp_cfg.patience), *callbacks])
        info["history"] = _history(history)
        info["validation"] = evaluate(smaller, eval_ds)
    logging.info("Structured pruning: %d -> %d parameters", params_before, info["params_after"])
    return smaller, info


def cluster_and_fine_tune(model, cl_cfg: ClusteringConfig, layer_names: Sequence[str],
                          learning_rate: float, num_classes: int, train_ds, eval_ds=None,
                          class_weight: Optional[Dict[int, float]] = None, callbacks=(),
                          jit_compile: bool = False):
    """Sparsity-preserving clustering of `layer_names` (the magnitude-pruned layers) on the
    stripped model, `fine_tune_epochs` of fine-tuning, `strip_clustering`. Returns (model, info)
    with the clusters and distinct non-zero kernel values per layer and the kept sparsity."""
    for name in layer_names:
        model.get_layer(name).trainable = True
    wrapped = clustering.apply_clustering(model, layer_names, cl_cfg.number_of_clusters)
    clusters = clustering.clustered_layers(wrapped)
    compile_model(wrapped, learning_rate, num_classes, jit_compile=jit_compile)
    history = wrapped.fit(train_ds, validation_data=eval_ds, epochs=cl_cfg.fine_tune_epochs,
                          verbose=2, callbacks=list(callbacks), class_weight=class_weight)
    stripped = clustering.strip_clustering(wrapped)
    info = {"layers": list(clusters), "clusters": clusters,
            "number_of_clusters": cl_cfg.number_of_clusters,
            "skipped_layers": [n for n in layer_names if n not in clusters],
            "learning_rate": learning_rate, "fine_tune_epochs": cl_cfg.fine_tune_epochs,
            "history": _history(history),
            "distinct_nonzero_values": clustering.distinct_nonzero_values(stripped, clusters),
            "layer_sparsity": pruning.layer_sparsity(stripped, list(clusters))}
    return stripped, info


def quantization_aware_fine_tune(model, qa_cfg: QuantizationAwareConfig,
                                 layer_names: Sequence[str], learning_rate: float,
                                 num_classes: int, train_ds, eval_ds=None,
                                 preserve_clusters: bool = False,
                                 class_weight: Optional[Dict[int, float]] = None, callbacks=(),
                                 jit_compile: bool = False):
    """8-bit quantization-aware fine-tune (modules/qat.py) keeping the zeros (PQAT) and, with
    `preserve_clusters`, the clusters (PCQAT). Returns (the QAT model, which is exported as is,
    info with the sparsity of the `layer_names` kernels before and after)."""
    before = qat.layer_sparsity(model, layer_names)
    masks = qat.nonzero_masks(model)
    quantized = qat.apply_qat(model, preserve_clusters=preserve_clusters)
    qat.calibrate_ranges(quantized, model, next(iter(train_ds))[0])  # not tfmot's +-6
    compile_model(quantized, learning_rate, num_classes, jit_compile=jit_compile)
    history = quantized.fit(train_ds, validation_data=eval_ds, epochs=qa_cfg.fine_tune_epochs,
                            verbose=2, callbacks=list(callbacks), class_weight=class_weight)
    qat.keep_zeros(quantized, masks)
    info = {"scheme": "pcqat" if preserve_clusters else "pqat", "learning_rate": learning_rate,
            "fine_tune_epochs": qa_cfg.fine_tune_epochs, "history": _history(history),
            "layer_sparsity_before": before,
            "layer_sparsity": qat.layer_sparsity(quantized, layer_names)}
    return quantized, info
