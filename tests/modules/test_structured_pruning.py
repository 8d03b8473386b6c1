"""modules/structured_pruning.py on the real 32x32 VGG16 transfer model (random init): removal is
exact surgery, removes the lowest-L1-norm filters, and the smaller model trains, converts to
TFLite and runs."""
import numpy as np
import pytest

from modules import export, structured_pruning as sp
from modules.data import arrays_dataset
from modules.layer_names import CONV_LAYER_NAMES, check_filter_fractions, resolve_filter_fractions
from modules.model import build_model
from modules.training import compile_model

SIZE = 32
FRACTIONS = {"block1": 0.25, "block3_conv2": 0.5, "block4": 0.5, "block5": 0.5}


def _model(pooling="avg", num_classes=2):
    return build_model(SIZE, num_classes, weights_path=None, head_units=16, dropout=0.0,
                       base_trainable=True, seed=3, pooling=pooling)


def _images(n=4, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, 3)).astype(np.float32)


def _zero_removed(model, keep):
    """`model` with the removed filters' kernels and biases zeroed: their outputs are ReLU(0)."""
    for name, idx in keep.items():
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        removed = np.setdiff1d(np.arange(kernel.shape[-1]), idx)
        kernel[..., removed] = 0.0
        bias[removed] = 0.0
        layer.set_weights([kernel, bias])


def test_nothing_removed_gives_exactly_the_original_outputs():
    model = _model()
    smaller, counts = sp.prune_filters(model, {})
    x = _images()
    np.testing.assert_array_equal(smaller(x, training=False).numpy(),
                                  model(x, training=False).numpy())
    assert all(c["kept"] == c["total"] for c in counts.values())
    assert [layer.name for layer in smaller.layers] == [layer.name for layer in model.layers]
    assert smaller.count_params() == model.count_params()


def test_the_removed_filters_are_the_lowest_l1_norm_ones():
    model = _model()
    keep = sp.kept_filters(model, FRACTIONS)
    fractions = resolve_filter_fractions(FRACTIONS)
    for name in CONV_LAYER_NAMES:
        norms = sp.filter_l1_norms(model.get_layer(name).kernel.numpy())
        n = len(norms)
        removed = np.setdiff1d(np.arange(n), keep[name])
        assert len(removed) == int(np.floor(fractions[name] * n))
        if len(removed):
            assert norms[removed].max() <= norms[keep[name]].min()
    kernel = np.zeros((1, 1, 1, 4), np.float32)
    kernel[..., :] = [3.0, -1.0, 2.0, -0.5]
    np.testing.assert_array_equal(sp.filters_to_keep(kernel, 0.5), [0, 2])
    np.testing.assert_array_equal(sp.filters_to_keep(kernel, 0.99), [0])  # at least one kept


@pytest.mark.parametrize("pooling, num_classes", [("avg", 2), ("flatten", 3)])
def test_removal_is_exact_surgery(pooling, num_classes):
    """Shapes shrink consistently, and the rebuilt model computes what the original computes
    with the removed filters' outputs zeroed."""
    model = _model(pooling, num_classes)
    smaller, counts = sp.prune_filters(model, FRACTIONS)
    keep = sp.kept_filters(model, FRACTIONS)
    previous = 3
    for name in CONV_LAYER_NAMES:
        kernel = smaller.get_layer(name).kernel
        assert tuple(kernel.shape) == (3, 3, previous, len(keep[name]))
        assert counts[name] == {"kept": len(keep[name]),
                                "total": model.get_layer(name).filters}
        previous = len(keep[name])
    positions = 1 if pooling == "avg" else (SIZE // 32) ** 2
    assert smaller.get_layer("head_dense").kernel.shape[0] == positions * previous
    assert smaller.output_shape == model.output_shape
    assert smaller.count_params() < model.count_params()
    assert sp.removed_filters(counts) == [n for n in CONV_LAYER_NAMES
                                          if not n.startswith(("block2", "block3_conv1",
                                                               "block3_conv3"))]
    x = _images()
    before = model(x, training=False).numpy()
    _zero_removed(model, keep)
    zeroed = model(x, training=False).numpy()
    assert not np.allclose(before, zeroed, atol=1e-6)  # the removal does change the model
    np.testing.assert_allclose(smaller(x, training=False).numpy(), zeroed, rtol=1e-5, atol=1e-6)


def test_flatten_head_rows_follow_positions_and_channels():
    """At 64x64 the flatten head reads 2x2 positions x C channels (channels last)."""
    model = build_model(64, 2, weights_path=None, head_units=8, dropout=0.0, seed=0,
                        pooling="flatten")
    smaller, _ = sp.prune_filters(model, {"block5_conv3": 0.5})
    keep = sp.kept_filters(model, {"block5_conv3": 0.5})["block5_conv3"]
    rows = sp._head_rows(model, keep)
    assert len(rows) == 4 * len(keep)
    np.testing.assert_array_equal(rows[:len(keep)], keep)
    np.testing.assert_array_equal(rows[len(keep):2 * len(keep)], keep + 512)
    x = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    _zero_removed(model, {"block5_conv3": keep})
    np.testing.assert_allclose(smaller(x, training=False).numpy(),
                               model(x, training=False).numpy(), rtol=1e-5, atol=1e-6)


def test_the_smaller_model_trains_converts_to_tflite_and_runs(tmp_path):
    smaller, _ = sp.prune_filters(_model(), FRACTIONS)
    images = _images(8)
    labels = (np.arange(8) % 2).astype(np.int64)
    compile_model(smaller, 1e-3, 2)
    before = smaller.get_layer("block5_conv3").kernel.numpy().copy()
    history = smaller.fit(arrays_dataset(images, labels, batch_size=4, shuffle=False, seed=0),
                          epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.array_equal(before, smaller.get_layer("block5_conv3").kernel.numpy())
    saved = str(tmp_path / "sm")
    export.save_image_model(smaller, saved)
    tflite = export.TFLiteModel(export.convert_tflite(saved, "float32"))
    np.testing.assert_allclose(tflite.predict(images[:2]), smaller.predict(images[:2], verbose=0),
                               atol=1e-4)
    int8 = export.TFLiteModel(export.convert_tflite(
        saved, "int8", representative_images=lambda: (images[i:i + 1] for i in range(8))))
    out = int8.predict(images[:2])
    assert out.shape == (2, 1) and np.all((out >= 0) & (out <= 1))


@pytest.mark.parametrize("fractions, message", [
    ({"block6": 0.5}, "unknown block or conv layer name 'block6'"),
    ({"head_dense": 0.5}, "unknown block or conv layer name 'head_dense'"),
    ({"block4": 1.0}, "block4: expected a fraction in [0, 1), got 1.0"),
    ({"block4_conv1": -0.1}, "expected a fraction in [0, 1)"),
])
def test_bad_fractions_are_rejected(fractions, message):
    with pytest.raises(ValueError) as e:
        check_filter_fractions(fractions)
    assert message in str(e.value)


def test_a_layer_entry_wins_over_its_block():
    f = resolve_filter_fractions({"block5": 0.5, "block5_conv3": 0.25})
    assert (f["block5_conv1"], f["block5_conv3"], f["block4_conv1"]) == (0.5, 0.25, 0.0)

