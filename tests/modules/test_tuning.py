"""Tuner mechanics on tiny in-memory arrays (32x32, random init): grid coverage, seeded random
search, k-fold CV, the trials report and the TFX Tuner executor that writes it."""
import csv
import itertools
import json
import os

import numpy as np
import pytest

from modules import tuning, tuning_report
from modules.configs import (AugmentationConfig, ModelConfig, RunConfig, TrainerConfig,
                             TunerConfig)

SIZE = 32


def _arrays(n, seed):
    """Separable toy images: class 1 is bright, class 0 dark. float32 [n, 32, 32, 3], int64 [n]."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.uniform(0, 100, (n, SIZE, SIZE, 3)) + 150 * y[:, None, None, None]
    return x.astype(np.float32), y.astype(np.int64)


def tiny_config(seed=7, strategy="random", max_trials=3, cv_folds=1, search_space=None):
    """The RunConfig the pipeline hands the Tuner, shrunk for speed (random init, 4 head units,
    no augmentation; eager: a few dozen images beat tracing VGG16)."""
    space = search_space or {"learning_rate": [0.001, 0.01, 0.1], "batch_size": [8, 16, 32]}
    return RunConfig(seed=seed, class_names=["a", "b"], run_eagerly=True,
                     model=ModelConfig(image_size=SIZE, weights="none", head_units=4,
                                       dropout=0.0),
                     trainer=TrainerConfig(augmentation=AugmentationConfig(enabled=False)),
                     tuner=TunerConfig(strategy=strategy, max_trials=max_trials, epochs=1,
                                       seed=seed, cv_folds=cv_folds, **space))


X, Y = _arrays(24, 0)
XV, YV = _arrays(12, 1)


def _search(cfg, directory):
    tuner = tuning.make_tuner(cfg, str(directory))
    tuner.search(x=X, y=Y, x_val=XV, y_val=YV, config=cfg)
    return tuner


def _sequence(tuner):
    return [(r["hyperparameters"], r["mean"]) for r in tuning_report.trial_rows(tuner)]


def tiny_tuner_fn(fn_args):
    """A tuner_fn for the executor test: the real tuner on the tiny arrays (ignores the files)."""
    from tfx.components.tuner.component import TunerFnResult
    cfg = RunConfig.from_dict(fn_args.custom_config)
    return TunerFnResult(tuner=tuning.make_tuner(cfg, fn_args.working_dir),
                         fit_kwargs={"x": X, "y": Y, "x_val": XV, "y_val": YV, "config": cfg})


@pytest.fixture(scope="module")
def random_runs(tmp_path_factory):
    """Two random searches with seed 7 and one with seed 8 (2 trials each)."""
    d = tmp_path_factory.mktemp("random")
    return [_search(tiny_config(seed=s, max_trials=2), d / f"run{i}")
            for i, s in enumerate((7, 7, 8))]


def test_random_search_is_reproducible(random_runs):
    first, again, _ = random_runs
    assert len(_sequence(first)) == 2
    assert _sequence(first) == _sequence(again)
    assert (first.get_best_hyperparameters()[0].values ==
            again.get_best_hyperparameters()[0].values)


def test_different_seeds_give_different_random_orders(random_runs):
    first, _, other = random_runs
    order = [r["hyperparameters"] for r in tuning_report.trial_rows(first)]
    other_order = [r["hyperparameters"] for r in tuning_report.trial_rows(other)]
    assert order != other_order


def _oracle_trials(oracle, directory):
    """Drives a keras-tuner oracle as Tuner.search does (score 0.5 each); returns the trials'
    hyperparameter values in order."""
    import keras_tuner
    oracle._set_project_dir(str(directory), "oracle")  # pylint: disable=protected-access
    seen = []
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status == keras_tuner.engine.trial.TrialStatus.STOPPED:
            return seen
        seen.append(tuple(sorted(trial.hyperparameters.values.items())))
        oracle.update_trial(trial.trial_id, {tuning.OBJECTIVE: 0.5})
        oracle.end_trial(trial)


def test_random_search_runs_every_trial_asked_for(tmp_path):
    """max_trials = grid size: every seed tries all 9 combinations once (keras-tuner's own oracle
    gave up early for about half the seeds after 20 repeated draws)."""
    import keras_tuner
    space = tuning.search_space({"learning_rate": [0.001, 0.01, 0.1], "batch_size": [16, 32, 64]})
    for seed in range(12):
        oracle = tuning.CompleteRandomSearchOracle(
            objective=keras_tuner.Objective(tuning.OBJECTIVE, "max"), max_trials=9, seed=seed,
            hyperparameters=space)
        trials = _oracle_trials(oracle, tmp_path / str(seed))
        assert len(trials) == 9 and len(set(trials)) == 9, (seed, trials)


def test_grid_max_trials_is_the_grid_size(tmp_path):
    cfg = tiny_config(strategy="grid", max_trials=1)  # max_trials is ignored by the grid
    tuner = tuning.make_tuner(cfg, str(tmp_path), project_name="size")
    assert tuner.oracle.max_trials == 9  # an integer: TFX's results writer needs one


@pytest.mark.parametrize("strategy", ["random", "grid", "bayesian", "hyperband"])
def test_seed_0_is_refused_not_silently_unseeded(strategy, tmp_path):
    """keras-tuner's oracles take seed 0 (falsy) as "no seed" and draw a random one (#16): every
    tuner.seed reaches the oracle as given, and 0 is refused instead of searching unseeded."""
    tuner = tuning.make_tuner(tiny_config(seed=1, strategy=strategy), str(tmp_path), "one")
    assert tuner.oracle.seed == 1
    with pytest.raises(ValueError, match="tuner.seed"):
        tuning.make_tuner(tiny_config(seed=0, strategy=strategy), str(tmp_path), "zero")


def test_kfold_partition_is_seeded_and_complete():
    folds = tuning.kfold_indices(20, 3, seed=5)
    assert sorted(np.concatenate(folds).tolist()) == list(range(20))
    assert [len(f) for f in folds] == [7, 7, 6]
    assert all(np.array_equal(a, b) for a, b in zip(folds, tuning.kfold_indices(20, 3, seed=5)))
    assert not all(np.array_equal(a, b) for a, b in zip(folds, tuning.kfold_indices(20, 3, 6)))
    with pytest.raises(ValueError, match="cv_folds=30 exceeds"):
        tuning.kfold_indices(20, 30, seed=5)


def test_make_folds_holds_out_each_fold_once():
    folds = tuning.make_folds(X, Y, XV, YV, 3, seed=1)
    assert len(folds) == 3
    held_out = np.concatenate([xv for _, _, xv, _ in folds])
    assert held_out.shape[0] == len(Y)
    for xt, _, xv, _ in folds:  # no overlap between a fold's train and held-out parts
        assert len(xt) + len(xv) == len(Y)
        assert not set(map(bytes, xt)) & set(map(bytes, xv))
    (only,) = tuning.make_folds(X, Y, XV, YV, 1, seed=1)  # cv_folds 1: plain train/eval
    assert only[2] is XV


def test_folds_are_built_when_read_and_not_kept():
    """A search holds the arrays once: each fold's train part (its mirrors too) is a new array
    per read, equal every time, and reading past the last fold stops iteration."""
    folds = tuning.make_folds(X, Y, XV, YV, 3, seed=1, mirrored=True)
    first, again = folds[0], folds[0]
    assert first[0] is not again[0] and np.array_equal(first[0], again[0])
    assert len(first[0]) == 2 * (len(Y) - len(first[2]))
    assert np.array_equal(folds[-1][2], folds[2][2])
    with pytest.raises(IndexError):
        folds[3]
    assert len(list(folds)) == 3


def test_cross_validated_trial_records_folds_mean_std_and_seconds(tmp_path):
    cfg = tiny_config(cv_folds=2, max_trials=1)
    rows = tuning_report.trial_rows(_search(cfg, tmp_path))
    (row,) = rows
    assert len(row["fold_scores"]) == 2
    assert row["mean"] == pytest.approx(np.mean(row["fold_scores"]))
    assert row["std"] == pytest.approx(np.std(row["fold_scores"]))
    assert row["seconds"] > 0
    assert row["objective"].startswith("val_accuracy: accuracy on the validation split")
    paths = tuning_report.write_trials_report(rows, str(tmp_path / "report"))
    with open(paths["trials.csv"], encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [k for k in table[0] if k.startswith("fold")] == ["fold1", "fold2"]
    assert float(table[0]["mean"]) == pytest.approx(row["mean"])


def test_unknown_or_empty_search_space_is_rejected():
    with pytest.raises(ValueError, match="unknown hyperparameter 'momentum'"):
        tuning.search_space({"momentum": [0.9]})
    with pytest.raises(ValueError, match="batch_size has no values"):
        tuning.search_space({"batch_size": []})


def run_trials_tuner(tmp_path, cfg) -> tuple:
    """TFX's Tuner executor path (TrialsTuner) on the tiny arrays (`tiny_tuner_fn`) with `cfg`
    as custom_config; returns the URIs (best hyperparameters, tuner results)."""
    from tfx.types import artifact_utils, standard_artifacts, standard_component_specs as specs

    from components.trials_tuner.executor import Executor

    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "validation"])
    best, results = standard_artifacts.HyperParameters(), standard_artifacts.TunerResults()
    best.uri, results.uri = str(tmp_path / "best"), str(tmp_path / "results")
    for a in (best, results):
        os.makedirs(a.uri)
    exec_properties = {
        specs.TUNER_FN_KEY: f"{__name__}.tiny_tuner_fn",
        specs.TRAIN_ARGS_KEY: '{"splits": ["train"]}',
        specs.EVAL_ARGS_KEY: '{"splits": ["validation"]}',
        specs.CUSTOM_CONFIG_KEY: json.dumps(cfg.to_dict())}
    executor = Executor(Executor.Context(tmp_dir=str(tmp_path / "tmp"), unique_id="1"))
    executor.Do({specs.EXAMPLES_KEY: [examples]},
                {specs.BEST_HYPERPARAMETERS_KEY: [best], specs.TUNER_RESULTS_KEY: [results]},
                exec_properties)
    return best.uri, results.uri


def test_executor_grid_covers_the_product_once_and_writes_the_report(tmp_path):
    """The TFX Tuner executor path with the grid strategy over 2 x 2: every combination exactly
    once; best_hyperparameters.txt, tuner_results.json and trials.json/csv/png written."""
    space = {"learning_rate": [0.001, 0.01], "batch_size": [8, 16]}
    best, results = run_trials_tuner(tmp_path, tiny_config(strategy="grid", max_trials=1,
                                                           search_space=space))
    assert os.path.isfile(os.path.join(best, "best_hyperparameters.txt"))
    names = sorted(os.listdir(results))
    assert names == ["trials.csv", "trials.json", "trials.png", "tuner_results.json"]
    with open(os.path.join(results, "trials.json"), encoding="utf-8") as f:
        trials = json.load(f)
    seen = [(t["hyperparameters"]["learning_rate"], t["hyperparameters"]["batch_size"])
            for t in trials]
    assert sorted(seen) == sorted(itertools.product(*space.values()))
    with open(os.path.join(results, "tuner_results.json"), encoding="utf-8") as f:
        assert len(json.load(f)) == 4  # TFX's own table: all 4 trials (max_trials = grid size)
    assert trials[-1]["best_so_far"] == max(t["mean"] for t in trials)
    with open(os.path.join(results, "trials.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _live_train_graphs() -> int:
    """Traced Keras train functions still alive in this process."""
    import gc

    from tensorflow.python.framework.func_graph import FuncGraph
    gc.collect()
    return sum(1 for o in gc.get_objects()
               if isinstance(o, FuncGraph) and o.name == "train_function")


def test_a_traced_trial_leaves_no_graph_behind():
    """#16: each trial in one process kept ~90 MB (its traced train graph, held by the custom
    gradient TensorFlow registers globally for the optimizer's all-reduce, and through the graph
    the model's variables). Traced (not eager), a trial now leaves neither a graph nor a
    registry entry behind (without `released_trial_graphs` it leaves both: this test fails), and
    a custom gradient registered outside the trial is kept."""
    import dataclasses

    import tensorflow as tf

    @tf.custom_gradient
    def doubled(x):
        return 2.0 * x, lambda dy: 2.0 * dy

    before_outside = tuning.custom_gradient_names()
    tf.function(doubled).get_concrete_function(tf.TensorSpec([], tf.float32))
    outside = tuning.custom_gradient_names() - before_outside
    assert len(outside) == 1  # graph mode registered it
    graphs, names = _live_train_graphs(), tuning.custom_gradient_names()
    cfg = dataclasses.replace(tiny_config(), run_eagerly=False)
    score, trained = tuning.train_trial({"learning_rate": 0.01, "batch_size": 8}, cfg,
                                        (X, Y, XV, YV), 7)
    assert trained == [0] and 0.0 <= score <= 1.0
    assert tuning.custom_gradient_names() == names and outside <= names
    assert _live_train_graphs() <= graphs
