"""Datasets of Transform output for training and tuning.

Each element: (image_xf float32 [B, H, W, 3] RGB in [0, 255], label int64 [B]).
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from typing import List, Optional, Tuple  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
from tfx_bsl.public import tfxio  # noqa: E402

from modules.features import IMAGE_KEY, LABEL_KEY  # noqa: E402


def make_dataset(file_pattern: List[str], data_accessor, tf_transform_output: tft.TFTransformOutput,
                 batch_size: int, shuffle: bool = False, seed: int = 42) -> tf.data.Dataset:
    """One pass (epoch) over the transformed examples, batched."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=LABEL_KEY, num_epochs=1,
                                       shuffle=shuffle, shuffle_seed=seed, shuffle_buffer_size=2048),
        tf_transform_output.transformed_metadata.schema)
    return dataset.map(lambda features, label: (features[IMAGE_KEY], tf.reshape(label, [-1])))


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
                   seed: int) -> tf.data.Dataset:
    """In-memory arrays as a batched dataset (a fresh, seeded shuffle each epoch)."""
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def load_transformed_split(examples_artifact, split: str, transform_graph_uri: str,
                           limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Reads one split of Transform's output artifact (gzipped TFRecords of tf.Example) into memory.

    Returns images float32 [N, H, W, 3] and labels int64 [N] (N <= limit).
    """
    from tfx.types import artifact_utils  # local: keeps this module light for run_fn users
    split_uri = artifact_utils.get_split_uri([examples_artifact], split)
    files = sorted(tf.io.gfile.glob(os.path.join(split_uri, "*")))
    if not files:
        raise FileNotFoundError(f"no transformed examples in {split_uri}")
    spec = tft.TFTransformOutput(transform_graph_uri).transformed_feature_spec()
    spec = {k: v for k, v in spec.items() if k in (IMAGE_KEY, LABEL_KEY)}
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if limit:
        ds = ds.take(limit)
    images, labels = [], []
    for batch in ds.batch(256).map(lambda s: tf.io.parse_example(s, spec)):
        images.append(batch[IMAGE_KEY].numpy())
        labels.append(np.reshape(batch[LABEL_KEY].numpy(), [-1]))
    return np.concatenate(images).astype(np.float32), np.concatenate(labels).astype(np.int64)
