"""Datasets of Transform output for training and tuning.

Each element: (image_xf float32 [B, H, W, 3] RGB in [0, 255], label int64 [B]).
"""
import os


from typing import List, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from modules.configs import InputConfig
from modules.features import IMAGE_KEY, LABEL_KEY, RAW_IMAGE_KEY


def make_dataset(file_pattern: List[str], data_accessor, tf_transform_output: tft.TFTransformOutput,
                 batch_size: int, shuffle: bool = False, seed: int = 42,
                 input_config: Optional[InputConfig] = None,
                 shard_by_data: bool = False) -> tf.data.Dataset:
    """One pass (epoch) over the transformed examples, batched (`batch_size`: the global batch
    when a distribution strategy splits it over replicas).

    `input_config` (`trainer.input`): threads that read, parse and map (-1: AUTOTUNE) and the
    batches prefetched at the end (-1: AUTOTUNE, 0: none). `shard_by_data`: a multi-worker
    strategy shards by element rather than by file (Transform may write fewer files than there
    are workers)."""
    cfg = input_config or InputConfig()
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=LABEL_KEY, num_epochs=1,
                                       shuffle=shuffle, shuffle_seed=seed, shuffle_buffer_size=2048,
                                       reader_num_threads=cfg.num_parallel_calls,
                                       parser_num_threads=cfg.num_parallel_calls,
                                       prefetch_buffer_size=(cfg.prefetch if cfg.prefetch
                                                             else 1)),
        tf_transform_output.transformed_metadata.schema)
    dataset = dataset.map(lambda features, label: (features[IMAGE_KEY], tf.reshape(label, [-1])),
                          num_parallel_calls=cfg.num_parallel_calls)
    return with_input_options(dataset, cfg, shard_by_data)


def with_input_options(dataset: tf.data.Dataset, cfg: InputConfig,
                       shard_by_data: bool = False) -> tf.data.Dataset:
    """Prefetch per `trainer.input.prefetch`, and the DATA auto-shard policy if asked for."""
    if shard_by_data:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA
        dataset = dataset.with_options(options)
    if cfg.prefetch:
        dataset = dataset.prefetch(cfg.prefetch)
    return dataset


def load_arrays(file_pattern: List[str], data_accessor, tf_transform_output: tft.TFTransformOutput,
                limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """All transformed examples in memory: images float32 [N, H, W, 3], labels int64 [N]."""
    images, labels = [], []
    n = 0
    for x, y in make_dataset(file_pattern, data_accessor, tf_transform_output, batch_size=256):
        images.append(x.numpy())
        labels.append(y.numpy())
        n += len(y)
        if limit and n >= limit:
            break
    images_arr = np.concatenate(images)[:limit] if images else np.zeros((0,), np.float32)
    labels_arr = np.concatenate(labels)[:limit] if labels else np.zeros((0,), np.int64)
    return images_arr, labels_arr


def arrays_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int, shuffle: bool,
                   seed: int, input_config: Optional[InputConfig] = None) -> tf.data.Dataset:
    """In-memory arrays as a batched dataset (a fresh, seeded shuffle each epoch), prefetched
    per `input_config.prefetch` when one is given."""
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    return with_input_options(ds, input_config) if input_config else ds


def labels_of_files(file_patterns: List[str]) -> np.ndarray:
    """int64 [N] labels of transformed examples in gzipped TFRecords (images not decoded)."""
    files = sorted(f for pattern in file_patterns for f in tf.io.gfile.glob(pattern))
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    spec = {LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    out = [b[LABEL_KEY].numpy() for b in ds.batch(1024).map(lambda s: tf.io.parse_example(s, spec))]
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0,), np.int64)


def _split_files(examples_artifact, split: str) -> List[str]:
    from tfx.types import artifact_utils  # local: keeps this module light for run_fn users
    split_uri = artifact_utils.get_split_uri([examples_artifact], split)
    files = sorted(tf.io.gfile.glob(os.path.join(split_uri, "*")))
    if not files:
        raise FileNotFoundError(f"no examples in {split_uri}")
    return files


def _records_at(ds: tf.data.Dataset, indices: Optional[np.ndarray]) -> tf.data.Dataset:
    """The records of `ds` at `indices` (record numbers; kept in record order); all when None."""
    if indices is None:
        return ds
    indices = np.asarray(indices, np.int64)
    mask = np.zeros(int(indices.max()) + 2 if len(indices) else 1, bool)
    mask[indices] = True
    keep = tf.constant(mask)
    last = len(mask) - 1  # rows past the mask map to its last (False) entry
    return ds.take(last).enumerate().filter(
        lambda i, _: tf.gather(keep, tf.minimum(i, last))).map(lambda _, record: record)


def read_split_labels(examples_artifact, split: str) -> np.ndarray:
    """Labels int64 [N] of one split of an Examples artifact (Transform's or ImageExampleGen's
    output), in record order (images not kept)."""
    ds = tf.data.TFRecordDataset(_split_files(examples_artifact, split), compression_type="GZIP")
    spec = {LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    labels = [b[LABEL_KEY].numpy() for b in ds.batch(1024).map(
        lambda s: tf.io.parse_example(s, spec))]
    return np.concatenate(labels).astype(np.int64) if labels else np.zeros((0,), np.int64)


def read_raw_split(examples_artifact, split: str, indices: Optional[np.ndarray] = None
                   ) -> Tuple[List[bytes], np.ndarray, List[str]]:
    """One split of ImageExampleGen's output, in record order: each image file's bytes as
    stored, labels int64 [N] and the files' paths relative to the data root; only the records
    at `indices` (sorted) when given, the others never held in memory."""
    ds = _records_at(tf.data.TFRecordDataset(_split_files(examples_artifact, split),
                                             compression_type="GZIP"), indices)
    spec = {RAW_IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
            LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
            "path": tf.io.FixedLenFeature([], tf.string, default_value=b"")}
    images: List[bytes] = []
    labels: List[int] = []
    paths: List[str] = []
    for batch in ds.batch(256).map(lambda s: tf.io.parse_example(s, spec)):
        images += list(batch[RAW_IMAGE_KEY].numpy())
        labels += batch[LABEL_KEY].numpy().tolist()
        paths += [p.decode() for p in batch["path"].numpy()]
    return images, np.asarray(labels, np.int64), paths


def stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random sample of `n` rows with each class in proportion
    (largest-remainder rounding, every present class at least once when n allows); all rows when
    n >= len(labels)."""
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n / len(labels)
    take = np.floor(exact).astype(int)
    if n >= len(classes):
        take = np.maximum(take, 1)
    for i in np.argsort(-(exact - np.floor(exact)), kind="stable"):
        if take.sum() >= n:
            break
        take[i] += 1
    while take.sum() > n:  # the at-least-one rule overshot: trim the largest classes
        take[np.argmax(take)] -= 1
    chosen = [rng.choice(np.flatnonzero(labels == c), size=min(int(k), int(m)), replace=False)
              for c, k, m in zip(classes, take, counts)]
    return np.sort(np.concatenate(chosen))


def load_transformed_split(examples_artifact, split: str, transform_graph_uri: str,
                           limit: Optional[int] = None, indices: Optional[np.ndarray] = None
                           ) -> Tuple[np.ndarray, np.ndarray]:
    """Reads one split of Transform's output artifact (gzipped TFRecords of tf.Example) into memory.

    Returns images float32 [N, H, W, 3] and labels int64 [N]: the records at `indices` (record
    order), else the first `limit` records, else all.
    """
    files = _split_files(examples_artifact, split)
    spec = tft.TFTransformOutput(transform_graph_uri).transformed_feature_spec()
    spec = {k: v for k, v in spec.items() if k in (IMAGE_KEY, LABEL_KEY)}
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if indices is not None:
        ds = _records_at(ds, indices)
    elif limit:
        ds = ds.take(limit)
    images, labels = [], []
    for batch in ds.batch(256).map(lambda s: tf.io.parse_example(s, spec)):
        images.append(batch[IMAGE_KEY].numpy())
        labels.append(np.reshape(batch[LABEL_KEY].numpy(), [-1]))
    if not images:
        raise ValueError(f"split '{split}': no examples selected")
    return np.concatenate(images).astype(np.float32), np.concatenate(labels).astype(np.int64)


def load_stratified_sample(examples_artifact, split: str, transform_graph_uri: str, n: int,
                           seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """A seeded, class-stratified random sample of `n` examples of one split (all when fewer):
    images float32 [n, H, W, 3], labels int64 [n]."""
    labels = read_split_labels(examples_artifact, split)
    if not len(labels):
        raise ValueError(f"split '{split}' has no examples")
    indices = stratified_indices(labels, n, seed)
    return load_transformed_split(examples_artifact, split, transform_graph_uri,
                                  indices=indices)
