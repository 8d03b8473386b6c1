"""The compression methods benchmarks/compression.py compares, and its pure helpers (statistics,
the selection rule, interleaved LiteRT latency). Imported by the benchmark and its tests.

Every method starts from the seed's phase-1 model (head trained on the frozen base) and gets the
same `F` fine-tune epochs as the dense control (F >= 4), spent on the project's own compression
steps (modules/compression_steps.py) at the same learning rate, then a full int8 TFLite:

  prune_int8             prune (F-1 epochs, PolynomialDecay to the target, 13 conv + 2 dense,
                         magnitude score for every layer)
                         + 1 recovery epoch at the final mask (constant target) -> int8 (PTQ)
  prune_cluster_int8     the same F-1 pruning epochs + 1 sparsity-preserving clustering epoch
                         -> int8 (PTQ)
  prune_pqat_int8        the same F-1 pruning epochs + 1 pruning-preserving QAT epoch -> int8
  struct_prune_int8      structured L1 filter pruning + 1 epoch, then pruning F-2 epochs + 1
                         recovery epoch -> int8 (PTQ)
  struct_prune_cluster_pcqat_int8  (the whole Deep Compression-like chain, fixed in advance as
                         "the combination") filter pruning + 1 epoch, pruning F-3 epochs,
                         clustering 1 epoch, cluster- and pruning-preserving QAT 1 epoch -> int8

Branches share their common prefix (the F-1 pruning epochs; the filter-pruning epoch) through a
copy of the model, so each method's own chain sees exactly F epochs.
"""
from __future__ import annotations

import dataclasses
import math
import os
import statistics
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

METHODS = ("prune_int8", "prune_cluster_int8", "prune_pqat_int8", "struct_prune_int8",
           "struct_prune_cluster_pcqat_int8")
BASELINE_METHOD = "prune_int8"  # what the pipeline deployed before issue #14
MAX_DELTA_PT = 1.0              # the selection rule's accuracy bound (issue #14's goal)


# ----------------------------------------------------------------------------- statistics

def t_half_width(values: Sequence[float]) -> float:
    """Half-width of the 95 % Student-t interval of the mean of `values` (nan below 2)."""
    if len(values) < 2:
        return float("nan")
    from scipy import stats
    return float(stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values)
                 / math.sqrt(len(values)))


def paired_deltas_pt(dense: Sequence[float], method: Sequence[float]) -> List[float]:
    """Per-seed accuracy cost in points: 100 * (dense - method); positive = the method is worse."""
    if len(dense) != len(method):
        raise ValueError(f"paired deltas need one value per seed on both sides: {len(dense)} "
                         f"dense, {len(method)} method")
    return [100.0 * (d - m) for d, m in zip(dense, method)]


def ratio_of_means(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """mean(numerator) / mean(denominator): sizes and latencies are summed over seeds first."""
    return statistics.fmean(numerator) / statistics.fmean(denominator)


@dataclasses.dataclass
class MethodSummary:
    """One method over the seeds (from the per-seed rows)."""
    method: str
    seeds: int
    test_delta_pt: float          # mean of dense - method accuracy on test, points
    test_ci95_pt: float           # 95 % t-interval half-width of that mean
    validation_delta_pt: float    # the same on the validation images (the selection uses it)
    size_ratio: float             # dense float32 .tflite gzip bytes / the method's int8 gzip bytes
    litert_ratio: Dict[int, float]     # threads -> dense f32 / method latency, both in LiteRT
    savedmodel_ratio: Dict[int, float]  # threads -> dense SavedModel (TF) / method in LiteRT


def summarize(method: str, rows: Sequence[Dict[str, float]], threads: Sequence[int]
              ) -> MethodSummary:
    """MethodSummary of `method` from per-seed rows holding `dense_test_acc`, `dense_val_acc`,
    `dense_f32_gz`, `dense_f32_ms_<t>`, `dense_sm_ms_<t>` and `<method>_test_acc`, `_val_acc`,
    `_gz`, `_ms_<t>`."""
    test = paired_deltas_pt([r["dense_test_acc"] for r in rows],
                            [r[f"{method}_test_acc"] for r in rows])
    val = paired_deltas_pt([r["dense_val_acc"] for r in rows],
                           [r[f"{method}_val_acc"] for r in rows])

    def col(key):
        return [r[key] for r in rows]

    return MethodSummary(
        method=method, seeds=len(rows), test_delta_pt=statistics.fmean(test),
        test_ci95_pt=t_half_width(test), validation_delta_pt=statistics.fmean(val),
        size_ratio=ratio_of_means(col("dense_f32_gz"), col(f"{method}_gz")),
        litert_ratio={t: ratio_of_means(col(f"dense_f32_ms_{t}"), col(f"{method}_ms_{t}"))
                      for t in threads},
        savedmodel_ratio={t: ratio_of_means(col(f"dense_sm_ms_{t}"), col(f"{method}_ms_{t}"))
                          for t in threads})


def recommend(summaries: Sequence[MethodSummary], max_delta_pt: float = MAX_DELTA_PT,
              latency_threads: int = 1) -> Tuple[MethodSummary, str]:
    """The rule, fixed before the run and applied to the *validation* images only (never test):
    among the methods whose mean validation accuracy cost is <= `max_delta_pt`, the largest
    size ratio (ties: the larger LiteRT latency ratio at `latency_threads`); when none is within
    the bound, the method with the smallest validation cost. Returns (the choice, why)."""
    if not summaries:
        raise ValueError("no method to recommend")
    within = [s for s in summaries if s.validation_delta_pt <= max_delta_pt]
    if within:
        best = max(within, key=lambda s: (s.size_ratio, s.litert_ratio.get(latency_threads, 0)))
        return best, (f"largest size ratio among the {len(within)} method(s) with a mean "
                      f"validation accuracy cost <= {max_delta_pt:g} pt")
    best = min(summaries, key=lambda s: s.validation_delta_pt)
    return best, (f"no method within {max_delta_pt:g} pt on validation: the smallest "
                  f"validation accuracy cost")


def last_line(s: MethodSummary, latency_threads: int = 1) -> str:
    """The benchmark's last line for the recommended method."""
    return (f"size_ratio={s.size_ratio:.2f} accuracy_delta_pt={s.test_delta_pt:.2f} "
            f"accuracy_delta_ci95_pt={s.test_ci95_pt:.2f} "
            f"litert_latency_ratio={s.litert_ratio[latency_threads]:.2f} method={s.method}")


# ----------------------------------------------------------------------------- latency

def interleaved_litert_latency(paths: Dict[str, str], images: np.ndarray, threads: Sequence[int],
                               rounds: int, runs_per_round: int,
                               run: Optional[Callable] = None
                               ) -> Dict[str, Dict[int, float]]:
    """{name: {threads: median ms}}: `rounds` rounds, each timing every model in turn
    (`runs_per_round` single-image calls per thread count, in standalone LiteRT through
    modules/litert.run_litert, default delegates); the model order rotates each round, so load
    on the machine falls on all models alike. The figure is the median of the round medians."""
    if run is None:
        from modules import litert
        run = litert.run_litert
    names = list(paths)
    medians: Dict[str, Dict[int, List[float]]] = {n: {t: [] for t in threads} for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            result = run(paths[name], images=images, threads=list(threads),
                         latency_runs=runs_per_round, warmup_runs=3)
            if not result.ok:
                raise RuntimeError(f"LiteRT cannot run {name}: {result.error}")
            for t in threads:
                medians[name][t].append(result.latency[str(t)]["median_ms"])
    return {n: {t: float(np.median(v)) for t, v in per.items()} for n, per in medians.items()}


# ----------------------------------------------------------------------------- training

def copy_model(model):
    """An independent copy (fresh layers, same weights and trainable flags): the tfmot wrappers
    wrap the original layer objects, so a branch trained on a shared model would change it."""
    import tf_keras
    copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for src, dst in zip(model.layers, copy.layers):
        dst.trainable = src.trainable
    return copy


@dataclasses.dataclass
class Budget:
    """What every arm of a seed gets after the shared phase 1."""
    fine_tune_epochs: int
    learning_rate: float
    initial_sparsity: float
    target_sparsity: float
    prune_fraction: float          # share of a pruning stretch spent ramping up
    frequency: int
    filter_fractions: Dict[str, float]
    clusters: Dict[str, int]


def _prune_cfg(budget: Budget, epochs: int, steps_per_epoch: int, recovery: bool):
    from modules.configs import PruningConfig
    if recovery:  # the final mask, kept: ConstantSparsity at the target from the first step
        return PruningConfig(layers="all", schedule="constant",
                             target_sparsity=budget.target_sparsity,
                             frequency=budget.frequency, fine_tune_epochs=epochs,
                             early_stopping_patience=0, score="magnitude")
    return PruningConfig(layers="all", schedule="polynomial",
                         initial_sparsity=budget.initial_sparsity,
                         target_sparsity=budget.target_sparsity, begin_step=0,
                         end_step=max(1, int(steps_per_epoch * epochs * budget.prune_fraction)),
                         frequency=budget.frequency, fine_tune_epochs=epochs,
                         early_stopping_patience=0, score="magnitude")


def train_methods(phase1, budget: Budget, train_ds: Callable, val_ds, steps_per_epoch: int,
                  reseed: Callable[[], None], log: Callable[[str], None] = print
                  ) -> Dict[str, Tuple[object, Dict[str, object]]]:
    """{method: (trained Keras model to export, what each step did)} for METHODS, all from a
    copy of `phase1`. `train_ds()` returns a fresh training dataset (same order every time);
    `reseed()` resets the random seeds before each chain starts."""
    import time

    from modules.compression_steps import (cluster_and_fine_tune, filter_prune_and_fine_tune,
                                           prune_and_fine_tune, quantization_aware_fine_tune)
    from modules.configs import (ClusteringConfig, QuantizationAwareConfig,
                                 StructuredPruningConfig)
    from modules.model import set_base_trainable

    F, lr = budget.fine_tune_epochs, budget.learning_rate
    if F < 4:
        raise ValueError(f"the methods need >= 4 fine-tune epochs (got {F})")
    cluster_cfg = ClusteringConfig(enabled=True, number_of_clusters=dict(budget.clusters),
                                   fine_tune_epochs=1)
    qat_cfg = QuantizationAwareConfig(enabled=True, fine_tune_epochs=1)
    out: Dict[str, Tuple[object, Dict[str, object]]] = {}

    def prune(model, epochs, recovery=False):
        return prune_and_fine_tune(model, _prune_cfg(budget, epochs, steps_per_epoch, recovery),
                                   lr, 2, train_ds())

    def timed(label, fn, *a, **k):
        t0 = time.time()
        result = fn(*a, **k)
        log(f"  {label}: {time.time() - t0:.0f}s")
        return result

    def steps_info(**steps):
        return {name: {k: v for k, v in info.items() if k != "history"}
                for name, info in steps.items()}

    # Unstructured branch: F-1 pruning epochs shared, then one epoch each.
    reseed()
    p, p_info = timed(f"prune {F - 1} epochs", prune, copy_model(phase1), F - 1)
    layers = p_info["layers"]
    m, r_info = timed("prune_int8: recovery epoch", prune, copy_model(p), 1, recovery=True)
    out["prune_int8"] = (m, steps_info(pruning=p_info, recovery=r_info))
    m, c_info = timed("prune_cluster_int8: clustering epoch", cluster_and_fine_tune,
                      copy_model(p), cluster_cfg, layers, lr, 2, train_ds())
    out["prune_cluster_int8"] = (m, steps_info(pruning=p_info, clustering=c_info))
    m, q_info = timed("prune_pqat_int8: PQAT epoch", quantization_aware_fine_tune,
                      copy_model(p), qat_cfg, layers, lr, 2, train_ds())
    out["prune_pqat_int8"] = (m, steps_info(pruning=p_info, quantization_aware=q_info))

    # Structured branch: filter pruning + 1 epoch shared (all conv layers trainable, as dense).
    reseed()
    start = copy_model(phase1)
    set_base_trainable(start, True)
    sp_cfg = StructuredPruningConfig(enabled=True, fractions=dict(budget.filter_fractions),
                                     fine_tune_epochs=1, patience=0)
    s, s_info = timed("filter pruning + 1 epoch", filter_prune_and_fine_tune, start, sp_cfg,
                      lr, 2, train_ds(), val_ds)
    sp, sp_info = timed(f"struct: prune {F - 2} epochs", prune, copy_model(s), F - 2)
    m, r_info = timed("struct_prune_int8: recovery epoch", prune, sp, 1, recovery=True)
    out["struct_prune_int8"] = (m, steps_info(structured_pruning=s_info, pruning=sp_info,
                                              recovery=r_info))
    reseed()
    sp, sp_info = timed(f"combination: prune {F - 3} epoch(s)", prune, copy_model(s), F - 3)
    c, c_info = timed("combination: clustering epoch", cluster_and_fine_tune, sp, cluster_cfg,
                      sp_info["layers"], lr, 2, train_ds())
    m, q_info = timed("combination: PCQAT epoch", quantization_aware_fine_tune, c, qat_cfg,
                      sp_info["layers"], lr, 2, train_ds(), preserve_clusters=True)
    out["struct_prune_cluster_pcqat_int8"] = (m, steps_info(
        structured_pruning=s_info, pruning=sp_info, clustering=c_info, quantization_aware=q_info))
    return out


def kernel_facts(model, layer_names: Sequence[str]) -> Dict[str, float]:
    """Kernel weights, their zero fraction and the most distinct non-zero values in one kernel,
    over `layer_names` of a trained (stripped or QAT) model (QAT wrappers looked through; their
    quantizer variables are not weights)."""
    from modules import clustering, qat
    zeros = total = 0
    distinct = 0
    for name in layer_names:
        k = qat.kernel(model, name)
        zeros += int(np.sum(k == 0.0))
        total += k.size
        distinct = max(distinct, clustering.distinct_values(k))
    return {"params": int(total), "sparsity": zeros / max(total, 1),
            "max_distinct": distinct}


def env_threads() -> List[int]:
    """Thread counts latency is measured at: 1 and the machine's CPU count."""
    return sorted({1, int(os.cpu_count() or 1)})
