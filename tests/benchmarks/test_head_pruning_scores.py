"""benchmarks/head_pruning_scores.py's score: magnitude zeroes the smallest |w|; activation-aware
keeps a small weight that reads a large feature and drops a large one that reads a silent one."""

import numpy as np
import pytest



@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("head_pruning_scores")


def test_magnitude_and_activation_aware_scores(bench):
    kernel = np.array([[0.1, 0.2], [1.0, 2.0], [0.5, 0.4]])  # [in 3, out 2]
    magnitude = bench.prune_kernel(kernel, np.ones(3), 0.5)
    np.testing.assert_array_equal(magnitude, [[0, 0], [1.0, 2.0], [0.5, 0]])
    # input 0 is 100x larger, input 1 silent: its big weights go, input 0's small ones stay
    aware = bench.prune_kernel(kernel, np.array([100.0, 0.0, 1.0]), 0.5)
    np.testing.assert_array_equal(aware, [[0.1, 0.2], [0, 0], [0.5, 0]])
    assert np.mean(aware == 0) == pytest.approx(0.5)
