"""benchmarks/compression_methods.py's pure parts: the paired per-seed statistics, the selection
rule (validation only, fixed in advance), the last line's format, and the interleaved LiteRT
latency (real LiteRT runs of two small .tflite files; the order of the runs is recorded)."""
import os
import re

import numpy as np
import pytest



@pytest.fixture(scope="module")
def cm(benchmark_module):
    return benchmark_module("compression_methods")


def test_paired_deltas_and_t_interval(cm):
    assert cm.paired_deltas_pt([0.80, 0.90], [0.79, 0.92]) == pytest.approx([1.0, -2.0])
    with pytest.raises(ValueError, match="one value per seed"):
        cm.paired_deltas_pt([0.8, 0.9], [0.8])
    # mean 2, sd 1, n 3: t(0.975, 2) = 4.3027 -> 4.3027 / sqrt(3)
    assert cm.t_half_width([1.0, 2.0, 3.0]) == pytest.approx(2.4841, abs=1e-4)
    assert np.isnan(cm.t_half_width([1.0]))


def _rows(methods):
    """Two seeds; methods: {name: (test acc, validation acc, gzip bytes, ms)}."""
    rows = []
    for seed in range(2):
        row = {"seed": seed, "dense_test_acc": 0.80, "dense_val_acc": 0.80,
               "dense_f32_gz": 1000.0, "dense_f32_ms_1": 8.0, "dense_sm_ms_1": 16.0}
        for name, (test, val, gz, ms) in methods.items():
            row.update({f"{name}_test_acc": test, f"{name}_val_acc": val, f"{name}_gz": gz,
                        f"{name}_ms_1": ms})
        rows.append(row)
    return rows


def test_recommend_takes_the_smallest_model_within_1pt_on_validation_never_test(cm):
    methods = {"a": (0.80, 0.795, 100.0, 2.0),    # 0.5 pt on validation, 10x
               "b": (0.81, 0.780, 50.0, 1.0),     # best on test, but 2 pt on validation, 20x
               "c": (0.70, 0.800, 80.0, 2.0)}     # 10 pt worse on test, 0 on validation, 12.5x
    rows = _rows(methods)
    summaries = [cm.summarize(m, rows, [1]) for m in methods]
    assert summaries[0].size_ratio == pytest.approx(10.0)
    assert summaries[0].litert_ratio[1] == pytest.approx(4.0)
    assert summaries[0].savedmodel_ratio[1] == pytest.approx(8.0)
    assert summaries[2].test_delta_pt == pytest.approx(10.0)
    assert summaries[2].test_ci95_pt == pytest.approx(0.0)
    chosen, why = cm.recommend(summaries)
    assert chosen.method == "c" and "2 method(s)" in why  # the test split plays no part
    # none within the bound: the smallest validation cost
    chosen, why = cm.recommend(summaries, max_delta_pt=-1.0)
    assert chosen.method == "c" and "no method within" in why
    line = cm.last_line(summaries[2])
    assert re.fullmatch(r"size_ratio=12\.50 accuracy_delta_pt=10\.00 accuracy_delta_ci95_pt=0\.00 "
                        r"litert_latency_ratio=4\.00 method=c", line), line


def test_ties_in_size_go_to_the_faster_model(cm):
    rows = _rows({"slow": (0.8, 0.8, 100.0, 4.0), "fast": (0.8, 0.8, 100.0, 2.0)})
    chosen, _ = cm.recommend([cm.summarize(m, rows, [1]) for m in ("slow", "fast")])
    assert chosen.method == "fast"


@pytest.fixture(scope="module")
def two_tflite_files(tmp_path_factory):
    import tensorflow as tf
    import tf_keras
    out = {}
    for name, width in (("small", 4), ("large", 32)):
        inputs = tf_keras.Input((8, 8, 3))
        x = tf_keras.layers.Conv2D(width, 3, activation="relu")(inputs)
        x = tf_keras.layers.GlobalAveragePooling2D()(x)
        model = tf_keras.Model(inputs, tf_keras.layers.Dense(1, activation="sigmoid")(x))
        path = str(tmp_path_factory.mktemp("tflite") / f"{name}.tflite")
        with open(path, "wb") as f:
            f.write(tf.lite.TFLiteConverter.from_keras_model(model).convert())
        out[name] = path
    return out


def test_interleaved_latency_rotates_the_order_in_real_litert(cm, two_tflite_files):
    from modules import litert
    calls = []

    def recording_run(path, **kwargs):
        calls.append(os.path.basename(path))
        return litert.run_litert(path, **kwargs)

    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype(np.float32)
    lat = cm.interleaved_litert_latency(two_tflite_files, images, [1], rounds=2,
                                        runs_per_round=3, run=recording_run)
    assert calls == ["small.tflite", "large.tflite", "large.tflite", "small.tflite"]
    assert set(lat) == {"small", "large"}
    assert all(lat[n][1] > 0 for n in lat)
