"""modules/data.py: the class-stratified, seeded samples the parity gate and int8 calibration use."""
import numpy as np
import pytest

from modules.data import stratified_indices


def test_sample_keeps_class_proportions_and_is_seeded():
    labels = np.array([0] * 600 + [1] * 300 + [2] * 100)  # written class by class
    idx = stratified_indices(labels, 100, seed=3)
    assert len(idx) == 100 and len(set(idx.tolist())) == 100
    assert np.bincount(labels[idx]).tolist() == [60, 30, 10]
    assert idx.tolist() == sorted(idx.tolist())
    np.testing.assert_array_equal(idx, stratified_indices(labels, 100, seed=3))
    assert not np.array_equal(idx, stratified_indices(labels, 100, seed=4))
    assert idx.max() >= 900  # not the first 100 records


def test_every_class_present_even_when_rare():
    labels = np.array([0] * 995 + [1] * 5)
    assert np.bincount(labels[stratified_indices(labels, 20, seed=0)]).tolist() == [19, 1]


def test_all_rows_when_the_sample_is_not_smaller():
    labels = np.array([1, 0, 1])
    assert stratified_indices(labels, 3, seed=0).tolist() == [0, 1, 2]
    assert stratified_indices(labels, 10, seed=0).tolist() == [0, 1, 2]


@pytest.mark.parametrize("n", [1, 2, 7, 33])
def test_sample_size_is_exact(n):
    labels = np.random.default_rng(0).integers(0, 5, 200)
    assert len(stratified_indices(labels, n, seed=1)) == n


def test_raw_records_at_indices_are_those_of_the_whole_split(tmp_path):
    """read_raw_split(indices=) keeps only the records sampled (record order), as a whole read
    would give them; read_split_labels reads the same label sequence."""
    import os

    import tensorflow as tf
    from tfx.types import artifact_utils, standard_artifacts

    from modules.data import read_raw_split, read_split_labels
    from modules.features import LABEL_KEY, RAW_IMAGE_KEY

    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path)
    examples.split_names = artifact_utils.encode_split_names(["test"])
    os.makedirs(tmp_path / "Split-test")
    labels = [0, 1, 1, 0, 2, 1, 0]
    for shard, rows in enumerate((range(0, 4), range(4, 7))):
        with tf.io.TFRecordWriter(str(tmp_path / "Split-test" / f"data-{shard}.gz"),
                                  options="GZIP") as writer:
            for i in rows:
                feature = {RAW_IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(
                               value=[f"image {i}".encode()])),
                           LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(
                               value=[labels[i]])),
                           "path": tf.train.Feature(bytes_list=tf.train.BytesList(
                               value=[f"test/{labels[i]}/{i}.png".encode()]))}
                writer.write(tf.train.Example(features=tf.train.Features(
                    feature=feature)).SerializeToString())
    assert read_split_labels(examples, "test").tolist() == labels
    images, got, paths = read_raw_split(examples, "test")
    assert images == [f"image {i}".encode() for i in range(7)] and got.tolist() == labels
    images, got, paths = read_raw_split(examples, "test", indices=np.array([1, 4, 6]))
    assert images == [b"image 1", b"image 4", b"image 6"]
    assert got.tolist() == [1, 2, 0] and paths == ["test/1/1.png", "test/2/4.png", "test/0/6.png"]
