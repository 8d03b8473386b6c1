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

sparsity = tfmot.sparsity.keras


def build_schedule(config: PruningConfig, total_steps: int) -> "sparsity.PruningSchedule":
    """tfmot's schedule for `config` over a fine-tune of `total_steps` steps (batches).

    constant: ConstantSparsity(target_sparsity) from begin_step (masks every `frequency` steps).
    polynomial: PolynomialDecay(initial_sparsity -> target_sparsity) from begin_step to end_step;
    end_step -1 means `ramp_fraction` of the fine-tune's steps (then the final mask recovers).
    """
    frequency = max(1, min(config.frequency, total_steps))
    end_step = config.end_step
    if end_step < 0 and config.ramp_fraction < 1.0:
        end_step = max(1, int(total_steps * config.ramp_fraction))
    if config.schedule == "constant":
        return sparsity.ConstantSparsity(config.target_sparsity, begin_step=config.begin_step,
                                         end_step=end_step, frequency=frequency)
    if config.schedule == "polynomial":
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


def apply_pruning(model: tf_keras.Model, layer_names: Iterable[str],
                  schedule: "sparsity.PruningSchedule") -> tf_keras.Model:
    """Returns a model whose `layer_names` layers are wrapped for pruning, weights kept."""
    names = set(layer_names)
    missing = names - {layer.name for layer in model.layers}
    if missing:
        raise ValueError(f"cannot prune unknown layer(s) {sorted(missing)}")

    def clone_fn(layer):
        if layer.name in names:
            return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    return tf_keras.models.clone_model(model, clone_function=clone_fn)


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
