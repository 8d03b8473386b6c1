"""TFX Tuner `tuner_fn`: a seeded Keras Tuner search (modules/tuner_strategies.py) over the
Trainer's hyperparameters.

keras-tuner's own `run_trial` insists on Keras 3 models; the project builds `tf_keras` ones, so the
tuners override `run_trial` (`ArrayTrialsMixin`): each trial builds the model, trains it on
in-memory Transform output with the trial's batch size (a real hyperparameter: the dataset is
rebuilt per trial), and returns its metrics. With the base frozen and no augmentation, the head
epochs train on the base's pooled features, computed once for all trials
(modules/feature_cache.py). With `cv_folds > 1` a trial is k-fold
cross-validated on the train split (folds fixed by the seed) and its objective is the mean
held-out accuracy over folds; `cv_folds == 1` trains on the train split and scores on the
validation split (never the test split).

Search space (`tuner.search_space()`): learning_rate, batch_size and optionally head_units,
dropout and unfreeze_blocks (phase 2 depth: after the head epochs, the top N VGG16 conv blocks are
unfrozen and trained `tuner.epochs` more epochs at `trainer.fine_tune.learning_rate`).
A trial's score depends only on its hyperparameters, the seed and the data, never on search order.
Hyperband trials (`tuner/epochs`, `tuner/initial_epoch`, `tuner/trial_id`) train only their epoch
range of that schedule, resuming from their predecessor's checkpoint (`epoch_schedule`,
`train_trial`); every trial records the epochs it trained.
"""
import contextlib
import gc
import itertools
import os
import random
import time
import collections.abc
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import keras_tuner
import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from modules import feature_cache
from modules.configs import SEARCH_SPACE_TYPES, RunConfig
from modules.data import arrays_dataset
from modules.mirroring import with_mirrored
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


class Folds(collections.abc.Sequence):
    """k (train, held-out) folds, each built when it is read and not kept: the search holds the
    arrays once, not every fold's (k-1)/k copy (2x that with mirrored copies) for all trials."""

    def __init__(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                 folds: int, seed: int, mirrored: bool = False):
        self.arrays = (x, y, x_val, y_val)
        self.splits = kfold_indices(len(y), folds, seed) if folds > 1 else None
        self.mirrored = mirrored

    def __len__(self) -> int:
        return len(self.splits) if self.splits is not None else 1

    def __getitem__(self, k: int) -> Fold:
        if not -len(self) <= k < len(self):
            raise IndexError(f"fold {k} of {len(self)}")
        x, y, x_val, y_val = self.arrays
        if self.splits is not None:
            held = self.splits[k]
            train = np.concatenate([s for j, s in enumerate(self.splits) if j != k % len(self)])
            x, y, x_val, y_val = x[train], y[train], x[held], y[held]
        return (*with_mirrored(x, y), x_val, y_val) if self.mirrored else (x, y, x_val, y_val)


def make_folds(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, folds: int,
               seed: int, mirrored: bool = False) -> Folds:
    """k (train, held-out) splits of the train arrays; folds == 1: [(train, eval)]. `mirrored`
    (trainer.augmentation.mirrored_copies): each fold's train part plus its mirrors, as the
    Trainer fits; the held-out part as is. Each fold is built as it is read (`Folds`)."""
    return Folds(x, y, x_val, y_val, folds, seed, mirrored)


def epoch_schedule(values: Dict[str, Any], config: RunConfig,
                   epochs: Optional[int] = None) -> Tuple[int, int]:
    """(switch, total): a trial trains epochs [0, total), head only before `switch`, with the top
    `unfreeze_blocks` VGG16 blocks unfrozen from `switch` on (phase 2; only with pretrained
    weights). Default (grid, random, bayesian): `tuner.epochs` head epochs, then as many phase-2
    epochs when phase 2 applies. `epochs` (Hyperband's `tuner/epochs`) sets the total instead;
    phase 2 still starts after `tuner.epochs` head epochs."""
    head = config.tuner.epochs
    phase2 = bool(config.weights_path) and int(values.get("unfreeze_blocks", 0)) > 0
    total = epochs if epochs is not None else (2 * head if phase2 else head)
    return (head if phase2 else total), int(total)


CUSTOM_GRADIENT_PREFIX = "CustomGradient-"  # tensorflow/python/ops/custom_gradient.py


def custom_gradient_names() -> Set[str]:
    """The graph-mode custom gradients in TensorFlow's global gradient registry."""
    return {name for name in _gradient_registry() if name.startswith(CUSTOM_GRADIENT_PREFIX)}


def _gradient_registry() -> Dict[str, Any]:
    from tensorflow.python.framework import ops as tf_ops  # pylint: disable=import-outside-toplevel
    return tf_ops.gradient_registry._registry  # pylint: disable=protected-access


@contextlib.contextmanager
def released_trial_graphs():
    """Frees what a trial's traced training leaves behind, once the block ends.

    Every `model.fit` traces a train function in which the optimizer sums the gradients with
    `ReplicaContext.all_reduce`, a `tf.custom_gradient`; in graph mode TensorFlow registers its
    gradient function under a new `CustomGradient-<uid>` name in the global gradient registry and
    never removes it (tensorflow/tensorflow#97697). That function holds the traced graph, which
    captures the model's variables: each trial's model (VGG16 weights, optimizer slots, graph)
    stayed in the process for good, ~90 MB per trial at 32x32 (docs/results.md, "Memory per
    trial"). After the block, the entries the block registered are dropped (nothing
    differentiates a finished trial's graphs again; entries registered before the block are
    kept), the Keras session is cleared and the garbage collected."""
    before = custom_gradient_names()
    try:
        yield
    finally:
        registry = _gradient_registry()
        for name in custom_gradient_names() - before:
            registry.pop(name, None)
        tf_keras.backend.clear_session()
        gc.collect()


def train_trial(values: Dict[str, Any], config: RunConfig, fold: Fold, seed: int,
                epochs: Optional[int] = None, initial_epoch: int = 0,
                load_weights: Optional[str] = None,
                save_weights: Optional[str] = None) -> Tuple[float, List[int]]:
    """Builds, trains and scores one model: epochs [initial_epoch, total) of `epoch_schedule`,
    starting from the weights in `load_weights` (a resumed Hyperband trial; the optimizer starts
    afresh, as in keras-tuner's own Hyperband), saving the final weights to `save_weights`.
    Returns accuracy in [0, 1] on the fold's held-out part and the epoch indices trained (from
    Keras' History). The model and its traced graphs are released when it returns
    (`released_trial_graphs`)."""
    with released_trial_graphs():
        return _train_trial(values, config, fold, seed, epochs, initial_epoch, load_weights,
                            save_weights)


def _train_trial(values, config, fold, seed, epochs, initial_epoch, load_weights, save_weights):
    xt, yt, xv, yv = fold  # mirrored copies, when configured, are in the fold (make_folds)
    num_classes = config.num_classes
    weights_path = config.weights_path or None
    lr = float(values.get("learning_rate", config.tuner.learning_rate[0]))
    batch_size = int(values.get("batch_size", config.tuner.batch_size[0]))
    switch, total = epoch_schedule(values, config, epochs)
    tf_keras.backend.clear_session()
    model = build_model_from_config(config, values, weights_path, seed)
    if load_weights:
        if initial_epoch > switch:  # saved in phase 2: same trainable layers as when saved
            set_base_trainable(model, True, top_blocks=int(values["unfreeze_blocks"]))
        model.load_weights(load_weights)
    compile_model(model, lr, num_classes, jit_compile=config.trainer.jit_compile)
    model.run_eagerly = config.run_eagerly  # tests on a few dozen images: skips graph tracing
    def train_ds():  # images: only where the whole model is fitted
        return arrays_dataset(xt, yt, batch_size, shuffle=True, seed=seed,
                              input_config=config.trainer.input)

    class_weight = class_weight_for(config.trainer.class_weight, yt, num_classes)
    trained: List[int] = []
    if initial_epoch < min(switch, total):
        if feature_cache.why_not_cached(model, tf.distribute.get_strategy()) is None:
            # frozen base, no augmentation: the head trains on features shared by every trial
            features = feature_cache.cached_pooled_features(
                model, xt, (weights_path, config.model.image_size, config.model.pooling))
            history = feature_cache.fit_tail(
                model, features, yt, initial_epoch=initial_epoch, epochs=min(switch, total),
                learning_rate=lr, num_classes=num_classes, batch_size=batch_size, seed=seed,
                class_weight=class_weight, jit_compile=config.trainer.jit_compile,
                run_eagerly=config.run_eagerly, verbose=0)
        else:
            history = model.fit(train_ds(), initial_epoch=initial_epoch, epochs=min(switch, total),
                                verbose=0, class_weight=class_weight)
        trained += list(history.epoch)
    if total > switch:
        set_base_trainable(model, True, top_blocks=int(values["unfreeze_blocks"]))
        compile_model(model, config.trainer.fine_tune.learning_rate, num_classes,
                      jit_compile=config.trainer.jit_compile)
        model.run_eagerly = config.run_eagerly
        history = model.fit(train_ds(), initial_epoch=max(initial_epoch, switch), epochs=total,
                            verbose=0, class_weight=class_weight)
        trained += list(history.epoch)
    if save_weights:
        model.save_weights(save_weights)  # HDF5: weights only, no optimizer state
    result = model.evaluate(arrays_dataset(xv, yv, 256, False, seed), verbose=0, return_dict=True)
    return float(result["accuracy"]), trained


def train_and_score(values: Dict[str, Any], config: RunConfig, fold: Fold, seed: int) -> float:
    """Builds, trains and scores one model; returns accuracy in [0, 1] on the fold's held-out
    part."""
    return train_trial(values, config, fold, seed)[0]


def cross_validate(values: Dict[str, Any], config: RunConfig, folds: Sequence[Fold],
                   seed: int, **budget) -> Dict[str, float]:
    """One trial: per-fold accuracies, their mean and std (population), wall seconds, and the
    epochs trained (summed over folds) and the first of them. `budget`: train_trial's epochs,
    initial_epoch, load_weights, save_weights (Hyperband: one fold only)."""
    started = time.time()
    runs = [train_trial(values, config, fold, seed + k, **budget) for k, fold in enumerate(folds)]
    scores = [score for score, _ in runs]
    metrics = {OBJECTIVE: float(np.mean(scores)), "val_accuracy_std": float(np.std(scores)),
               "seconds": time.time() - started,
               "epochs": float(sum(len(trained) for _, trained in runs)),
               "initial_epoch": float(min([e for _, trained in runs for e in trained] or [0]))}
    for k, s in enumerate(scores):
        metrics[f"fold{k}_accuracy"] = s
    return metrics


class ArrayTrialsMixin:
    """run_trial on in-memory arrays; search() kwargs: x, y, x_val, y_val, config (a RunConfig
    or its dict)."""

    def run_trial(self, trial, x, y, x_val, y_val, config):  # pylint: disable=arguments-differ
        if not isinstance(config, RunConfig):
            config = RunConfig.from_dict(config)
        folds = self.folds(x, y, x_val, y_val, config)
        values = dict(trial.hyperparameters.values)
        budget = {}
        if "tuner/epochs" in values:  # Hyperband: this trial's epochs, maybe resumed
            if len(folds) > 1:
                raise ValueError("hyperband trials resume from one checkpoint: cv_folds must be 1")
            past = values.get("tuner/trial_id")
            budget = {"epochs": int(values["tuner/epochs"]),
                      "initial_epoch": int(values["tuner/initial_epoch"]),
                      "load_weights": self.trial_checkpoint(past) if past else None,
                      "save_weights": self.trial_checkpoint(trial.trial_id)
                      if self.may_be_promoted(trial.trial_id) else None}
            values = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        metrics = cross_validate(values, config, folds, config.seed, **budget)
        logging.info("Trial %s %s -> %s", trial.trial_id, values, metrics)
        return metrics

    def folds(self, x, y, x_val, y_val, config: RunConfig) -> Folds:
        """`make_folds` once per search (every trial gets the same folds; each fold's arrays
        are built as a trial reads it and freed after)."""
        # the arrays themselves are kept in the key, so an id cannot be reused by other arrays
        key = (x, y, x_val, y_val, config.tuner.cv_folds, tuner_seed(config),
               config.trainer.augmentation.mirrored_copies)
        cached = getattr(self, "_folds", None)
        if cached is None or len(cached[0]) != len(key) or not all(
                a is b if isinstance(a, np.ndarray) else a == b
                for a, b in zip(cached[0], key)):
            self._folds = (key, make_folds(x, y, x_val, y_val, config.tuner.cv_folds,
                                           tuner_seed(config),
                                           config.trainer.augmentation.mirrored_copies))
        return self._folds[1]

    def trial_checkpoint(self, trial_id: str) -> str:
        """The weights a Hyperband trial ends with (HDF5), in its keras-tuner trial directory."""
        return os.path.join(self.get_trial_dir(trial_id), "checkpoint.h5")

    # Hyperband checkpoints (~59 MB each at 224x224) are read only by the trial promoted from
    # them, within the same bracket; nothing reads them after the search (the Trainer retrains
    # from the best hyperparameters; keras-tuner's get_best_models reads other files). So each
    # is deleted once its bracket is complete, and every one left at the end of the search.
    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.drop_checkpoints(self.checkpoints_needed())

    def on_search_end(self):
        super().on_search_end()
        self.drop_checkpoints(keep=set())

    def may_be_promoted(self, trial_id: str) -> bool:
        """False for a Hyperband trial in the last round of its bracket (no trial resumes from
        it: its checkpoint is not written); True when this tuner cannot tell."""
        oracle = self.oracle
        if not isinstance(oracle, keras_tuner.oracles.HyperbandOracle):
            return True
        for bracket in oracle._brackets:  # pylint: disable=protected-access
            for round_num, infos in enumerate(bracket["rounds"]):
                if any(info["id"] == trial_id for info in infos):
                    return round_num < len(bracket["rounds"]) - 1
        return True

    def checkpoints_needed(self) -> Optional[set]:
        """Trial ids whose checkpoint a later trial may still resume from: those in the Hyperband
        oracle's unfinished brackets. None when this tuner cannot know (no local Hyperband
        oracle, e.g. a distributed worker's oracle client): keep them all."""
        oracle = self.oracle
        if not isinstance(oracle, keras_tuner.oracles.HyperbandOracle):
            return None
        needed = set()
        for bracket in oracle._brackets:  # pylint: disable=protected-access
            rounds, num = bracket["rounds"], bracket["bracket_num"]
            if len(rounds[-1]) == oracle._get_size(num, len(rounds) - 1):  # pylint: disable=protected-access
                continue  # complete: no trial of it is promoted again
            needed.update(info["id"] for r in rounds for info in r)
        return needed

    def drop_checkpoints(self, keep: Optional[set]) -> List[str]:
        """Deletes the trial checkpoints not in `keep` (None: none deleted); returns their
        paths."""
        if keep is None or not isinstance(self.oracle, keras_tuner.oracles.HyperbandOracle):
            return []
        dropped = []
        for trial_id in list(self.oracle.trials):
            path = self.trial_checkpoint(trial_id)
            if trial_id not in keep and os.path.exists(path):
                os.remove(path)
                dropped.append(path)
        return dropped


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
    """Seed of the search order and the folds (`tuner.seed`); models train with `seed`.
    ValueError for a seed < 1: keras-tuner's oracles take seed 0 (falsy) as unseeded and draw a
    random one, so the search would not be reproducible (the config check refuses it too)."""
    seed = int(config.tuner.seed)
    if seed < 1:
        raise ValueError(f"tuner.seed: expected >= 1, got {seed} (keras-tuner treats 0 as "
                         f"unseeded)")
    return seed


def make_tuner(config: RunConfig, directory: str, project_name: str = "tuning"):
    """The configured tuner (`tuner.strategy`, modules/tuner_strategies.py) over
    `tuner.search_space()`. max_trials is always an integer (TFX's result writer crashes on
    None): the strategy decides it from the configured number and the grid's size."""
    space = search_space(config.tuner.search_space())
    chosen = strategy(config.tuner.strategy)
    return chosen.build(hyperparameters=space,
                        objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
                        max_trials=chosen.max_trials(config.tuner.max_trials, grid_size(space)),
                        seed=tuner_seed(config), options=config.tuner.strategy_options(),
                        tune_new_entries=False, directory=directory,
                        project_name=project_name, overwrite=True)


def tuner_fn(fn_args):
    """TFX Tuner entry point: loads the Transform output into memory and returns the tuner."""
    import tensorflow_transform as tft  # local: keeps the trial code importable without TFX
    from tfx.components.tuner.component import TunerFnResult

    from modules.data import load_arrays
    config = RunConfig.from_custom_config(fn_args.custom_config)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    from modules.image_size import with_transform_image_size
    config = with_transform_image_size(config, fn_args.custom_config, tf_transform_output)
    x, y = load_arrays(fn_args.train_files, fn_args.data_accessor, tf_transform_output)
    x_val, y_val = load_arrays(fn_args.eval_files, fn_args.data_accessor, tf_transform_output)
    tuner = make_tuner(config, fn_args.working_dir)
    return TunerFnResult(tuner=tuner, fit_kwargs={"x": x, "y": y, "x_val": x_val, "y_val": y_val,
                                                  "config": config.to_dict()})
