"""TFX Tuner `tuner_fn`: a seeded Keras Tuner search (modules/tuner_strategies.py) over the
Trainer's hyperparameters.

keras-tuner's own `run_trial` insists on Keras 3 models; the project builds `tf_keras` ones, so the
tuners override `run_trial` (`ArrayTrialsMixin`): each trial builds the model, trains it on
in-memory Transform output with the trial's batch size (a real hyperparameter: the dataset is
rebuilt per trial), and returns its metrics. With `cv_folds > 1` a trial is k-fold
cross-validated on the train split (folds fixed by the seed) and its objective is the mean
held-out accuracy over folds; `cv_folds == 1` trains on the train split and scores on the
validation split (never the test split).

Search space (`tuner.search_space()`): learning_rate, batch_size and optionally head_units,
dropout and unfreeze_blocks (phase 2 depth: after the head epochs, the top N VGG16 conv blocks are
unfrozen and trained `tuner.epochs` more epochs at `trainer.fine_tune.learning_rate`).
A trial's score depends only on its hyperparameters, the seed and the data, never on search order.
"""
import itertools
import random
import time
from typing import Any, Dict, List, Sequence, Tuple

import keras_tuner
import numpy as np
import tf_keras
from absl import logging

from modules.configs import SEARCH_SPACE_TYPES, RunConfig
from modules.data import arrays_dataset
from modules.model import build_model_from_config, set_base_trainable
from modules.training import class_weight_for, compile_model
from modules.tuner_strategies import strategy

OBJECTIVE = "val_accuracy"
SEARCH_SPACE_KEYS = tuple(SEARCH_SPACE_TYPES)

Fold = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_val, y_val


def search_space(space: Dict[str, Sequence[Any]]) -> keras_tuner.HyperParameters:
    """{'learning_rate': [..], 'batch_size': [..], ...} -> HyperParameters of Choice entries."""
    hp = keras_tuner.HyperParameters()
    for name, values in space.items():
        if name not in SEARCH_SPACE_TYPES:
            raise ValueError(f"search space: unknown hyperparameter {name!r} "
                             f"(known: {', '.join(SEARCH_SPACE_KEYS)})")
        if not values:
            raise ValueError(f"search space: {name} has no values")
        cast = SEARCH_SPACE_TYPES[name]
        hp.Choice(name, [cast(v) for v in values], ordered=False)
    return hp


def grid_size(hp: keras_tuner.HyperParameters) -> int:
    """Number of combinations in a space of Choice entries (product of their sizes)."""
    return int(np.prod([len(p.values) for p in hp.space]))


def kfold_indices(n: int, folds: int, seed: int) -> List[np.ndarray]:
    """Deterministic, seeded partition of range(n) into `folds` sorted index arrays."""
    if folds > n:
        raise ValueError(f"cv_folds={folds} exceeds the {n} training examples")
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(perm, folds)]


def make_folds(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, folds: int,
               seed: int) -> List[Fold]:
    """k (train, held-out) splits of the train arrays; folds == 1: [(train, eval)]."""
    if folds <= 1:
        return [(x, y, x_val, y_val)]
    splits = kfold_indices(len(y), folds, seed)
    out = []
    for k in range(folds):
        tr = np.concatenate([s for j, s in enumerate(splits) if j != k])
        out.append((x[tr], y[tr], x[splits[k]], y[splits[k]]))
    return out


def train_and_score(values: Dict[str, Any], config: RunConfig, fold: Fold, seed: int) -> float:
    """Builds, trains and scores one model; returns accuracy in [0, 1] on the fold's held-out
    part."""
    xt, yt, xv, yv = fold
    num_classes = config.num_classes
    weights_path = config.weights_path or None
    lr = float(values.get("learning_rate", config.tuner.learning_rate[0]))
    batch_size = int(values.get("batch_size", config.tuner.batch_size[0]))
    epochs = config.tuner.epochs
    tf_keras.backend.clear_session()
    model = build_model_from_config(config, values, weights_path, seed)
    compile_model(model, lr, num_classes)
    model.run_eagerly = config.run_eagerly  # tests on a few dozen images: skips graph tracing
    train_ds = arrays_dataset(xt, yt, batch_size, shuffle=True, seed=seed)
    class_weight = class_weight_for(config.trainer.class_weight, yt, num_classes)
    model.fit(train_ds, epochs=epochs, verbose=0, class_weight=class_weight)
    blocks = int(values.get("unfreeze_blocks", 0))
    if weights_path and blocks > 0:
        set_base_trainable(model, True, top_blocks=blocks)
        compile_model(model, config.trainer.fine_tune.learning_rate, num_classes)
        model.run_eagerly = config.run_eagerly
        model.fit(train_ds, epochs=epochs, verbose=0, class_weight=class_weight)
    result = model.evaluate(arrays_dataset(xv, yv, 256, False, seed), verbose=0, return_dict=True)
    return float(result["accuracy"])


def cross_validate(values: Dict[str, Any], config: RunConfig, folds: List[Fold],
                   seed: int) -> Dict[str, float]:
    """One trial: per-fold accuracies, their mean and std (population), and wall seconds."""
    started = time.time()
    scores = [train_and_score(values, config, fold, seed + k) for k, fold in enumerate(folds)]
    metrics = {OBJECTIVE: float(np.mean(scores)), "val_accuracy_std": float(np.std(scores)),
               "seconds": time.time() - started}
    for k, s in enumerate(scores):
        metrics[f"fold{k}_accuracy"] = s
    return metrics


class ArrayTrialsMixin:
    """run_trial on in-memory arrays; search() kwargs: x, y, x_val, y_val, config (a RunConfig
    or its dict)."""

    def run_trial(self, trial, x, y, x_val, y_val, config):  # pylint: disable=arguments-differ
        if not isinstance(config, RunConfig):
            config = RunConfig.from_dict(config)
        folds = make_folds(x, y, x_val, y_val, config.tuner.cv_folds, tuner_seed(config))
        values = dict(trial.hyperparameters.values)
        metrics = cross_validate(values, config, folds, config.seed)
        logging.info("Trial %s %s -> %s", trial.trial_id, values, metrics)
        return metrics


class CompleteRandomSearchOracle(keras_tuner.oracles.RandomSearchOracle):
    """keras-tuner's seeded random oracle that runs its `max_trials` even in a small space.

    keras-tuner gives up (the search ends early) after 20 random draws in a row that repeat a
    tried combination: with 8 of 9 combinations tried that happened in half the seeds. Then this
    oracle draws, seeded, among the combinations not yet tried; the search ends only when every
    combination has been tried or `max_trials` is reached.
    """

    def populate_space(self, trial_id):
        result = super().populate_space(trial_id)
        if result["status"] != keras_tuner.engine.trial.TrialStatus.STOPPED:
            return result
        names = [hp.name for hp in self.hyperparameters.space]
        untried = [dict(zip(names, combo)) for combo in itertools.product(
            *[hp.values for hp in self.hyperparameters.space])]
        untried = [v for v in untried if not self._duplicate(v)]
        if not untried:
            return result
        rng = random.Random(f"{self.seed}-{len(self.trials)}")
        return {"status": keras_tuner.engine.trial.TrialStatus.RUNNING,
                "values": rng.choice(untried)}


def tuner_seed(config: RunConfig) -> int:
    """Seed of the search order and the folds (`tuner.seed`); models train with `seed`."""
    return config.tuner.seed


def make_tuner(config: RunConfig, directory: str, project_name: str = "tuning"):
    """The configured tuner (`tuner.strategy`, modules/tuner_strategies.py) over
    `tuner.search_space()`. max_trials is always an integer (TFX's result writer crashes on
    None): the strategy decides it from the configured number and the grid's size."""
    space = search_space(config.tuner.search_space())
    chosen = strategy(config.tuner.strategy)
    return chosen.build(hyperparameters=space,
                        objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
                        max_trials=chosen.max_trials(config.tuner.max_trials, grid_size(space)),
                        seed=tuner_seed(config), tune_new_entries=False, directory=directory,
                        project_name=project_name, overwrite=True)


def tuner_fn(fn_args):
    """TFX Tuner entry point: loads the Transform output into memory and returns the tuner."""
    import tensorflow_transform as tft  # local: keeps the trial code importable without TFX
    from tfx.components.tuner.component import TunerFnResult

    from modules.data import load_arrays
    config = RunConfig.from_dict(fn_args.custom_config)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    from modules.image_size import with_transform_image_size
    config = with_transform_image_size(config, fn_args.custom_config, tf_transform_output)
    x, y = load_arrays(fn_args.train_files, fn_args.data_accessor, tf_transform_output)
    x_val, y_val = load_arrays(fn_args.eval_files, fn_args.data_accessor, tf_transform_output)
    tuner = make_tuner(config, fn_args.working_dir)
    return TunerFnResult(tuner=tuner, fit_kwargs={"x": x, "y": y, "x_val": x_val, "y_val": y_val,
                                                  "config": config.to_dict()})
