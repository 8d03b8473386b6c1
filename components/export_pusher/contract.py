"""The input/output contract of a pushed version: `labels.txt`, `MODEL.md` and report["contract"].

Everything a client needs to call the SavedModel or a `.tflite` without this project's code:
input names, dtypes, shapes, value range, colour order, resize method, alpha handling and what
each output means. tests/external/ follows only this text (Pillow, numpy, LiteRT, plain
TensorFlow) and must reach the parity gate's agreement.
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Optional, Sequence

from modules.class_names import quoted
from modules import tflite_variants

LABELS_FILE = "labels.txt"
MODEL_CARD = "MODEL.md"

RESIZE = ("bilinear interpolation with antialiasing, to exactly H x W (the aspect ratio is not "
          "kept): TensorFlow `tf.image.resize(image, [H, W], method='bilinear', "
          "antialias=True)`; Pillow `Image.resize((W, H), Image.BILINEAR)` on each channel as a "
          "float ('F') image gives the same values (on uint8 channels within 1 level). A resize "
          "without antialiasing (e.g. OpenCV INTER_LINEAR, or antialias=False) gives different "
          "inputs when shrinking and measurably lower agreement")
DECODE = ("the image file as stored: PNG, JPEG, GIF (first frame) or BMP; EXIF orientation is "
          "not applied (Pillow: no ImageOps.exif_transpose; the model was trained on pixels as "
          "stored, so rotate a phone photo stored sideways upright, re-saved, before sending "
          "it); grayscale is repeated to 3 channels; palette images are expanded to "
          "their colours; 16-bit images keep the high byte of each value (v >> 8, i.e. "
          "floor(v / 256), as libpng's strip_16; not v / 257; Pillow's convert('RGB') clips "
          "a 16-bit value above 255 to 255 instead: take numpy.asarray(img) >> 8); a PNG "
          "transparency key on a grayscale or RGB image (tRNS without an alpha channel) is "
          "ignored; JPEG is decoded "
          "with libjpeg's accurate integer IDCT (JDCT_ISLOW: Pillow's default, TensorFlow "
          "`decode_jpeg(dct_method='INTEGER_ACCURATE')`; the fast IDCT differs by up to ~20 "
          "levels on small images, enough to change classes), and CMYK JPEGs may differ by up "
          "to about a dozen levels before the resize (inverted Adobe CMYK, converted without a "
          "colour profile)")


def alpha_rule(background: Sequence[float]) -> str:
    bg = ", ".join(f"{c:g}" for c in background)
    return (f"transparency (RGBA, grayscale + alpha, palette transparency) is composited over "
            f"RGB ({bg}): rgb * a + ({bg}) * (1 - a), with a = alpha / 255; but a GIF's "
            f"transparent pixels are black (0, 0, 0), as TensorFlow's GIF decoder leaves them, "
            f"and a 32-bit BMP's fourth byte is ignored (read as RGB)")


def output_meaning(class_names: Sequence[str]) -> str:
    if len(class_names) == 2:
        return (f"float32 [batch, 1]: P(class 1 = {quoted(class_names[1])}), and 1 minus it is "
                f"P({quoted(class_names[0])}); the predicted class is "
                f"{quoted(class_names[1])} when it is >= 0.5, else {quoted(class_names[0])}")
    return (f"float32 [batch, {len(class_names)}]: softmax probabilities in labels.txt order; "
            f"the predicted class is the argmax")


def deploy_rule() -> str:
    """Why the deployed .tflite is the one named, in the variant table's deploy order."""
    order = ", else ".join(tflite_variants.deploy_order())
    return (f"of the .tflite files that passed the parity gate in this version, the first in "
            f"the order {order}. Which files pass can change from one version to the next, so "
            f"read this name instead of assuming one")


def build(class_names: Sequence[str], image_size: int, background: Sequence[float],
          tflite: Dict[str, Dict[str, Any]], deployed: Optional[str] = None,
          client_check: Optional[Dict[str, Any]] = None,
          notes: Sequence[str] = (), measured: Sequence[str] = (),
          thresholds: Sequence[str] = ()) -> Dict[str, Any]:
    """The contract as data. tflite: {file name: {"input": {name, dtype, shape}, "output": {...}}}
    as LiteRT reports them; deployed: the file name of the .tflite to deploy (None: none
    pushed); client_check: report["client_check"] (client_check.py), when it ran; notes: the
    deployed file's held-out notes (deployed_notes.py), listed under MODEL.md's "Deploy";
    measured: its accuracy and agreement figures (`deployed_notes.measured_lines`), listed
    there too; thresholds: MODEL.md's decision-threshold section (`threshold_lines`)."""
    def signature(name: str, dtype: str, shape: List[Any], content: str) -> Dict[str, Any]:
        return {"input": {"name": name, "dtype": dtype, "shape": shape, "content": content},
                "output": {"name": "probability", "meaning": output_meaning(class_names)}}

    image = {"height": int(image_size), "width": int(image_size), "channels": 3,
             "colour_order": "RGB", "dtype": "float32", "value_range": [0.0, 255.0],
             "normalisation": "none (no scaling to [0, 1], no mean subtraction): the model "
                              "converts to BGR and subtracts the ImageNet mean itself",
             "decode": DECODE, "alpha": alpha_rule(background),
             "alpha_background_rgb": [float(c) for c in background], "resize": RESIZE}
    return {
        "class_names": list(class_names), "labels_file": LABELS_FILE,
        "output": {"name": "probability", "meaning": output_meaning(class_names)},
        **({"decision_threshold": list(thresholds)} if thresholds else {}),
        "image": image,
        "saved_model": {
            "serving_default": signature(
                "examples", "string", [None],
                "serialized tf.Example protos, each with the bytes feature 'image' = the image "
                "file's bytes (decoding, alpha, resize happen inside: the Transform graph)"),
            "serving_bytes": signature(
                "image_bytes", "string", [None],
                "each image file's bytes as stored (PNG/JPEG/GIF/BMP); decoding, alpha, resize "
                "happen inside, as in serving_default"),
            "serving_image": signature(
                "image_xf", "float32", [None, int(image_size), int(image_size), 3],
                "images prepared as `image` says")},
        "deployed_tflite": {"file": deployed, "rule": deploy_rule(),
                            **({"measured": list(measured)} if measured else {}),
                            **({"notes": list(notes)} if notes else {})},
        "client_check": ({k: client_check[k] for k in ("file", "split", "examples",
                                                       "predictions_file")}
                         if client_check and client_check.get("predictions_file") else None),
        "tflite": {name: {"input": {**info.get("input", {}),
                                    "content": "one image prepared as `image` says"},
                          "output": {**info.get("output", {}),
                                     "meaning": output_meaning(class_names),
                                     **({"int8_output_layer": info["int8_output_layer"]}
                                        if info.get("int8_output_layer") else {}),
                                     **tie_record(info.get("held_out_top_ties"),
                                                  len(class_names)),
                                     **values_record(info.get("held_out_values"))}}
                   for name, info in sorted(tflite.items())},
    }


def threshold_lines(record: Optional[Dict[str, Any]], class_names: Sequence[str],
                    class_weight: Optional[Dict[str, Any]] = None) -> List[str]:
    """MODEL.md's "Choosing a decision threshold" section for a two-class model (helper-78):
    what 0.5 means, what class weights did to the probabilities, and each class's recall and
    precision at thresholds 0.1-0.9 on the validation sample (report.json `thresholds`),
    never the test split's. [] without a record."""
    if not record or len(class_names) != 2:
        return []
    a, b = quoted(class_names[0]), quoted(class_names[1])
    counts = record["rows"][0]["classes"]
    lines = ["## Choosing a decision threshold (two classes)", "",
             f"The output is P({b}); the file predicts {b} when it is >= 0.5. To find more of "
             f"one class at the cost of more false alarms, compare the output with another "
             f"threshold t (class {b} when P >= t). Below, each class's recall (found of its "
             f"examples) and precision (right of those predicted as it) at each t, measured with "
             f"the SavedModel on {record['examples']} examples of the `{record['split']}` split "
             f"({counts[0]['examples']} {a}, {counts[1]['examples']} {b}; all of them when the "
             f"split holds at most `export.parity_examples`, else a class-stratified sample at "
             f"its mix): choose t on these, never on the test split. Precision depends on how "
             f"common each class is: in use, at another mix of classes, it differs."]
    weights = {str(k): float(v) for k, v in (class_weight or {}).items()}
    if weights and len(set(round(w, 6) for w in weights.values())) > 1:
        shown_weights = ", ".join(f"{quoted(class_names[int(k)])} {w:.3g}"
                                  for k, w in sorted(weights.items(), key=lambda kv: int(kv[0]))
                                  if int(k) < len(class_names))
        lines += ["", f"The model was trained with class weights ({shown_weights}; "
                      f"`trainer.class_weight`), so its probabilities are those of classes "
                      f"weighed alike, not of how common each is: read P as a score to "
                      f"threshold, not as a frequency."]
    lines += ["", f"| t | recall {a} | precision {a} | recall {b} | precision {b} |",
              "|---:|---:|---:|---:|---:|"]

    def share(k: int, n: int) -> str:
        return f"{k / n:.3f} ({k} of {n})" if n else "n/a (0 of 0)"
    for row in record["rows"]:
        c0, c1 = row["classes"]
        lines.append(f"| {row['threshold']:g} | {share(c0['hits'], c0['examples'])} | "
                     f"{share(c0['hits'], c0['predicted'])} | {share(c1['hits'], c1['examples'])} "
                     f"| {share(c1['hits'], c1['predicted'])} |")
    lines += ["", "A quantized `.tflite` moves probabilities near a threshold more than "
                  "elsewhere (the measured block above): check a chosen t with the file you "
                  "deploy, on validation images of your own (`client_predictions.csv` holds "
                  "held-out test images: a last check of a client, not a place to choose t).",
              ""]
    return lines


def tie_record(fraction: Any, classes: int) -> Dict[str, Any]:
    """{'held_out_ties', 'tie_rule'} for a file whose output decided the class by an exact tie
    on part of the held-out images (a quantized output takes few values); {} when none did."""
    if not fraction:
        return {}
    rule = ("exactly 0.5 counts as class 1" if classes <= 2 else
            "the two largest probabilities are equal and argmax takes the lower class index "
            "(the earlier name in labels.txt)")
    return {"held_out_ties": float(fraction), "tie_rule": rule}


def values_record(values: Any) -> Dict[str, Any]:
    """{'held_out_values': ...} (`metrics.output_values` of the file's held-out outputs) for a
    file whose output took fewer distinct values than half the held-out images (a quantized
    output: a threshold or a ranking cannot be finer than these steps); {} otherwise."""
    if not values or not values.get("examples") \
            or values.get("distinct", 0) * 2 >= values["examples"]:
        return {}
    return {"held_out_values": dict(values)}


def values_sentence(values: Dict[str, Any], classes: int) -> str:
    """MODEL.md's words on `values_record`: how few values the file returned, and (binary)
    which ones around the 0.5 threshold."""
    score = "probabilities" if classes <= 2 else "top-class probabilities"
    text = (f" On the report's {values['examples']} held-out images it returned only "
            f"{values['distinct']} distinct {score}")
    near = values.get("around_threshold") or []
    if near:
        text += (", around the 0.5 threshold " + ", ".join(f"{v:.4f}" for v in near)
                 + ": a threshold between two of these acts as either")
    return text + "; rank or threshold finely with a float file or the SavedModel."


def code_span(text: str) -> str:
    """`text` as one Markdown code span, whatever backticks it holds (the fence is one backtick
    longer than its longest run), so a name shows literally and cannot end the span and add
    Markdown or HTML: 'a`b' -> ``a`b``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def model_card(contract: Dict[str, Any]) -> str:
    """MODEL.md: the contract for people."""
    img, names = contract["image"], contract["class_names"]
    h, w = img["height"], img["width"]
    lines: List[str] = [
        "# Model contract", "",
        f"Classes ({len(names)}), index order, also in `{LABELS_FILE}`: "
        + ", ".join(f"{i} = {code_span(n)}" for i, n in enumerate(names)) + ".", "",
        "## SavedModel (`saved_model/`)", "",
        "- Signature `serving_default`: input `examples`, `tf.string` `[batch]`: serialized "
        "`tf.Example` protos, each with the bytes feature `image` holding the image file's bytes "
        "(PNG/JPEG/GIF/BMP as stored). Decoding, alpha, resizing happen inside the model (the "
        "Transform graph). Output `probability`: " + contract["output"]["meaning"] + ".",
        "- Signature `serving_bytes`: input `image_bytes`, `tf.string` `[batch]`: each image "
        "file's bytes as stored, no `tf.Example` to build (plain TensorFlow: `tf.saved_model."
        "load(d).signatures['serving_bytes'](image_bytes=tf.constant([open(p, 'rb').read()]))`)."
        " Same processing inside and same output as `serving_default`.",
        f"- Signature `serving_image`: input `image_xf`, `float32` `[batch, {h}, {w}, 3]`, "
        "prepared as below. Same output.", "",
        "## TFLite files (LiteRT, default delegates)", "",
    ]
    deployed = (contract.get("deployed_tflite") or {}).get("file")
    if deployed:
        lines += [f"**Deploy `{deployed}`**: {contract['deployed_tflite']['rule']} "
                  "(`contract.deployed_tflite.file` in report.json).", ""]
        measured = contract["deployed_tflite"].get("measured") or []
        if measured:  # what the version folder alone tells an integrator (helper-70)
            lines += [f"Measured for `{deployed}` (report.json has every file's figures):",
                      ""] + [f"- {m}" for m in measured] + [""]
        notes = contract["deployed_tflite"].get("notes") or []
        if notes:  # measured on the held-out split after the gates chose it (decide nothing)
            lines += ["Measured on the held-out test split (these decide nothing; "
                      "`deployed_notes` in report.json):", ""] + [f"- {n}" for n in notes] + [""]
    for name, info in contract["tflite"].items():
        i, o = info["input"], info["output"]
        lines.append(f"- `{name}`: input `{i.get('name')}`, `{i.get('dtype')}` "
                     f"`{i.get('shape')}`; output `{o.get('name')}`, `{o.get('dtype')}` "
                     f"`{o.get('shape')}`."
                     + ({"float32": " int8 inside but for its output layer (the last Dense and "
                                    "its sigmoid/softmax), which runs in float32.",
                         "int8": " int8 throughout, its output layer too."}
                        .get(o.get("int8_output_layer"), ""))
                     + (f" Its probabilities are quantized: on {o['held_out_ties']:.1%} of the "
                        f"report's held-out sample the class was decided by a tie "
                        f"({o['tie_rule']}); "
                        f"where that matters, a file without ties or the SavedModel decides "
                        f"those images by the model's own scores."
                        if o.get("held_out_ties") else "")
                     + (values_sentence(o["held_out_values"], len(names))
                        if o.get("held_out_values") else ""))
    if not contract["tflite"]:
        lines.append("- none pushed (see report.json: rejected)")
    lines += [
        "", "Each TFLite input is one image prepared as follows ([1, H, W, 3]: one image per "
        "call); the output holds that image's probabilities (its shape above): "
        + contract["output"]["meaning"].split(": ", 1)[-1] + ".", "",
        "## Preparing an image (`serving_image` and every `.tflite`)", "",
        f"1. Decode: {img['decode']}.",
        f"2. Alpha: {img['alpha']}.",
        f"3. Resize to {h} x {w}: {img['resize']}.",
        f"4. Feed `float32` RGB values in [0, 255], shape `[1, {h}, {w}, 3]`; normalisation: "
        f"{img['normalisation']}.", "",
        "`python -m pipeline predict --model <this directory or a .tflite> IMAGE...` does all "
        "of this.", ""]
    lines += list(contract.get("decision_threshold") or [])
    check = contract.get("client_check")
    if check:
        lines += [
            "## Checking your client", "",
            f"`{check['predictions_file']}` holds what these steps (Pillow, then standalone "
            f"LiteRT) give with `{check['file']}` on {check['examples']} image files of the "
            f"`{check['split']}` split, one row per file (its path under the data root, label, "
            "class, probability, and the SavedModel's class); `client_check` in report.json "
            "has the accuracy. Run your client on those files and compare row by row. "
            "report.json's per-variant accuracy is measured on TensorFlow's own decoding and "
            "resizing: a quantized file can differ from it on an image or two whose inputs "
            "differ by a fraction of a level; the classes in this file are a client's.", ""]
    return "\n".join(lines)


def write(staging: str, contract: Dict[str, Any]) -> List[str]:
    """Writes labels.txt and MODEL.md into the staging directory; returns their names."""
    with open(os.path.join(staging, LABELS_FILE), "w", encoding="utf-8") as f:
        f.write("".join(f"{name}\n" for name in contract["class_names"]))
    with open(os.path.join(staging, MODEL_CARD), "w", encoding="utf-8") as f:
        f.write(model_card(contract))
    return [LABELS_FILE, MODEL_CARD]
