"""Display of metric values (modules/metrics.py)."""
import numpy as np
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
