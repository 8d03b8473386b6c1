"""TFX Tuner `tuner_fn`: Keras Tuner random or grid search over the Trainer's hyperparameters.

keras-tuner's own `run_trial` insists on Keras 3 models; the project builds `tf_keras` ones, so the
tuners here override `run_trial`: each trial builds the model, trains it on in-memory Transform
output with the trial's batch size (a real hyperparameter: the dataset is rebuilt per trial), and
returns its metrics. With `cv_folds > 1` a trial is k-fold cross-validated on the train split and
its objective is the mean over folds.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import time  # noqa: E402
from typing import Any, Dict, List  # noqa: E402

import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras  # noqa: E402
from absl import logging  # noqa: E402
from tfx.components.tuner.component import TunerFnResult  # noqa: E402

from modules.augmentation import AugmentationConfig  # noqa: E402
from modules.data import arrays_dataset, load_arrays  # noqa: E402
from modules.model import build_model  # noqa: E402
from modules.training import compile_model  # noqa: E402

OBJECTIVE = "val_accuracy"
SEARCH_SPACE_KEYS = ("learning_rate", "batch_size", "head_units", "dropout")


def search_space(space: Dict[str, List[Any]]) -> keras_tuner.HyperParameters:
    """{'learning_rate': [..], 'batch_size': [..], ...} -> HyperParameters of Choice entries."""
    hp = keras_tuner.HyperParameters()
    for name, values in space.items():
        if name not in SEARCH_SPACE_KEYS:
            raise ValueError(f"search space: unknown hyperparameter {name!r} "
                             f"(known: {', '.join(SEARCH_SPACE_KEYS)})")
        if not values:
            raise ValueError(f"search space: {name} has no values")
        hp.Choice(name, list(values), ordered=False)
    return hp


def kfold_indices(n: int, folds: int, seed: int) -> List[np.ndarray]:
    """Deterministic, seeded partition of range(n) into `folds` index arrays."""
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(perm, folds)]


class _ArrayTrialsMixin:
    """run_trial on in-memory arrays; fit kwargs: x, y, x_val, y_val, config."""

    def run_trial(self, trial, x, y, x_val, y_val, config):  # pylint: disable=arguments-differ
        values = dict(trial.hyperparameters.values)
        lr = float(values.get("learning_rate", config["learning_rate"]))
        batch_size = int(values.get("batch_size", config["batch_size"]))
        seed = int(config["seed"])
        folds = int(config.get("cv_folds", 1))
        if folds > 1:
            splits = kfold_indices(len(y), folds, seed)
            pairs = [(np.concatenate([s for j, s in enumerate(splits) if j != k]), splits[k])
                     for k in range(folds)]
            data = [(x[tr], y[tr], x[va], y[va]) for tr, va in pairs]
        else:
            data = [(x, y, x_val, y_val)]
        started = time.time()
        scores, aucs = [], []
        for fold, (xt, yt, xv, yv) in enumerate(data):
            tf_keras.backend.clear_session()
            model = build_model(int(config["image_size"]), len(config["class_names"]),
                                weights_path=config.get("weights_path") or None,
                                head_units=int(values.get("head_units", config["head_units"])),
                                dropout=float(values.get("dropout", config["dropout"])),
                                base_trainable=not config.get("weights_path"),
                                augmentation=AugmentationConfig(**config.get("augmentation", {})),
                                seed=seed + fold)
            compile_model(model, lr, len(config["class_names"]))
            model.fit(arrays_dataset(xt, yt, batch_size, shuffle=True, seed=seed + fold),
                      epochs=int(config["tuner_epochs"]), verbose=0)
            result = model.evaluate(arrays_dataset(xv, yv, 256, False, seed), verbose=0,
                                    return_dict=True)
            scores.append(float(result["accuracy"]))
            aucs.append(float(result.get("auc", float("nan"))))
        metrics = {OBJECTIVE: float(np.mean(scores)), "val_accuracy_std": float(np.std(scores)),
                   "val_auc": float(np.mean(aucs)), "seconds": time.time() - started}
        for k, s in enumerate(scores):
            metrics[f"fold{k}_accuracy"] = s
        logging.info("Trial %s %s -> %s", trial.trial_id, values, metrics)
        return metrics


class RandomSearchTuner(_ArrayTrialsMixin, keras_tuner.RandomSearch):
    """Seeded random search over the Choice space."""


class GridSearchTuner(_ArrayTrialsMixin, keras_tuner.GridSearch):
    """Exhaustive search over the Choice space."""


def grid_size(hp: keras_tuner.HyperParameters) -> int:
    return int(np.prod([len(p.values) for p in hp.space]))


def make_tuner(config: Dict[str, Any], directory: str, project_name: str = "tuning"):
    """The configured tuner (`strategy` random | grid) with the search space from `config`."""
    space = search_space(config["search_space"])
    objective = keras_tuner.Objective(OBJECTIVE, direction="max")
    common = dict(hypermodel=None, objective=objective, hyperparameters=space,
                  tune_new_entries=False, directory=directory, project_name=project_name,
                  overwrite=True, seed=int(config["seed"]))
    if config["strategy"] == "grid":
        # TFX's result writer needs an integer max_trials (None crashes it): the grid's size.
        return GridSearchTuner(max_trials=grid_size(space), **common)
    if config["strategy"] == "random":
        return RandomSearchTuner(max_trials=int(config["max_trials"]), **common)
    raise ValueError(f"tuner strategy {config['strategy']!r}: expected 'random' or 'grid'")


def tuner_fn(fn_args) -> TunerFnResult:
    """TFX Tuner entry point: loads the Transform output into memory and returns the tuner."""
    config = fn_args.custom_config
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    x, y = load_arrays(fn_args.train_files, fn_args.data_accessor, tf_transform_output)
    x_val, y_val = load_arrays(fn_args.eval_files, fn_args.data_accessor, tf_transform_output)
    tuner = make_tuner(config, fn_args.working_dir)
    return TunerFnResult(tuner=tuner, fit_kwargs={"x": x, "y": y, "x_val": x_val, "y_val": y_val,
                                                  "config": config})
