"""`python -m pipeline predict [--model DIR|FILE.tflite] IMAGE|FOLDER...`: classify image files
with a pushed model, as a client would. Images that cannot be read are named, the others are
still classified.

A version directory (or a SavedModel directory) is called through its `serving_default`
signature with each file's bytes in a tf.Example (the Transform graph inside decodes and resizes);
a `.tflite` runs in standalone LiteRT (.venv-litert), the file decoded and resized there following
the pushed contract (MODEL.md). Class names come from the version's report.json (else
labels.txt).
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from components.export_pusher.versioning import list_versions, newest_served
from modules import metrics
from modules.class_names import shown

LABELS_FILE = "labels.txt"
REPORT_FILE = "report.json"


class PredictError(ValueError):
    """A model or image the client cannot use (names the path and what is wrong)."""


@dataclass
class Prediction:
    path: str
    class_name: str
    probability: float        # of the predicted class
    probabilities: List[float]  # per class, in labels.txt order
    # classes whose probability equals the predicted one's exactly: a quantized (int8) output
    # decided the class by a tie, and argmax took the lowest index (helper-66)
    tied_with: List[str] = field(default_factory=list)


def other_serving_dirs(serving_dir: str) -> List[str]:
    """Serving dirs with pushed versions beside this one's output root (`<outputs>/<data
    set>/serving`, the default layout: one output root per data set); [] for a serving dir
    outside that layout."""
    if os.path.basename(os.path.normpath(serving_dir)) != "serving":
        return []  # a configured output.serving_dir: its siblings are not this project's
    outputs = os.path.dirname(os.path.dirname(os.path.abspath(serving_dir)))
    found = sorted(glob.glob(os.path.join(outputs, "*", os.path.basename(serving_dir))))
    return [d for d in found if os.path.abspath(d) != os.path.abspath(serving_dir)
            and list_versions(d)]


def newest_version(serving_dir: str, metadata_path: Optional[str] = None) -> str:
    """`<serving_dir>/<highest numeric version>`; PredictError when there is none, naming the
    serving dirs of other data sets that do have models."""
    versions = list_versions(serving_dir)
    if not versions:
        others = other_serving_dirs(serving_dir)
        hint = ""
        if others:
            hint = ("; pushed models under other output roots beside it (other data sets, or "
                    "this one's with another output.root): " + ", ".join(others) + " (select one "
                    "with --set data.root=<the folder it was trained on>, --set "
                    "output.root=<its output root> or --model <version dir>)")
        ran = os.path.exists(metadata_path or os.path.join(
            os.path.dirname(os.path.abspath(serving_dir)), "metadata.sqlite"))
        first = ("no run on this output root has pushed a model (`python -m pipeline report` "
                 "with the same --set says why: a failed gate, a refused push, a run that "
                 "stopped or is still running)" if ran else "run the pipeline first (make run)")
        raise PredictError(f"no pushed model under {serving_dir}: {first} or pass --model "
                           f"DIR|FILE.tflite (a run with --set "
                           f"output.root=DIR pushes under DIR/serving: give predict the same "
                           f"--set){hint}")
    served = newest_served(serving_dir)  # a numbered folder made by hand is not a version
    if served is not None:
        return os.path.join(serving_dir, str(served))
    raise PredictError(f"no pushed model under {serving_dir}: its numbered folders "
                       f"({', '.join(str(v) for v in versions[-3:])}) hold no "
                       f"saved_model/saved_model.pb; pass --model DIR|FILE.tflite")


def resolve_model(model: Optional[str], serving_dir: str,
                  metadata_path: Optional[str] = None) -> Tuple[str, str, str]:
    """(kind 'saved_model' | 'tflite', model path, directory holding labels.txt/report.json);
    `metadata_path`: the output root's MLMD, to tell 'no run yet' from 'no run pushed'."""
    path = model or newest_version(serving_dir, metadata_path)
    if not os.path.exists(path):
        raise PredictError(f"model {path}: no such file or directory")
    if os.path.isfile(path):
        if not path.endswith(".tflite"):
            raise PredictError(f"model {path}: expected a .tflite file or a model directory")
        return "tflite", path, os.path.dirname(os.path.abspath(path))
    for candidate in (os.path.join(path, "saved_model"), path):
        if os.path.isfile(os.path.join(candidate, "saved_model.pb")):
            home = path if candidate != path else os.path.dirname(os.path.abspath(path))
            return "saved_model", candidate, home
    raise PredictError(f"model {path}: no saved_model.pb in it or in its saved_model/ folder")


def class_names_for(home: str, num_classes: int, notes: Optional[List[str]] = None
                    ) -> List[str]:
    """The version's class names in index order: report.json's `contract.class_names` (exact
    JSON), else labels.txt (one per line). Neither holding `num_classes` names: '#0', '#1', ...
    (never bare numbers, which could be read as class names) and a line in `notes` saying so."""
    try:
        with open(os.path.join(home, REPORT_FILE), encoding="utf-8") as f:
            names = list(json.load(f)["contract"]["class_names"])
        if len(names) == num_classes and all(isinstance(n, str) for n in names):
            return names
    except (OSError, ValueError, KeyError, TypeError):
        pass
    labels = os.path.join(home, LABELS_FILE)
    names = []
    if os.path.isfile(labels):
        with open(labels, encoding="utf-8") as f:
            names = [line.rstrip("\r\n") for line in f if line.strip()]
    if len(names) == num_classes:
        return names
    if notes is not None:
        notes.append(f"no class names for this model's {num_classes} outputs in {home} "
                     f"({REPORT_FILE} or {LABELS_FILE}"
                     + (f": {LABELS_FILE} has {len(names)} line(s)" if names else "")
                     + "): classes are shown as their index, #0 to "
                     f"#{num_classes - 1}")
    return [f"#{i}" for i in range(num_classes)]


def background_for(home: str) -> List[float]:
    """The alpha background the version's contract names (white when unknown)."""
    try:
        with open(os.path.join(home, REPORT_FILE), encoding="utf-8") as f:
            report = json.load(f)
        return list(report["contract"]["image"]["alpha_background_rgb"])
    except (OSError, KeyError, ValueError):
        return [255.0, 255.0, 255.0]


def expand_paths(paths: Sequence[str], skipped: Optional[List[str]] = None,
                 problems: Optional[List[str]] = None) -> List[str]:
    """The arguments as image paths: a file as given, a folder as the image files under it
    (recursive, sorted; by extension as the pipeline reads them; hidden files skipped silently,
    other non-image files appended to `skipped`). PredictError for no argument; a folder
    without images is a PredictError too, or a line appended to `problems` when given."""
    from modules.image_files import is_hidden_path, is_image_file
    if not paths:
        raise PredictError("no image given: python -m pipeline predict IMAGE|FOLDER...")
    out: List[str] = []
    for path in paths:
        if not os.path.isdir(path):
            out.append(path)
            continue
        files = sorted(os.path.join(d, name) for d, _, names in os.walk(path) for name in names
                       if not is_hidden_path(os.path.join(d, name), path))
        found = [f for f in files if is_image_file(f)]
        if skipped is not None:
            skipped += [f for f in files if not is_image_file(f)]
        if not found:
            message = f"folder {path}: no image files in it (PNG, JPEG, GIF, BMP by extension)"
            if problems is None:
                raise PredictError(message)
            problems.append(message)
        out += found
    return out


def image_problem(path: str, max_pixels: int) -> Optional[str]:
    """Why `path` cannot be classified ('image <path>: ...'), or None when it is an image the
    run would have trained on (`image_files.content_problem`: the run's quarantine rule,
    `max_pixels` = data.max_image_pixels)."""
    from modules.image_files import content_problem
    if not os.path.isfile(path):
        return f"image {path}: no such file"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:  # a folder given as a file, no permission
        return f"image {path}: cannot be read ({e.strerror or e})"
    problem = content_problem(data, max_pixels)[0]
    return f"image {path}: {problem}" if problem else None


def check_images(paths: Sequence[str], max_pixels: int) -> Tuple[List[str], List[str]]:
    """(the usable paths, one problem line per unusable one), in argument order (a path given
    twice is checked once). PredictError when no path is usable."""
    problems = {p: image_problem(p, max_pixels) for p in paths}
    good = [p for p in paths if problems[p] is None]
    bad = [msg for msg in problems.values() if msg]
    if not good:
        raise PredictError("; ".join(bad) if len(bad) <= 3 else
                           f"none of the {len(bad)} images can be read: " + "; ".join(bad[:3])
                           + f"; … {len(bad) - 3} more")
    return good, bad


def saved_model_probabilities(saved_model_dir: str, paths: Sequence[str]) -> np.ndarray:
    """serving_default on serialized tf.Examples holding each file's bytes -> [N, K]."""
    import tensorflow as tf
    loaded = tf.saved_model.load(saved_model_dir)
    serve = loaded.signatures["serving_default"]
    examples = []
    for path in paths:
        with open(path, "rb") as f:
            feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f.read()]))}
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature))
                        .SerializeToString())
    return serve(examples=tf.constant(examples))["probability"].numpy()


def tflite_probabilities(tflite_path: str, paths: Sequence[str], background: Sequence[float],
                         litert_python: str = "") -> np.ndarray:
    from modules import litert
    result = litert.run_litert(tflite_path, files=paths, background=background,
                               python=litert_python)
    if not result.ok or result.predictions is None:
        raise PredictError(f"model {tflite_path}: LiteRT could not run it: {result.error}")
    return result.predictions


def predict(paths: Sequence[str], model: Optional[str], serving_dir: str, max_pixels: int,
            litert_python: str = "", skipped: Optional[List[str]] = None,
            notes: Optional[List[str]] = None, metadata_path: Optional[str] = None
            ) -> Tuple[str, List[Prediction], List[str]]:
    """(the model path used, one Prediction per usable image, one problem line per image that
    cannot be read). `paths` may hold folders (their images, recursively; files there without
    an image extension are listed in `skipped`, not classified); `notes` gets a line when the
    model's class names cannot be found (`class_names_for`); images above `max_pixels`
    (data.max_image_pixels) are refused, as the run quarantines them."""
    kind, model_path, home = resolve_model(model, serving_dir, metadata_path)
    empty: List[str] = []
    images = expand_paths(paths, skipped, empty)
    if not images:
        raise PredictError("; ".join(empty))
    paths, problems = check_images(images, max_pixels)
    problems = empty + problems
    if kind == "saved_model":
        probs = saved_model_probabilities(model_path, paths)
    else:
        probs = tflite_probabilities(model_path, paths, background_for(home), litert_python)
    per_class = metrics.class_probabilities(probs)
    names = class_names_for(home, per_class.shape[-1], notes)
    predicted = metrics.predicted_class(probs)
    return model_path, [Prediction(p, names[int(c)], float(per_class[i, int(c)]),
                                   [float(v) for v in per_class[i]],
                                   [names[k] for k in range(per_class.shape[-1]) if k != int(c)
                                    and per_class[i, k] == per_class[i, int(c)]])
                        for i, (p, c) in enumerate(zip(paths, predicted))], problems


def format_predictions(model_path: str, predictions: Sequence[Prediction]) -> str:
    lines = [f"model: {model_path}"]
    lines += [f"{p.path}: {p.class_name} ({p.probability:.4f})"
              + (f" (a tie with {', '.join(shown(n) for n in p.tied_with)}: the model's output "
                 f"gives them the same probability)"
                 if p.tied_with else "") for p in predictions]
    return "\n".join(lines)
