"""ExportPusher executor: blessing check, TFLite conversion, parity gate, report, atomic push."""
from __future__ import annotations

import json
import os
import shutil
from typing import Any, Dict, List

import numpy as np
from absl import logging
from tfx.components.pusher import executor as pusher_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.export_pusher import report as report_lib
from components.export_pusher import versioning
from modules import export
from modules.data import load_transformed_split
from modules.export import gzip_size, median_latency_ms  # noqa: F401  (re-exported)

REPORT_FILE = "report.json"
SAVED_MODEL_DIR = "saved_model"
TRAINING_SUMMARY = "training_summary.json"
TUNER_RESULTS_KEY = "tuner_results"


class ParityError(RuntimeError):
    """No deployable artifact passed the parity gate."""


def dir_sizes(path: str) -> Dict[str, int]:
    """Raw bytes of all files under `path` and the sum of their gzipped sizes."""
    raw, gz = 0, 0
    for dirpath, _, files in os.walk(path):
        for name in sorted(files):
            with open(os.path.join(dirpath, name), "rb") as f:
                data = f.read()
            raw += len(data)
            gz += gzip_size(data)
    return {"bytes": raw, "gzip_bytes": gz}


def accuracy_of(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(export.predicted_class(probabilities) == labels))


def auc_of(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of P(label == 1) (binary only; NaN otherwise), via the rank statistic."""
    if probabilities.shape[-1] != 1 or len(set(labels.tolist())) < 2:
        return float("nan")
    scores = probabilities[:, 0]
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks of ties
        tie = scores == value
        ranks[tie] = ranks[tie].mean()
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class Executor(pusher_executor.Executor):
    """Pushes only blessed models; each TFLite variant must agree with the SavedModel."""

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict["pushed_model"])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            logging.info("ExportPusher: model not blessed, nothing pushed")
            return
        serving_dir = exec_properties["serving_dir"]
        model_path = self.GetModelPath(input_dict)
        model_uri = artifact_utils.get_single_uri(input_dict["model"])
        existing = find_pushed_version(serving_dir, model_uri)
        if existing is not None:
            # Idempotent: an unchanged re-run (e.g. re-blessed against itself) pushes nothing new.
            final = os.path.join(serving_dir, str(existing))
            logging.info("ExportPusher: model %s is already pushed as version %s", model_uri,
                         existing)
            self._MarkPushed(model_push, pushed_destination=final, pushed_version=str(existing))
            return
        removed = versioning.remove_incomplete(serving_dir)
        if removed:
            logging.warning("ExportPusher: removed interrupted pushes %s", removed)
        version = versioning.next_version(serving_dir)
        staging = versioning.make_staging_dir(serving_dir, version)
        try:
            report = self._build_version(staging, model_path, model_uri, input_dict,
                                         exec_properties)
            report["version"] = version
            report["model_uri"] = model_uri
            report_lib.write_html(report, staging, report["plots"])
            with open(os.path.join(staging, REPORT_FILE), "w") as f:
                json.dump(report, f, indent=2, sort_keys=True, default=str)
            final = versioning.publish(staging, serving_dir, version)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        io_utils.copy_file(os.path.join(final, REPORT_FILE),
                           os.path.join(model_push.uri, REPORT_FILE), overwrite=True)
        self._MarkPushed(model_push, pushed_destination=final, pushed_version=str(version))
        logging.info("ExportPusher: pushed version %s to %s", version, final)

    def _build_version(self, staging: str, model_path: str, model_uri: str,
                       input_dict: Dict[str, List[Any]],
                       exec_properties: Dict[str, Any]) -> Dict[str, Any]:
        saved_model = os.path.join(staging, SAVED_MODEL_DIR)
        io_utils.copy_dir(model_path, saved_model)
        # One artifact per span when the Trainer read a window of spans: the newest span's.
        examples = max(input_dict["transformed_examples"],
                       key=lambda a: (a.get_int_custom_property("span")
                                      if a.has_custom_property("span") else -1, a.id))
        transform_uri = artifact_utils.get_single_uri(input_dict["transform_graph"])
        limit = int(exec_properties["parity_examples"])
        images, labels = load_transformed_split(examples, "eval", transform_uri, limit=limit)
        train_images, _ = load_transformed_split(examples, "train", transform_uri, limit=200)
        training = _read_json(os.path.join(model_uri, TRAINING_SUMMARY))
        sparse = bool(training.get("pruning"))

        sm_predict = export.load_image_signature(saved_model)
        sm_probs = sm_predict(images)
        predictions = {"saved_model": sm_probs}
        report: Dict[str, Any] = {
            "run": json.loads(exec_properties.get("run_info") or "{}"),
            "training": training,
            "eval_examples": int(len(labels)),
            "saved_model": {**dir_sizes(saved_model),
                            "accuracy": accuracy_of(sm_probs, labels),
                            "auc": auc_of(sm_probs, labels),
                            "latency_ms": median_latency_ms(sm_predict, images[:1])},
            "tflite": {}, "rejected": {},
            "latency_method": (f"median of {export.LATENCY_RUNS} single-image calls after 5 "
                               f"warm-up calls; TensorFlow and the TFLite interpreter on "
                               f"{export.TFLiteModel.default_threads()} threads"),
        }
        min_agreement = json.loads(exec_properties["min_agreement"])
        for variant in json.loads(exec_properties["tflite_variants"]):
            content = export.convert_tflite(saved_model, variant,
                                            representative_images=lambda: train_images[:, None],
                                            sparse=sparse)
            tfl = export.TFLiteModel(content)
            probs = tfl.predict(images)
            agreement = export.class_agreement(probs, sm_probs)
            info = {"bytes": len(content), "gzip_bytes": gzip_size(content),
                    "sparsity_flag": sparse, "agreement": agreement,
                    "min_agreement": float(min_agreement.get(variant, 0.99)),
                    "max_abs_diff": float(np.max(np.abs(probs - sm_probs))),
                    "accuracy": accuracy_of(probs, labels), "auc": auc_of(probs, labels),
                    "latency_ms": median_latency_ms(tfl.predict, images[:1])}
            if agreement < info["min_agreement"]:
                report["rejected"][variant] = {
                    **info, "reason": f"predicted class agrees with the SavedModel on "
                                      f"{agreement:.2%} of {len(labels)} eval examples, below "
                                      f"{info['min_agreement']:.2%}"}
                logging.warning("ExportPusher: TFLite %s rejected: %s", variant,
                                report["rejected"][variant]["reason"])
                continue
            filename = f"model_{variant}.tflite"
            with open(os.path.join(staging, filename), "wb") as f:
                f.write(content)
            report["tflite"][variant] = {**info, "file": filename}
            predictions[variant] = probs
        tuner = input_dict.get(TUNER_RESULTS_KEY) or []
        report_lib.complete(report, staging, variables=sm_predict.loaded.variables,
                            labels=labels, predictions=predictions, train_images=train_images,
                            tuner_dir=tuner[0].uri if tuner else None)
        return report


def find_pushed_version(serving_dir: str, model_uri: str):
    """The version whose report.json records `model_uri`, or None."""
    for version in reversed(versioning.list_versions(serving_dir)):
        report = _read_json(os.path.join(serving_dir, str(version), REPORT_FILE))
        if report.get("model_uri") == model_uri:
            return version
    return None


def _read_json(path: str) -> Dict[str, Any]:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
