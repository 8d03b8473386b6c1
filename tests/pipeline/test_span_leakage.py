"""pipeline.span_leakage: a held-out image of the newest span with the same bytes as an image an
older span of the retraining window trains on (helper-42: a renamed span's images landed in the
test split while their first copies were trained on)."""
import numpy as np
from PIL import Image

from modules import splits as roles
from pipeline.config import load_config
from pipeline.data_layout import files_by_split
from pipeline.span_leakage import format_window_leakage, window_leakage


def _spans(root, spans, per_class=30):
    """Distinct small PNGs (no two files share bytes) per class per span."""
    for span in spans:
        for c, cls in enumerate(("cat", "dog")):
            d = root / f"span-{span}" / cls
            d.mkdir(parents=True)
            for i in range(per_class):
                value = [span, c, i]
                Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(d / f"{i}.png")


def test_a_resent_image_in_the_newest_test_split_is_named_with_its_trained_copy(tmp_path):
    _spans(tmp_path, [1, 2])
    config = load_config(overrides=[f"data.root={tmp_path}", "data.train_pattern=span-{SPAN}/*/*",
                                    "data.eval_pattern=", "retrain.num_spans=2"])
    assert window_leakage(config, [1, 2]) == []
    first = files_by_split(str(tmp_path), config.split_layout, 1)
    trained = first[roles.TRAIN][0]
    buckets = config.split_layout.hash_buckets
    test_copy = next(p for p in (f"span-2/cat/resent{i}.png" for i in range(1000))
                     if roles.hash_split(p, list(buckets), list(buckets.values())) == roles.TEST)
    (tmp_path / test_copy).write_bytes((tmp_path / trained).read_bytes())
    found = window_leakage(config, [1, 2])
    assert found == [{"path": test_copy, "split": roles.TEST,
                      "same_bytes_as": [(trained, 1, roles.TRAIN)]}]
    assert window_leakage(config, [2]) == []  # a window of one span: ImageExampleGen's check
    # warm-started, a model of the chain may have trained on span 1 though the window is [2]
    assert window_leakage(config, [2], older=[1]) == found
    line = format_window_leakage(found, 2)
    assert line.startswith("LEAKAGE across spans: 1 held-out image(s) of span 2 (1 in test) "
                           "have the same bytes as images older spans train or validate on")
    assert f"{test_copy} (test) == {trained} (span 1, train)" in line
    assert "so the test figures above read high" in line
    validation_only = [{**found[0], "split": roles.VALIDATION}]
    assert "(0 in test)" in format_window_leakage(validation_only, 2)
    assert "early stopping and the tuner's choice" in format_window_leakage(validation_only, 2)
    assert format_window_leakage([], 2) == ""
    # found only outside the window (compared because of warm start): "may"
    assert "so the test figures above read high" in format_window_leakage(found, 2, [1, 2])
    outside = format_window_leakage(found, 2, [2])
    assert "so the test figures above may read high (the copies are in older spans " in outside
