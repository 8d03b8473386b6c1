"""Display of metric values and the exact AUC (modules/metrics.py)."""
import numpy as np
import pytest

from modules import metrics


def test_display_reads_one_ratio_alike_in_float32_and_float64():
    from modules.metrics import display
    ratio = 151 / 160
    assert f"{ratio:.4f}" != f"{np.float32(ratio):.4f}"  # what Python's format did
    assert display(ratio) == display(np.float32(ratio)) == "0.9438"
    assert display(0.7) == "0.7000" and display(0.8125, 3) == "0.813"
    assert display(300.0, 0) == "300" and display(123456789.0, 0) == "123456789"
    # a diverged loss still renders (Decimal would refuse these)
    assert [display(v) for v in (float("nan"), float("inf"), -float("inf"))] == [
        "nan", "inf", "-inf"]
    assert display(1e30, 2) == f"{1e30:.2f}"


def test_wilson_interval_is_the_sampling_error_of_a_test_accuracy():
    from modules.metrics import wilson_interval
    lo, hi = wilson_interval(192, 300)  # 0.64 on 300 examples
    assert (round(lo, 4), round(hi, 4)) == (0.5842, 0.6922)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0.27 < hi < 0.28  # never outside [0, 1], even at the edges
    assert wilson_interval(10, 10)[1] <= 1.0 and wilson_interval(3, 0) is None


def test_the_summary_shows_the_accuracys_interval():
    from pipeline.summary import format_summary
    text = format_summary({"metrics": {"sparse_categorical_accuracy": 0.64, "example_count": 300},
                           "blessed": False, "pushed": False})
    assert ("evaluation (TFMA on the SavedModel, held-out test split): accuracy=0.6400 (95 % interval "
            "0.5842-0.6922) examples=300") in text


def test_binary_auc_is_the_pairwise_probability_with_ties_half_and_weights():
    """Against the definition, pair by pair: P(positive scores above negative) + half the ties,
    each pair weighted by the product of its examples' weights; None without both groups."""
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, 200).astype(np.float32) / 5  # many ties
    positives = rng.random(200) < 0.4
    weights = rng.uniform(0.5, 2.0, 200)
    pos, neg = np.flatnonzero(positives), np.flatnonzero(~positives)
    wins = (scores[pos][:, None] > scores[neg][None, :]) + 0.5 * (
        scores[pos][:, None] == scores[neg][None, :])
    pair_w = weights[pos][:, None] * weights[neg][None, :]
    assert metrics.binary_auc(scores, positives, weights) == pytest.approx(
        float(np.sum(wins * pair_w) / np.sum(pair_w)), abs=1e-12)
    assert metrics.binary_auc(scores, positives) == pytest.approx(float(np.mean(wins)), abs=1e-12)
    assert metrics.binary_auc(scores, np.zeros(200, bool)) is None
    assert metrics.binary_auc(scores, positives, weights * ~positives) is None


def test_binary_auc_of_a_non_finite_score_is_none():
    """NaN has no rank (np.unique would sort it above every score: AUC 1.0 for NaN positives)."""
    assert metrics.binary_auc(np.array([np.nan, np.nan, 0.1, 0.2]),
                              np.array([True, True, False, False])) is None


def test_top_ties_counts_rows_decided_by_an_exact_tie():
    """helper-66: an int8 softmax (steps of 1/256) gave coat = shirt = 0.44921875 and argmax
    answered coat, the lower index."""
    import numpy as np

    from modules.metrics import top_ties
    step = 1 / 256
    probs = np.array([[115 * step, 115 * step, 26 * step],   # tie at the top
                      [200 * step, 28 * step, 28 * step],    # tie below the top: not counted
                      [0.5, 0.3, 0.2]], np.float32)
    assert top_ties(probs) == 1 / 3
    assert top_ties(np.array([[0.5], [0.75], [0.5], [0.2]])) == 0.5  # binary: exactly 0.5
    assert top_ties(np.zeros((0, 3))) == 0.0


def test_a_binary_models_choices_at_other_thresholds_count_each_class():
    """helper-78: a rare class's user chooses a threshold: each class's hits, examples and
    predictions at each t (class 1 when P >= t)."""
    from modules.metrics import threshold_table
    probs = np.array([[0.05], [0.35], [0.55], [0.95], [0.45], [0.65]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    rows = {r["threshold"]: r["classes"] for r in threshold_table(probs, labels)}
    assert rows[0.5] == [{"hits": 2, "examples": 3, "predicted": 3},   # 0.05, 0.35; and 0.45
                         {"hits": 2, "examples": 3, "predicted": 3}]   # 0.95, 0.65; and 0.55
    assert rows[0.4] == [{"hits": 2, "examples": 3, "predicted": 2},   # 0.45 is class 1 now
                         {"hits": 3, "examples": 3, "predicted": 4}]
    assert rows[0.1][1]["hits"] == 3 and rows[0.9][0]["predicted"] == 5
    assert sorted(rows) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
