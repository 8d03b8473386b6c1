"""report.html: the finished report dict rendered through the Jinja2 template report.html.j2
(beside this file, shipped as package data) with autoescaping on.

The functions here turn the report into display rows (numbers formatted, "–" for missing values);
the template owns the page: sections, headings, prose, markup. Plots are embedded as base64
data URIs, so the page is self-contained when copied alone.
"""
from __future__ import annotations

import base64
import functools
import importlib.resources
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jinja2

from components.export_pusher import client_check
from components.export_pusher.report.facts import TUNER_DIR
from components.tfma_gates import interval_note, interval_words
from components.image_example_gen.data_checks import (ignored_files, oriented_files,
                                                        quarantined_files)
from modules import image_files
from modules.class_names import shown
from modules.metrics import display

HTML_FILE = "report.html"
TEMPLATE = "report.html.j2"
SAVED_MODEL_LABEL = "saved_model/"
PLOT_ALTS = {"accuracy_vs_size": "accuracy vs size", "confusion": "confusion matrix",
             "augmentation": "augmented training samples"}  # the plots the page shows
Row = Sequence[Any]


def fmt(value: Any, digits: int = 4) -> str:
    """Display text of a cell: "–" for None, "n/a" for NaN, floats with `digits` decimals,
    anything else str()."""
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return display(value, digits)
    return str(value)


def _image(dest_dir: str, rel: str, alt: str) -> Dict[str, str]:
    """{"alt", "rel", "uri"} of the PNG at `dest_dir`/`rel`; uri is a data:image/png;base64 URI."""
    with open(os.path.join(dest_dir, rel), "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return {"alt": alt, "rel": rel, "uri": f"data:image/png;base64,{data}"}


def summary_rows(report: Dict[str, Any]) -> List[Tuple[str, Any]]:
    """(label, value) rows of the table under the title: when pushed and trained, deployed
    artifact, weights, profile,
    classes, data manifest, held-out sample, model URI."""
    run, manifest = report.get("run", {}), report.get("data_manifest", {})
    return [
        ("pushed (UTC)", report.get("pushed_at") or "not recorded"),
        ("model trained (UTC)", report.get("trained_at") or "not recorded"),
        ("deployed artifact", report.get("deployed")),
        ("weights source", report.get("weights_source")),
        ("profile", run.get("profile")),
        ("classes", ", ".join(shown(c) for c in run.get("class_names", []))),
        ("data manifest sha256", f"{manifest.get('sha256')} ({manifest.get('files')} files "
                                 f"under {manifest.get('root')})"),
        ("held-out examples (metrics, confusion matrix)",
         f"{report.get('eval_examples')} of split '{report.get('held_out', {}).get('split')}'"
         + (f" of span {report['spans']['held_out']}" if report.get("spans") else "")),
        *span_rows(report),
        *parity_rows(report),
        *data_check_rows(report.get("data_checks")),
        ("model", report.get("model_uri")),
    ]


def span_rows(report: Dict[str, Any]) -> List[Tuple[str, Any]]:
    """The spans the model was trained on, for a tree with spans; [] otherwise."""
    spans = report.get("spans")
    if not spans:
        return []
    return [("data spans trained on (train and validation)",
             ", ".join(str(s) for s in spans["trained_on"])
             + f"; test from span {spans['held_out']} only")]


def parity_rows(report: Dict[str, Any]) -> List[Tuple[str, Any]]:
    """The parity gate's sample, when it is not the held-out one; [] otherwise (older reports)."""
    gate, held = report.get("parity") or {}, report.get("held_out") or {}
    if not gate or gate.get("split") == held.get("split"):
        return []
    return [("parity gate examples (which .tflite files are pushed)",
             f"{gate.get('examples')} of split '{gate.get('split')}'")]


QUARANTINE_LABEL = "unreadable files (quarantined, not trained on; newest span)"
IGNORED_LABEL = f"{image_files.IGNORED_LABEL} (newest span)"
ORIENTED_LABEL = ("images with an EXIF orientation, used as stored (sideways; TensorFlow "
                  "ignores the tag; newest span)")
LEAKAGE_LABEL = "files with identical bytes in more than one split (newest span)"


def data_check_rows(checks: Optional[Dict[str, Any]], listed: int = 10) -> List[Tuple[str, Any]]:
    """(label, value) rows for the data checks of this run's ImageExampleGen (the newest span):
    quarantined files with their reasons (the first `listed`), ignored non-image files and
    nested folders (a row only when there are some), and files whose bytes appear in more than one split; "not
    recorded" where the artifact has no such file."""
    if not checks:
        return []
    rows: List[Tuple[str, Any]] = []
    if "quarantine" in checks:
        files = quarantined_files(checks)
        shown = "; ".join(f"{q['path']}: {q['reason']}" for q in files[:listed])
        more = f"; … {len(files) - listed} more" if len(files) > listed else ""
        rows.append((QUARANTINE_LABEL, f"{checks['quarantine'].get('quarantined', 0)}"
                     + (f" ({shown}{more})" if files else "")))
        ignored = ignored_files(checks)
        if ignored:
            more = f"; … {len(ignored) - listed} more" if len(ignored) > listed else ""
            rows.append((IGNORED_LABEL, f"{len(ignored)} ({'; '.join(ignored[:listed])}{more})"))
        oriented = oriented_files(checks)
        if oriented:
            more = f"; … {len(oriented) - listed} more" if len(oriented) > listed else ""
            rows.append((ORIENTED_LABEL, f"{len(oriented)} ({'; '.join(oriented[:listed])}"
                                         f"{more})"))
    else:
        rows.append((QUARANTINE_LABEL, "not recorded"))
    rows.append((LEAKAGE_LABEL, (checks.get("leakage") or {}).get("leaked_files", "not recorded")))
    return rows


def agreement_cell(info: Dict[str, Any]) -> str:
    """'186 of 188 (98.94 %, 95 % interval 96.2%-99.7%; needs 186 = floor(99 % of 188))': the
    parity gate's counts and their Wilson interval, so a percentage just under min_agreement
    that passed does not read as a contradiction and a few hundred images do not read as exact
    (helper-70); then the held-out split's counts when recorded."""
    if "agreement" not in info:
        return "–"
    if "agreeing" not in info:  # reports written before the counts were kept
        return f"{info['agreement']:.2%} (min {info['min_agreement']:.0%})"
    from modules.metrics import share_interval
    n = info["agreement_examples"]
    text = (f"{info['agreeing']} of {n} ({info['agreement']:.2%}, "
            f"{share_interval(info['agreeing'], n)}; needs {info['required_agreeing']} = "
            f"floor({info['min_agreement']:.0%} of {n}))")
    if info.get("held_out_examples"):  # measured on the held-out split: decides nothing
        k, m = info["held_out_agreeing"], info["held_out_examples"]
        text += f"; held-out: {k} of {m} ({k / m:.2%}, {share_interval(k, m)})"
    return text


def artifact_table(report: Dict[str, Any]) -> Dict[str, Any]:
    """{"header": column names, "rows": [{"cells": display values, "pushed": bool}]}: the
    SavedModel, then pushed and rejected TFLite variants; one latency column (median ms) per
    thread count the SavedModel was timed with."""
    sm = report["saved_model"]
    threads = sorted(sm.get("latency", {}), key=int)
    rows = [{"pushed": True, "cells": [
        "SavedModel", SAVED_MODEL_LABEL, sm["bytes"], sm["gzip_bytes"], fmt(sm["accuracy"]),
        fmt(sm.get("auc")), *[fmt(sm["latency"][t]["median_ms"], 2) for t in threads], "–"]}]
    for variant, info in list(report["tflite"].items()) + list(report["rejected"].items()):
        lat = info.get("latency", {})
        agreement = agreement_cell(info)
        rows.append({"pushed": variant in report["tflite"], "cells": [
            f"TFLite {variant}", info.get("file", "–"), info["bytes"], info["gzip_bytes"],
            fmt(info.get("accuracy")), fmt(info.get("auc")),
            *[fmt(lat[t]["median_ms"], 2) if t in lat else "–" for t in threads], agreement]})
    header = ["artifact", "file", "bytes", "gzip bytes", "accuracy", "AUC",
              *[f"latency ms, {t} thread(s)" for t in threads],
              "class agreement with SavedModel (LiteRT, parity gate's split)", "status"]
    return {"header": header, "rows": rows}


def gate_rows(report: Dict[str, Any]) -> List[Row]:
    """(gate, condition, value, result, config key) per Evaluator gate that blessed the model;
    [] when the report has no evaluation."""
    rows = []
    evaluation = report.get("evaluation") or {}
    for g in evaluation.get("gates", []):
        if g["threshold"] is None:  # no baseline: TFX did not record the change threshold
            condition = "candidate − baseline"
        else:
            condition = (f"candidate − baseline ≥ {g['threshold']:+.4f}"
                         if g["kind"] == "change" else f"≥ {g['threshold']:.4f}")
        if g["passed"] is None:
            value, result = "n/a", g.get("note", "")
        else:
            value, result = fmt(g["value"]), "pass" if g["passed"] else "FAIL"
            note = interval_note(g)  # accuracy and recall gates: hits and Wilson interval
            if note:
                value += f" ({note})"
            if g.get("baseline_value") is not None and g.get("candidate_value") is not None:
                value += (f" (candidate {fmt(g['candidate_value'])}, baseline "
                          f"{fmt(g['baseline_value'])}, on the same test images"
                          + (f"; {interval_words(g['interval'], g['threshold'])}"
                             if g.get("interval") else "") + ")")
            if g["kind"] == "change" and evaluation.get("baseline_model_uri"):
                version = evaluation.get("baseline_version")
                value += (f"; baseline: version {version}" if version is not None else
                          f"; baseline: model {evaluation['baseline_model_uri']} (no pushed "
                          f"version holds it)")
        rows.append((g["name"], condition, value, result, g["config_key"]))
    return rows


def per_class_rows(report: Dict[str, Any]) -> List[Row]:
    """(class, precision, recall, examples) rows of the deployed artifact, each figure with
    its counts where recorded ('0.5000 (14 of 28)': helper-78, a rare class's precision rests
    on few predictions); [] without them."""
    from components.export_pusher.deployed_notes import precision_counts, recall_hits
    from modules.class_names import in_label_order
    per_class = report.get("per_class", {}).get("classes", {})
    return [(name, fmt(v["precision"]) + precision_counts(v),
             fmt(v["recall"]) + (f" ({recall_hits(v)} of {v['support']})"
                                 if recall_hits(v) != "?" else ""), v["support"])
            for name, v in
            in_label_order(per_class, (report.get("run") or {}).get("class_names") or [])]


def sparsity_rows(report: Dict[str, Any]) -> Optional[List[Row]]:
    """(layer, target, measured sparsity) rows plus the size-weighted overall row; None when the
    model was not pruned."""
    sp = report.get("sparsity")
    if not sp:
        return None
    target = report.get("training", {}).get("pruning", {}).get("target_sparsity")
    rows: List[Row] = [(layer, fmt(target, 2), fmt(v)) for layer, v in sp["layers"].items()]
    rows.append(("overall (pruned kernels, size-weighted)", fmt(target, 2), fmt(sp["overall"])))
    return rows


def fallback_rows(fallback: Optional[Dict[str, Any]]) -> List[Row]:
    """The pruning fallback's two fine-tunes (blocks retrained, validation accuracy, which was
    kept) when it ran (`compression_steps.prune_with_fallback`); none when it did not."""
    if not fallback or not fallback.get("ran"):
        return []
    why = (f"the first ended more than {fallback['margin']} below the dense model's "
           f"{fmt(fallback['dense_accuracy'])}")
    return [(f"pruning fallback, {which} fine-tune: top {fallback[blocks]} block(s) retrained"
             f"{', ' + why if which == 'second' else ''}; "
             f"{'kept' if fallback['kept'] == which else 'not kept'}", "",
             fmt(fallback[accuracy]), "")
            for which, blocks, accuracy in (("first", "retrain_blocks", "accuracy"),
                                            ("second", "second_retrain_blocks",
                                             "second_accuracy"))]


def training_tables(training: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """{"hyperparameters": (name, value) rows, "phases": (phase, epochs, validation accuracy,
    validation AUC) rows, "phase_header" (without the AUC column when no phase has an AUC, as
    for 3+ classes), "train_seconds" (when recorded)} from training_summary.json; None when
    there is no summary."""
    if not training:
        return None
    hp = [(k, fmt(v, 6)) for k, v in training.get("hyperparameters", {}).items()]
    rows: List[Row] = []
    if "phase1" in training:
        p1 = training["phase1"]
        v = p1.get("validation", p1.get("eval", {}))
        epochs = p1.get("epochs_run", p1.get("epochs"))
        if "epochs_run" in p1 and p1.get("epochs") not in (None, p1["epochs_run"]):
            epochs = f"{p1['epochs_run']} of {p1['epochs']}"  # early stopping ended it
        rows.append(("phase 1: head on frozen base", epochs,
                     fmt(v.get("accuracy")), fmt(v.get("auc"))))
    for step in training.get("phase2", {}).get("steps", []):
        epochs = len(next(iter(step.get("history", {}).values()), []))
        quality = step.get("validation", step.get("eval", {}))
        verdict = {True: ", kept", False: ", not kept: validation not better"}.get(
            step.get("kept"), "")
        rows.append((f"phase 2: top {step['unfrozen_blocks']} block(s) unfrozen "
                     f"({len(step['trainable_conv_layers'])} conv layers, "
                     f"lr {training['phase2']['learning_rate']}{verdict})", epochs,
                     fmt(quality.get("accuracy")), fmt(quality.get("auc"))))
    if "structured_pruning" in training:
        sp = training["structured_pruning"]
        v = sp.get("validation", sp.get("validation_before_fine_tune", {}))
        rows.append((f"structured pruning: filters removed from {len(sp.get('layers_pruned', []))} "
                     f"conv layers, {sp.get('params_before')} -> {sp.get('params_after')} "
                     f"parameters (lr {sp.get('learning_rate')})", sp.get("fine_tune_epochs"),
                     fmt(v.get("accuracy")), fmt(v.get("auc"))))
    if "pruning" in training:
        pr = training["pruning"]
        selected = (f", epoch {pr['selected_epoch']} kept: best validation loss at the target"
                    if "selected_epoch" in pr else "")
        rows.append((f"pruning fine-tune: {pr.get('schedule', '')} to "
                     f"{pr.get('target_sparsity')} on {len(pr.get('layers', []))} layers "
                     f"(lr {pr.get('learning_rate')}{selected})",
                     pr.get("epochs_run", pr.get("fine_tune_epochs")), "", ""))
        rows += fallback_rows(pr.get("fallback"))
    if "clustering" in training:
        cl = training["clustering"]
        rows.append((f"clustering fine-tune (sparsity kept): {cl.get('number_of_clusters')} "
                     f"clusters on {len(cl.get('layers', []))} layers "
                     f"(lr {cl.get('learning_rate')})", cl.get("fine_tune_epochs"), "", ""))
    if "quantization_aware" in training:
        qa = training["quantization_aware"]
        rows.append((f"quantization-aware fine-tune ({qa.get('scheme', '').upper()}, 8-bit; "
                     f"lr {qa.get('learning_rate')})", qa.get("fine_tune_epochs"), "", ""))
    if "final_validation" in training or "final_eval" in training:
        fe = training.get("final_validation", training.get("final_eval"))
        rows.append(("final (stripped) model", "", fmt(fe.get("accuracy")), fmt(fe.get("auc"))))
    header = ["phase", "epochs", "validation accuracy", "validation AUC"]
    if not any(row[3] not in ("", "–") for row in rows):  # no AUC (3+ classes): no column
        header, rows = header[:3], [row[:3] for row in rows]
    tables: Dict[str, Any] = {"hyperparameters": hp, "phases": rows, "phase_header": header}
    if "train_seconds" in training:
        tables["train_seconds"] = training["train_seconds"]
    return tables


def trials_rows(trials_json: str) -> List[Dict[str, Any]]:
    """Rows of the tuner's trials.json (modules/tuning_report.py: a list of dicts, or
    {"trials": [...]}): `hyperparameters` are spread into columns, other nested dicts become
    "key.name" columns and lists (fold scores) one comma-separated cell."""
    with open(trials_json, encoding="utf-8") as f:
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
                row[k] = ", ".join(fmt(x, 4) for x in v)
            else:
                row[k] = v
        rows.append(row)
    return rows


def tuner_section(report: Dict[str, Any], dest_dir: str) -> Optional[Dict[str, Any]]:
    """{"files", "header", "rows", "image"} of the tuner files copied into `dest_dir`: the
    trials table (one column per key seen in any trial; empty header without trials.json) and
    trials.png (None when absent); None without tuner files."""
    files = report.get("tuner_files", [])
    if not files:
        return None
    header: List[str] = []
    rows: List[Row] = []
    if f"{TUNER_DIR}/trials.json" in files:
        trials = trials_rows(os.path.join(dest_dir, TUNER_DIR, "trials.json"))
        header = list(dict.fromkeys(k for row in trials for k in row))
        rows = [[fmt(row.get(k), 5) for k in header] for row in trials]
    image = (_image(dest_dir, f"{TUNER_DIR}/trials.png", "tuner trials")
             if f"{TUNER_DIR}/trials.png" in files else None)
    return {"files": files, "header": header, "rows": rows, "image": image}


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    """report.html.j2, read as package data (works installed, editable or from a copied tree)."""
    source = importlib.resources.files(__package__).joinpath(TEMPLATE).read_text("utf-8")
    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    return env.from_string(source)


def render(report: Dict[str, Any], dest_dir: str, plots: Dict[str, str]) -> str:
    """The report page as an HTML string; `plots` maps plot names ("accuracy_vs_size",
    "confusion", "augmentation") to PNG paths relative to `dest_dir`, embedded as data URIs."""
    run = report.get("run", {})
    return _template().render(
        version=report.get("version"), deployed=report.get("deployed"),
        deployed_notes=report.get("deployed_notes") or [],
        summary=summary_rows(report), artifacts=artifact_table(report),
        latency_method=report.get("latency_method"),
        client_check=(client_check.summary_line(report["client_check"])
                      if report.get("client_check") else None),
        rejected=[(v, info["reason"]) for v, info in report["rejected"].items()],
        images={name: _image(dest_dir, rel, PLOT_ALTS[name]) for name, rel in plots.items()
                if name in PLOT_ALTS},
        gates=gate_rows(report), per_class=per_class_rows(report),
        contract_files=report.get("contract_files") or [],
        sparsity=sparsity_rows(report), training=training_tables(report.get("training", {})),
        augmentation_note=report.get("augmentation_note", "Augmentation disabled."),
        tuner=tuner_section(report, dest_dir),
        library_versions=list(report.get("library_versions", {}).items()),
        config=json.dumps(run.get("config", run), indent=2, sort_keys=True))


def write_html(report: Dict[str, Any], dest_dir: str, plots: Dict[str, str]) -> str:
    """Writes `<dest_dir>/report.html` (UTF-8) from the finished report dict; returns its path."""
    path = os.path.join(dest_dir, HTML_FILE)
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(report, dest_dir, plots))
    return path
