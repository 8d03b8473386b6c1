"""benchmarks/auc_thresholds.py: its two AUCs on known cases (TFMA's own AUC, not a copy of its
bucketing), and an unknown tree refused before any run."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks import auc_thresholds as bench  # noqa: E402


def test_exact_auc_counts_ties_half_and_averages_classes():
    labels = np.array([0, 0, 1, 1])
    assert bench.exact_auc(labels, np.array([[0.1], [0.6], [0.6], [0.9]])) == 0.875
    three = np.eye(3)[[0, 1, 2, 0]]  # perfect one-hot scores: every one-vs-rest AUC is 1
    assert bench.exact_auc(np.array([0, 1, 2, 0]), three) == 1.0


def test_tfma_auc_matches_the_exact_auc_on_smooth_scores_and_not_on_saturated_ones():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 1.5 * np.eye(3)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert bench.tfma_auc(labels, probs, 10000) == pytest.approx(
        bench.exact_auc(labels, probs), abs=1e-3)
    binary = probs[:, 1:2] / (probs[:, 0:1] + probs[:, 1:2])
    y = (labels == 1).astype(int)
    assert bench.tfma_auc(y, binary, 10000) == pytest.approx(bench.exact_auc(y, binary), abs=1e-3)
    # outputs saturated at exactly 1.0 (as float32 sigmoids of large logits): all in the top
    # bucket, where the exact AUC still ranks them (0.9999 < 1.0 is not a tie for it)
    sat = np.where(binary > 0.5, 1.0, binary)[:, :1]
    sat[::7] = 0.99999
    assert abs(bench.tfma_auc(y, sat, 10000) - bench.exact_auc(y, sat)) > 0


def test_an_unknown_tree_is_refused(tmp_path):
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "auc_thresholds.py"),
                          "--trees", "embedded,mine", "--work", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and "unknown ['mine']" in out.stderr
    assert not os.listdir(tmp_path)


def test_the_evaluator_column_is_compared_with_the_exact_auc():
    rows = [{"exact": 0.95, "evaluator": 0.95}, {"exact": 0.90, "evaluator": 0.87},
            {"exact": 0.80, "evaluator": None}]
    assert bench._max_evaluator_diff(rows) == "0.0300"
    assert bench._max_evaluator_diff(rows[2:]) == "n/a"
