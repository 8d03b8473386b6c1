"""Runs one `.tflite` file in standalone LiteRT (`ai-edge-litert`), as a user's client would.

This file runs in its own environment, `.venv-litert` (ai-edge-litert, numpy 2, Pillow; no
TensorFlow), and imports nothing from the project: what it sees is what a deployed client sees.
The interpreter is created with LiteRT's defaults (its built-in op resolver, which applies the
XNNPACK delegate), so a model that needs anything else fails here as it would for users.

    .venv-litert/bin/python modules/litert_runner.py REQUEST.json RESULT.json

REQUEST.json keys:
  model          path of the .tflite file
  images         path of a .npy, float32 [N, H, W, 3]: inputs exactly as the model takes them
  files          or: image file paths, decoded and resized here following the pushed contract
                 (MODEL.md; `preprocess` below)
  background     RGB the alpha channel is composited over (the contract's); white by default
  predictions    where to write the outputs, .npy float32 [N, K] (optional)
  threads        thread counts to measure latency with, e.g. [1, 2] ([] : no latency)
  latency_runs   timed single-image calls per thread count (median and p90 reported); 50
  warmup_runs    untimed calls first; 5
RESULT.json: {"loaded": bool, "error": str | null, "runtime": "ai-edge-litert <version>",
  "input": {name, dtype, shape}, "output": {name, dtype, shape}, "predictions": path | null,
  "latency": {"<threads>": {"median_ms", "p10_ms", "p90_ms", "runs", "started_at", "ended_at"
              (wall clock of warm-up + timed calls, s since the epoch)}},
  "loadavg": [1, 5, 15 min]}
The process exits 0 whenever it could write RESULT.json (a model that fails to load is a result,
not a crash); a crash of LiteRT itself is seen by the caller as a non-zero exit without a result.
"""
import json
import os
import sys
import time

import numpy as np


def preprocess(path, height, width, background=(255.0, 255.0, 255.0)):
    """An image file -> float32 [height, width, 3], RGB in [0, 255]: the pushed contract.

    Decode (PNG/JPEG/GIF first frame/BMP, EXIF orientation not applied), convert to RGB
    (grayscale repeated, palette expanded, 16-bit reduced to its high byte (v >> 8, as
    libpng's strip_16), alpha composited over `background` (RGB, the contract's colour), but a
    GIF's transparent pixels black (0, 0, 0) and a 32-bit BMP's fourth byte ignored, as
    TensorFlow decodes them), then resize to height x width with bilinear interpolation with
    antialiasing (Pillow's BILINEAR on float channels equals TensorFlow's
    `tf.image.resize(..., 'bilinear', antialias=True)`); the aspect ratio is not kept.
    """
    from PIL import Image
    with Image.open(path) as img:
        img.seek(0)
        img.load()
        rgb = to_rgb_array(img, background)
    channels = [Image.fromarray(rgb[..., c], mode="F").resize((width, height), Image.BILINEAR)
                for c in range(3)]
    return np.clip(np.stack([np.asarray(c, np.float32) for c in channels], -1), 0.0, 255.0)


def to_rgb_array(img, background=(255.0, 255.0, 255.0)):
    """A Pillow image -> float32 [h, w, 3] RGB in [0, 255], alpha composited over `background`."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grayscale PNG
        # TensorFlow's decode_png(dtype=uint8) keeps the high byte (v >> 8), not v / 257.
        gray = np.right_shift(np.clip(np.asarray(img, np.int64), 0, 65535), 8)
        return np.repeat(gray.astype(np.float32)[..., None], 3, axis=-1)
    if img.format == "BMP":  # a 32-bit BMP's fourth byte is ignored, as TensorFlow is told to
        return np.asarray(img.convert("RGB"), np.float32)
    if img.format == "GIF":  # TensorFlow's GIF decoder leaves transparent pixels black
        rgba = np.asarray(img.convert("RGBA"), np.float32)
        return np.where(rgba[..., 3:4] == 0, 0.0, rgba[..., :3]).astype(np.float32)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (
        img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), np.float32)
        alpha = rgba[..., 3:4] / 255.0
        return rgba[..., :3] * alpha + np.asarray(background, np.float32) * (1.0 - alpha)
    return np.asarray(img.convert("RGB"), np.float32)


def _details(detail):
    return {"name": detail["name"], "dtype": np.dtype(detail["dtype"]).name,
            "shape": [int(d) for d in detail["shape"]]}


def _interpreter(model, threads):
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=model, num_threads=int(threads))
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    shape = [1] + [int(d) for d in inp["shape_signature"][1:]]
    interpreter.resize_tensor_input(inp["index"], shape, strict=False)
    interpreter.allocate_tensors()
    return interpreter, inp, out


def _invoke(interpreter, inp, out, image):
    interpreter.set_tensor(inp["index"], image[None].astype(np.float32))
    interpreter.invoke()
    return interpreter.get_tensor(out["index"])[0].copy()


def run(request):
    import importlib.metadata
    result = {"loaded": False, "error": None, "predictions": None, "latency": {},
              "runtime": f"ai-edge-litert {importlib.metadata.version('ai-edge-litert')}",
              "loadavg": list(os.getloadavg())}
    threads = [int(t) for t in request.get("threads", [])]
    try:
        interpreter, inp, out = _interpreter(request["model"], threads[0] if threads else 1)
    except Exception as e:  # the runtime's own message is the reason a variant is refused
        result["error"] = f"{type(e).__name__}: {e}".strip()
        return result
    result["loaded"] = True
    result["input"], result["output"] = _details(inp), _details(out)
    height, width = result["input"]["shape"][1:3]
    if request.get("images"):
        images = np.load(request["images"])
    elif request.get("files"):
        background = request.get("background", (255.0, 255.0, 255.0))
        images = np.stack([preprocess(p, height, width, background) for p in request["files"]])
    else:
        images = np.zeros((1, height, width, 3), np.float32)
    try:
        outputs = np.stack([_invoke(interpreter, inp, out, img) for img in images])
    except Exception as e:
        result["error"] = f"invoke failed: {type(e).__name__}: {e}".strip()
        return result
    if request.get("predictions"):
        np.save(request["predictions"], outputs.astype(np.float32))
        result["predictions"] = request["predictions"]
    warmup, runs = int(request.get("warmup_runs", 5)), int(request.get("latency_runs", 50))
    for t in threads:
        timed, tin, tout = (interpreter, inp, out) if t == threads[0] else _interpreter(
            request["model"], t)
        started_at = time.time()
        for _ in range(warmup):
            _invoke(timed, tin, tout, images[0])
        times = []
        for i in range(runs):
            start = time.perf_counter()
            _invoke(timed, tin, tout, images[i % len(images)])
            times.append((time.perf_counter() - start) * 1000.0)
        result["latency"][str(t)] = {
            "median_ms": float(np.median(times)), "p10_ms": float(np.percentile(times, 10)),
            "p90_ms": float(np.percentile(times, 90)), "runs": runs,
            "started_at": started_at, "ended_at": time.time()}
    return result


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        request = json.load(f)
    result = run(request)
    with open(argv[1], "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
