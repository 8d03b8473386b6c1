"""The ExportPusher executor's pure helpers: AUC, accuracy, sizes, strict JSON; latency timing."""
import gzip
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from components.export_pusher.executor import (accuracy_of, auc_of, gzip_size,
                                               write_report_json)
from modules.latency import median_latency_ms, time_calls


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


def test_auc_is_none_for_one_class():
    assert auc_of(np.array([[0.2], [0.7]]), np.array([1, 1])) is None
    assert auc_of(np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]]), np.array([2, 2])) is None


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_auc_is_sklearn_macro_one_vs_rest(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, 300)
    logits = rng.normal(0, 1, (300, 3)) + np.eye(3)[labels] * 1.2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = roc_auc_score(labels, probs, multi_class="ovr", average="macro")
    assert auc_of(probs, labels) == pytest.approx(expected, abs=1e-9)


def test_report_json_is_strict_json_with_non_finite_values_named(tmp_path):
    path = tmp_path / "report.json"
    write_report_json({"saved_model": {"auc": float("nan"), "accuracy": 0.75},
                       "history": [1.0, float("inf")], "n": np.int64(3)}, str(path))
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    report = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    assert report["saved_model"] == {"auc": None, "accuracy": 0.75}
    assert report["history"] == [1.0, None] and report["n"] == 3
    assert sorted(report["non_finite"]["paths"]) == ["history[1]", "saved_model.auc"]


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
    assert size == len(gzip.compress(compressible, compresslevel=6))  # gzip's default level
    assert gzip_size(compressible, compresslevel=9) == len(gzip.compress(compressible, 9))
    random_bytes = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    assert gzip_size(random_bytes) >= len(random_bytes)  # incompressible: header overhead


def test_median_latency_ms_calls_warmup_plus_runs():
    calls = []
    ms = median_latency_ms(lambda image: calls.append(image), np.zeros(1), runs=7)
    assert len(calls) == 5 + 7
    assert 0.0 <= ms < 50.0


def test_time_calls_cycles_single_images_and_orders_percentiles():
    seen = []
    stats = time_calls(lambda x: seen.append(x.shape), np.zeros((3, 4, 4, 3)), runs=9, warmup=2)
    assert seen == [(1, 4, 4, 3)] * 11
    assert stats["runs"] == 9
    assert 0.0 <= stats["p10_ms"] <= stats["median_ms"] <= stats["p90_ms"]


def test_every_files_split_is_listed_in_the_version(tmp_path):
    """helper-71: no file said which images were held out, so 'an image keeps its split as
    images are added' could not be checked without reading the records. ImageExampleGen lists
    every file's split; the version gets them as data_splits.csv, an older span's test rows
    read 'no' (nothing reads them)."""
    import csv

    from tfx.types import standard_artifacts

    from components.image_example_gen.data_checks import (SPLIT_FILES, read_split_files,
                                                          split_files_csv, write_data_splits)
    root = str(tmp_path / "data")
    text = split_files_csv({"test": [f"{root}/t/b/2.png"],
                            "train": [f"{root}/t/a/1.png", f"{root}/t/a,x/0.png"]},
                           root, {"t/a/1.png"})
    assert text.splitlines() == ["split,path,class,read", "test,t/b/2.png,b,yes",
                                 'train,"t/a,x/0.png","a,x",yes', "train,t/a/1.png,a,no"]

    def examples(name, span, body):
        artifact = standard_artifacts.Examples()
        artifact.uri = str(tmp_path / name)
        (tmp_path / name).mkdir()
        if body is not None:
            (tmp_path / name / SPLIT_FILES).write_text(body)
        if span is not None:
            artifact.set_int_custom_property("span", span)
        return artifact

    assert read_split_files(str(tmp_path)) is None  # an artifact written before the listing
    new = examples("e2", 2, "split,path,class,read\ntest,s2/a/9.png,a,yes\n")
    old = examples("e1", 1, "split,path,class,read\ntrain,s1/a/1.png,a,yes\n"
                            "test,s1/a/5.png,a,yes\n")
    staging = tmp_path / "version"
    staging.mkdir()
    record = write_data_splits(str(staging), [new, old], [new])
    assert record["file"] == "data_splits.csv" and record["files"] == {"test": 1}
    with open(staging / "data_splits.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [["span", "split", "path", "class", "read"], ["1", "train", "s1/a/1.png", "a",
                    "yes"], ["1", "test", "s1/a/5.png", "a", "no"], ["2", "test", "s2/a/9.png",
                                                                   "a", "yes"]]
    assert write_data_splits(str(staging), [], [examples("e3", None, None)]) is None
    write_data_splits(str(staging), [], [examples("e4", 0, "split,path,class,read\n"
                                                           "test,a/1.png,a,yes\n")],
                      spanned=False)  # ExampleGen's span 0 of a tree without spans: no span
    with open(staging / "data_splits.csv", encoding="utf-8") as f:
        assert f.read().splitlines()[1] == ",test,a/1.png,a,yes"
