"""The ExportPusher executor's pure helpers: AUC, accuracy, sizes, latency."""
import gzip
import math
import os

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from components.export_pusher.executor import (accuracy_of, auc_of, dir_sizes, gzip_size,
                                               median_latency_ms)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(labels * 0.3 + rng.normal(0.35, 0.25, 200), 0, 1).astype(np.float32)
    auc = auc_of(scores[:, None], labels)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-9)
    assert 0.5 < auc < 1.0


def test_auc_with_ties_matches_sklearn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.uniform(0, 1, 300) * 0.5 + labels * 0.2, 1)  # few distinct values
    assert len(np.unique(scores)) < 15
    assert auc_of(scores[:, None], labels) == pytest.approx(roc_auc_score(labels, scores),
                                                            abs=1e-9)


def test_auc_extremes():
    labels = np.array([0, 0, 1, 1])
    assert auc_of(np.array([[0.1], [0.2], [0.8], [0.9]]), labels) == 1.0
    assert auc_of(np.array([[0.9], [0.8], [0.2], [0.1]]), labels) == 0.0
    assert auc_of(np.full((4, 1), 0.5), labels) == 0.5


def test_auc_is_nan_for_one_class_or_multiclass():
    assert math.isnan(auc_of(np.array([[0.2], [0.7]]), np.array([1, 1])))
    assert math.isnan(auc_of(np.array([[0.2, 0.8], [0.6, 0.4]]), np.array([0, 1])))


def test_accuracy_of_binary_and_multiclass():
    probs = np.array([[0.9], [0.2], [0.5], [0.4]])
    assert accuracy_of(probs, np.array([1, 0, 1, 1])) == 0.75
    assert accuracy_of(probs, np.array([0, 1, 0, 1])) == 0.0
    softmax = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    assert accuracy_of(softmax, np.array([1, 0, 0])) == pytest.approx(2 / 3)


def test_gzip_size():
    compressible = b"a" * 100_000
    size = gzip_size(compressible)
    assert 0 < size < 1_000
    assert size == len(gzip.compress(compressible, compresslevel=9))
    random_bytes = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    assert gzip_size(random_bytes) >= len(random_bytes)  # incompressible: header overhead


def test_dir_sizes(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.bin").write_bytes(b"x" * 1000)
    (tmp_path / "sub" / "b.bin").write_bytes(b"y" * 500)
    sizes = dir_sizes(str(tmp_path))
    assert sizes["bytes"] == 1500
    assert sizes["gzip_bytes"] == gzip_size(b"x" * 1000) + gzip_size(b"y" * 500)
    assert dir_sizes(os.path.join(str(tmp_path), "absent")) == {"bytes": 0, "gzip_bytes": 0}


def test_median_latency_ms_calls_warmup_plus_runs():
    calls = []
    ms = median_latency_ms(lambda image: calls.append(image), np.zeros(1), runs=7)
    assert len(calls) == 5 + 7
    assert 0.0 <= ms < 50.0
