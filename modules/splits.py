"""The three data roles and the stable hashes that assign files to them (no TensorFlow, no Beam).

    train       fits the model
    validation  tuning, early stopping, model selection
    test        held out: the Evaluator's gates, the report's metrics, the parity gate

A file's split never depends on which other files exist: it is decided by a hash of its path
relative to the data root (so moving the root, adding images or re-ingesting a span keeps it).
"""
from __future__ import annotations

import bisect
import hashlib
from typing import Dict, Sequence

TRAIN, VALIDATION, TEST = "train", "validation", "test"
ROLES = (TRAIN, VALIDATION, TEST)
SINGLE_SPLIT = "single_split"  # TFX's name for one input split that is hash-split into outputs
CARVE_RESOLUTION = 1000  # validation_fraction is applied in steps of 0.1 %


def split_words(name: str) -> str:
    """How messages name an input split: "split 'train'", and for SINGLE_SPLIT (a folder of
    class folders, hash-split later) words a user can place, not TFX's internal name."""
    if name == SINGLE_SPLIT:
        return "the class folders (one input, split by path hash into train / validation / test)"
    return f"split '{name}'"


def path_hash(rel_path: str) -> int:
    """sha256 of the relative path (UTF-8) as an integer."""
    return int(hashlib.sha256(rel_path.encode()).hexdigest(), 16)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tfx_partition_key(rel_path: str) -> bytes:
    """The bytes TFX's ExampleGen hashes to partition on the `path` feature: the serialized
    `tf.train.Feature(bytes_list=BytesList(value=[path]))` (protobuf wire format, built here so
    that this module needs no TensorFlow)."""
    value = rel_path.encode()
    bytes_list = b"\x0a" + _varint(len(value)) + value
    return b"\x0a" + _varint(len(bytes_list)) + bytes_list


def in_carved_split(rel_path: str, fraction: float) -> bool:
    """True when the file goes to the split carved out of another (validation out of train):
    about `fraction` of the files, the same ones on every run."""
    return path_hash(rel_path) % CARVE_RESOLUTION < round(fraction * CARVE_RESOLUTION)


def hash_split(rel_path: str, names: Sequence[str], buckets: Sequence[int]) -> str:
    """The split of `rel_path` when one input is hash-split into `names` with `buckets` each:
    exactly TFX's ExampleGen partition (`_PartitionFn` on the `path` feature)."""
    edges, total = [], 0
    for n in buckets:
        total += n
        edges.append(total)
    digest = int(hashlib.sha256(tfx_partition_key(rel_path)).hexdigest(), 16)
    return names[bisect.bisect(edges, digest % total)]


def split_counts(rel_paths: Sequence[str], names: Sequence[str],
                 buckets: Sequence[int]) -> Dict[str, int]:
    """How many of `rel_paths` each split of a hash split gets."""
    counts = {n: 0 for n in names}
    for p in rel_paths:
        counts[hash_split(p, names, buckets)] += 1
    return counts
