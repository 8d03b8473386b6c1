"""The deployed `.tflite` as a client that follows MODEL.md runs it, on test image files.

The report's per-variant accuracy is measured on the Transform's images (decoded and resized by
TensorFlow). A client decodes and resizes with its own library, and a full-int8 model can move
by a quantization step or more on inputs that differ by a fraction of a level, so its accuracy
need not match image for image. This check is that client: the test split's image files (the
bytes ImageExampleGen stored, written out as files) prepared with Pillow exactly as MODEL.md
says (`modules/litert_runner.preprocess`) and run in standalone LiteRT; beside it the
SavedModel's `serving_bytes` on the same bytes (plain TensorFlow, preprocessing inside).
report["client_check"] holds the figures and `client_predictions.csv` each file's prediction,
so a user's own client can be compared file by file. It decides nothing.
"""
from __future__ import annotations

import csv
import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from modules import litert
from modules.export import call_in_batches
from modules.data import read_raw_split, read_split_labels, stratified_indices
from modules.features import BYTES_SIGNATURE
from modules.metrics import accuracy_of, class_agreement, class_probabilities, predicted_class

PREDICTIONS_FILE = "client_predictions.csv"
RECIPE = ("the image files decoded, alpha-composited and resized with Pillow as MODEL.md says, "
          "then run in standalone LiteRT (ai-edge-litert, default delegates)")


def bytes_probabilities(loaded: Any, images: Sequence[bytes], batch_size: int = 64
                        ) -> np.ndarray:
    """The SavedModel's `serving_bytes` on image files' bytes -> probabilities [N, K]."""
    fn = loaded.signatures[BYTES_SIGNATURE]
    return call_in_batches(lambda batch: fn(image_bytes=tf.constant(list(batch))), images,
                           batch_size)


def run(raw_examples: Any, split: str, n: int, seed: int, loaded_saved_model: Any,
        tflite_path: str, background: Sequence[float], class_names: List[str], staging: str,
        python: str = "", report_labels: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """report["client_check"] for `tflite_path` (the deployed file) on a seeded stratified
    sample of `n` files of `split` (all when fewer); writes PREDICTIONS_FILE into `staging`.
    A LiteRT failure is recorded as {"error": ...}: the parity gate already loaded this file.

    `report_labels`: the labels int64 [N] of Transform's `split` in its record order, which the
    report's per-variant sample is drawn from by the same seed. "same_sample_as_report" says
    whether ImageExampleGen's records carry the same label sequence (a distributed Transform
    may write another order; then this is another sample of the same split)."""
    all_labels = read_split_labels(raw_examples, split)
    keep = stratified_indices(all_labels, n, seed)
    images, labels, paths = read_raw_split(raw_examples, split, indices=keep)
    if not np.array_equal(labels, all_labels[keep]):
        raise ValueError(f"split '{split}' changed while it was read")
    reference = bytes_probabilities(loaded_saved_model, images)
    with tempfile.TemporaryDirectory(prefix="client-check-") as tmp:
        files = []
        for i, data in enumerate(images):  # Pillow reads the format from the content
            files.append(os.path.join(tmp, f"{i:06d}"))
            with open(files[-1], "wb") as f:
                f.write(data)
        result = litert.run_litert(tflite_path, files=files, background=background,
                                   python=python)
    out: Dict[str, Any] = {"file": os.path.basename(tflite_path), "split": split,
                           "examples": int(len(labels)), "recipe": RECIPE,
                           "saved_model_bytes_accuracy": accuracy_of(reference, labels)}
    if report_labels is not None:
        out["same_sample_as_report"] = bool(np.array_equal(all_labels, report_labels))
    probs = result.predictions
    if not result.ok or probs is None or probs.shape != reference.shape:
        out["error"] = result.error or f"output shape {None if probs is None else probs.shape}"
        return out
    out.update({"accuracy": accuracy_of(probs, labels),
                "same_class_as_saved_model": class_agreement(probs, reference),
                "max_abs_diff": float(np.max(np.abs(probs - reference))),
                "predictions_file": PREDICTIONS_FILE})
    _write_predictions(os.path.join(staging, PREDICTIONS_FILE), paths, labels, probs, reference,
                       class_names)
    return out


def _write_predictions(path: str, paths: List[str], labels: np.ndarray, probs: np.ndarray,
                       reference: np.ndarray, class_names: List[str]) -> None:
    """One row per file: path (relative to data.root), label, the .tflite's class and the
    probability it gives that class, the SavedModel's (serving_bytes) class, then the .tflite's
    probability of each class, `p(<class>)` in labels.txt order (for 2 classes the raw output is
    P(class 1); both are written)."""
    def name(i):
        return (class_names[i] if i < len(class_names) else str(i))
    client, saved = predicted_class(probs), predicted_class(reference)
    per_class = class_probabilities(probs)
    top = per_class[np.arange(len(client)), client]
    with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:  # renamed when whole
        writer = csv.writer(f)
        writer.writerow(["path", "label", "tflite_class", "tflite_class_probability",
                         "saved_model_class"]
                        + [f"p({name(i)})" for i in range(per_class.shape[1])])
        for row in zip(paths, labels, client, top, saved, per_class):
            writer.writerow([row[0], name(int(row[1])), name(int(row[2])), f"{row[3]:.6f}",
                             name(int(row[4]))] + [f"{p:.6f}" for p in row[5]])
    os.replace(path + ".tmp", path)


def summary_line(check: Dict[str, Any]) -> str:
    """One line for the run summary."""
    if check.get("error"):
        return (f"client check: {check['file']} on the {check['split']} split's image files "
                f"could not run: {check['error']}")
    head = (f"client check: {check['file']} on {check['examples']} {check['split']} image files "
            f"prepared as MODEL.md says (Pillow, LiteRT)")
    same, reference = check["same_class_as_saved_model"], check["saved_model_bytes_accuracy"]
    sample = ("" if check.get("same_sample_as_report", True) else
              "; another sample of the split than the report's (the record orders differ)")
    return (f"{head}: acc={check['accuracy']:.4f}, same class as the SavedModel's serving_bytes "
            f"on {same:.1%} (its acc={reference:.4f}){sample}; per file: "
            f"{check['predictions_file']}")
