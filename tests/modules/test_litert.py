"""modules/litert.py + modules/litert_runner.py: standalone LiteRT in its own environment.

- a model LiteRT cannot load (a corrupted file) is a result with the runtime's error, not a crash;
- a missing LiteRT environment is one error naming how to build it;
- the runner's contract preprocessing (Pillow, in the LiteRT env) gives the Transform's pixels for
  PNG (RGB, RGBA, grayscale + alpha, palette + transparency, 16-bit), GIF (with a transparent
  colour too), BMP (32-bit too) and JPEG (baseline, grayscale, progressive) exactly: serving
  clients and the Transform see the same image.
"""
import json
import subprocess

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from PIL import Image

from modules import export, litert
from modules.features import IMAGE_KEY
from modules.preprocessing import decode_and_resize


@pytest.fixture(scope="module")
def float32_tflite(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("litert")
    inputs = tf_keras.Input((32, 32, 3), name=IMAGE_KEY)
    x = tf_keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = tf_keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    model = tf_keras.Model(inputs, outputs)
    export.save_image_model(model, str(tmp / "sm"))
    path = tmp / "model.tflite"
    path.write_bytes(export.convert_tflite(str(tmp / "sm"), "float32"))
    return path, model


def test_litert_runs_a_model_like_keras(float32_tflite):
    path, model = float32_tflite
    images = np.random.default_rng(0).uniform(0, 255, (5, 32, 32, 3)).astype(np.float32)
    result = litert.run_litert(str(path), images=images, threads=[1], latency_runs=3)
    assert result.ok, result.error
    assert result.runtime.startswith("ai-edge-litert ")
    assert result.input["shape"] == [1, 32, 32, 3] and result.input["dtype"] == "float32"
    np.testing.assert_allclose(result.predictions, model.predict(images, verbose=0), atol=1e-5)
    assert result.latency["1"]["runs"] == 3 and result.latency["1"]["median_ms"] > 0


def test_corrupted_tflite_is_an_error_not_a_crash(float32_tflite, tmp_path):
    path, _ = float32_tflite
    broken = tmp_path / "broken.tflite"
    content = path.read_bytes()
    broken.write_bytes(content[:len(content) // 3])  # a download cut short
    result = litert.run_litert(str(broken), images=np.zeros((1, 32, 32, 3), np.float32))
    assert not result.ok and result.predictions is None
    assert result.error  # LiteRT's message (or how its process died)


def test_missing_litert_environment_names_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.delenv(litert.ENV_VAR, raising=False)
    with pytest.raises(litert.LiteRTUnavailableError, match="make install"):
        litert.litert_python(str(tmp_path / "nope" / "python"))


def _save(img: Image.Image, path, fmt, **options):
    img.save(path, format=fmt, **options)
    return str(path)


def _transparent_gif(rgb, path):
    img = Image.fromarray(rgb).convert("P")
    used = int(np.bincount(np.asarray(img).ravel()).argmax())  # the most frequent index
    img.save(path, format="GIF", transparency=used)
    return str(path)


def test_contract_preprocessing_in_the_litert_env_equals_the_transform(tmp_path,
                                                                        image_helpers):
    rng = np.random.default_rng(1)
    rgb = np.asarray(Image.fromarray(rng.integers(0, 256, (9, 7, 3)).astype(np.uint8))
                     .resize((61, 97), Image.BICUBIC))
    alpha = np.asarray(Image.fromarray(rng.integers(0, 256, (9, 7)).astype(np.uint8))
                       .resize((61, 97), Image.BICUBIC))
    rgba = Image.fromarray(np.concatenate([rgb, alpha[..., None]], axis=-1))
    exact = {
        "rgb.png": _save(Image.fromarray(rgb), tmp_path / "rgb.png", "PNG"),
        "rgba.png": _save(rgba, tmp_path / "rgba.png", "PNG"),
        "la.png": _save(rgba.convert("LA"), tmp_path / "la.png", "PNG"),
        "p.png": _save(rgba.convert("P"), tmp_path / "p.png", "PNG"),
        "small_gray.png": _save(Image.fromarray(rgb[:20, :20, 0]), tmp_path / "g.png", "PNG"),
        "gif": _save(Image.fromarray(rgb).convert("P"), tmp_path / "a.gif", "GIF"),
        "bmp": _save(Image.fromarray(rgb), tmp_path / "a.bmp", "BMP"),
        # 32-bit BMP: its fourth byte (here alpha, 0 in places) is ignored by both
        "rgba.bmp": _save(rgba, tmp_path / "rgba.bmp", "BMP"),
        # a transparent colour: TensorFlow leaves those pixels black, and so must the client
        "transparent.gif": _transparent_gif(rgb, tmp_path / "t.gif"),
        # high and low bytes vary independently: v >> 8 and round(v / 257) differ on many pixels
        "16bit.png": _save(Image.fromarray(alpha.astype(np.uint16) * 256
                                           + rng.integers(0, 256, alpha.shape).astype(np.uint16)),
                           tmp_path / "i16.png", "PNG"),
        # the Transform decodes JPEG with the accurate integer IDCT, as Pillow does: the fast
        # one differed by up to ~20 levels on small JPEGs (helper-41)
        "jpeg": _save(Image.fromarray(rgb), tmp_path / "a.jpg", "JPEG"),
        "gray.jpeg": _save(Image.fromarray(rgb).convert("L"), tmp_path / "l.jpg", "JPEG"),
        "progressive.jpeg": _save(Image.fromarray(rgb), tmp_path / "p.jpg", "JPEG",
                                  progressive=True, quality=70),
    }
    close = {}
    paths = {**exact, **close}
    background = (250.0, 128.0, 0.0)
    script = ("import json, sys, numpy as np; sys.path.insert(0, sys.argv[1]); "
              "import litert_runner as r; paths = json.loads(sys.argv[2]); "
              "np.save(sys.argv[3], np.stack([r.preprocess(p, 32, 32, (250.0, 128.0, 0.0)) "
              "for p in paths]))")
    out = tmp_path / "client.npy"
    subprocess.run([litert.litert_python(), "-c", script, litert.PROJECT_ROOT + "/modules",
                    json.dumps(list(paths.values())), str(out)], check=True)
    client = dict(zip(paths, np.load(out)))
    for name, path in paths.items():
        transform = decode_and_resize(tf.io.read_file(path), 32, background).numpy()
        diff = np.abs(transform - client[name])
        if name in exact:
            assert diff.max() < 1e-3, (name, diff.max())
        else:  # libjpeg IDCT variants: a few levels at most
            assert diff.max() <= 4.0 and diff.mean() < 1.0, (name, diff.max(), diff.mean())
