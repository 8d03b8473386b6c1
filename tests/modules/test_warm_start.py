"""modules/warm_start.py: a new model starts from a saved model's weights, layer by layer."""
import numpy as np
import pytest

from modules.model import build_model
from modules.warm_start import warm_start


@pytest.fixture(scope="module")
def saved_base(tmp_path_factory):
    base = build_model(32, 2, weights_path=None, head_units=8, seed=1)
    path = str(tmp_path_factory.mktemp("base") / "Format-Serving")
    base.save(path, save_format="tf", include_optimizer=False)
    return base, path


def test_same_architecture_copies_every_layer(saved_base):
    base, path = saved_base
    model = build_model(32, 2, weights_path=None, head_units=8, seed=2)
    assert not np.allclose(model.get_layer("head_dense").kernel.numpy(),
                           base.get_layer("head_dense").kernel.numpy())
    info = warm_start(model, path)
    assert info["skipped"] == {}
    assert {"block1_conv1", "block5_conv3", "head_dense", "predictions"} <= set(info["copied"])
    for a, b in zip(model.get_weights(), base.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_changed_head_keeps_its_fresh_weights(saved_base):
    base, path = saved_base
    model = build_model(32, 2, weights_path=None, head_units=4, seed=2)
    info = warm_start(model, path)
    assert set(info["skipped"]) == {"head_dense", "predictions"}
    assert "shapes" in info["skipped"]["head_dense"]
    np.testing.assert_array_equal(model.get_layer("block3_conv2").kernel.numpy(),
                                  base.get_layer("block3_conv2").kernel.numpy())


def test_the_output_layer_is_copied_only_from_a_model_of_the_same_classes(saved_base):
    """A class replaced by another of the same count (['boot', 'shirt'] -> ['bag', 'shirt'])
    kept the old class's output weights: the output layer is copied only when the base's
    training_summary.json records the same class names in the same order; the rest is copied."""
    import json
    import os
    base, path = saved_base
    summary = os.path.join(os.path.dirname(path), "training_summary.json")
    with open(summary, "w", encoding="utf-8") as f:
        json.dump({"class_names": ["boot", "shirt"]}, f)
    try:
        same = build_model(32, 2, weights_path=None, head_units=8, seed=2)
        assert "predictions" in warm_start(same, path, ["boot", "shirt"])["copied"]
        other = build_model(32, 2, weights_path=None, head_units=8, seed=2)
        fresh = other.get_layer("predictions").kernel.numpy().copy()
        info = warm_start(other, path, ["bag", "shirt"])
        assert info["skipped"] == {"predictions": "the base model was trained on the classes "
                                                  "['boot', 'shirt'], this model on ['bag', "
                                                  "'shirt']"}
        np.testing.assert_array_equal(other.get_layer("predictions").kernel.numpy(), fresh)
        np.testing.assert_array_equal(other.get_layer("head_dense").kernel.numpy(),
                                      base.get_layer("head_dense").kernel.numpy())
        assert "predictions" in warm_start(other, path, ["shirt", "boot"])["skipped"]  # order
    finally:
        os.remove(summary)
    unknown = build_model(32, 2, weights_path=None, head_units=8, seed=2)
    assert warm_start(unknown, path, ["boot", "shirt"])["skipped"] == {
        "predictions": "the base model records no class names"}
