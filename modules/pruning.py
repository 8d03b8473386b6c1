"""tfmot magnitude pruning of chosen layers of the flat transfer model.

Pruned layers are wrapped in place with `prune_low_magnitude` through `clone_model` whose clone
function returns the *original* layer objects, so pretrained and trained weights are kept (the
default clone function would re-initialise them). Training a pruned model needs the
`UpdatePruningStep` callback; `strip_pruning` removes the wrappers before export.
"""


from typing import Dict, Iterable, List

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras

from modules.configs import PruningConfig
from modules.layer_swap import known_layer_names, swap_layers

sparsity = tfmot.sparsity.keras


def build_schedule(config: PruningConfig, total_steps: int) -> "sparsity.PruningSchedule":
    """tfmot's schedule for `config` over a fine-tune of `total_steps` steps (batches).

    tfmot counts training steps from 1 (the wrapper increments its step before masking).
    constant: ConstantSparsity(target_sparsity) in force from step max(begin_step, 1), i.e. from
    the first batch by default, re-masked every `frequency` steps; the rest of the fine-tune
    recovers at the target sparsity. (Capping the frequency to the fine-tune's steps, as this
    once did, masked only at the very last step: one-shot pruning with no recovery at all.)
    polynomial: PolynomialDecay(initial_sparsity -> target_sparsity) from begin_step to end_step;
    end_step -1 means `ramp_fraction` of the fine-tune's steps (then the final mask recovers).
    """
    frequency = max(1, config.frequency)
    end_step = config.end_step
    if end_step < 0 and config.ramp_fraction < 1.0:
        end_step = max(1, int(total_steps * config.ramp_fraction))
    if config.schedule == "constant":
        return sparsity.ConstantSparsity(config.target_sparsity,
                                         begin_step=max(1, config.begin_step),
                                         end_step=end_step, frequency=frequency)
    if config.schedule == "polynomial":
        frequency = min(frequency, max(1, total_steps))
        end = end_step if end_step > 0 else max(config.begin_step + 1, total_steps)
        # Masks update only at begin_step + k * frequency (<= end_step): the target sparsity is
        # reached only if end_step is such a step. So the frequency is at most end - begin, and
        # end_step is moved back to the last update step at or before it (e.g. end 38, frequency
        # 20 would stop at step 20 with the sparsity of 20/38 of the ramp; it becomes end 20).
        span = max(1, end - config.begin_step)
        frequency = max(1, min(frequency, span))
        end = config.begin_step + (span // frequency) * frequency
        return sparsity.PolynomialDecay(config.initial_sparsity, config.target_sparsity,
                                        begin_step=config.begin_step, end_step=end,
                                        frequency=frequency)
    raise ValueError(f"pruning schedule: expected 'constant' or 'polynomial', "
                     f"got {config.schedule!r}")


def target_step(schedule: "sparsity.PruningSchedule") -> int:
    """The first training step (tfmot counts from 1) at which `schedule`'s target sparsity is in
    force: ConstantSparsity's begin_step, PolynomialDecay's end_step."""
    cfg = schedule.get_config()["config"]
    if isinstance(schedule, sparsity.PolynomialDecay):
        return max(1, int(cfg["end_step"]))
    return max(1, int(cfg["begin_step"]))


def recovery_start_epoch(schedule: "sparsity.PruningSchedule", steps_per_epoch: int) -> int:
    """The first epoch (0-based) that ends with the target sparsity in force: only such epochs
    may be selected by early stopping, so the selected weights are always fully pruned."""
    return (target_step(schedule) - 1) // max(1, steps_per_epoch)


def apply_pruning(model: tf_keras.Model, layer_names: Iterable[str],
                  schedule: "sparsity.PruningSchedule") -> tf_keras.Model:
    """Returns a model whose `layer_names` layers are wrapped for pruning, weights kept."""
    names = known_layer_names(model, layer_names, "prune")
    return swap_layers(model, lambda layer: sparsity.prune_low_magnitude(
        layer, pruning_schedule=schedule) if layer.name in names else None)


def prune_once(model: tf_keras.Model, layer_names: Iterable[str], target_sparsity: float
               ) -> Dict[str, float]:
    """Zeroes, in place, each named layer's smallest-|w| kernel weights as tfmot's magnitude mask
    at `target_sparsity` does (it keeps the max(1, round(size * (1 - s))) largest |w|, ties
    at the threshold kept); biases untouched. Returns {layer: zero fraction of its kernel}."""
    for name in known_layer_names(model, layer_names, "prune"):
        layer = model.get_layer(name)
        kernel, *rest = layer.get_weights()
        magnitude = np.abs(kernel).ravel()
        keep = max(1, int(np.round(magnitude.size * (1.0 - target_sparsity))))
        threshold = np.partition(magnitude, magnitude.size - keep)[magnitude.size - keep]
        layer.set_weights([np.where(np.abs(kernel) >= threshold, kernel, 0.0).astype(kernel.dtype),
                           *rest])
    return layer_sparsity(model, layer_names)


def strip_pruning(model: tf_keras.Model) -> tf_keras.Model:
    """Removes pruning wrappers; the zeros stay in the kernels."""
    return sparsity.strip_pruning(model)


def layer_sparsity(model: tf_keras.Model, layer_names: Iterable[str] = ()) -> Dict[str, float]:
    """Fraction of exactly-zero kernel weights per layer (all Conv2D/Dense layers if none named)."""
    out: Dict[str, float] = {}
    for layer in model.layers:
        if layer_names and layer.name not in set(layer_names):
            continue
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        k = kernel.numpy()
        out[layer.name] = float(np.mean(k == 0.0))
    return out


def overall_sparsity(model: tf_keras.Model, layer_names: List[str]) -> float:
    """Zero fraction over the kernels of `layer_names` together (weighted by size)."""
    zeros = total = 0
    for name in layer_names:
        k = model.get_layer(name).kernel.numpy()
        zeros += int(np.sum(k == 0.0))
        total += k.size
    return zeros / max(total, 1)
