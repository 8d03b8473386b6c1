"""Benchmark: how far TFMA's bucketed AUC (`num_thresholds` linear thresholds: 10,000, TFMA's
default and the gate's metric until components/exact_auc.py, 1,000 and 200) is from the exact
AUC, on models the pipeline really trains, and whether the Evaluator's gate value is the exact one.

Written to choose the bucketed gate's thresholds (the change gate's jackknife recomputed its
10,000 on 20 samples: almost all of the interval's cost, benchmarks/evaluator_cost.py), on real
models whose outputs saturate (many probabilities exactly 1.0 in float32), not just on smooth
synthetic scores; it showed every bucketing reading confident models low, and the gate became
exact. It now also checks that the Evaluator's value is the exact one.

For each tree and seed: `python -m pipeline run` into its own output root with every gate at 0
(so the model is pushed whatever it scores: this measures the AUC, not the gates); then the
pushed SavedModel's `serving_image` on the Transform's test split gives probabilities [N, K],
from which come the exact AUC (sklearn's rank AUC, ties counted half; 3+ classes the macro mean
of one-vs-rest AUCs, as the gate) and TFMA's own AUC (`tfma.analyze_raw_data`, AUC at T
thresholds). The Evaluator's recorded AUC (the gate's value) is printed beside them: since the
gate uses `ExactAUC` it should equal the exact column (before, it equalled TFMA's at 10,000).
Trees: `embedded` (data/fashion_binary, 2 classes, 500 test images), `devN`
(benchmarks/trainer_variants.build_dev_tree(out, N): 3 classes, mixed formats, 1,800 test
images) and `smallN` (data/build_dataset.py --seed N: 3 easy classes, trouser / bag / sandal, 60
train + 25 eval + 100 test images each, mixed formats: a confident model whose outputs saturate,
where bucketing can miss most). Prints one row per model, then

    max_abs_diff_10000= max_abs_diff_1000= max_abs_diff_200= max_abs_diff_evaluator= models=

    python benchmarks/auc_thresholds.py --trees embedded,dev7,dev8,dev9,small1,small2 \\
        --seeds 42,43 --work /tmp/auc
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Dict, List, Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

THRESHOLDS = (10000, 1000, 200)
ZERO_GATES = ("evaluator.accuracy_lower_bound=0", "evaluator.auc_lower_bound=0",
              "evaluator.min_class_recall=0")


def exact_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """Rank ROC AUC (ties count half). probs [N, 1] = P(class 1) for 2 classes, else [N, K]:
    the unweighted mean over classes of one-vs-rest AUCs."""
    from sklearn.metrics import roc_auc_score
    if probs.shape[1] == 1:
        return float(roc_auc_score(labels == 1, probs[:, 0]))
    return float(np.mean([roc_auc_score(labels == k, probs[:, k])
                          for k in range(probs.shape[1])]))


def tfma_auc(labels: np.ndarray, probs: np.ndarray, num_thresholds: int) -> float:
    """TFMA's AUC (as the Evaluator's gate: macro one-vs-rest for [N, K], K > 2) at
    `num_thresholds`, computed by TFMA itself on these probabilities."""
    import pandas as pd
    import tensorflow_model_analysis as tfma
    k = probs.shape[1]
    binary = k == 1
    frame = pd.DataFrame({"label": labels.astype(np.int64),
                          "prediction": list(probs[:, 0] if binary else probs.astype(np.float32))})
    metric = tfma.MetricConfig(class_name="AUC",
                               config=json.dumps({"num_thresholds": num_thresholds}))
    spec = tfma.MetricsSpec(metrics=[metric]) if binary else tfma.MetricsSpec(
        metrics=[metric], aggregate=tfma.AggregationOptions(
            macro_average=True, class_weights={i: 1.0 for i in range(k)}))
    config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key="label", prediction_key="prediction")],
        slicing_specs=[tfma.SlicingSpec()], metrics_specs=[spec])
    metrics = tfma.analyze_raw_data(frame, config).slicing_metrics[0][1][""][""]
    [value] = [v["doubleValue"] for name, v in metrics.items() if name.endswith("auc")]
    return float(value)


SMALL_CLASSES = ("trouser", "bag", "sandal")


def build_small_tree(out: str, seed: int) -> str:
    """3 easy classes, few images (train/ eval/ test/): see the module docstring."""
    subprocess.run([sys.executable, os.path.join(REPO, "data", "build_dataset.py"), "--classes",
                    ",".join(SMALL_CLASSES), "--train-per-class", "60", "--eval-per-class", "25",
                    "--test-per-class", "100", "--mixed-formats", "--seed", str(seed),
                    "--out", out], check=True, stdout=subprocess.DEVNULL)
    return out


def _run_pipeline(tree: str, data_root: str, seed: int, out: str) -> None:
    if os.path.exists(os.path.join(out, "done")):
        return
    sets = [f"output.root={out}", f"seed={seed}", *ZERO_GATES]
    if data_root:
        sets.append(f"data.root={data_root}")
    cmd = [sys.executable, "-m", "pipeline", "run"]
    for s in sets:
        cmd += ["--set", s]
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{tree} seed {seed}: the pipeline failed (exit {proc.returncode}):\n"
                         f"{proc.stderr[-3000:]}")
    with open(os.path.join(out, "done"), "w", encoding="utf-8") as f:
        f.write(" ".join(cmd))


def _model_outputs(out: str, class_names: List[str]) -> Dict[str, object]:
    """The pushed model's probabilities on the Transform's test split, and the Evaluator's AUC."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from modules.data import load_transformed_split
    from modules.export import load_image_signature
    from pipeline.mlmd import open_store
    from pipeline.summary import run_summary

    metadata = os.path.join(out, "metadata.sqlite")
    summary = run_summary(metadata, class_names)
    if not summary["pushed"]:
        raise SystemExit(f"{out}: nothing pushed")
    store = open_store(metadata)
    transform = max((e for e in store.get_executions() if store.get_execution_types_by_id(
        [e.type_id])[0].name.endswith("Transform")
        and e.last_known_state in (pb.Execution.COMPLETE, pb.Execution.CACHED)),
        key=lambda e: e.id)
    outputs = {ev.path.steps[0].key: ev.artifact_id
               for ev in store.get_events_by_execution_ids([transform.id])
               if ev.type == pb.Event.OUTPUT}
    by_id = {a.id: a for a in store.get_artifacts_by_id([outputs["transformed_examples"],
                                                         outputs["transform_graph"]])}
    examples, graph = by_id[outputs["transformed_examples"]], by_id[outputs["transform_graph"]]
    from tfx.types import artifact_utils, standard_artifacts
    art = standard_artifacts.Examples()
    art.uri = examples.uri
    art.split_names = artifact_utils.encode_split_names(
        [d[len("Split-"):] for d in os.listdir(examples.uri) if d.startswith("Split-")])
    images, labels = load_transformed_split(art, "test", graph.uri)
    predict = load_image_signature(os.path.join(summary["pushed_destination"], "saved_model"))
    return {"labels": labels, "probs": np.asarray(predict(images), np.float64),
            "evaluator_auc": summary["metrics"].get("auc")}


def measure(labels: np.ndarray, probs: np.ndarray,
            thresholds: Sequence[int] = THRESHOLDS) -> Dict[str, float]:
    row = {"exact": exact_auc(labels, probs),
           "saturated": float(np.mean((probs >= 1.0) | (probs <= 0.0)))}
    for t in thresholds:
        row[t] = tfma_auc(labels, probs.astype(np.float32), t)
    return row


def _max_evaluator_diff(rows: List[Dict[str, float]]) -> str:
    """max |evaluator - exact| over the rows, 'n/a' when no evaluation recorded an AUC."""
    diffs = [abs(r["evaluator"] - r["exact"]) for r in rows if r.get("evaluator") is not None]
    return f"{max(diffs):.4f}" if diffs else "n/a"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trees", default="embedded,dev7,dev8")
    p.add_argument("--seeds", default="42,43")
    p.add_argument("--work", required=True, help="trees and output roots (re-used if present)")
    args = p.parse_args(argv)
    trees = [t for t in args.trees.split(",") if t]
    bad = [t for t in trees if t != "embedded" and not (
        t.startswith("dev") and t[3:].isdigit()) and not (t.startswith("small") and t[5:].isdigit())]
    if bad:
        print(f"--trees: unknown {bad} (embedded, devN or smallN)", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",")]
    from benchmarks.trainer_variants import CLASSES, build_dev_tree
    rows = []
    print(f"{'tree':9} {'seed':>4} {'N':>5} {'sat%':>5} {'exact':>7} "
          + " ".join(f"{'tfma@' + str(t):>10}" for t in THRESHOLDS) + f" {'evaluator':>9}  "
          + " ".join(f"{'|d' + str(t) + '|':>8}" for t in THRESHOLDS), flush=True)
    for tree in trees:
        if tree == "embedded":
            root, names = "", ["shirt", "tshirt_top"]
        elif tree.startswith("small"):
            root, names = os.path.join(args.work, tree), sorted(SMALL_CLASSES)
            if not os.path.isdir(root):
                build_small_tree(root, int(tree[5:]))
        else:
            root = os.path.join(args.work, tree)
            if not os.path.isdir(root):
                build_dev_tree(root, int(tree[3:]))
            names = sorted(CLASSES)
        for seed in seeds:
            out = os.path.join(args.work, f"out-{tree}-{seed}")
            _run_pipeline(tree, root, seed, out)
            got = _model_outputs(out, names)
            row = measure(got["labels"], got["probs"])
            ev = got["evaluator_auc"]
            row["evaluator"] = ev
            rows.append(row)
            print(f"{tree:9} {seed:>4} {len(got['labels']):>5} {100 * row['saturated']:>5.1f} "
                  f"{row['exact']:>7.4f} " + " ".join(f"{row[t]:>10.4f}" for t in THRESHOLDS)
                  + f" {ev if ev is None else format(ev, '.4f'):>9}  "
                  + " ".join(f"{abs(row[t] - row['exact']):>8.4f}" for t in THRESHOLDS),
                  flush=True)
    print(" ".join(f"max_abs_diff_{t}={max(abs(r[t] - r['exact']) for r in rows):.4f}"
                   for t in THRESHOLDS)
          + f" max_abs_diff_evaluator={_max_evaluator_diff(rows)} models={len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
