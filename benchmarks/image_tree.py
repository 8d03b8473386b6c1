"""An image-folder tree's split in memory, decoded as the Transform decodes it (the validation
and development benchmarks train on these arrays)."""
import glob
import os
from typing import Sequence, Tuple

import numpy as np
import tensorflow as tf

from modules.preprocessing import decode_and_resize


def load_split(root: str, split: str, classes: Sequence[str], size: int
               ) -> Tuple[np.ndarray, np.ndarray]:
    """`root/split/<class>/*` through Transform's decode: float32 [N, size, size, 3] in
    [0, 255] and int labels [N] (the index of the class in `classes`)."""
    xs, ys = [], []
    for label, name in enumerate(classes):
        for path in sorted(glob.glob(os.path.join(root, split, name, "*"))):
            xs.append(decode_and_resize(tf.io.read_file(path), size).numpy())
            ys.append(label)
    return np.stack(xs), np.array(ys)
