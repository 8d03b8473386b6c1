"""The trials report: every trial's hyperparameters, per-fold scores, mean ± std, wall seconds and
epochs trained.

Writes `trials.json`, `trials.csv` and `trials.png` (score per trial with its fold std as error bar,
the best-so-far curve, and the epochs each trial trained as bars) into one directory, normally the
Tuner's `tuner_results` artifact. Scores are eval accuracy in [0, 1]; trials are in the order they ran.
"""
import csv
import json
import os
from typing import Any, Dict, List

import numpy as np

TRIALS_JSON, TRIALS_CSV, TRIALS_PNG = "trials.json", "trials.csv", "trials.png"


def _metric(trial, name: str) -> Any:
    try:
        return trial.metrics.get_last_value(name)
    except (KeyError, ValueError):
        return None


OBJECTIVE_WORDS = {"val_accuracy": "val_accuracy: accuracy on the validation split (every "
                                   "example alike, not balanced by class)"}


def trial_rows(tuner, objective: str = "val_accuracy") -> List[Dict[str, Any]]:
    """One dict per trial of a finished keras-tuner search, in run order.

    Keys: trial (1-based), trial_id, status, objective (what mean is), hyperparameters
    {name: value}, fold_scores [k],
    mean, std, seconds, epochs (trained by this trial, summed over folds), initial_epoch (its
    first epoch: > 0 when a Hyperband trial resumed), resumed_from (the trial whose checkpoint it
    resumed, else None), best_so_far (max mean over trials 1..n; None until a trial completes).
    """
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: int(t.trial_id))
    rows, best = [], None
    for n, t in enumerate(trials, 1):
        names = t.metrics.metrics.keys() if t.metrics else []
        folds = sorted((int(m[len("fold"):-len("_accuracy")]), m) for m in names
                       if m.startswith("fold") and m.endswith("_accuracy"))
        mean = _metric(t, objective)
        if mean is not None:
            best = mean if best is None else max(best, mean)
        values = dict(t.hyperparameters.values)
        epochs, initial = _metric(t, "epochs"), _metric(t, "initial_epoch")
        rows.append({
            "trial": n, "trial_id": t.trial_id, "status": str(t.status),
            # what `mean` is (helper-78: on an imbalanced validation split, plain accuracy)
            "objective": OBJECTIVE_WORDS.get(objective, objective),
            "hyperparameters": {k: v for k, v in values.items() if not k.startswith("tuner/")},
            "fold_scores": [_metric(t, m) for _, m in folds],
            "mean": mean, "std": _metric(t, f"{objective}_std"),
            "seconds": _metric(t, "seconds"),
            "epochs": None if epochs is None else int(epochs),
            "initial_epoch": None if initial is None else int(initial),
            "resumed_from": values.get("tuner/trial_id"), "best_so_far": best})
    return rows


def write_trials_report(rows: List[Dict[str, Any]], out_dir: str) -> Dict[str, str]:
    """Writes trials.json, trials.csv and trials.png into `out_dir`; returns {name: path}."""
    import tensorflow as tf  # gfile: out_dir may be a gs:// artifact URI
    tf.io.gfile.makedirs(out_dir)
    paths = {name: os.path.join(out_dir, name) for name in (TRIALS_JSON, TRIALS_CSV, TRIALS_PNG)}
    with tf.io.gfile.GFile(paths[TRIALS_JSON], "w") as f:
        json.dump(rows, f, indent=2)
    hp_names = sorted({k for r in rows for k in r["hyperparameters"]})
    max_folds = max([len(r["fold_scores"]) for r in rows] or [0])
    header = (["trial", "trial_id", "status"] + hp_names +
              [f"fold{k + 1}" for k in range(max_folds)] +
              ["mean", "std", "seconds", "epochs", "initial_epoch", "resumed_from",
               "best_so_far"])
    with tf.io.gfile.GFile(paths[TRIALS_CSV], "w") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for r in rows:
            folds = r["fold_scores"] + [None] * (max_folds - len(r["fold_scores"]))
            writer.writerow([r["trial"], r["trial_id"], r["status"]] +
                            [r["hyperparameters"].get(h) for h in hp_names] + folds +
                            [r["mean"], r["std"], r["seconds"], r.get("epochs"),
                             r.get("initial_epoch"), r.get("resumed_from"), r["best_so_far"]])
    _plot(rows, paths[TRIALS_PNG])
    return paths


def _plot(rows: List[Dict[str, Any]], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tensorflow as tf
    done = [r for r in rows if r["mean"] is not None]
    fig, ax = plt.subplots(figsize=(7, 4))
    if done:
        x = np.array([r["trial"] for r in done])
        ax.errorbar(x, [r["mean"] for r in done], yerr=[r["std"] or 0.0 for r in done], fmt="o",
                    capsize=3, label="trial score (mean ± std over folds)")
        ax.step(x, [r["best_so_far"] for r in done], where="post", color="tab:red",
                label="best so far")
        ax.set_xticks(x)
        epochs = [r.get("epochs") or 0 for r in done]
        if any(epochs):  # epochs per trial (Hyperband varies them) as bars on a second axis
            ax2 = ax.twinx()
            ax2.bar(x, epochs, width=0.6, color="tab:gray", alpha=0.25, zorder=0)
            ax2.set_ylabel("epochs trained (bars)")
            ax2.set_ylim(0, max(epochs) * 3)
    ax.set_xlabel("trial")
    ax.set_ylabel("eval accuracy")
    ax.set_title(f"Tuner trials ({len(done)} completed)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    with tf.io.gfile.GFile(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
