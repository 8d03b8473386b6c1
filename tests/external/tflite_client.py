"""A user's TFLite client, written from a pushed version's MODEL.md and labels.txt only.

Runs in the LiteRT environment (ai-edge-litert, numpy, Pillow; no TensorFlow) and imports nothing
from the project: tests/e2e/test_deployed_contract.py checks that it agrees with the SavedModel.

    python tflite_client.py VERSION_DIR MODEL.tflite OUT.json IMAGE...
"""
import json
import os
import re
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image


def read_contract(version_dir):
    with open(os.path.join(version_dir, "MODEL.md"), encoding="utf-8") as f:
        card = f.read()
    background = re.search(r"composited over RGB \(([\d.]+), ([\d.]+), ([\d.]+)\)", card)
    with open(os.path.join(version_dir, "labels.txt"), encoding="utf-8") as f:
        labels = [line.strip() for line in f if line.strip()]
    return [float(c) for c in background.groups()], labels


def prepare(path, height, width, background):
    """MODEL.md, 'Preparing an image': decode, composite alpha, bilinear antialiased resize."""
    img = Image.open(path)
    if img.mode.startswith("I"):  # 16-bit: the high byte of each value (v >> 8)
        rgb = np.repeat((np.asarray(img, np.int64) >> 8).astype(np.float32)[..., None], 3, -1)
    elif img.format != "GIF" and (img.mode in ("RGBA", "LA")
                                  or (img.mode == "P" and "transparency" in img.info)):
        rgba = np.asarray(img.convert("RGBA"), np.float32)
        a = rgba[..., 3:] / 255.0
        rgb = rgba[..., :3] * a + np.asarray(background, np.float32) * (1 - a)
    else:
        rgb = np.asarray(img.convert("RGB"), np.float32)
    channels = [np.asarray(Image.fromarray(rgb[..., c], "F").resize((width, height),
                                                                      Image.BILINEAR))
                for c in range(3)]
    return np.clip(np.stack(channels, -1), 0, 255).astype(np.float32)[None]


def main(version_dir, model, out, images):
    background, labels = read_contract(version_dir)
    interpreter = Interpreter(model_path=model)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out_detail = interpreter.get_output_details()[0]
    _, height, width, _ = inp["shape"]
    outputs = []
    for path in images:
        interpreter.set_tensor(inp["index"], prepare(path, height, width, background))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out_detail["index"])[0].tolist())
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"labels": labels, "outputs": outputs}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
