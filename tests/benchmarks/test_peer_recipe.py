"""benchmarks/peer_recipe.py's gate check of the plain script's models: the pipeline's default
absolute gates (EvaluatorConfig) applied to known predictions."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("peer_recipe")


def test_a_model_above_every_default_bound_passes(bench):
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[labels] * 0.8 + 0.2 / 3
    assert bench.failed_default_gates(labels, probs, ["a", "b", "c"]) == []


def test_a_class_never_recognised_fails_its_recall_and_the_accuracy_bound(bench):
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 0, 1, 1, 0, 1])  # class c never: recall 0, accuracy 4/6
    probs = np.eye(3)[predicted] * 0.9 + 0.1 / 3
    failed = bench.failed_default_gates(labels, probs, ["a", "b", "c"])
    assert failed[0] == "accuracy 0.6667 < 0.7"
    assert "recall(c) 0.0000 < 0.5" in failed and not any("recall(a)" in f for f in failed)


def test_two_classes_use_the_binary_auc_and_both_recalls(bench):
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p1 = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.45, 0.46, 0.9])  # class 1 mostly below 0.5
    probs = np.stack([1 - p1, p1], axis=1)
    failed = bench.failed_default_gates(labels, probs, ["shirt", "tshirt_top"])
    assert failed == ["accuracy 0.5000 < 0.7", "recall(tshirt_top) 0.2500 < 0.5"]
