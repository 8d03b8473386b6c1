"""modules/preprocessing.py: the Transform graph (run through tf.Transform in-process)."""
import functools
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from modules.features import IMAGE_KEY
from modules.preprocessing import decode_and_resize, preprocessing_fn

SIZE = 32


@pytest.fixture(scope="module")
def transformed(tmp_path_factory, tiny_image_tree, image_helpers):
    """AnalyzeAndTransformDataset over 4 raw examples: 2 real grayscale PNGs and 2 RGB images."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import schema_utils

    gray = [sorted((tiny_image_tree / "train" / cls).iterdir())[0].read_bytes()
            for cls in ("shirt", "tshirt_top")]
    red = np.zeros((20, 20, 3), np.uint8)
    red[..., 0] = 255
    colour = image_helpers.asymmetric_rgb(SIZE)
    raw = [{"image": [gray[0]], "label": [0]},
           {"image": [gray[1]], "label": [1]},
           {"image": [image_helpers.encode_image(red)], "label": [1]},
           {"image": [image_helpers.encode_image(colour)], "label": [0]}]
    metadata = tft.DatasetMetadata(schema_utils.schema_from_feature_spec({
        "image": tf.io.FixedLenFeature([1], tf.string),
        "label": tf.io.FixedLenFeature([1], tf.int64)}))
    fn = functools.partial(preprocessing_fn, custom_config={"image_size": SIZE})
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft"))):
        (data, out_metadata), _ = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
    return {"raw": raw, "gray": gray, "colour": colour, "data": data, "metadata": out_metadata}


def test_transform_output_features_and_shapes(transformed):
    data = transformed["data"]
    assert len(data) == 4
    for row in data:
        assert set(row) == {IMAGE_KEY, "label"}
        image = np.asarray(row[IMAGE_KEY])
        assert image.shape == (SIZE, SIZE, 3)
        assert image.dtype == np.float32
        assert image.min() >= 0.0 and image.max() <= 255.0
    spec = transformed["metadata"].schema
    names = {f.name for f in spec.feature}
    assert names == {IMAGE_KEY, "label"}


def test_transform_label_passthrough(transformed):
    assert [int(np.asarray(r["label"]).reshape(-1)[0]) for r in transformed["data"]] == [0, 1, 1, 0]


def test_transform_grayscale_becomes_equal_rgb_channels(transformed):
    for row, encoded in zip(transformed["data"][:2], transformed["gray"]):
        image = np.asarray(row[IMAGE_KEY])
        np.testing.assert_array_equal(image[..., 0], image[..., 1])
        np.testing.assert_array_equal(image[..., 0], image[..., 2])
        # the resize keeps the content: mean brightness close to the 28x28 original's
        original = np.asarray(Image.open(io.BytesIO(encoded)), np.float32)
        assert original.shape == (28, 28)
        assert abs(image.mean() - original.mean()) < 3.0
        assert image.max() > 100  # not scaled to [0, 1]


def test_transform_keeps_rgb_channel_order(transformed):
    red = np.asarray(transformed["data"][2][IMAGE_KEY])
    np.testing.assert_allclose(red[..., 0], 255.0, atol=1e-3)
    np.testing.assert_allclose(red[..., 1:], 0.0, atol=1e-3)
    # same size: the resize is the identity, so the image comes through unchanged
    colour = np.asarray(transformed["data"][3][IMAGE_KEY])
    np.testing.assert_allclose(colour, transformed["colour"].astype(np.float32), atol=1e-3)


def _gray_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((10, 14), 200, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_preprocessing_fn_default_size_without_custom_config():
    raw = {"image": tf.constant([[_gray_png()]]), "label": tf.constant([[1]], tf.int64)}
    out = preprocessing_fn(raw, None)
    assert out[IMAGE_KEY].shape == (1, 32, 32, 3)
    assert out["label"].numpy().tolist() == [1]


def test_preprocessing_fn_without_label_serves_images_only():
    out = preprocessing_fn({"image": tf.constant([[_gray_png()], [_gray_png()]])},
                           {"image_size": 40})
    assert set(out) == {IMAGE_KEY}
    assert out[IMAGE_KEY].shape == (2, 40, 40, 3)
    np.testing.assert_allclose(out[IMAGE_KEY].numpy(), 200.0, atol=1e-3)


# ---------------------------------------------------------------------------- decode_and_resize


def _composited(rgb: np.ndarray, alpha: np.ndarray, background) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] / 255.0
    return rgb.astype(np.float32) * a + np.asarray(background, np.float32) * (1.0 - a)


@pytest.mark.parametrize("size", [32, 48])
def test_decode_and_resize_rgba_composites_alpha_over_white(image_helpers, size):
    data = image_helpers.special_pngs(32)["RGBA"]  # alpha 128 everywhere
    out = decode_and_resize(tf.constant(data), size).numpy()
    assert out.shape == (size, size, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 255.0
    if size == 32:  # no resize: exactly rgb * a + white * (1 - a)
        rgb = image_helpers.asymmetric_rgb(32)
        np.testing.assert_allclose(out, _composited(rgb, np.full((32, 32), 128), (255,) * 3),
                                   atol=1e-3)


def test_transparent_png_background_is_the_configured_colour(image_helpers):
    """A fully transparent pixel becomes the background (white by default, any RGB configured),
    an opaque one keeps its colour; grayscale + alpha likewise."""
    rgb = image_helpers.asymmetric_rgb(32)
    alpha = np.zeros((32, 32), np.uint8)
    alpha[:16] = 255  # top half opaque, bottom half transparent
    rgba = image_helpers.encode_image(np.concatenate([rgb, alpha[..., None]], axis=-1))
    white = decode_and_resize(tf.constant(rgba), 32).numpy()
    np.testing.assert_allclose(white[:16], rgb[:16].astype(np.float32), atol=1e-3)
    np.testing.assert_allclose(white[16:], 255.0, atol=1e-3)
    green = decode_and_resize(tf.constant(rgba), 32, background=(0.0, 255.0, 0.0)).numpy()
    np.testing.assert_allclose(green[16:], np.broadcast_to([0.0, 255.0, 0.0], (16, 32, 3)),
                               atol=1e-3)
    la = Image.fromarray(np.concatenate([rgb, alpha[..., None]], axis=-1)).convert("LA")
    buf = io.BytesIO()
    la.save(buf, format="PNG")
    gray = np.asarray(la, np.float32)
    out = decode_and_resize(tf.constant(buf.getvalue()), 32).numpy()
    np.testing.assert_allclose(out[..., 0], _composited(gray[..., :1].repeat(3, -1),
                                                         gray[..., 1], (255,) * 3)[..., 0],
                               atol=1e-3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_preprocessing_fn_uses_the_background_from_custom_config(image_helpers):
    rgba = np.zeros((8, 8, 4), np.uint8)  # fully transparent black
    data = image_helpers.encode_image(rgba)
    out = preprocessing_fn({"image": tf.constant([[data]])},
                           {"image_size": 32, "background": [10, 20, 30]})[IMAGE_KEY].numpy()
    np.testing.assert_allclose(out[0], np.broadcast_to([10.0, 20.0, 30.0], (32, 32, 3)),
                               atol=1e-3)


def test_decode_and_resize_palette_gives_palette_colours(image_helpers):
    data = image_helpers.special_pngs(32)["P"]
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)
    out = decode_and_resize(tf.constant(data), 32).numpy()
    assert out.shape == (32, 32, 3)
    np.testing.assert_allclose(out, expected, atol=1e-3)
    assert not np.allclose(out[..., 0], out[..., 1])  # really colour, not an index map


def test_decode_and_resize_16bit_grayscale_scales_to_8bit(image_helpers):
    data = image_helpers.special_pngs(32)["I;16"]
    values16 = np.asarray(Image.open(io.BytesIO(data)), np.float64)
    out = decode_and_resize(tf.constant(data), 32).numpy()
    assert out.shape == (32, 32, 3)
    assert out.min() >= 0.0 and out.max() <= 255.0
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    # 16-bit -> 8-bit keeps the high byte (v >> 8, libpng's strip_16), not v / 257 rounded:
    # the ramp's low bytes vary, so the two rules differ on some pixels and only one holds
    assert (np.floor(values16 / 257.0 + 0.5) != np.floor(values16 / 256.0)).any()
    np.testing.assert_array_equal(out[..., 0], np.floor(values16 / 256.0))
    assert out.max() >= 254.0


def test_decode_and_resize_grayscale_jpeg(image_helpers):
    data = image_helpers.special_pngs(32)["L-jpeg"]
    out = decode_and_resize(tf.constant(data), 32).numpy()
    assert out.shape == (32, 32, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    expected = image_helpers.asymmetric_rgb(32)[..., 1].astype(np.float32)
    assert np.abs(out[..., 0] - expected).mean() < 4.0  # lossy, but the same picture


def test_decode_and_resize_cmyk_jpeg_gives_rgb_like_pillow(image_helpers):
    """CMYK JPEG (print workflows): TensorFlow decodes it to the same RGB as Pillow, within JPEG
    loss, so ImageExampleGen keeps such files (the `image` feature stays the file's bytes)."""
    rgb = image_helpers.asymmetric_rgb(32)
    data = image_helpers.encode_image(rgb, mode="CMYK", fmt="JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)
    out = decode_and_resize(tf.constant(data), 32).numpy()
    assert out.shape == (32, 32, 3)
    assert np.abs(out - expected).mean() < 2.0
    assert np.abs(out - rgb.astype(np.float32)).mean() < 8.0  # and it is still the picture


def test_a_32_bit_bmp_is_read_as_rgb_and_a_gifs_transparent_pixels_are_black(image_helpers):
    """What the contract says and every Pillow client does (modules/litert_runner): a 32-bit
    BMP's fourth byte is ignored (as padding it is often 0 everywhere: as alpha the image would
    turn white), and a GIF's transparent colour is black, as TensorFlow's GIF decoder leaves it
    (nothing can composite it: the decoder returns no alpha)."""
    rgb = image_helpers.asymmetric_rgb(32)
    padded = np.concatenate([rgb, np.zeros((32, 32, 1), np.uint8)], axis=-1)  # X8R8G8B8, X = 0
    buf = io.BytesIO()
    Image.fromarray(padded, "RGBA").save(buf, format="BMP")
    np.testing.assert_allclose(decode_and_resize(tf.constant(buf.getvalue()), 32).numpy(),
                               rgb.astype(np.float32), atol=1e-3)
    palette = Image.fromarray(rgb).convert("P")
    index = np.asarray(palette)
    clear = int(index[0, 0])
    buf = io.BytesIO()
    palette.save(buf, format="GIF", transparency=clear)
    out = decode_and_resize(tf.constant(buf.getvalue()), 32).numpy()
    colours = np.asarray(palette.convert("RGB"), np.float32)
    np.testing.assert_allclose(out[index == clear], 0.0, atol=1e-3)
    np.testing.assert_allclose(out[index != clear], colours[index != clear], atol=1e-3)
