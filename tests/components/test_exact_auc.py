"""components/exact_auc.py's combiner on its own: rows kept across chunks, merges that share and
never modify their inputs (TFMA's jackknife merges the same partitions many times), one-class
slices without an AUC. (Through real TFMA and the gates: tests/components/test_tfma_gates.py.)"""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tensorflow_model_analysis.metrics import metric_types

from components import exact_auc


def _combiner():
    (computation,) = exact_auc.ExactAUC().computations()
    return computation.combiner, computation.keys[0]


def _accumulate(combiner, labels, scores):
    acc = combiner.create_accumulator()
    for y, p in zip(labels, scores):
        acc = combiner.add_input(acc, metric_types.StandardMetricInputs(
            labels=np.array([y], np.float32), predictions=np.array([p], np.float32),
            example_weights=np.array([1.0], np.float32)))
    return acc


def test_chunks_merges_and_the_value_are_exact(monkeypatch):
    monkeypatch.setattr(exact_auc._Pairs, "CHUNK", 7)  # several chunks and a pending tail
    combiner, key = _combiner()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    scores = np.round(rng.random(60) * 0.5 + 0.4 * labels, 2).astype(np.float32)  # ties
    parts = [_accumulate(combiner, labels[i:i + 20], scores[i:i + 20]) for i in (0, 20, 40)]
    before = [(len(p.chunks), len(p.pending), [c.copy() for c in p.chunks]) for p in parts]
    merged = combiner.merge_accumulators(parts)
    again = combiner.merge_accumulators([combiner.create_accumulator(), *parts])  # jackknife-like
    for part, (n_chunks, n_pending, chunks) in zip(parts, before):  # inputs untouched
        assert (len(part.chunks), len(part.pending)) == (n_chunks, n_pending)
        assert all(np.array_equal(a, b) for a, b in zip(part.chunks, chunks))
    expected = roc_auc_score(labels, scores)
    for acc in (merged, again, combiner.compact(merged)):
        assert combiner.extract_output(acc)[key] == pytest.approx(expected, abs=1e-12)
    assert len(merged.rows()) == 60


def test_a_slice_of_one_class_or_none_has_no_auc():
    combiner, key = _combiner()
    assert np.isnan(combiner.extract_output(_accumulate(combiner, [1, 1], [0.2, 0.9]))[key])
    assert np.isnan(combiner.extract_output(combiner.create_accumulator())[key])
