"""The run report of a pushed version: facts gathered for report.json, plots, and report.html.

Everything here writes into the staging directory the ExportPusher hands it, so the report is part
of the atomic push. Plots are PNGs in `<version>/report_files/` and are also embedded (base64) in
report.html, so the page is self-contained when copied alone.

- facts.py: what report.json records (versions, data manifest, sparsity, deployed variant,
  confusion matrix, per-class precision/recall, tuner files); numpy only;
- plots.py: the matplotlib figures, one function per PNG;
- samples.py: the augmented train images the augmentation plot shows (TensorFlow);
- html.py + report.html.j2: the page (Jinja2, autoescaped).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Optional

import numpy as np

from components.export_pusher.report.facts import (LIBRARIES, TUNER_DIR, TUNER_FILES,
                                                   add_facts, confusion_matrix,
                                                   copy_tuner_results, data_manifest,
                                                   deployed_variant, exported_sparsity,
                                                   library_versions)
from components.export_pusher.report.html import (HTML_FILE, SAVED_MODEL_LABEL, render,
                                                  write_html)
from components.export_pusher.report.plots import (plot_accuracy_vs_size, plot_augmented_grid,
                                                   plot_confusion)
from components.export_pusher.report.samples import augment_samples, augmentation_layers_of

FILES_DIR = "report_files"
AUGMENTED_SAMPLES = 6  # train images (rows) of the augmentation plot

__all__ = ["FILES_DIR", "HTML_FILE", "LIBRARIES", "SAVED_MODEL_LABEL", "TUNER_DIR",
           "TUNER_FILES", "add_facts", "augment_samples", "augmentation_layers_of", "complete",
           "confusion_matrix", "copy_tuner_results", "data_manifest", "deployed_variant",
           "exported_sparsity", "library_versions", "plot_accuracy_vs_size",
           "plot_augmented_grid", "plot_confusion", "render", "write_html"]


def complete(report: Dict[str, Any], staging: str, *, variables: Iterable[Any],
             labels: np.ndarray, predictions: Dict[str, np.ndarray], train_images: np.ndarray,
             tuner_dir: Optional[str] = None) -> Dict[str, str]:
    """Adds manifest, versions, exported sparsity, deployed confusion matrix and tuner files to
    `report` (facts.add_facts), and writes the plots into `staging`/report_files/.

    labels: int [N]; predictions: {artifact: probabilities [N, 1] or [N, C]}; train_images:
    [M, H, W, 3] in [0, 255], the first 6 of which are shown augmented (when the Trainer
    augmented). Returns {plot name: PNG path relative to staging}, also stored as
    report["plots"]; without augmentation report["augmentation_note"] says so.
    """
    add_facts(report, staging, variables=variables, labels=labels, predictions=predictions,
              tuner_dir=tuner_dir)
    os.makedirs(os.path.join(staging, FILES_DIR), exist_ok=True)
    plots = {"accuracy_vs_size": f"{FILES_DIR}/accuracy_vs_size.png",
             "confusion": f"{FILES_DIR}/confusion_matrix.png"}
    plot_accuracy_vs_size(report, os.path.join(staging, plots["accuracy_vs_size"]))
    cm = report["confusion_matrix"]
    plot_confusion(cm["rows_true_columns_predicted"], cm["class_names"],
                   f"{report['deployed']} on the held-out sample ({len(labels)} examples)",
                   os.path.join(staging, plots["confusion"]))
    layers = augmentation_layers_of(report.get("training", {}), report.get("run", {}))
    if layers and len(train_images):
        plots["augmentation"] = f"{FILES_DIR}/augmented_samples.png"
        samples = train_images[:AUGMENTED_SAMPLES]
        plot_augmented_grid(samples, augment_samples(layers, samples),
                            os.path.join(staging, plots["augmentation"]))
    else:
        report["augmentation_note"] = "Augmentation was disabled for this model."
    report["plots"] = plots
    return plots
