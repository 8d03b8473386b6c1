"""components/export_pusher/parity.py: the gate's rules on outputs built here."""
import numpy as np
import pytest

from components.export_pusher import parity

NAMES = ["cat", "dog"]


def test_required_count_rounds_down():
    assert parity.required(0.98, 50) == 49
    assert parity.required(0.98, 10) == 9
    assert parity.required(0.99, 300) == 297
    assert parity.required(1.0, 7) == 7


def _probs(classes):
    return np.asarray([[0.9] if c == 1 else [0.1] for c in classes], np.float32)


def test_agreement_overall_and_per_class():
    labels = np.array([0] * 8 + [1] * 2)
    sm = _probs([0] * 8 + [1] * 2)
    variant = _probs([0] * 8 + [0, 1])  # flips one example of the rare class
    m = parity.agreement(variant, sm, labels, NAMES, max_probability_diff=1.0)
    assert m["agreement"] == 0.9 and m["per_class"]["dog"]["agreement"] == 0.5
    assert m["per_class"]["cat"] == {"agreement": 1.0, "agree": 8, "examples": 8}
    assert m["max_abs_diff"] == pytest.approx(0.8)
    assert m["within"] == 10 and m["max_probability_diff"] == 1.0  # a bound of 1: all within
    bounded = parity.agreement(variant, sm, labels, NAMES, max_probability_diff=0.5)
    assert bounded["within"] == 9 and bounded["max_probability_diff"] == 0.5


def test_a_class_the_variant_breaks_is_refused_even_when_overall_passes():
    labels = np.array([0] * 98 + [1] * 2)
    sm = _probs([0] * 98 + [1] * 2)
    variant = _probs([0] * 98 + [0, 0])
    m = parity.agreement(variant, sm, labels, NAMES, max_probability_diff=1.0)
    assert m["agreement"] == 0.98
    reason = parity.judge("LiteRT", {**m, "max_abs_diff": 0.0}, 0.98, 1.0)
    assert reason and "class 'dog'" in reason and "LiteRT:" in reason


def test_probability_bound_is_checked():
    labels = np.array([0, 1])
    sm = np.array([[0.2], [0.8]], np.float32)
    variant = np.array([[0.45], [0.8]], np.float32)  # same classes, p moved by 0.25
    m = parity.agreement(variant, sm, labels, NAMES, max_probability_diff=0.2)
    assert m["agreement"] == 1.0 and m["within"] == 1
    assert "(largest 0.2500)" in parity.judge("LiteRT", m, 0.99, 1.0)
    assert parity.judge("LiteRT", parity.agreement(variant, sm, labels, NAMES, 0.3),
                        0.99, 1.0) is None


def _strays(n, strays, moved=0.5):
    """SavedModel and variant probabilities [n, 3] equal except `strays` examples, whose
    probabilities move by `moved` without changing the predicted class."""
    sm = np.tile(np.array([[0.1, 0.1, 0.8]], np.float32), (n, 1))
    variant = sm.copy()
    variant[:strays] = [[0.1, 0.1 + moved / 2, 0.8 - moved / 2]]  # argmax stays class 2 up to 0.5
    return variant, sm, np.full(n, 2)


def test_one_stray_example_in_a_hundred_does_not_decide_two_do():
    variant, sm, labels = _strays(100, 1, moved=0.5)
    m = parity.agreement(variant, sm, labels, ["a", "b", "c"], max_probability_diff=0.1)
    assert m["agreement"] == 1.0 and m["within"] == 99 and m["max_abs_diff"] == pytest.approx(0.25)
    assert parity.judge("LiteRT", m, 0.99, 0.99) is None
    assert parity.judge("LiteRT", m, 0.99, 1.0)  # 1.0: every example must be within (the max)
    variant, sm, labels = _strays(100, 2, moved=0.5)
    m = parity.agreement(variant, sm, labels, ["a", "b", "c"], max_probability_diff=0.1)
    assert parity.decide({"LiteRT": m}, {}, 0.99, 0.99, "dynamic_range", sample="validation") == [
        "LiteRT: the output probabilities of 2 of 100 validation examples differ from the "
        "SavedModel's by more than max_probability_diff 0.1000 (largest 0.2500), more than the 1 "
        "that probability_diff_fraction 99.00% allows (set "
        "export.max_probability_diff.dynamic_range)"]
    # the count allowed rounds down as min_agreement's does: 3 strays of 300 pass, 4 do not
    for strays, passed in ((3, True), (4, False)):
        variant, sm, labels = _strays(300, strays)
        m = parity.agreement(variant, sm, labels, ["a", "b", "c"], max_probability_diff=0.1)
        assert (parity.judge("LiteRT", m, 0.99, 0.99) is None) is passed


def test_load_errors_refuse_whatever_else_passed():
    labels = np.array([0, 1])
    ok = parity.agreement(_probs([0, 1]), _probs([0, 1]), labels, NAMES, 1.0)
    assert parity.decide({"TensorFlow's interpreter": ok}, {}, 0.99, 0.01) == []
    reasons = parity.decide({"TensorFlow's interpreter": ok},
                            {"LiteRT": "RuntimeError: failed to prepare"}, 0.99, 0.01)
    assert reasons == ["LiteRT: failed to load or run: RuntimeError: failed to prepare"]


def test_runtimes_failing_alike_share_one_reason_naming_the_key():
    labels = np.array([0, 1])
    sm = np.array([[0.2], [0.8]], np.float32)
    moved = parity.agreement(np.array([[0.45], [0.8]], np.float32), sm, labels, NAMES, 0.2)
    apart = parity.agreement(np.array([[0.5], [0.8]], np.float32), sm, labels, NAMES, 0.2)
    reasons = parity.decide({"TensorFlow's interpreter": moved, "LiteRT": moved}, {}, 0.99, 1.0,
                            "int8")
    assert reasons == ["TensorFlow's interpreter and LiteRT: the output probabilities of 1 of 2 "
                       "held-out examples differ from the SavedModel's by more than "
                       "max_probability_diff 0.2000 (largest 0.2500), more than the 0 that "
                       "probability_diff_fraction 100.00% allows (set "
                       "export.max_probability_diff.int8)"]
    reasons = parity.decide({"TensorFlow's interpreter": moved, "LiteRT": apart}, {}, 0.99, 1.0)
    assert [r.split(":")[0] for r in reasons] == ["TensorFlow's interpreter", "LiteRT"]
    worse = parity.agreement(_probs([1, 1]), _probs([0, 1]), labels, NAMES, 1.0)
    assert parity.decide({"LiteRT": worse}, {}, 1.0, 1.0, "dynamic_range")[0].endswith(
        "below 100.00% (set export.min_agreement.dynamic_range)")


def test_single_class_model_refused_multiclass_too():
    labels = np.array([0, 1, 2, 2])
    softmax = np.tile([[0.1, 0.2, 0.7]], (4, 1))
    with pytest.raises(parity.ParityError, match="predicts class 'c' for all 4"):
        parity.check_not_single_class(softmax, labels, ["a", "b", "c"], "test")
    parity.check_not_single_class(softmax, np.array([2, 2, 2, 2]), ["a", "b", "c"], "test")
    varied = np.array([[0.8, 0.1, 0.1], [0.1, 0.2, 0.7]] * 2)
    parity.check_not_single_class(varied, labels, ["a", "b", "c"], "test")
