"""benchmarks/tuning.py's arithmetic: the exact expectation for random search equals the mean
over every search order, and the compute-to-target count stops at the first trial that reaches
the target."""
import itertools

import numpy as np
import pytest



@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("tuning")


def test_exact_random_expectation_is_the_mean_over_all_orders(bench):
    cache = {("a",): {"score": 0.70, "epochs": 1}, ("b",): {"score": 0.75, "epochs": 2},
             ("c",): {"score": 0.60, "epochs": 2}, ("d",): {"score": 0.745, "epochs": 1},
             ("e",): {"score": 0.50, "epochs": 3}}
    target = 0.75 - bench.WITHIN
    orders = [bench.to_target([cache[k] for k in order], target)["epochs"]
              for order in itertools.permutations(cache)]
    assert bench.expected_random_epochs(cache, target) == pytest.approx(np.mean(orders))


def test_to_target_counts_until_the_first_trial_at_the_target(bench):
    trials = [{"score": 0.5, "epochs": 1, "seconds": 2.0}, {"score": 0.8, "epochs": 3,
                                                            "seconds": 5.0},
              {"score": 0.9, "epochs": 9, "seconds": 20.0}]
    assert bench.to_target(trials, 0.79) == {"epochs": 4, "seconds": 7.0, "trials": 2}
    assert bench.to_target(trials, 0.95) == {"epochs": None, "seconds": None, "trials": None}


def test_merge_concatenates_runs_per_space(bench, tmp_path, capsys):
    """--merge: one process per training seed (each search leaks memory in TensorFlow), merged
    into one table and last line."""
    import json

    def run(seed, grid_epochs, bayes):
        return [{"space": "large", "n_grid": 4, "train_seeds": [seed],
                 "full_grid_epochs": [grid_epochs], "full_grid_wall": [10.0],
                 "exact_random": [3.0], "search_seeds": 2, "hyperband_seeds": 1,
                 "results": {s: {"epochs": e, "seconds": [None] * len(e),
                                 "trials": [1.0] * len(e)} for s, e in (
                     ("grid", [4.0]), ("random", [2.0, 4.0]), ("bayesian", bayes),
                     ("hyperband", [None]))}}]
    paths = []
    for seed, epochs, bayes in ((42, 12.0, [1.0, 3.0]), (43, 8.0, [1.0, 1.0])):
        paths.append(str(tmp_path / f"{seed}.json"))
        with open(paths[-1], "w", encoding="utf-8") as f:
            json.dump(run(seed, epochs, bayes), f)
    (out,) = bench.merge(paths)
    assert out["train_seeds"] == [42, 43] and out["grid_full_epochs"] == 10.0
    assert out["results"]["bayesian"]["epochs"] == [1.0, 3.0, 1.0, 1.0]
    assert out["means"] == {"grid": 4.0, "random": 3.0, "bayesian": 1.5, "hyperband": None}
    assert bench.main(["--merge"] + paths) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == ("grid_epochs=4.0 random_epochs=3.0 bayesian_epochs=1.5 hyperband_epochs=nan "
                    "best_ratio=0.150 best=bayesian")
