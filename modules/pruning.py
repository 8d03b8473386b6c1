"""tfmot magnitude pruning of chosen layers of the flat transfer model.

Pruned layers are wrapped in place with `prune_low_magnitude` through `clone_model` whose clone
function returns the *original* layer objects, so pretrained and trained weights are kept (the
default clone function would re-initialise them). Training a pruned model needs the
`UpdatePruningStep` callback; `strip_pruning` removes the wrappers before export.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from dataclasses import dataclass  # noqa: E402
from typing import Dict, Iterable, List  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras  # noqa: E402

sparsity = tfmot.sparsity.keras


@dataclass
class PruningSchedule:
    """`constant`: ConstantSparsity(target_sparsity); `polynomial`: PolynomialDecay(initial -> target)."""
    kind: str = "constant"
    target_sparsity: float = 0.5
    initial_sparsity: float = 0.0
    begin_step: int = 0
    end_step: int = -1          # polynomial needs an end step; -1 = the end of fine-tuning
    frequency: int = 100        # steps between mask updates

    def build(self, total_steps: int) -> "sparsity.PruningSchedule":
        frequency = max(1, min(self.frequency, total_steps))
        if self.kind == "constant":
            return sparsity.ConstantSparsity(self.target_sparsity, begin_step=self.begin_step,
                                             end_step=self.end_step, frequency=frequency)
        if self.kind == "polynomial":
            end = self.end_step if self.end_step > 0 else max(self.begin_step + 1, total_steps)
            # Masks update only at begin_step + k * frequency (<= end_step): the target sparsity
            # is reached only if end_step is such a step. So the frequency is at most
            # end - begin, and end_step is moved back to the last update step at or before it
            # (e.g. end 38, frequency 20 would stop at step 20 with the sparsity of 20/38 of the
            # ramp; it becomes end 20).
            span = max(1, end - self.begin_step)
            frequency = max(1, min(frequency, span))
            end = self.begin_step + (span // frequency) * frequency
            return sparsity.PolynomialDecay(self.initial_sparsity, self.target_sparsity,
                                            begin_step=self.begin_step, end_step=end,
                                            frequency=frequency)
        raise ValueError(f"pruning schedule kind: expected 'constant' or 'polynomial', "
                         f"got {self.kind!r}")


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
