"""benchmarks/int8_output.py: the fresh sample never holds a record the tree holds, and the
comparison counts what it says."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("int8_output")


def test_fresh_records_skip_every_record_the_tree_holds(bench, tmp_path):
    for rel in ("train/shirt/train-00003.png", "eval/shirt/t10k-00004.png",
                "span-1/coat/train-00010.jpg", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    used = bench.used_records(str(tmp_path))
    assert used == {3, 10}  # t10k-00004 is another file's record 4
    labels = np.array([6, 0, 6, 6, 4, 0, 6, 6, 0, 4, 4])  # shirt 6, tshirt_top 0, coat 4
    records, classes = bench.fresh_records(labels, ["shirt", "tshirt_top"], used, 100)
    assert sorted(records) == [0, 1, 2, 5, 6, 7, 8]  # every shirt and T-shirt but 3
    assert all(classes[i] == (0 if labels[r] == 6 else 1) for i, r in enumerate(records))
    again, _ = bench.fresh_records(labels, ["shirt", "tshirt_top"], used, 3)
    assert len(again) == 3 and set(again) <= set(records)


def test_compare_counts_disagreements_ties_and_values(bench):
    reference = np.array([[0.2], [0.7], [0.6], [0.4]], np.float32)
    probs = np.array([[0.3], [0.5], [0.5], [0.6]], np.float32)  # two ties, one flip
    r = bench.compare(probs, reference, np.array([0, 1, 1, 0]))
    assert r == {"n": 4, "disagree": 1, "lowest_class": 0.5, "ties": 2, "distinct": 3}


def test_calibration_reads_the_versions_train_split(bench, tmp_path):
    """helper-72: on a hash-split tree every file is `train-NNNNN`: the version's listing says
    which were train."""
    version = tmp_path / "v"
    version.mkdir()
    (version / "data_splits.csv").write_text("span,split,path,class,read\n"
                                             ",train,a/train-00001.png,a,yes\n"
                                             ",test,a/train-00002.png,a,yes\n"
                                             ",train,a/train-00003.png,a,no\n")
    assert bench.train_files(str(version), "/d") == ["/d/a/train-00001.png"]

