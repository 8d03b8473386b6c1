"""Checks that a file or a built model holds the ImageNet VGG16 ``include_top=False`` weights.

Every source must pass the same checks (:func:`verify_vgg16_weights`): layer shapes,
parameter count, finite values and reference values from the published ImageNet weights
(including ``block1_conv1`` bias[0] == 0.73429835).  Any failure raises
:class:`~pipeline.weights.common.WeightsError`.  Random weights are never used as a fallback.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pipeline.weights.common import WeightsError, one_line

__all__ = [
    "VGG16_CONV_LAYERS",
    "VGG16_NOTOP_PARAMS",
    "REFERENCE_VALUES",
    "REFERENCE_ATOL",
    "vgg16_notop",
    "check_model",
    "check_h5_layout",
    "verify_vgg16_weights",
]

# VGG16 conv layers: (name, C_in, C_out); every kernel is 3x3.
VGG16_CONV_LAYERS: tuple[tuple[str, int, int], ...] = (
    ("block1_conv1", 3, 64),
    ("block1_conv2", 64, 64),
    ("block2_conv1", 64, 128),
    ("block2_conv2", 128, 128),
    ("block3_conv1", 128, 256),
    ("block3_conv2", 256, 256),
    ("block3_conv3", 256, 256),
    ("block4_conv1", 256, 512),
    ("block4_conv2", 512, 512),
    ("block4_conv3", 512, 512),
    ("block5_conv1", 512, 512),
    ("block5_conv2", 512, 512),
    ("block5_conv3", 512, 512),
)
VGG16_NOTOP_PARAMS = 14_714_688

# Reference values of the published ImageNet VGG16 weights (Keras layout: kernel HWIO,
# bias (C_out,)).  (layer, "kernel" | "bias", index, value), compared with atol 1e-6.
# block1_conv1 bias[0] is the required check; the others come from independent published
# probes of the Keras ImageNet VGG16 weights and cover blocks 1-5.  They would catch
# weights from a fine-tuned conv base.
REFERENCE_VALUES: tuple[tuple[str, str, tuple[int, ...], float], ...] = (
    ("block1_conv1", "bias", (0,), 0.73429835),
    ("block1_conv1", "kernel", (0, 0, 0, 0), 0.42947057),
    ("block1_conv1", "bias", (25,), 0.7446502),
    ("block1_conv2", "kernel", (2, 2, 63, 63), 0.016082443),
    ("block2_conv1", "bias", (1,), 0.06440781),
    ("block5_conv1", "kernel", (1, 0, 63, 269), -0.011236359),
    ("block5_conv2", "bias", (510,), 0.23517226),
    ("block5_conv3", "kernel", (0, 2, 0, 400), -0.008714244),
)
REFERENCE_ATOL = 1e-6


def vgg16_notop() -> Any:
    """A randomly initialised tf_keras VGG16(include_top=False), input (None, None, 3)."""
    import tf_keras

    # A fixed input-layer name ('input_1', as in a fresh process) keeps the saved h5
    # byte-identical however many models this process has built before.
    inputs = tf_keras.Input(shape=(None, None, 3), name="input_1")
    return tf_keras.applications.VGG16(include_top=False, weights=None, input_tensor=inputs)


def check_model(model: Any, where: str) -> None:
    """Parameter count, finite values and ImageNet reference values of a built model."""
    n_params = model.count_params()
    if n_params != VGG16_NOTOP_PARAMS:
        raise WeightsError(
            f"{where}: VGG16(include_top=False) has {n_params:,} parameters, "
            f"expected {VGG16_NOTOP_PARAMS:,}"
        )
    values: dict[str, dict[str, np.ndarray]] = {}
    for name, _, _ in VGG16_CONV_LAYERS:
        kernel, bias = model.get_layer(name).get_weights()
        values[name] = {"kernel": kernel, "bias": bias}
        for kind, arr in values[name].items():
            if not np.all(np.isfinite(arr)):
                raise WeightsError(f"{where}: {name} {kind} contains NaN or Inf")
    for layer, kind, index, expected in REFERENCE_VALUES:
        got = float(values[layer][kind][index])
        if not np.isclose(got, expected, rtol=0.0, atol=REFERENCE_ATOL):
            idx = ", ".join(map(str, index))
            raise WeightsError(
                f"{where}: {layer} {kind}[{idx}] = {got!r}, expected {expected!r} "
                "(ImageNet VGG16): these are not the ImageNet VGG16 weights"
            )


def check_h5_layout(path: str) -> None:
    """Check the layers and weight shapes stored in a Keras HDF5 weights file."""
    import h5py

    if not h5py.is_hdf5(path):
        raise WeightsError(f"weights file {path}: not an HDF5 (.h5) Keras weights file")
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            if "layer_names" not in root.attrs:
                raise WeightsError(
                    f"weights file {path}: no 'layer_names' attribute; not a Keras "
                    "HDF5 weights file"
                )
            stored: dict[str, list[tuple[int, ...]]] = {}
            for raw in root.attrs["layer_names"]:
                name = raw.decode("utf8") if isinstance(raw, bytes) else str(raw)
                group = root[name]
                shapes = []
                for w in group.attrs.get("weight_names", []):
                    w = w.decode("utf8") if isinstance(w, bytes) else str(w)
                    shapes.append(tuple(int(d) for d in group[w].shape))
                if shapes:
                    stored[name] = shapes
    except WeightsError:
        raise
    except Exception as exc:  # h5py raises several types for damaged files
        raise WeightsError(f"weights file {path}: cannot read: {one_line(exc)}") from exc

    expected_names = [name for name, _, _ in VGG16_CONV_LAYERS]
    extra = sorted(set(stored) - set(expected_names))
    if extra:
        raise WeightsError(
            f"weights file {path}: unexpected layers with weights {extra}; expected only "
            "the 13 VGG16 conv layers (include_top=False)"
        )
    for name, c_in, c_out in VGG16_CONV_LAYERS:
        if name not in stored:
            raise WeightsError(f"weights file {path}: layer {name} is missing")
        expected = [(3, 3, c_in, c_out), (c_out,)]
        if stored[name] != expected:
            raise WeightsError(
                f"weights file {path}: layer {name} has weight shapes {stored[name]}, "
                f"expected {expected} (kernel HWIO, bias)"
            )


def verify_vgg16_weights(path: str | os.PathLike[str]) -> None:
    """Check that ``path`` holds ImageNet VGG16 ``include_top=False`` weights.

    Checks: it is a Keras HDF5 weights file whose only weighted layers are the 13 conv
    layers ``block1_conv1`` ... ``block5_conv3``, with kernels ``(3, 3, C_in, C_out)`` and
    biases ``(C_out,)``.  It loads into ``tf_keras.applications.VGG16(include_top=False,
    weights=None, input_shape=(None, None, 3))``, which then has 14,714,688 parameters.
    All values are finite.  ``block1_conv1`` bias[0] == 0.73429835, and the other
    reference values in ``REFERENCE_VALUES`` match (atol 1e-6).

    Raises:
        WeightsError: naming ``path`` and the first check that failed.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"weights file {path}: does not exist or is not a file")
    check_h5_layout(path)
    model = vgg16_notop()
    try:
        model.load_weights(path)
    except Exception as exc:
        raise WeightsError(
            f"weights file {path}: does not load into tf_keras VGG16(include_top=False): "
            f"{one_line(exc)}"
        ) from exc
    check_model(model, f"weights file {path}")
