"""ExportPusher executor: blessing check, TFLite conversion, parity gate (TensorFlow's interpreter
and standalone LiteRT), contract, report, atomic world-readable push."""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from absl import logging
from tfx.components.pusher import executor as pusher_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components import tfma_gates
from components.export_pusher import client_check
from components.export_pusher import contract as contract_lib
from components.export_pusher import parity
from components.export_pusher import report as report_lib
from components.export_pusher import versioning
from components.export_pusher.deployed_notes import held_out_notes, measured_lines
from components.export_pusher.parity import ParityError  # noqa: F401  (raised by the gate)
from components.image_example_gen.data_checks import (INPUT_BASE_PROPERTY, read_data_checks,
                                                      write_data_splits)
from modules.configs import ExportConfig
from modules import export, latency, litert, metrics, tflite_variants
from modules.class_names import TRAINING_SUMMARY
from modules.data import load_stratified_sample, read_split_labels
from modules.export import gzip_size
from modules.gzip_sizes import BackgroundGzip, files_under
from modules.stopwatch import timed

REPORT_FILE = "report.json"
SAVED_MODEL_DIR = "saved_model"
TUNER_RESULTS_KEY = "tuner_results"
MODEL_EVALUATION_KEY = "model_evaluation"  # the Evaluator's output: its gates go in the report
EXAMPLES_KEY = "examples"  # ImageExampleGen's output: its data checks go in the report
# PushedModel custom property: this model was pushed before, as that version (nothing rebuilt)
ALREADY_PUSHED = "already_pushed"
REPRESENTATIVE_EXAMPLES = 200  # int8 calibration: a stratified sample of the train split


def accuracy_of(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return metrics.accuracy_of(probabilities, labels)


def auc_of(probabilities: np.ndarray, labels: np.ndarray) -> Optional[float]:
    """ROC AUC (binary) or macro one-vs-rest AUC (multi-class); None with one class present."""
    return metrics.auc_of(probabilities, labels)


def strict_json(value: Any, path: str = "", non_finite: Optional[List[str]] = None) -> Any:
    """`value` with every NaN/Infinity replaced by None (their paths appended to `non_finite`),
    so the result serializes as strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        if non_finite is not None:
            non_finite.append(path or "<root>")
        return None
    if isinstance(value, dict):
        return {k: strict_json(v, f"{path}.{k}" if path else str(k), non_finite)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v, f"{path}[{i}]", non_finite) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return strict_json(value.item(), path, non_finite)
    return value


def write_report_json(report: Dict[str, Any], path: str) -> None:
    """report.json as strict JSON: non-finite numbers become null, listed under `non_finite`."""
    non_finite: List[str] = []
    clean = strict_json(report, "", non_finite)
    if non_finite:
        clean["non_finite"] = {"paths": non_finite,
                               "reason": "not a finite number (not representable in JSON): written as null"}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(clean, f, indent=2, sort_keys=True, default=str, allow_nan=False)


def latency_threads() -> List[int]:
    """Thread counts latency is measured with: 1 and the machine's CPU count."""
    return sorted({1, int(os.cpu_count() or 1)})


def examples_input_base(examples: List[Any]) -> Optional[str]:
    """The data root the newest ImageExampleGen output was read from (its `input_base` custom
    property), None for artifacts of releases that did not record it."""
    if not examples:
        return None
    try:
        value = examples[-1].get_string_custom_property(INPUT_BASE_PROPERTY)
    except Exception:  # pylint: disable=broad-except  (not recorded)
        return None
    return value or None


def newest_transformed(transformed: List[Any], window: List[Any]) -> Any:
    """The newest span's artifact of Transform's `transformed_examples` (one per input span,
    carrying no span property): Transform's i-th output is its i-th input, and both lists come
    from MLMD in artifact-id order, so the newest span's position in `window` (what Transform
    read, sorted by id) is its output's position. Without `window` (or a count that differs):
    the last artifact. An older span ingested again after the newest one (its files changed)
    has the higher id, so "the last one" took that span's splits for the report's held-out
    sample (helper-45)."""
    ordered = sorted(transformed, key=lambda a: a.id)
    if len(window) == len(ordered) > 1:
        raw = sorted(window, key=lambda a: a.id)
        newest = max(range(len(raw)), key=lambda i: (
            raw[i].get_int_custom_property("span") if raw[i].has_custom_property("span")
            else -1, raw[i].id))
        return ordered[newest]
    return ordered[-1]


def file_digests(root: str) -> Dict[str, str]:
    """{path relative to `root` ('/'-separated): sha256 hex} of every file under `root`, sorted:
    what a version holds, to check a copy against (`sha256sum -c`-style; helper-59)."""
    digests = {}
    for path in sorted(files_under(root)):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digests[os.path.relpath(path, root).replace(os.sep, "/")] = digest.hexdigest()
    return digests


def data_spans(window: List[Any], examples: List[Any], patterns: List[str]
               ) -> Optional[Dict[str, Any]]:
    """{'trained_on': the spans Transform read (`window`, else this run's ImageExampleGen output
    `examples`), 'held_out': the newest of them, whose test split the report's metrics are on}
    from the Examples' `span` property; None for a tree without spans (no `{SPAN}` in the
    data `patterns`) or without the property. A version folder says on its own what its model
    was trained and tested on (helper-59)."""
    if not any("{SPAN}" in p for p in patterns):
        return None
    spans = sorted({int(a.get_int_custom_property("span")) for a in (window or examples)
                    if a.has_custom_property("span")})
    if not spans:
        return None
    return {"trained_on": spans, "held_out": spans[-1],
            "rule": "train and validation from every span trained on; test (the metrics of this "
                    "report and the Evaluator's gates) from the newest span only"}



def push_dates(model_uri: str) -> Dict[str, Optional[str]]:
    """{'pushed_at', 'trained_at'}: now, and the modification time of the model's
    training_summary.json (written as the Trainer finishes), as ISO 8601 UTC ('...Z'); None
    for a time that cannot be read. The version number is the Unix time (s) the push began
    (one more than the newest version when that is not smaller: versioning.reserve_version)."""
    import tensorflow as tf

    def iso(seconds: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    try:
        trained = iso(tf.io.gfile.stat(os.path.join(model_uri, TRAINING_SUMMARY)).mtime_nsec
                      / 1e9)
    except Exception:  # pylint: disable=broad-except  (no record: not dated, never guessed)
        trained = None
    return {"pushed_at": iso(time.time()), "trained_at": trained}

class Executor(pusher_executor.Executor):
    """Pushes only blessed models, and of those only the TFLite variants that pass the parity
    gate in TensorFlow's interpreter and in standalone LiteRT; refuses the push (ParityError)
    when the model predicts a single class or no configured variant passes."""

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
        settings = export_settings(exec_properties)
        changed = (changed_export_settings(recorded_export_settings(
            versioning.version_report(serving_dir, existing)), settings)
            if existing is not None else [])
        if existing is not None and not changed:
            # Idempotent: an unchanged re-run (e.g. re-blessed against itself) pushes nothing new.
            final = os.path.join(serving_dir, str(existing))
            logging.info("ExportPusher: model %s is already pushed as version %s", model_uri,
                         existing)
            self._MarkPushed(model_push, pushed_destination=final, pushed_version=str(existing))
            # the summary says so: nothing was built (helper-58)
            model_push.set_int_custom_property(ALREADY_PUSHED, 1)
            return
        if changed:  # helper-76: a key the summary names (export.min_agreement.int8) applies now
            logging.info("ExportPusher: model %s was pushed as version %s with other export "
                         "settings (%s): exported again as a new version", model_uri, existing,
                         ", ".join(changed))
        # Checked before any conversion: without LiteRT nothing can be shown to load for users.
        litert.litert_python(exec_properties.get("litert_python") or "")
        removed = versioning.remove_incomplete(serving_dir)
        if removed:
            logging.warning("ExportPusher: removed interrupted pushes %s", removed)
        try:
            version, staging = versioning.reserve_version(serving_dir)
        except OSError as e:
            denied = versioning.not_writable_error(e, serving_dir, None)
            if denied is not None:
                raise denied from e
            raise
        try:
            report = self._build_version(staging, model_path, model_uri, input_dict,
                                         exec_properties)
            report["version"] = version
            report["model_uri"] = model_uri
            report[EXPORT_SETTINGS] = settings
            if changed:
                report["reexported_from"] = {"version": existing, "changed": changed}
            report.update(push_dates(model_uri))  # helper-67: nothing served was dated
            report["file_sha256"] = file_digests(staging)  # all but report.json and .html
            report_lib.write_html(report, staging, report["plots"])
            write_report_json(report, os.path.join(staging, REPORT_FILE))
            final = versioning.publish(staging, serving_dir, version)
        except BaseException as e:
            versioning.discard(staging)
            full = (versioning.no_space_error(e, serving_dir, version)
                    or versioning.not_writable_error(e, serving_dir, version))
            if full is not None:
                raise full from e
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
        examples = newest_transformed(input_dict["transformed_examples"],
                                      input_dict.get("window_examples") or [])
        transform_uri = artifact_utils.get_single_uri(input_dict["transform_graph"])
        run_info = json.loads(exec_properties.get("run_info") or "{}")
        read_from = examples_input_base(input_dict.get(EXAMPLES_KEY) or [])
        if read_from and read_from != run_info.get("data_root"):
            # a compiled pipeline run with another data_root parameter than it was compiled
            # with: the report names (and hashes) the data the model was trained on
            config = run_info.get("config") or {}
            run_info = {**run_info, "data_root": read_from,
                        "data_root_compiled": run_info.get("data_root"),
                        **({"config": {**config, "data": {**(config.get("data") or {}),
                                                          "root": read_from}}}
                           if config else {})}
        class_names = list(run_info.get("class_names") or [])
        seed = int(exec_properties.get("seed") or 0)
        gate_split, held_out_split = _splits(exec_properties)
        n_examples = int(exec_properties["parity_examples"])
        seconds: Dict[str, float] = {}  # wall time per stage, in report["seconds"]
        with timed(seconds, "samples"):
            held_images, held_labels = load_stratified_sample(examples, held_out_split,
                                                              transform_uri, n_examples, seed)
            gate_images, gate_labels = (
                (held_images, held_labels) if gate_split == held_out_split else
                load_stratified_sample(examples, gate_split, transform_uri, n_examples, seed))
            train_images, _ = load_stratified_sample(examples, "train", transform_uri,
                                                     REPRESENTATIVE_EXAMPLES, seed)
        rng = np.random.default_rng(seed)
        train_images = train_images[rng.permutation(len(train_images))]  # classes interleaved
        labels = held_labels
        if not class_names:
            class_names = [str(i) for i in range(int(max(labels.max() + 1, 2)))]
        training = _read_json(os.path.join(model_uri, TRAINING_SUMMARY))
        threads = latency_threads()
        runs = int(exec_properties.get("latency_runs") or latency.LATENCY_RUNS)
        python = exec_properties.get("litert_python") or ""

        with timed(seconds, "saved_model_predict"):
            sm_predict = export.load_image_signature(saved_model)
            held_out = Sample(held_out_split, held_images, held_labels, sm_predict(held_images))
            gate = (held_out if gate_split == held_out_split else
                    Sample(gate_split, gate_images, gate_labels, sm_predict(gate_images)))
        images, sm_probs = held_out.images, held_out.sm_probs
        parity.check_not_single_class(gate.sm_probs, gate.labels, class_names, gate.split)
        with timed(seconds, "saved_model_latency"):
            sm_latency = latency.saved_model_latency(saved_model, images, threads, runs=runs)
        sm_sizes = {"bytes": sum(os.path.getsize(f) for f in files_under(saved_model))}
        predictions = {"saved_model": sm_probs}
        report: Dict[str, Any] = {
            "run": run_info, "training": training,
            "held_out": {**_sample_record(held_out, seed, class_names),
                         "role": "the report's metrics, per-class precision/recall and "
                                 "confusion matrix (decides nothing)"},
            "spans": data_spans(input_dict.get("window_examples") or [],
                                input_dict.get(EXAMPLES_KEY) or [],
                                list(run_info.get("data_patterns") or [])),
            "parity": {**_sample_record(gate, seed, class_names),
                       "role": "the parity gate: which TFLite variants are pushed",
                       "probability_diff_fraction": _diff_fraction(exec_properties)},
            # a two-class model at other decision thresholds, on the gate's (validation)
            # sample: where a user chooses one (helper-78); MODEL.md shows the table
            **({"thresholds": {
                "split": gate.split, "examples": int(len(gate.labels)),
                "role": "choosing a decision threshold: each class's hits, examples and "
                        "predictions with the SavedModel (never the test split)",
                "rows": metrics.threshold_table(gate.sm_probs, gate.labels)}}
               # not when the gate reads the held-out split: chosen there, it would be test's
               if len(class_names) == 2 and gate.sm_probs.shape[-1] == 1
               and gate.split != held_out.split else {}),
            "eval_examples": int(len(labels)),
            "saved_model": {**sm_sizes, **_quality(sm_probs, labels),
                            "latency": sm_latency,
                            "latency_ms": sm_latency[str(threads[0])]["median_ms"]},
            "tflite": {}, "rejected": {},
            "latency_method": (
                f"single image, median (p10/p90) of {runs} calls after {latency.WARMUP_RUNS} "
                f"warm-up calls, at {' and '.join(str(t) for t in threads)} thread(s): each "
                f".tflite in standalone LiteRT (ai-edge-litert, default delegates, num_threads); "
                f"the SavedModel's serving_image in TensorFlow in a fresh process with "
                f"intra_op_parallelism_threads = threads, inter_op = 1. latency_ms is the "
                f"{threads[0]}-thread median; load average while measuring in `loadavg`"),
        }
        evaluation = input_dict.get(MODEL_EVALUATION_KEY) or []
        if evaluation:  # what blessed this model: TFMA's metrics and every gate with its value
            with timed(seconds, "evaluation"):
                report["evaluation"] = {"blessed": True, "uri": evaluation[0].uri}
                try:
                    report["evaluation"].update(
                        tfma_gates.evaluation_record(evaluation[0].uri, class_names))
                    baseline = report["evaluation"]["baseline_model_uri"]
                    if baseline:  # which pushed version the change gate compared with
                        report["evaluation"]["baseline_version"] = find_pushed_version(
                            exec_properties["serving_dir"], baseline)
                except Exception as e:  # pylint: disable=broad-except  (never blocks a push)
                    report["evaluation"]["error"] = f"{type(e).__name__}: {e}"
                    logging.warning("ExportPusher: the evaluation could not be read for the "
                                    "report: %s", report["evaluation"]["error"])
        if input_dict.get(EXAMPLES_KEY):  # what this run's ImageExampleGen (newest span) found
            report["data_checks"] = read_data_checks(input_dict[EXAMPLES_KEY][-1].uri)
        data_splits = write_data_splits(
            staging, input_dict.get("window_examples") or [], input_dict.get(EXAMPLES_KEY) or [],
            spanned=any("{SPAN}" in p for p in run_info.get("data_patterns") or []))
        if data_splits:  # which files trained, validated and tested it (helper-71)
            report["data_splits"] = data_splits
        tflite_io: Dict[str, Dict[str, Any]] = {}
        variants = json.loads(exec_properties["tflite_variants"])
        # gzip sizes run in a background process from here on, beside the conversions and
        # TensorFlow's interpreter; gz.sizes() waits for them before LiteRT measures latency.
        with BackgroundGzip() as gz:
            gz.add(SAVED_MODEL_DIR, saved_model)
            converted = []
            for variant in variants:
                converted.append(self._convert_variant(variant, saved_model, staging, gate,
                                                       train_images, class_names,
                                                       exec_properties, seconds))
                gz.add(variant, converted[-1]["path"])
            with timed(seconds, "gzip_wait"):
                gzipped = gz.sizes()
        seconds["gzip"] = round(sum(end - start for _, start, end in gz.windows), 1)
        report["gzip_windows"] = [{"artifact": key, "started_at": start, "ended_at": end}
                                  for key, start, end in gz.windows]
        report["saved_model"]["gzip_bytes"] = gzipped[SAVED_MODEL_DIR]
        for state in converted:  # LiteRT times latency: nothing else is running now
            info, probs = self._litert_gate(state, gzipped[state["variant"]], gate, held_out,
                                            class_names, threads, runs, python,
                                            exec_properties, seconds)
            variant = state["variant"]
            if info.get("reasons"):
                report["rejected"][variant] = info
                logging.warning("ExportPusher: TFLite %s rejected: %s", variant, info["reason"])
                continue
            report["tflite"][variant] = info
            predictions[variant] = probs
            tflite_io[info["file"]] = {"input": info["litert"]["input"],
                                       "output": info["litert"]["output"],
                                       "held_out_top_ties": metrics.top_ties(probs),
                                       **({"int8_output_layer": info["output_layer"]}
                                          if info["quantization"] == "int8" else {}),
                                       # a quantized output layer's few values (helper-70); a
                                       # float one's saturated 1.0s say nothing (helper-72)
                                       **({"held_out_values": metrics.output_values(probs)}
                                          if info["output_layer"] == "int8" else {})}
        if variants and not report["tflite"]:
            raise ParityError("no TFLite variant passed the parity gate, nothing pushed: " +
                              "; ".join(f"{v}: {report['rejected'][v]['reason']}"
                                        for v in variants))
        background = (run_info.get("config", {}).get("data", {}).get("alpha_background")
                      or [255.0, 255.0, 255.0])
        deployed = report_lib.deployed_variant(report)
        if deployed in report["tflite"] and input_dict.get(EXAMPLES_KEY):
            with timed(seconds, "client_check"):  # the deployed file as a MODEL.md client
                path = next(s["path"] for s in converted if s["variant"] == deployed)
                try:  # a measurement: it never blocks a push the gates allowed
                    report["client_check"] = client_check.run(
                        input_dict[EXAMPLES_KEY][-1], held_out_split, n_examples, seed,
                        sm_predict.loaded, path, background, class_names, staging, python,
                        report_labels=read_split_labels(examples, held_out_split))
                except Exception as e:  # pylint: disable=broad-except
                    report["client_check"] = {
                        "file": os.path.basename(path), "split": held_out_split,
                        "examples": 0, "error": f"{type(e).__name__}: {e}"}
                    logging.warning("ExportPusher: the client check could not run: %s",
                                    report["client_check"]["error"])
        tuner = input_dict.get(TUNER_RESULTS_KEY) or []
        with timed(seconds, "report"):
            report_lib.complete(report, staging, variables=sm_predict.loaded.variables,
                                labels=labels, predictions=predictions, train_images=train_images,
                                tuner_dir=tuner[0].uri if tuner else None)
        deployed_file = report["tflite"][deployed]["file"] if deployed in report["tflite"] else None
        # the deployed file's held-out notes (per_class is complete's) travel with the files
        # (helper-66): report.json, report.html and MODEL.md; they decide nothing
        report["deployed_notes"] = held_out_notes(
            report, deployed_file, (report.get("evaluation") or {}).get("gates") or []
        ) if deployed_file else []
        report["contract"] = contract_lib.build(
            class_names, int(images.shape[1]), background, tflite_io, deployed=deployed_file,
            client_check=report.get("client_check"), notes=report["deployed_notes"],
            measured=measured_lines(report, deployed_file) if deployed_file else (),
            thresholds=contract_lib.threshold_lines(report.get("thresholds"), class_names,
                                                    (training or {}).get("class_weight")))
        report["contract_files"] = contract_lib.write(staging, report["contract"])
        report["seconds"] = seconds
        logging.info("ExportPusher: seconds per stage %s", json.dumps(seconds))
        return report

    def _check_variant(self, variant: str, saved_model: str, staging: str, images: np.ndarray,
                       labels: np.ndarray, sm_probs: np.ndarray, train_images: np.ndarray,
                       class_names: List[str], threads: List[int], runs: int, python: str,
                       exec_properties: Dict[str, Any], seconds: Dict[str, float],
                       split: str = "held-out"):
        """One variant through the whole gate, in the foreground, with one sample for the gate
        and the metrics: `_convert_variant`, its gzip size, then `_litert_gate`. Returns (info,
        LiteRT probabilities) as `_litert_gate`."""
        sample = Sample(split, images, labels, sm_probs)
        state = self._convert_variant(variant, saved_model, staging, sample, train_images,
                                      class_names, exec_properties, seconds)
        with timed(seconds, "gzip"):
            with open(state["path"], "rb") as f:
                gzip_bytes = gzip_size(f.read())
        return self._litert_gate(state, gzip_bytes, sample, sample, class_names, threads, runs,
                                 python, exec_properties, seconds)

    def _convert_variant(self, variant: str, saved_model: str, staging: str, gate: "Sample",
                         train_images: np.ndarray, class_names: List[str],
                         exec_properties: Dict[str, Any],
                         seconds: Dict[str, float]) -> Dict[str, Any]:
        """The gate's first half: converts one variant into the staging dir and runs it in
        TensorFlow's interpreter on the gate's sample. Returns its state for `_litert_gate`
        (variant, path, bytes, runtimes, errors). Adds '<variant>_convert' and
        '<variant>_tf_interpreter' to `seconds`."""
        with timed(seconds, f"{variant}_convert"):
            content = export.convert_tflite(saved_model, variant,
                                            representative_images=lambda: train_images[:, None])
        filename = f"model_{variant}.tflite"
        path = os.path.join(staging, filename)
        with open(path, "wb") as f:
            f.write(content)
        runtimes: Dict[str, Dict[str, Any]] = {}
        errors: Dict[str, str] = {}
        max_diff = _thresholds(variant, exec_properties)[1]
        try:
            with timed(seconds, f"{variant}_tf_interpreter"):
                tf_probs = export.TFLiteModel(content).predict(gate.images)
            runtimes["TensorFlow's interpreter"] = parity.agreement(
                tf_probs, gate.sm_probs, gate.labels, class_names, max_diff)
        except Exception as e:  # pylint: disable=broad-except
            errors["TensorFlow's interpreter"] = f"{type(e).__name__}: {e}"
        # the output layer as converted: float32 (int8 with float_output), else quantized (a
        # file quantized whole, or a QAT model's own ranges: helper-72)
        output_layer = ("float32" if tflite_variants.variant(variant).quantization != "int8"
                        or export.output_layer_is_float(content) else "int8")
        return {"variant": variant, "file": filename, "path": path, "bytes": len(content),
                "runtimes": runtimes, "errors": errors, "output_layer": output_layer}

    def _litert_gate(self, state: Dict[str, Any], gzip_bytes: int, gate: "Sample",
                     held_out: "Sample", class_names: List[str], threads: List[int], runs: int,
                     python: str, exec_properties: Dict[str, Any], seconds: Dict[str, float]):
        """The gate's second half: standalone LiteRT (predictions on both samples in one call,
        and latency), then the decision on the gate's sample. Returns (info, LiteRT
        probabilities on the held-out sample); info["reasons"] is non-empty (and the file
        removed) when refused. Adds '<variant>_litert' to `seconds`."""
        variant, path = state["variant"], state["path"]
        spec = tflite_variants.variant(variant)
        min_agreement, max_diff = _thresholds(variant, exec_properties)
        fraction = _diff_fraction(exec_properties)
        shared = gate is held_out
        images = gate.images if shared else np.concatenate([gate.images, held_out.images])
        runtimes, errors = dict(state["runtimes"]), dict(state["errors"])
        with timed(seconds, f"{variant}_litert"):
            lrt = litert.run_litert(path, images=images, threads=threads, latency_runs=runs,
                                    python=python)
        probs = lrt.predictions
        expected = (len(images), gate.sm_probs.shape[-1])
        gate_probs = held_probs = None
        if lrt.ok and probs is not None and probs.shape == expected:
            gate_probs, held_probs = probs[:len(gate.labels)], probs[len(images) - len(
                held_out.labels):]
            runtimes["LiteRT"] = parity.agreement(gate_probs, gate.sm_probs, gate.labels,
                                                  class_names, max_diff)
        else:
            errors["LiteRT"] = lrt.error or (f"output shape {None if probs is None else probs.shape}"
                                             f", expected {expected}")
        reasons = parity.decide(runtimes, errors, min_agreement, fraction, variant,
                                sample=gate.split)
        info: Dict[str, Any] = {
            "file": state["file"], "bytes": state["bytes"], "gzip_bytes": gzip_bytes,
            "quantization": spec.quantization, "sparse_storage": spec.sparse_storage,
            "output_layer": state.get("output_layer", "float32"),
            "min_agreement": min_agreement, "max_probability_diff": max_diff,
            "probability_diff_fraction": fraction, "parity_split": gate.split,
            "runtimes": runtimes, "load_errors": errors,
            "litert": {"runtime": lrt.runtime, "loaded": lrt.loaded, "input": lrt.input,
                       "output": lrt.output, "latency": lrt.latency, "loadavg": lrt.loadavg},
        }
        if "LiteRT" in runtimes:
            lrt_gate = runtimes["LiteRT"]
            info.update(_quality(held_probs, held_out.labels))
            info["agreement"] = lrt_gate["agreement"]
            info["agreeing"] = lrt_gate["agree"]  # the counts the gate compares (floor rule)
            info["agreement_examples"] = lrt_gate["examples"]
            info["required_agreeing"] = parity.required(min_agreement, lrt_gate["examples"])
            info["per_class_agreement"] = {k: v["agreement"] for k, v in
                                           lrt_gate["per_class"].items()}
            info["within_probability_diff"] = min(r["within"] / max(r["examples"], 1)
                                                  for r in runtimes.values())
            info["max_abs_diff"] = max(r["max_abs_diff"] for r in runtimes.values())
            held = parity.agreement(held_probs, held_out.sm_probs, held_out.labels,
                                    class_names, max_diff)
            info["held_out_agreement"] = held["agreement"]  # reported, decides nothing
            info["held_out_agreeing"], info["held_out_examples"] = held["agree"], held["examples"]
            info["held_out_max_abs_diff"] = held["max_abs_diff"]
        if lrt.latency:
            info["latency"] = lrt.latency
            info["latency_ms"] = lrt.latency[str(threads[0])]["median_ms"]
        if reasons:
            os.remove(path)
            info["reasons"] = reasons
            info["reason"] = "; ".join(reasons)
            info.pop("file")
        return info, held_probs


@dataclass(frozen=True)
class Sample:
    """A stratified sample of one split: images float32 [N, H, W, 3], labels int64 [N], and the
    SavedModel's probabilities on them float32 [N, K]."""
    split: str
    images: np.ndarray
    labels: np.ndarray
    sm_probs: np.ndarray


def _sample_record(sample: Sample, seed: int, class_names: List[str]) -> Dict[str, Any]:
    """What report.json says about a sample: split, size, seed, how drawn, examples per class."""
    return {"split": sample.split, "examples": int(len(sample.labels)), "seed": seed,
            "sampling": "class-stratified seeded random sample (all examples when the split "
                        "has at most parity_examples)",
            "per_class": {parity.class_name(int(c), class_names): int(n) for c, n in
                          zip(*np.unique(sample.labels, return_counts=True))}}


def _thresholds(variant: str, exec_properties: Dict[str, Any]):
    """(min_agreement, max_probability_diff) of `variant`: the config's override, else the
    table's default."""
    spec = tflite_variants.variant(variant)
    min_agreement = float(json.loads(exec_properties.get("min_agreement") or "{}").get(
        variant, spec.min_agreement))
    max_diff = float(json.loads(exec_properties.get("max_probability_diff") or "{}").get(
        variant, spec.max_probability_diff))
    return min_agreement, max_diff


def _diff_fraction(exec_properties: Dict[str, Any]) -> float:
    """probability_diff_fraction; unset (a component built without it): the configured default,
    `ExportConfig.probability_diff_fraction`, as the component and `export:` default to."""
    value = exec_properties.get("probability_diff_fraction")
    return (ExportConfig.probability_diff_fraction if value in (None, "") else float(value))


def _quality(probabilities: np.ndarray, labels: np.ndarray) -> Dict[str, Any]:
    """accuracy and AUC (null with the reason when it is undefined) on the held-out sample."""
    out: Dict[str, Any] = {"accuracy": accuracy_of(probabilities, labels),
                           "auc": auc_of(probabilities, labels)}
    if out["auc"] is None:
        out["auc_note"] = "undefined: the held-out sample holds a single class"
    elif probabilities.shape[-1] > 1:
        out["auc_note"] = "macro average of one-vs-rest ROC AUCs"
    return out


EXPORT_SETTINGS = "export_settings"


def _splits(exec_properties: Dict[str, Any]) -> Tuple[str, str]:
    """(the parity gate's split, the held-out split): 'eval' and the gate's when unset."""
    gate_split = exec_properties.get("parity_split") or "eval"
    return gate_split, exec_properties.get("held_out_split") or gate_split


def export_settings(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    """What decides a version's contents, as in effect (defaults resolved), under the names a
    user sets them by: `export.tflite_variants` (sorted: the deploy order is the table's),
    each variant's `export.min_agreement.<v>` and `export.max_probability_diff.<v>`,
    `export.probability_diff_fraction`, `export.parity_examples`, the gate's and the report's
    splits and the samples' `seed`. Paths, run_info and latency repetitions are not in it.
    report.json records it as `export_settings`."""
    variants = sorted(json.loads(exec_properties.get("tflite_variants") or "[]"))
    gate_split, held_out_split = _splits(exec_properties)
    out: Dict[str, Any] = {"export.tflite_variants": variants}
    for variant in variants:
        min_agreement, max_diff = _thresholds(variant, exec_properties)
        out[f"export.min_agreement.{variant}"] = min_agreement
        out[f"export.max_probability_diff.{variant}"] = max_diff
    out.update({"export.probability_diff_fraction": _diff_fraction(exec_properties),
                "export.parity_examples": int(exec_properties.get("parity_examples") or 0),
                "parity_split": gate_split, "held_out_split": held_out_split,
                "seed": int(exec_properties.get("seed") or 0)})
    return out


def recorded_export_settings(report: Dict[str, Any]) -> Dict[str, Any]:
    """A pushed version's `export_settings`; for a version pushed before they were recorded,
    the ones its report.json still shows (each variant's thresholds, pushed or refused, the
    fraction, the splits, the seed); {} when nothing shows."""
    stored = report.get(EXPORT_SETTINGS)
    if isinstance(stored, dict) and any(k.startswith("export.") for k in stored):
        return stored  # (a record without `export.*` names is of an earlier format: rebuilt)
    variants = {**(report.get("rejected") or {}), **(report.get("tflite") or {})}
    out: Dict[str, Any] = {}
    if variants:
        out["export.tflite_variants"] = sorted(variants)
    for variant, info in variants.items():
        for key in ("min_agreement", "max_probability_diff"):
            if isinstance(info, dict) and info.get(key) is not None:
                out[f"export.{key}.{variant}"] = info[key]
        if isinstance(info, dict) and info.get("probability_diff_fraction") is not None:
            out["export.probability_diff_fraction"] = info["probability_diff_fraction"]
        if isinstance(info, dict) and info.get("parity_split"):
            out["parity_split"] = info["parity_split"]
    held = report.get("held_out") or {}
    if held.get("split"):
        out["held_out_split"] = held["split"]
    if held.get("seed") is not None:
        out["seed"] = held["seed"]
    examples = ((((report.get("run") or {}).get("config") or {}).get("export") or {})
                .get("parity_examples"))
    if examples is not None:
        out["export.parity_examples"] = examples
    return out


def changed_export_settings(recorded: Dict[str, Any], current: Dict[str, Any]) -> List[str]:
    """The settings (`export_settings` names) whose values differ between a pushed version's
    record (`recorded_export_settings`) and this run's; one the record lacks is not compared
    (a version pushed before it was recorded), so an upgrade alone re-exports nothing."""
    return [k for k, v in current.items() if k in recorded and recorded[k] != v]


def find_pushed_version(serving_dir: str, model_uri: str):
    """The version whose report.json records `model_uri`, or None. A numbered folder whose
    report.json cannot be read (damaged, made by hand, a folder) is skipped with a warning
    naming it: it used to fail every later push with a JSONDecodeError naming no file
    (helper-75)."""
    for version in reversed(versioning.list_versions(serving_dir)):
        path = os.path.join(serving_dir, str(version), REPORT_FILE)
        report = versioning.read_report(path)
        if report is None and os.path.lexists(path):
            logging.warning("ExportPusher: %s is not a readable JSON object; version %s is "
                            "skipped when looking for an earlier push of this model", path,
                            version)
        if (report or {}).get("model_uri") == model_uri:
            return version
    return None


def _read_json(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
