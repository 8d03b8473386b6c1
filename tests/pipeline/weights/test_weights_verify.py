"""pipeline/weights/verify.py: layer shapes, parameter count, finite and ImageNet values."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from pipeline.weights import WeightsError, provision_vgg16_weights, verify_vgg16_weights
from pipeline.weights.verify import REFERENCE_VALUES, VGG16_CONV_LAYERS, VGG16_NOTOP_PARAMS


def test_vgg16_facts():
    """The facts the checks rely on (they are also in the docstrings)."""
    assert len(VGG16_CONV_LAYERS) == 13
    assert VGG16_CONV_LAYERS[0] == ("block1_conv1", 3, 64)
    assert VGG16_CONV_LAYERS[-1] == ("block5_conv3", 512, 512)
    assert sum(9 * c_in * c_out + c_out for _, c_in, c_out in VGG16_CONV_LAYERS) \
        == VGG16_NOTOP_PARAMS == 14_714_688
    assert REFERENCE_VALUES[0] == ("block1_conv1", "bias", (0,), 0.73429835)


def test_provisioned_file_passes(good_h5):
    verify_vgg16_weights(good_h5)


def test_wrong_layer_shape_is_rejected(good_h5, tmp_path):
    with h5py.File(good_h5, "r+") as f:
        group = f["block5_conv3"]
        name = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]][1]
        del group[name]
        group.create_dataset(name, data=np.zeros((256,), np.float32))
    with pytest.raises(WeightsError, match=r"block5_conv3 .*\(256,\)") as excinfo:
        verify_vgg16_weights(good_h5)
    assert str(good_h5) in str(excinfo.value)

    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match="block5_conv3"):
        provision_vgg16_weights(weights_file=good_h5, cache_dir=cache)
    assert not (cache / "vgg16_imagenet_notop.h5").exists()


def test_non_imagenet_values_are_rejected(good_h5):
    # same shapes, one deep value changed (as a fine-tuned block5 would)
    with h5py.File(good_h5, "r+") as f:
        group = f["block5_conv2"]
        name = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]][1]
        group[name][510] = 0.5
    with pytest.raises(WeightsError, match=r"block5_conv2 bias\[510\].*not the ImageNet"):
        verify_vgg16_weights(good_h5)


def test_not_a_weights_file_is_rejected(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="not an HDF5"):
        verify_vgg16_weights(junk)
    with pytest.raises(WeightsError, match="does not exist"):
        verify_vgg16_weights(tmp_path / "missing.h5")
