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
