"""The run report of a pushed version: facts gathered for report.json, and report.html with plots.

Everything here writes into the staging directory the ExportPusher hands it, so the report is part
of the atomic push. Plots are PNGs in `<version>/report_files/` and are also embedded (base64) in
report.html, so the page is self-contained when copied alone.
"""
from __future__ import annotations

import base64
import glob
import hashlib
import html
import importlib.metadata
import json
import os
import platform
import shutil
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from modules import metrics, tflite_variants

HTML_FILE = "report.html"
FILES_DIR = "report_files"
TUNER_DIR = "tuner"
TUNER_FILES = ("trials.json", "trials.csv", "trials.png")
LIBRARIES = {"tensorflow": "tensorflow", "tfx": "tfx", "tfmot": "tensorflow-model-optimization",
             "tft": "tensorflow-transform", "tfma": "tensorflow-model-analysis",
             "keras-tuner": "keras-tuner", "tf-keras": "tf-keras"}


# ---------------------------------------------------------------- facts for report.json

def library_versions() -> Dict[str, str]:
    out = {"python": platform.python_version()}
    for key, dist in LIBRARIES.items():
        try:
            out[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[key] = "not installed"
    return out


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_manifest(root: str, patterns: Sequence[str]) -> Dict[str, Any]:
    """sha256 over the "<file sha256>  <relative path>" lines of the input files, sorted by path
    (the `sha256sum` format of data/fashion_binary/MANIFEST.sha256).

    The files are those under `root` matched by the ExampleGen split patterns ({SPAN} and
    {VERSION} match any span/version). Same files, same bytes -> same hash, wherever the root is.
    """
    if not root or not os.path.isdir(root):
        return {"sha256": None, "files": 0, "root": root, "error": "data root not found"}
    paths = set()
    for pattern in patterns:
        if not pattern:
            continue
        glob_pattern = pattern.replace("{SPAN}", "*").replace("{VERSION}", "*")
        paths.update(p for p in glob.glob(os.path.join(root, glob_pattern)) if os.path.isfile(p))
    rel = sorted(os.path.relpath(p, root) for p in paths)
    lines = [f"{_file_sha256(os.path.join(root, r))}  {r}" for r in rel]  # sha256sum format
    digest = hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
    return {"sha256": digest, "files": len(lines), "root": root, "patterns": list(patterns)}


def exported_sparsity(variables: Iterable[Any], layer_names: Sequence[str]) -> Dict[str, Any]:
    """Exact-zero fraction of each named layer's kernel among a loaded SavedModel's variables."""
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
    """The artifact a device would get: the passing TFLite variant of lowest deploy rank
    (modules/tflite_variants.py), else the SavedModel."""
    for variant in tflite_variants.deploy_order():
        if variant in report.get("tflite", {}):
            return variant
    return "saved_model"


confusion_matrix = metrics.confusion_matrix


def copy_tuner_results(tuner_dir: Optional[str], dest_dir: str) -> List[str]:
    """Copies trials.json/.csv/.png from the Tuner's tuner_results artifact into dest/tuner/."""
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


# ---------------------------------------------------------------- plots

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_accuracy_vs_size(report: Dict[str, Any], path: str) -> None:
    """Accuracy on the eval split vs gzip size: SavedModel, pushed and rejected TFLite variants."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    points = [("SavedModel", report["saved_model"], "tab:blue", "o")]
    markers = {"float32": "s", "dynamic_range": "D", "int8": "^"}
    points += [(f"TFLite {v}", info, "tab:green", markers.get(v, "s"))
               for v, info in report["tflite"].items()]
    points += [(f"TFLite {v} (rejected)", info, "tab:red", markers.get(v, "x"))
               for v, info in report.get("rejected", {}).items() if "accuracy" in info]
    for label, info, color, marker in points:
        size_mb = info["gzip_bytes"] / 1e6
        ax.scatter([size_mb], [info["accuracy"]], color=color, marker=marker, s=60,
                   label=f"{label}: {size_mb:.3g} MB, {info['accuracy']:.3f}")
    ax.legend(fontsize=8, loc="best")
    sizes = [info["gzip_bytes"] / 1e6 for _, info, _, _ in points]
    if max(sizes) / max(min(sizes), 1e-12) >= 5:  # spans decades: log scale, plain tick labels
        from matplotlib.ticker import FuncFormatter, LogLocator
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_xlabel("gzip size (MB, log scale)")
    else:
        ax.set_xlim(0, max(sizes) * 1.15)
        ax.set_xlabel("gzip size (MB)")
    held_out = report.get("held_out", {})
    ax.set_ylabel(f"accuracy, {held_out.get('split', 'held-out')} split "
                  f"({report['eval_examples']} examples)")
    ax.set_title("Accuracy vs size")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_confusion(cm: List[List[int]], class_names: Sequence[str], title: str, path: str) -> None:
    plt = _pyplot()
    arr = np.asarray(cm)
    n = arr.shape[0]
    names = list(class_names) if len(class_names) == n else [str(i) for i in range(n)]
    fig, ax = plt.subplots(figsize=(1.6 * n + 2.4, 1.4 * n + 2), dpi=100)
    ax.imshow(arr, cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(arr[i, j]), ha="center", va="center",
                    color="white" if arr[i, j] > arr.max() / 2 else "black")
    ax.set_xticks(range(n), names, rotation=30, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_augmented_grid(originals: np.ndarray, augmented: List[np.ndarray], path: str) -> None:
    """Row i: train image i, then its augmented versions (pixel values in [0, 255])."""
    plt = _pyplot()
    rows, cols = len(originals), 1 + len(augmented)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows), dpi=100,
                             squeeze=False)
    for i in range(rows):
        for j in range(cols):
            img = originals[i] if j == 0 else augmented[j - 1][i]
            axes[i][j].imshow(np.clip(img, 0, 255).astype(np.uint8))
            axes[i][j].axis("off")
        axes[0][0].set_title("original", fontsize=8)
    for j in range(1, cols):
        axes[0][j].set_title(f"training #{j}", fontsize=8)
    fig.suptitle("Augmented training samples (augmentation layers, training=True)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def augment_samples(layers: Sequence[Any], images: np.ndarray, repeats: int = 5
                    ) -> List[np.ndarray]:
    """`repeats` passes of `images` through the augmentation `layers` with training=True."""
    import tensorflow as tf
    out = []
    for _ in range(repeats):
        x = tf.constant(images, tf.float32)
        for layer in layers:
            x = layer(x, training=True)
        out.append(x.numpy())
    return out


# ---------------------------------------------------------------- HTML

CSS = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #bbb;padding:3px 8px;
font-size:13px}th{background:#eee}td.n{text-align:right}.bad{color:#b00}.ok{color:#070}
pre{background:#f6f6f6;padding:8px;font-size:12px;overflow:auto;max-height:480px}
img{max-width:100%;border:1px solid #ddd;margin:4px 0}"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            raw = str(cell).startswith("<span")
            text = str(cell) if raw else _e(cell)
            cells.append(f'<td class="n">{text}</td>' if i >= numeric_from else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _img(dest_dir: str, rel: str, alt: str) -> str:
    with open(os.path.join(dest_dir, rel), "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return f'<p><img alt="{_e(alt)}" title="{_e(rel)}" src="data:image/png;base64,{data}"></p>'


def _trials_rows(trials_json: str) -> List[Dict[str, Any]]:
    """Rows of the tuner's trials.json (modules/tuning_report.py: a list of dicts, or
    {"trials": [...]}): `hyperparameters` are spread into columns, other nested dicts become
    "key.name" columns and lists (fold scores) one comma-separated cell."""
    with open(trials_json) as f:
        data = json.load(f)
    if isinstance(data, dict):
        data = data.get("trials", [])
    rows = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        row: Dict[str, Any] = {}
        for k, v in item.items():
            if isinstance(v, dict):
                prefix = "" if k == "hyperparameters" else f"{k}."
                row.update({f"{prefix}{k2}": v2 for k2, v2 in v.items()
                            if not isinstance(v2, (dict, list))})
            elif isinstance(v, list):
                row[k] = ", ".join(_fmt(x, 4) for x in v)
            else:
                row[k] = v
        rows.append(row)
    return rows


def _training_section(training: Dict[str, Any]) -> str:
    if not training:
        return "<p>No training summary.</p>"
    parts = []
    hp = training.get("hyperparameters", {})
    parts.append(_table(["hyperparameter", "value"], [(k, _fmt(v, 6)) for k, v in hp.items()]))
    rows = []
    if "phase1" in training:
        p1 = training["phase1"]
        v = p1.get("validation", p1.get("eval", {}))
        rows.append(("phase 1: head on frozen base", p1.get("epochs"),
                     _fmt(v.get("accuracy")), _fmt(v.get("auc"))))
    for step in training.get("phase2", {}).get("steps", []):
        epochs = len(next(iter(step.get("history", {}).values()), []))
        rows.append((f"phase 2: top {step['unfrozen_blocks']} block(s) unfrozen "
                     f"({len(step['trainable_conv_layers'])} conv layers, "
                     f"lr {training['phase2']['learning_rate']})", epochs,
                     _fmt(step.get("validation", step.get("eval", {})).get("accuracy")),
                     _fmt(step.get("validation", step.get("eval", {})).get("auc"))))
    if "pruning" in training:
        pr = training["pruning"]
        rows.append((f"pruning fine-tune: {pr.get('schedule', '')} to "
                     f"{pr.get('target_sparsity')} on {len(pr.get('layers', []))} layers "
                     f"(lr {pr.get('learning_rate')})", pr.get("fine_tune_epochs"), "", ""))
    if "final_validation" in training or "final_eval" in training:
        fe = training.get("final_validation", training.get("final_eval"))
        rows.append(("final (stripped) model", "", _fmt(fe.get("accuracy")),
                     _fmt(fe.get("auc"))))
    parts.append(_table(["phase", "epochs", "validation accuracy", "validation AUC"], rows))
    if "train_seconds" in training:
        parts.append(f"<p>Training time: {training['train_seconds']} s.</p>")
    return "".join(parts)


def write_html(report: Dict[str, Any], dest_dir: str, plots: Dict[str, str]) -> str:
    """Writes `<dest_dir>/report.html` from the finished report dict; returns its path."""
    run = report.get("run", {})
    ok, bad = '<span class="ok">pushed</span>', '<span class="bad">rejected</span>'
    s: List[str] = [f"<!doctype html><html><head><meta charset='utf-8'><title>Model version "
                    f"{_e(report.get('version'))}</title><style>{CSS}</style></head><body>"]
    s.append(f"<h1>Model version {_e(report.get('version'))}</h1>")
    manifest = report.get("data_manifest", {})
    s.append(_table(["", ""], [
        ("deployed artifact", report.get("deployed")),
        ("weights source", report.get("weights_source")),
        ("profile", run.get("profile")),
        ("classes", ", ".join(run.get("class_names", []))),
        ("data manifest sha256", f"{manifest.get('sha256')} ({manifest.get('files')} files "
                                 f"under {manifest.get('root')})"),
        ("held-out examples (parity, metrics)",
         f"{report.get('eval_examples')} of split '{report.get('held_out', {}).get('split')}'"),
        ("model", report.get("model_uri")),
    ], numeric_from=9))

    s.append("<h2>Artifacts</h2>")
    rows = []
    sm = report["saved_model"]
    threads = sorted(sm.get("latency", {}), key=int)
    rows.append(("SavedModel", SAVED_MODEL_LABEL, sm["bytes"], sm["gzip_bytes"],
                 _fmt(sm["accuracy"]), _fmt(sm.get("auc")),
                 *[_fmt(sm["latency"][t]["median_ms"], 2) for t in threads], "–", ok))
    for variant, info in list(report["tflite"].items()) + list(report["rejected"].items()):
        pushed = variant in report["tflite"]
        lat = info.get("latency", {})
        agreement = (f"{info['agreement']:.2%} (min {info['min_agreement']:.0%})"
                     if "agreement" in info else "–")
        rows.append((f"TFLite {variant}", info.get("file", "–"), info["bytes"],
                     info["gzip_bytes"], _fmt(info.get("accuracy")), _fmt(info.get("auc")),
                     *[_fmt(lat[t]["median_ms"], 2) if t in lat else "–" for t in threads],
                     agreement, ok if pushed else bad))
    s.append(_table(["artifact", "file", "bytes", "gzip bytes", "accuracy", "AUC",
                     *[f"latency ms, {t} thread(s)" for t in threads],
                     "class agreement with SavedModel (LiteRT)", "status"], rows,
                    numeric_from=2))
    if report.get("latency_method"):
        s.append(f"<p>Latency: {_e(report['latency_method'])}.</p>")
    if report["rejected"]:
        s.append("<h3>Rejected by the parity gate</h3><ul>")
        for variant, info in report["rejected"].items():
            s.append(f"<li><b>{_e(variant)}</b>: {_e(info['reason'])}</li>")
        s.append("</ul>")
    if "accuracy_vs_size" in plots:
        s.append(_img(dest_dir, plots["accuracy_vs_size"], "accuracy vs size"))

    s.append("<h2>Confusion matrix</h2>")
    if "confusion" in plots:
        s.append(f"<p>{_e(report.get('deployed'))} on the held-out sample (rows: true "
                 f"class).</p>")
        s.append(_img(dest_dir, plots["confusion"], "confusion matrix"))

    per_class = report.get("per_class", {}).get("classes", {})
    if per_class:
        s.append(_table(["class", "precision", "recall", "examples"],
                        [(name, _fmt(v["precision"]), _fmt(v["recall"]), v["support"])
                         for name, v in per_class.items()]))
    if report.get("contract_files"):
        s.append("<h2>Contract</h2><p>How to call the SavedModel and each .tflite without this "
                 "project: " + ", ".join(f'<a href="{_e(f)}">{_e(f)}</a>'
                                         for f in report["contract_files"]) + ".</p>")

    s.append("<h2>Sparsity of the exported model</h2>")
    sp = report.get("sparsity")
    if sp:
        target = report.get("training", {}).get("pruning", {}).get("target_sparsity")
        rows = [(layer, _fmt(target, 2), _fmt(v)) for layer, v in sp["layers"].items()]
        rows.append(("overall (pruned kernels, size-weighted)", _fmt(target, 2),
                     _fmt(sp["overall"])))
        s.append("<p>Exact zeros in each pruned layer's kernel, read from the pushed "
                 "SavedModel's variables.</p>")
        s.append(_table(["layer", "target", "sparsity"], rows))
    else:
        s.append("<p>Not pruned.</p>")

    s.append("<h2>Training</h2>")
    s.append(_training_section(report.get("training", {})))

    s.append("<h2>Augmented training samples</h2>")
    if "augmentation" in plots:
        s.append(_img(dest_dir, plots["augmentation"], "augmented training samples"))
    else:
        s.append(f"<p>{_e(report.get('augmentation_note', 'Augmentation disabled.'))}</p>")

    tuner_files = report.get("tuner_files", [])
    if tuner_files:
        s.append("<h2>Tuner trials</h2>")
        if f"{TUNER_DIR}/trials.json" in tuner_files:
            trials = _trials_rows(os.path.join(dest_dir, TUNER_DIR, "trials.json"))
            if trials:
                keys = list(dict.fromkeys(k for row in trials for k in row))
                s.append(_table(keys, ([_fmt(row.get(k), 5) for k in keys] for row in trials),
                                numeric_from=1))
        if f"{TUNER_DIR}/trials.png" in tuner_files:
            s.append(_img(dest_dir, f"{TUNER_DIR}/trials.png", "tuner trials"))
        s.append("<p>Files: " + ", ".join(f'<a href="{_e(f)}">{_e(f)}</a>'
                                          for f in tuner_files) + "</p>")

    s.append("<h2>Library versions</h2>")
    s.append(_table(["library", "version"], report.get("library_versions", {}).items(),
                    numeric_from=9))
    s.append("<h2>Resolved config</h2>")
    s.append(f"<pre>{_e(json.dumps(run.get('config', run), indent=2, sort_keys=True))}</pre>")
    s.append("</body></html>")
    path = os.path.join(dest_dir, HTML_FILE)
    with open(path, "w") as f:
        f.write("\n".join(s))
    return path


SAVED_MODEL_LABEL = "saved_model/"


# ---------------------------------------------------------------- one call from the executor

def augmentation_layers_of(training: Dict[str, Any], run: Dict[str, Any]) -> List[Any]:
    """The Trainer's augmentation layers: the same builder with the augmentation config and seed
    the Trainer recorded in training_summary.json (else those of the resolved pipeline config)."""
    from modules.augmentation import AugmentationConfig, augmentation_layers
    config = run.get("config", {})
    aug = training.get("augmentation") or config.get("trainer", {}).get("augmentation")
    if not aug:
        return []
    seed = int(training.get("seed", config.get("seed", 42)))
    return augmentation_layers(AugmentationConfig(**aug), seed)


def complete(report: Dict[str, Any], staging: str, *, variables: Iterable[Any],
             labels: np.ndarray, predictions: Dict[str, np.ndarray], train_images: np.ndarray,
             tuner_dir: Optional[str] = None) -> Dict[str, str]:
    """Adds manifest, versions, exported sparsity, deployed confusion matrix and tuner files to
    `report`, and writes the plots into `staging`. Returns {plot name: path relative to staging}.
    """
    run, training = report.get("run", {}), report.get("training", {})
    report["weights_source"] = run.get("weights_source") or training.get("weights_source",
                                                                          "unknown")
    report["library_versions"] = library_versions()
    report["data_manifest"] = data_manifest(run.get("data_root", ""),
                                            run.get("data_patterns", ["*/*/*"]))
    pruned_layers = training.get("pruning", {}).get("layers", [])
    if pruned_layers:
        report["sparsity"] = exported_sparsity(variables, pruned_layers)
    report["deployed"] = deployed_variant(report)
    probs = predictions[report["deployed"]]
    num_classes = 2 if probs.shape[-1] == 1 else probs.shape[-1]
    class_names = list(run.get("class_names") or [str(i) for i in range(num_classes)])
    predicted = metrics.predicted_class(probs)
    cm = confusion_matrix(predicted, labels, num_classes)
    report["confusion_matrix"] = {"artifact": report["deployed"], "class_names": class_names,
                                  "rows_true_columns_predicted": cm}
    report["per_class"] = {"artifact": report["deployed"],
                           "classes": metrics.per_class_precision_recall(predicted, labels,
                                                                         class_names)}
    report["tuner_files"] = copy_tuner_results(tuner_dir, staging)

    os.makedirs(os.path.join(staging, FILES_DIR), exist_ok=True)
    plots = {"accuracy_vs_size": f"{FILES_DIR}/accuracy_vs_size.png",
             "confusion": f"{FILES_DIR}/confusion_matrix.png"}
    plot_accuracy_vs_size(report, os.path.join(staging, plots["accuracy_vs_size"]))
    plot_confusion(cm, class_names, f"{report['deployed']} on the held-out sample "
                   f"({len(labels)} examples)", os.path.join(staging, plots["confusion"]))
    layers = augmentation_layers_of(training, run)
    if layers and len(train_images):
        plots["augmentation"] = f"{FILES_DIR}/augmented_samples.png"
        samples = train_images[:6]
        plot_augmented_grid(samples, augment_samples(layers, samples),
                            os.path.join(staging, plots["augmentation"]))
    else:
        report["augmentation_note"] = "Augmentation was disabled for this model."
    report["plots"] = plots
    return plots
