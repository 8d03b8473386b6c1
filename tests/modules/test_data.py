"""modules/data.py: the class-stratified, seeded samples the parity gate and int8 calibration use."""
import numpy as np
import pytest

from modules.data import stratified_indices


def test_sample_keeps_class_proportions_and_is_seeded():
    labels = np.array([0] * 600 + [1] * 300 + [2] * 100)  # written class by class
    idx = stratified_indices(labels, 100, seed=3)
    assert len(idx) == 100 and len(set(idx.tolist())) == 100
    assert np.bincount(labels[idx]).tolist() == [60, 30, 10]
    assert idx.tolist() == sorted(idx.tolist())
    np.testing.assert_array_equal(idx, stratified_indices(labels, 100, seed=3))
    assert not np.array_equal(idx, stratified_indices(labels, 100, seed=4))
    assert idx.max() >= 900  # not the first 100 records


def test_every_class_present_even_when_rare():
    labels = np.array([0] * 995 + [1] * 5)
    assert np.bincount(labels[stratified_indices(labels, 20, seed=0)]).tolist() == [19, 1]


def test_all_rows_when_the_sample_is_not_smaller():
    labels = np.array([1, 0, 1])
    assert stratified_indices(labels, 3, seed=0).tolist() == [0, 1, 2]
    assert stratified_indices(labels, 10, seed=0).tolist() == [0, 1, 2]


@pytest.mark.parametrize("n", [1, 2, 7, 33])
def test_sample_size_is_exact(n):
    labels = np.random.default_rng(0).integers(0, 5, 200)
    assert len(stratified_indices(labels, n, seed=1)) == n
