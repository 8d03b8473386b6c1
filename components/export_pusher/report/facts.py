"""Facts of a pushed version for report.json: library versions, data manifest hash, exported
sparsity, deployed variant, its confusion matrix and per-class precision/recall, tuner files.

numpy and the standard library only (no TensorFlow, no matplotlib): the SavedModel's variables
arrive already loaded, as objects with `.name` and `.numpy()`.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import shutil
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from modules import metrics, tflite_variants
from modules.image_files import is_hidden_path, is_image_file
from modules.span_patterns import SPAN_SPEC, as_glob, spans_regex

TUNER_DIR = "tuner"
TUNER_FILES = ("trials.json", "trials.csv", "trials.png")
LIBRARIES = {"tensorflow": "tensorflow", "tfx": "tfx", "tfmot": "tensorflow-model-optimization",
             "tft": "tensorflow-transform", "tfma": "tensorflow-model-analysis",
             "keras-tuner": "keras-tuner", "tf-keras": "tf-keras"}

confusion_matrix = metrics.confusion_matrix  # (predicted [N], labels [N], C) -> C x C list


def library_versions() -> Dict[str, str]:
    """{"python": "3.11.x", <LIBRARIES key>: installed version or "not installed"}."""
    out = {"python": platform.python_version()}
    for key, dist in LIBRARIES.items():
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[key] = "not installed"
    return out


def _file_sha256(path: str) -> str:
    """Hex sha256 of the file's bytes (read in 1 MiB chunks)."""
    from tfx.dsl.io import fileio
    h = hashlib.sha256()
    with fileio.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def in_spans(rel: str, pattern: str, spans: Optional[Sequence[int]]) -> bool:
    """Whether `rel` (a path relative to the data root matched by `pattern`'s glob) lies in one
    of `spans`: the number where `pattern` has `{SPAN}` (zero-padded or not). True when `spans`
    is None or the pattern has no `{SPAN}`."""
    if spans is None or not SPAN_SPEC.search(pattern):
        return True
    match = re.fullmatch(spans_regex(pattern), rel)
    return bool(match) and int(match.group("span")) in set(spans)


def data_manifest(root: str, patterns: Sequence[str],
                  spans: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    """sha256 over the "<file sha256>  <relative path>" lines of the input files, sorted by path
    (the `sha256sum` format of data/fashion_binary/MANIFEST.sha256).

    The files are the images (by extension: ImageExampleGen ignores other files) under `root`
    matched by the ExampleGen split patterns ({VERSION} matches any version; {SPAN} the
    `spans` the model was trained on, any span when None: helper-67 found a retrained model's
    manifest covering spans it never read). Same files, same bytes -> same hash, wherever the
    root is.
    Returns {"sha256": hex, "files": count, "root", "patterns"}, or {"sha256": None, "files": 0,
    "root", "error"} when `root` is not a directory.
    """
    from tfx.dsl.io import fileio  # local paths and gs:// alike
    if not root or not fileio.isdir(root):
        return {"sha256": None, "files": 0, "root": root, "error": "data root not found"}
    paths = set()
    for pattern in patterns:
        if not pattern:
            continue
        glob_pattern = as_glob(pattern)
        paths.update(p for p in fileio.glob(os.path.join(root, glob_pattern))
                     if is_image_file(p) and not is_hidden_path(p, root)
                     and in_spans(os.path.relpath(p, root), pattern, spans)
                     and not fileio.isdir(p))
    rel = sorted(os.path.relpath(p, root) for p in paths)
    lines = [f"{_file_sha256(os.path.join(root, r))}  {r}" for r in rel]  # sha256sum format
    digest = hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
    return {"sha256": digest, "files": len(lines), "root": root, "patterns": list(patterns),
            **({"spans": list(spans)} if spans is not None else {})}


def exported_sparsity(variables: Iterable[Any], layer_names: Sequence[str]) -> Dict[str, Any]:
    """Exact-zero fraction of each named layer's kernel among a loaded SavedModel's variables.

    Returns {"layers": {name: fraction in [0, 1], or None when the layer has no kernel},
    "overall": zeros / parameters over the found kernels (size-weighted; None if none found),
    "pruned_parameters": kernel parameter count, "zero_parameters": exact-zero count}.
    """
    kernels = {}
    for v in variables:
        name = v.name.split(":")[0]
        if name.endswith("/kernel"):
            kernels[name[:-len("/kernel")]] = v.numpy()
    layers, zeros, total = {}, 0, 0
    for layer in layer_names:
        k = kernels.get(layer)
        if k is None:
            layers[layer] = None
            continue
        z = int(np.sum(k == 0.0))
        layers[layer] = z / k.size
        zeros += z
        total += k.size
    return {"layers": layers, "overall": zeros / total if total else None,
            "pruned_parameters": total, "zero_parameters": zeros}


def deployed_variant(report: Dict[str, Any]) -> str:
    """The artifact a device would get: the name of the passing TFLite variant of lowest deploy
    rank (modules/tflite_variants.py), else "saved_model"."""
    for variant in tflite_variants.deploy_order():
        if variant in report.get("tflite", {}):
            return variant
    return "saved_model"


def copy_tuner_results(tuner_dir: Optional[str], dest_dir: str) -> List[str]:
    """Copies trials.json/.csv/.png from the Tuner's tuner_results artifact into dest/tuner/.
    Returns the copied files' paths relative to `dest_dir` ("tuner/trials.json", ...), in
    TUNER_FILES order; [] without a tuner dir."""
    if not tuner_dir or not os.path.isdir(tuner_dir):
        return []
    copied = []
    for name in TUNER_FILES:
        src = os.path.join(tuner_dir, name)
        if os.path.isfile(src):
            os.makedirs(os.path.join(dest_dir, TUNER_DIR), exist_ok=True)
            shutil.copyfile(src, os.path.join(dest_dir, TUNER_DIR, name))
            copied.append(f"{TUNER_DIR}/{name}")
    return copied


def class_names_of(report: Dict[str, Any], num_classes: int) -> List[str]:
    """The run's class names, else "0", "1", ... for `num_classes` classes."""
    return list(report.get("run", {}).get("class_names")
                or [str(i) for i in range(num_classes)])


def add_facts(report: Dict[str, Any], staging: str, *, variables: Iterable[Any],
              labels: np.ndarray, predictions: Dict[str, np.ndarray],
              tuner_dir: Optional[str] = None) -> None:
    """Adds to `report` (in place) weights_source, library_versions, data_manifest, sparsity
    (pruned models only), deployed, confusion_matrix, per_class and tuner_files; copies the tuner
    files into `staging`/tuner/.

    labels: int [N] of the held-out sample; predictions: {artifact: probabilities [N, 1] or
    [N, C]}, holding at least the deployed artifact's.
    """
    run, training = report.get("run", {}), report.get("training", {})
    report["weights_source"] = run.get("weights_source") or training.get("weights_source",
                                                                          "unknown")
    report["library_versions"] = library_versions()
    report["data_manifest"] = data_manifest(run.get("data_root", ""),
                                            run.get("data_patterns", ["*/*/*"]),
                                            (report.get("spans") or {}).get("trained_on"))
    pruned_layers = training.get("pruning", {}).get("layers", [])
    if pruned_layers:
        report["sparsity"] = exported_sparsity(variables, pruned_layers)
    report["deployed"] = deployed_variant(report)
    probs = predictions[report["deployed"]]
    num_classes = 2 if probs.shape[-1] == 1 else probs.shape[-1]
    class_names = class_names_of(report, num_classes)
    predicted = metrics.predicted_class(probs)
    report["confusion_matrix"] = {
        "artifact": report["deployed"], "class_names": class_names,
        "rows_true_columns_predicted": confusion_matrix(predicted, labels, num_classes)}
    report["per_class"] = {"artifact": report["deployed"],
                           "classes": metrics.per_class_precision_recall(predicted, labels,
                                                                         class_names)}
    report["tuner_files"] = copy_tuner_results(tuner_dir, staging)
