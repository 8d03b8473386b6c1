"""The Tuner's search strategies: one table, read by the config check (`tuner.strategy`), the
TFX `tuner_fn` (modules/tuning.py), the compiled pipeline and the docs.

Each entry says how many trials the strategy runs and builds its keras-tuner tuner; keras-tuner
(and TensorFlow) are imported only when a tuner is built, so the config can read this table
without them. Adding a strategy is one entry and its builder here (plus its tests). Every tuner
trains its trials on in-memory Transform output through `modules.tuning.ArrayTrialsMixin`
(keras-tuner's own `run_trial` insists on Keras 3 models; the project builds tf_keras ones).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Dict


@dataclass(frozen=True)
class TunerStrategy:
    """name: the `tuner.strategy` value; exhaustive: runs every combination once (max_trials is
    the grid's size), else at most `tuner.max_trials` distinct combinations."""
    name: str
    description: str
    exhaustive: bool
    builder: Callable[..., Any]

    def max_trials(self, configured: int, grid_size: int) -> int:
        """Trials the search runs: the grid's size for an exhaustive search, else the configured
        number capped at the grid's size (more would only repeat a combination)."""
        return grid_size if self.exhaustive else min(int(configured), grid_size)

    def build(self, **kwargs) -> Any:
        """The keras-tuner tuner: kwargs are hyperparameters, objective, max_trials, seed,
        options (TunerConfig.strategy_options()), directory, project_name, overwrite,
        tune_new_entries."""
        return self.builder(**kwargs)


@functools.lru_cache(maxsize=None)
def with_array_trials(base: type) -> type:
    """`base` (a keras-tuner Tuner class) with trials run on in-memory arrays."""
    from modules.tuning import ArrayTrialsMixin
    return type(f"Array{base.__name__}", (ArrayTrialsMixin, base), {})


def _random(*, hyperparameters, objective, max_trials, seed, options=None, **common):
    """keras-tuner's seeded random oracle, completed so it never stops short of max_trials
    (modules.tuning.CompleteRandomSearchOracle)."""
    import keras_tuner
    from modules.tuning import CompleteRandomSearchOracle
    oracle = CompleteRandomSearchOracle(objective=objective, max_trials=max_trials, seed=seed,
                                        hyperparameters=hyperparameters,
                                        tune_new_entries=common.pop("tune_new_entries", False))
    return with_array_trials(keras_tuner.Tuner)(oracle=oracle, **common)


def _grid(*, hyperparameters, objective, max_trials, seed, options=None, **common):
    """keras-tuner's GridSearch: every combination of the Choice space exactly once."""
    import keras_tuner
    return with_array_trials(keras_tuner.GridSearch)(
        hypermodel=None, objective=objective, max_trials=max_trials, seed=seed,
        hyperparameters=hyperparameters, **common)


def _bayesian(*, hyperparameters, objective, max_trials, seed, options=None, **common):
    """keras-tuner's seeded Bayesian optimization (Gaussian process, upper confidence bound),
    never repeating a combination (modules.tuner_oracles.CompleteBayesianOracle). options:
    num_initial_points, alpha, beta (unset: keras-tuner's defaults)."""
    import keras_tuner
    from modules.tuner_oracles import CompleteBayesianOracle
    kwargs = {k: v for k, v in (options or {}).items()
              if k in ("num_initial_points", "alpha", "beta")}
    oracle = CompleteBayesianOracle(objective=objective, max_trials=max_trials, seed=seed,
                                    hyperparameters=hyperparameters,
                                    tune_new_entries=common.pop("tune_new_entries", False),
                                    **kwargs)
    return with_array_trials(keras_tuner.Tuner)(oracle=oracle, **common)


def _hyperband(*, hyperparameters, objective, max_trials, seed, options=None, **common):
    """keras-tuner's Hyperband: successive halving over brackets of trials trained
    `tuner/epochs` epochs, promoted trials resuming from their checkpoint
    (modules.tuner_oracles.CompleteHyperbandOracle). options: max_epochs, factor,
    hyperband_iterations (unset: modules.configs.HYPERBAND_DEFAULTS); max_trials is ignored."""
    import keras_tuner

    from modules.configs import HYPERBAND_DEFAULTS
    from modules.tuner_oracles import CompleteHyperbandOracle
    kwargs = {k: (options or {}).get(k, default) for k, default in HYPERBAND_DEFAULTS.items()}
    oracle = CompleteHyperbandOracle(objective=objective, seed=seed,
                                     hyperparameters=hyperparameters,
                                     tune_new_entries=common.pop("tune_new_entries", False),
                                     **kwargs)
    return with_array_trials(keras_tuner.Tuner)(oracle=oracle, **common)


STRATEGIES: Dict[str, TunerStrategy] = {s.name: s for s in (
    TunerStrategy("random", "seeded random search, never repeating a combination", False,
                  _random),
    TunerStrategy("grid", "exhaustive: every combination once", True, _grid),
    TunerStrategy("bayesian", "seeded Bayesian optimization (Gaussian process), never "
                  "repeating a combination", False, _bayesian),
    TunerStrategy("hyperband", "Hyperband: many short trials, the best continued for more "
                  "epochs from their checkpoints (max_trials ignored)", False, _hyperband),
)}


# `tuner.strategy: auto` (both profiles' default): the strategy benchmarks/tuning.py measured best
# for the space's size and the trial budget (docs/results.md, "Which strategy when"). Resolved
# when the config is loaded (pipeline/config/load.py), so everything downstream (the tuner, the
# compiled pipeline, `pipeline validate`) sees the concrete name.
AUTO = "auto"


def auto_strategy(combinations: int, max_trials: int) -> str:
    """The measured rule (2026-12-02, 9 and 72 combinations, 3 training seeds x 10 search
    seeds). The budget covers every combination (max_trials >= combinations): grid; on 9
    combinations no strategy came within 1 point of the best with fewer epochs than the grid's
    own order, and the grid cannot miss the best. A smaller budget: random, which needed fewer
    epochs than Bayesian optimization on 72 combinations (keras-tuner's Gaussian process over
    unordered choices learned nothing useful there); Hyperband was cheapest when it got there
    but missed the target in some runs, so it is never chosen automatically."""
    return "grid" if max_trials >= combinations else "random"


def strategy(name: str) -> TunerStrategy:
    """The table entry for `name`; ValueError naming the known strategies otherwise."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown tuner strategy {name!r} (known: {', '.join(STRATEGIES)})")
    return STRATEGIES[name]
