"""The bayesian and hyperband strategies: their keras-tuner oracles driven with scores that depend
on the hyperparameters (no training), then tiny real searches (32x32 random-init VGG16 on the
arrays of test_tuning.py): seeded reproducibility, Hyperband's per-trial epochs and resumption
from the checkpoint the tuner hands a trial."""
import csv
import dataclasses
import glob
import math
import os

import h5py
import keras_tuner
import numpy as np
import pytest

from modules import tuner_oracles, tuner_strategies, tuning, tuning_report
from test_tuning import XV, YV, X, Y, run_trials_tuner, tiny_config  # pylint: disable=wrong-import-order

SPACE = {"learning_rate": [0.001, 0.01, 0.1], "batch_size": [16, 32, 64]}
OBJECTIVE = keras_tuner.Objective(tuning.OBJECTIVE, "max")


def _score(values):
    """A made-up objective with one optimum (lr 0.01, batch 32), from the values alone."""
    return 0.9 - 0.1 * abs(math.log10(values["learning_rate"]) + 2) - \
        abs(values["batch_size"] - 32) / 640


def _drive(oracle, directory, score=None):
    """Runs a keras-tuner oracle as Tuner.search does, answering each trial with `score`
    (default _score); returns the trials' values in order (Hyperband's tuner/* entries
    included)."""
    score = score or _score
    oracle._set_project_dir(str(directory), "oracle")  # pylint: disable=protected-access
    seen = []
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status == keras_tuner.engine.trial.TrialStatus.STOPPED:
            return seen
        values = dict(trial.hyperparameters.values)
        seen.append(values)
        oracle.update_trial(trial.trial_id, {tuning.OBJECTIVE: score(values)})
        trial.status = keras_tuner.engine.trial.TrialStatus.COMPLETED
        oracle.end_trial(trial)


def _bayesian(seed, max_trials=9, **options):
    return tuner_oracles.CompleteBayesianOracle(
        objective=OBJECTIVE, max_trials=max_trials, seed=seed,
        hyperparameters=tuning.search_space(SPACE), **options)


def _hyperband(seed, **options):
    return tuner_oracles.CompleteHyperbandOracle(
        objective=OBJECTIVE, seed=seed, hyperparameters=tuning.search_space(SPACE), **options)


def _combo(values):
    return (values["learning_rate"], values["batch_size"])


def test_strategy_table_lists_the_four():
    assert list(tuner_strategies.STRATEGIES) == ["random", "grid", "bayesian", "hyperband"]
    assert not tuner_strategies.strategy("bayesian").exhaustive
    assert tuner_strategies.strategy("bayesian").max_trials(20, 9) == 9


def test_bayesian_oracle_is_seeded_never_repeats_and_covers_the_space(tmp_path):
    runs = {seed: [_combo(v) for v in _drive(_bayesian(seed, num_initial_points=2),
                                             tmp_path / f"b{seed}")] for seed in range(1, 5)}
    for seed, order in runs.items():
        assert len(order) == 9 and len(set(order)) == 9, (seed, order)
    again = [_combo(v) for v in _drive(_bayesian(1, num_initial_points=2), tmp_path / "again")]
    assert again == runs[1]  # (seed 0 would be keras-tuner's "no seed": a random one)
    assert len({tuple(o) for o in runs.values()}) > 1  # the seed changes the order


def test_bayesian_oracle_uses_the_gaussian_process_after_its_initial_points(tmp_path):
    """6 x 4 space, a smooth objective peaking at (0.003, 16): after 4 random points the GP
    finds the optimum in fewer trials (mean over 10 seeds) than the same oracle drawing every
    trial at random (measured: 4.9 vs 9.1)."""
    space = {"learning_rate": [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03],
             "batch_size": [8, 16, 32, 64]}

    def score(values):
        return 0.9 - 0.1 * abs(math.log10(values["learning_rate"]) + 2.5) - \
            abs(math.log2(values["batch_size"]) - 4) / 20

    def trials_to_optimum(seed, initial):
        oracle = tuner_oracles.CompleteBayesianOracle(
            objective=OBJECTIVE, max_trials=24, seed=seed, num_initial_points=initial,
            hyperparameters=tuning.search_space(space))
        order = [_combo(v) for v in _drive(oracle, tmp_path / f"{seed}-{initial}", score)]
        assert len(set(order)) == 24
        return order.index((0.003, 16)) + 1

    gp = [trials_to_optimum(seed, 4) for seed in range(1, 11)]
    rnd = [trials_to_optimum(seed, 24) for seed in range(1, 11)]
    assert np.mean(gp) < np.mean(rnd) - 2, (gp, rnd)


def test_hyperband_oracle_schedule(tmp_path):
    """max_epochs 9, factor 3: three brackets; every trial's epochs are the schedule's, a
    promoted trial resumes from the best unpromoted trial of the round before at that round's
    epochs, a bracket's first round never holds a combination twice, and max_trials is exactly
    the number of trials run (keras-tuner's own oracle stopped in the second bracket here)."""
    oracle = _hyperband(5, max_epochs=9, factor=3, hyperband_iterations=1)
    trials = _drive(oracle, tmp_path)
    assert len(trials) == oracle.max_trials == oracle.schedule_trials() == 9 + 3 + 1 + 5 + 2 + 3
    assert sorted({t["tuner/epochs"] for t in trials}) == [1, 3, 9]
    by_id = {f"{i:02d}": t for i, t in enumerate(trials)}
    for t in trials:
        if "tuner/trial_id" in t:
            past = by_id[t["tuner/trial_id"]]
            assert past["tuner/epochs"] == t["tuner/initial_epoch"] < t["tuner/epochs"]
            assert _combo(past) == _combo(t)
        else:
            assert t["tuner/initial_epoch"] == 0
    first_rounds = {}
    for t in trials:
        if t["tuner/round"] == 0:
            first_rounds.setdefault(t["tuner/bracket"], []).append(_combo(t))
    assert all(len(c) == len(set(c)) for c in first_rounds.values()), first_rounds
    trained = sum(t["tuner/epochs"] - t["tuner/initial_epoch"] for t in trials)
    assert trained == oracle.schedule_epochs()
    # the last bracket's first round promotes its best to 3 epochs, then the best of those to 9
    promoted = [t for t in trials if t.get("tuner/round") == 1 and t["tuner/bracket"] == 2]
    best_first = sorted((t for t in trials if t["tuner/bracket"] == 2 and t["tuner/round"] == 0),
                        key=_score, reverse=True)[:3]
    assert sorted(map(_combo, promoted)) == sorted(map(_combo, best_first))
    again = _drive(_hyperband(5, max_epochs=9, factor=3), tmp_path / "again")
    assert again == trials


# ---- tiny real searches ----

def _config(strategy, seed=7, **options):
    cfg = tiny_config(seed=seed, strategy=strategy, max_trials=3)
    return dataclasses.replace(cfg, tuner=dataclasses.replace(cfg.tuner, **options))


def _search(cfg, directory):
    tuner = tuning.make_tuner(cfg, str(directory))
    tuner.search(x=X, y=Y, x_val=XV, y_val=YV, config=cfg)
    return tuner, tuning_report.trial_rows(tuner)


def _seq(rows):
    return [(r["hyperparameters"], r["mean"], r["epochs"], r["initial_epoch"]) for r in rows]


def test_bayesian_search_is_seeded(tmp_path):
    """3 trials, the third proposed by the GP: the same seed gives the same trials and scores."""
    _, first = _search(_config("bayesian", num_initial_points=2), tmp_path / "a")
    _, again = _search(_config("bayesian", num_initial_points=2), tmp_path / "b")
    assert len(first) == 3 and _seq(first) == _seq(again)
    assert len({tuple(sorted(r["hyperparameters"].items())) for r in first}) == 3
    assert all(r["epochs"] == 1 and r["initial_epoch"] == 0 for r in first)


@pytest.fixture(scope="module")
def hyperband_runs(tmp_path_factory):
    """max_epochs 2, factor 2: bracket 1 (2 trials x 1 epoch, the best resumed to 2 epochs),
    bracket 0 (2 trials x 2 epochs); twice with seed 7."""
    d = tmp_path_factory.mktemp("hyperband")
    return [_search(_config("hyperband", max_epochs=2, factor=2), d / f"run{i}") for i in (0, 1)]


def test_hyperband_trials_train_their_epochs_and_resume(hyperband_runs, tmp_path):
    tuner, rows = hyperband_runs[0]
    assert tuner.oracle.max_trials == len(rows) == 5
    assert [(r["epochs"], r["initial_epoch"]) for r in rows] == [(1, 0), (1, 0), (1, 1),
                                                                  (2, 0), (2, 0)]
    (resumed,) = [r for r in rows if r["resumed_from"]]
    past = next(r for r in rows if r["trial_id"] == resumed["resumed_from"])
    assert past["hyperparameters"] == resumed["hyperparameters"]
    assert past["initial_epoch"] == 0 and past["epochs"] == 1
    assert all("tuner/epochs" not in r["hyperparameters"] for r in rows)
    # no checkpoint outlives the search (#16: ~59 MB each at 224x224, nothing reads them after)
    assert not any(os.path.exists(tuner.trial_checkpoint(r["trial_id"])) for r in rows)
    paths = tuning_report.write_trials_report(rows, str(tmp_path / "report"))
    with open(paths["trials.csv"], encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [(t["epochs"], t["initial_epoch"]) for t in table] == [
        ("1", "0"), ("1", "0"), ("1", "1"), ("2", "0"), ("2", "0")]
    assert table[2]["resumed_from"] == resumed["resumed_from"]
    assert "tuner/epochs" not in table[0]


def test_hyperband_search_is_seeded(hyperband_runs):
    (_, first), (_, again) = hyperband_runs
    assert _seq(first) == _seq(again)


def test_hyperband_checkpoints_do_not_accumulate(tmp_path):
    """A checkpoint is written only by a trial a later one may resume from (not the last round
    of a bracket) and deleted once its bracket is complete; none is left after the search.
    max_epochs 2, factor 2: bracket 1 is trials 1, 2 (1 epoch) and 3 (the best resumed);
    bracket 0 is trials 4, 5 (one round: no checkpoint)."""
    cfg = _config("hyperband", max_epochs=2, factor=2)
    tuner = tuning.make_tuner(cfg, str(tmp_path))
    present, original = [], tuner.on_trial_end

    def on_trial_end(trial):
        ckpt = tuner.trial_checkpoint(trial.trial_id)
        written = os.path.exists(ckpt)
        original(trial)
        present.append((written, sorted(
            os.path.basename(os.path.dirname(p))
            for p in glob.glob(os.path.join(str(tmp_path), "**", "checkpoint.h5"),
                               recursive=True))))
    tuner.on_trial_end = on_trial_end
    tuner.search(x=X, y=Y, x_val=XV, y_val=YV, config=cfg)
    ids = [os.path.basename(os.path.dirname(tuner.trial_checkpoint(t)))
           for t in sorted(tuner.oracle.trials, key=int)]
    assert len(ids) == 5
    assert [w for w, _ in present] == [True, True, False, False, False]
    assert [p for _, p in present] == [[ids[0]], ids[:2], [], [], []]
    assert not glob.glob(os.path.join(str(tmp_path), "**", "checkpoint.h5"), recursive=True)
    rows = tuning_report.trial_rows(tuner)
    assert [r["initial_epoch"] for r in rows] == [0, 0, 1, 0, 0]  # the resumed trial still ran


def _weights(path):
    out = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.append((name, np.array(obj)))
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def test_resumed_trial_starts_from_the_checkpoint(tmp_path):
    """train_trial: a trial resumed at epoch 1 from a 1-epoch checkpoint continues those weights
    (trained epochs [1]); with nothing left to train it ends with the checkpoint's weights."""
    cfg = _config("hyperband", max_epochs=2, factor=2)
    values = {"learning_rate": 0.01, "batch_size": 8}
    fold = (X, Y, XV, YV)
    first = str(tmp_path / "first.h5")
    _, trained = tuning.train_trial(values, cfg, fold, 7, epochs=1, save_weights=first)
    assert trained == [0]
    kept = str(tmp_path / "kept.h5")
    _, trained = tuning.train_trial(values, cfg, fold, 7, epochs=1, initial_epoch=1,
                                    load_weights=first, save_weights=kept)
    assert trained == []
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(_weights(first), _weights(kept)))
    resumed, fresh = str(tmp_path / "resumed.h5"), str(tmp_path / "fresh.h5")
    _, trained = tuning.train_trial(values, cfg, fold, 7, epochs=2, initial_epoch=1,
                                    load_weights=first, save_weights=resumed)
    assert trained == [1]
    tuning.train_trial(values, cfg, fold, 7, epochs=2, initial_epoch=1, save_weights=fresh)
    assert not all(np.array_equal(a, b)
                   for (_, a), (_, b) in zip(_weights(resumed), _weights(fresh)))
    assert not all(np.array_equal(a, b)
                   for (_, a), (_, b) in zip(_weights(resumed), _weights(first)))


def test_epoch_schedule_phase_2_after_the_head_epochs():
    cfg = _config("hyperband", max_epochs=6, factor=3)
    cfg = dataclasses.replace(cfg, tuner=dataclasses.replace(cfg.tuner, epochs=2))
    tuned = {"unfreeze_blocks": 2}
    assert tuning.epoch_schedule(tuned, cfg) == (2, 2)  # random init: no phase 2
    pretrained = dataclasses.replace(cfg, weights_path="/w.h5")
    assert tuning.epoch_schedule(tuned, pretrained) == (2, 4)         # grid: 2 head + 2 phase 2
    assert tuning.epoch_schedule(tuned, pretrained, epochs=6) == (2, 6)  # hyperband budget
    assert tuning.epoch_schedule({"unfreeze_blocks": 0}, pretrained, epochs=6) == (6, 6)


def test_hyperband_refuses_cross_validation(tmp_path):
    cfg = _config("hyperband", max_epochs=2, factor=2)
    cfg = dataclasses.replace(cfg, tuner=dataclasses.replace(cfg.tuner, cv_folds=2))
    tuner = tuning.make_tuner(cfg, str(tmp_path))
    with pytest.raises(ValueError, match="cv_folds must be 1"):
        tuner.run_trial(tuner.oracle.create_trial("t"), X, Y, XV, YV, cfg)


@pytest.mark.parametrize("strategy,options,trials", [
    ("hyperband", {"max_epochs": 2, "factor": 2}, 5),
    ("bayesian", {"num_initial_points": 1}, 2),
])
def test_trials_tuner_executor_runs_the_strategy(strategy, options, trials, tmp_path):
    """The TFX Tuner executor path (TrialsTuner): best_hyperparameters.txt without Hyperband's
    bookkeeping being mistaken for a result, tuner_results.json (TFX's writer needs an integer
    max_trials) and the trials report with epochs per trial."""
    import json
    import os

    cfg = _config(strategy, **options)
    cfg = dataclasses.replace(cfg, tuner=dataclasses.replace(cfg.tuner, max_trials=2))
    best, results = run_trials_tuner(tmp_path, cfg)
    with open(os.path.join(results, "tuner_results.json"), encoding="utf-8") as f:
        assert len(json.load(f)) == trials
    with open(os.path.join(results, "trials.json"), encoding="utf-8") as f:
        rows = json.load(f)
    assert len(rows) == trials and all(r["epochs"] >= 1 for r in rows)
    with open(os.path.join(best, "best_hyperparameters.txt"), encoding="utf-8") as f:
        best_values = json.load(f)["values"]
    assert {"learning_rate", "batch_size"} <= set(best_values)
