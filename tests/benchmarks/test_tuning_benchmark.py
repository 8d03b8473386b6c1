"""benchmarks/tuning.py's arithmetic: the exact expectation for random search equals the mean
over every search order, and the compute-to-target count stops at the first trial that reaches
the target."""
import importlib.util
import itertools
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "benchmark_tuning", os.path.join(ROOT, "benchmarks", "tuning.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
