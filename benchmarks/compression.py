"""Benchmark (issue #14): compression methods vs an equally trained dense control, over seeds.

Per seed, with ImageNet VGG16 weights, the seven augmentations and one shared phase 1 (head on
the frozen base, `--head-epochs`):

  dense     + `--fine-tune-epochs` (F) epochs with all 13 conv layers trainable, no compression
  methods   the five chains of benchmarks/compression_methods.py, each spending exactly the same
            F epochs on the project's compression steps (modules/compression_steps.py: magnitude
            pruning 13 conv + 2 dense to `--target-sparsity`, L1 filter pruning by
            `--filter-fractions`, sparsity-preserving clustering, PQAT / PCQAT), same learning
            rate and data order, then deployed as full int8 TFLite (what the ExportPusher pushes)

Accuracy: every test image of the two classes (2,000 for Fashion-MNIST Shirt vs T-shirt/top,
`data/build_dataset.py --eval-per-class all`), the dense control through its SavedModel, each
deployed .tflite through standalone LiteRT (ai-edge-litert, default delegates); reported as the
paired per-seed cost `dense - method` in points with its 95 % t-interval. The same is measured on
validation images carved from the train pool (`--val-per-class`, never trained on): the
recommended method is chosen on *validation* by a rule fixed in advance
(compression_methods.recommend: the largest size ratio whose mean validation cost <= 1.0 pt),
and only reported on test.
Size: gzip -9 bytes of the deployed int8 .tflite vs the dense float32 .tflite.
Latency: single image, both .tflite files in LiteRT (the same runtime), at 1 thread and at the
machine's CPU count, measured interleaved (`--latency-rounds` rounds, each timing every model in
turn, order rotated; median of the round medians), so load falls on all models alike; plus, as a
second column, the dense SavedModel in TensorFlow (intra-op threads = t, inter-op 1).
Printed: a table per method (rows per seed, mean), a summary table, the rule's choice, and last
`size_ratio= accuracy_delta_pt= accuracy_delta_ci95_pt= litert_latency_ratio= method=` of the
recommended method (means over the seeds; accuracy_delta_pt = dense - method, positive = worse).

How the full run fits in ~90 min on 2 CPU cores: 32x32 images (VGG16's smallest input: ~1/2.3
of the FLOPs at 48x48), 600 train + 150 validation images per class, 2 head epochs + F = 4
fine-tune epochs per arm, prefixes shared between the chains (compression_methods.py), 5 seeds:
~8 min per seed on an idle 2-core machine, 14-18 min under a load of 4-6 (`--max-minutes` stops
early and prints the seeds that finished).
`--quick` (development and smoke runs): 1 seed, 24 train / 8 validation / 25 test images per class,
1 head epoch, F = 4 epochs on that tiny set, 1 latency round; its figures mean nothing.
It runs the project's modules on in-memory arrays (decoded by the Transform's decode_and_resize),
not the TFX pipeline.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any, Dict, List, Optional, Tuple  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from benchmarks import compression_methods as cm  # noqa: E402
from modules import export, latency, litert, metrics  # noqa: E402
from modules.configs import AugmentationConfig  # noqa: E402
from modules.data import arrays_dataset  # noqa: E402
from modules.model import build_model, set_base_trainable  # noqa: E402
from modules.preprocessing import decode_and_resize  # noqa: E402
from modules.training import compile_model  # noqa: E402
from pipeline import weights  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ("shirt", "tshirt_top")
THREADS = cm.env_threads()
QUICK = {"seeds": 1, "train_per_class": 24, "val_per_class": 8, "eval_limit_per_class": 25,
         "head_epochs": 1, "batch_size": 16, "latency_rounds": 1, "representative": 16}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build_data(out: str, train_per_class: int) -> str:
    subprocess.run([sys.executable, os.path.join(REPO, "data", "build_dataset.py"),
                    "--train-per-class", str(train_per_class), "--eval-per-class", "all",
                    "--out", out], check=True, stdout=subprocess.DEVNULL)
    return out


def class_files(root: str, split: str) -> List[List[str]]:
    out = [sorted(glob.glob(os.path.join(root, split, cls, "*.png"))) for cls in CLASSES]
    for cls, files in zip(CLASSES, out):
        if not files:
            raise SystemExit(f"no images in {os.path.join(root, split, cls)}")
    return out


def load(files_per_class: List[List[str]], image_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """float32 [N, S, S, 3] in [0, 255] (the Transform's decode) and int64 labels [N]."""
    paths = [p for files in files_per_class for p in files]
    labels = [c for c, files in enumerate(files_per_class) for _ in files]
    ds = tf.data.Dataset.from_tensor_slices(paths).map(
        lambda p: decode_and_resize(tf.io.read_file(p), image_size)).batch(256)
    return (np.concatenate([b.numpy() for b in ds]).astype(np.float32),
            np.asarray(labels, np.int64))


def load_data(root: str, args):
    """(train, validation, test): validation = the last `val_per_class` files of each class of
    train/ (after the `train_per_class` used for training; never trained on); test = eval/."""
    pool = class_files(root, "train")
    need = args.train_per_class + args.val_per_class
    if any(len(f) < need for f in pool):
        raise SystemExit(f"{root}/train has fewer than {need} images per class")
    train = load([f[:args.train_per_class] for f in pool], args.image_size)
    val = load([f[args.train_per_class:need] for f in pool], args.image_size)
    test_files = class_files(root, "eval")
    if args.eval_limit_per_class:
        test_files = [f[:args.eval_limit_per_class] for f in test_files]
    return train, val, load(test_files, args.image_size)


def litert_predict(path: str, images: np.ndarray) -> np.ndarray:
    result = litert.run_litert(path, images=images, threads=[])
    if not result.ok:
        raise RuntimeError(f"LiteRT cannot run {path}: {result.error}")
    return result.predictions


def run_seed(seed: int, args, data, weights_path: str, workdir: str) -> Dict[str, object]:
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    tf_keras.backend.clear_session()
    tf_keras.utils.set_random_seed(seed)
    steps_per_epoch = int(np.ceil(len(y_train) / args.batch_size))

    def train_ds():  # a fresh pipeline per arm: every arm sees the same data order
        return arrays_dataset(x_train, y_train, args.batch_size, shuffle=True, seed=seed)

    def reseed():
        tf_keras.utils.set_random_seed(seed + 1000)

    t0 = time.time()
    phase1 = build_model(args.image_size, 2, weights_path=weights_path,
                         head_units=args.head_units, dropout=args.dropout,
                         augmentation=AugmentationConfig(), seed=seed, pooling="avg")
    compile_model(phase1, args.lr, 2)
    phase1.fit(train_ds(), epochs=args.head_epochs, verbose=0)
    log(f"seed {seed}: phase 1 ({args.head_epochs} epochs) {time.time() - t0:.0f}s")

    t0 = time.time()
    dense = cm.copy_model(phase1)
    set_base_trainable(dense, True)
    compile_model(dense, args.fine_tune_lr, 2)
    reseed()
    dense.fit(train_ds(), epochs=args.fine_tune_epochs, verbose=0)
    log(f"seed {seed}: dense control, {args.fine_tune_epochs} epochs {time.time() - t0:.0f}s")

    budget = cm.Budget(args.fine_tune_epochs, args.fine_tune_lr, args.initial_sparsity,
                       args.target_sparsity, args.prune_fraction, args.frequency,
                       dict(args.filter_fractions), dict(args.clusters))
    val_ds = arrays_dataset(x_val, y_val, args.batch_size, shuffle=False, seed=seed)
    models = cm.train_methods(phase1, budget, train_ds, val_ds, steps_per_epoch, reseed,
                              log=log)

    t0 = time.time()
    rng = np.random.default_rng(seed)
    rep = x_train[rng.choice(len(x_train), min(args.representative, len(x_train)),
                             replace=False)]
    paths, row, steps = {}, {"seed": seed}, {}
    dense_dir = os.path.join(workdir, f"dense_{seed}")
    export.save_image_model(dense, dense_dir)
    dense_f32 = export.convert_tflite(dense_dir, "float32")
    paths["dense_f32"] = os.path.join(workdir, f"dense_f32_{seed}.tflite")
    for method, (model, info) in models.items():
        saved = os.path.join(workdir, f"{method}_{seed}")
        export.save_image_model(model, saved)
        content = export.convert_tflite(saved, "int8", lambda: rep[:, None])
        shutil.rmtree(saved, ignore_errors=True)
        paths[method] = os.path.join(workdir, f"{method}_{seed}.tflite")
        with open(paths[method], "wb") as f:
            f.write(content)
        row[f"{method}_raw"] = len(content)
        row[f"{method}_gz"] = export.gzip_size(content, compresslevel=9)
        layers = info["pruning"]["layers"]
        facts = cm.kernel_facts(model, layers)
        row.update({f"{method}_{k}": v for k, v in facts.items()})
        steps[method] = info
    with open(paths["dense_f32"], "wb") as f:
        f.write(dense_f32)
    row["dense_f32_raw"], row["dense_f32_gz"] = len(dense_f32), export.gzip_size(dense_f32, 9)
    row["dense_params"] = int(dense.count_params())
    row["dense_kernels"] = cm.kernel_facts(dense, layers)["params"]
    log(f"seed {seed}: {len(paths)} TFLite conversions {time.time() - t0:.0f}s")

    t0 = time.time()
    dense_sm = export.load_image_signature(dense_dir)
    row["dense_test_acc"] = metrics.accuracy_of(dense_sm(x_test), y_test)
    row["dense_val_acc"] = metrics.accuracy_of(dense_sm(x_val), y_val)
    for method in models:
        probs = litert_predict(paths[method], np.concatenate([x_test, x_val]))
        row[f"{method}_test_acc"] = metrics.accuracy_of(probs[:len(y_test)], y_test)
        row[f"{method}_val_acc"] = metrics.accuracy_of(probs[len(y_test):], y_val)
    log(f"seed {seed}: accuracy on {len(y_test)} test + {len(y_val)} validation images "
        f"{time.time() - t0:.0f}s")

    t0 = time.time()
    load_before = os.getloadavg()[0]
    lat = cm.interleaved_litert_latency(paths, x_test[:8], THREADS, args.latency_rounds,
                                        args.latency_runs)
    sm_lat = latency.saved_model_latency(dense_dir, x_test, THREADS)
    row["load"] = (load_before + os.getloadavg()[0]) / 2
    for name, per in lat.items():
        for t in THREADS:
            row[f"{name}_ms_{t}"] = per[t]
    for t in THREADS:
        row[f"dense_sm_ms_{t}"] = sm_lat[str(t)]["median_ms"]
    log(f"seed {seed}: latency {time.time() - t0:.0f}s (load {row['load']:.1f})")
    shutil.rmtree(dense_dir, ignore_errors=True)
    for p in paths.values():
        os.remove(p)
    row["steps"] = steps
    return row


def mb(n: float) -> str:
    return f"{n / 1e6:.2f}"


def print_results(rows: List[Dict[str, object]], args, n_test: int, n_val: int) -> None:
    t1, tn = THREADS[0], THREADS[-1]
    print()
    print(f"Fashion-MNIST shirt vs tshirt_top, {args.image_size}x{args.image_size}, "
          f"{args.train_per_class}/class train, {n_val} validation, {n_test} test images, "
          f"{len(rows)} seed(s); budget per arm: {args.head_epochs} head + "
          f"{args.fine_tune_epochs} fine-tune epochs at {args.fine_tune_lr:g}; pruning 13 conv + "
          f"2 dense to {args.target_sparsity}; filter fractions {args.filter_fractions}; "
          f"clusters {args.clusters}; latency: single image, {args.latency_rounds} interleaved "
          f"round(s) x {args.latency_runs} calls, median of round medians, .tflite in standalone "
          f"LiteRT (ai-edge-litert, default delegates) at {t1} and {tn} thread(s); SavedModel "
          f"in TensorFlow (intra-op threads = t, inter-op 1). delta = dense - method accuracy "
          f"(points; positive = the method is worse)")
    summaries = []
    for method in cm.METHODS:
        s = cm.summarize(method, rows, THREADS)
        summaries.append(s)
        print()
        print(f"### {method}")
        print()
        print(f"| seed | dense acc | {method} acc (LiteRT) | delta test (pt) | delta val (pt) | "
              f"dense f32 gzip MB | int8 gzip MB | size ratio | LiteRT ms dense f32 / int8, "
              f"{t1}t | LiteRT ratio {t1}t | LiteRT ratio {tn}t | vs SavedModel (TF) {t1}t | "
              f"kernel weights | sparsity | max distinct non-zero values per kernel | load |")
        print("|---:" * 16 + "|")
        for r in rows:
            print(f"| {r['seed']} | {r['dense_test_acc']:.4f} | {r[f'{method}_test_acc']:.4f} | "
                  f"{100 * (r['dense_test_acc'] - r[f'{method}_test_acc']):+.2f} | "
                  f"{100 * (r['dense_val_acc'] - r[f'{method}_val_acc']):+.2f} | "
                  f"{mb(r['dense_f32_gz'])} | {mb(r[f'{method}_gz'])} | "
                  f"{r['dense_f32_gz'] / r[f'{method}_gz']:.1f}x | "
                  f"{r[f'dense_f32_ms_{t1}']:.2f} / {r[f'{method}_ms_{t1}']:.2f} | "
                  f"{r[f'dense_f32_ms_{t1}'] / r[f'{method}_ms_{t1}']:.1f}x | "
                  f"{r[f'dense_f32_ms_{tn}'] / r[f'{method}_ms_{tn}']:.1f}x | "
                  f"{r[f'dense_sm_ms_{t1}'] / r[f'{method}_ms_{t1}']:.1f}x | "
                  f"{r[f'{method}_params']:,} | {r[f'{method}_sparsity']:.3f} | "
                  f"{r[f'{method}_max_distinct']} | {r['load']:.1f} |")
        mean_acc = np.mean([r[f"{method}_test_acc"] for r in rows])
        print(f"| mean | {np.mean([r['dense_test_acc'] for r in rows]):.4f} | {mean_acc:.4f} | "
              f"{s.test_delta_pt:+.2f} ± {s.test_ci95_pt:.2f} (95 %) | "
              f"{s.validation_delta_pt:+.2f} | "
              f"{mb(np.mean([r['dense_f32_gz'] for r in rows]))} | "
              f"{mb(np.mean([r[f'{method}_gz'] for r in rows]))} | {s.size_ratio:.1f}x | "
              f"{np.mean([r[f'dense_f32_ms_{t1}'] for r in rows]):.2f} / "
              f"{np.mean([r[f'{method}_ms_{t1}'] for r in rows]):.2f} | "
              f"{s.litert_ratio[t1]:.1f}x | {s.litert_ratio[tn]:.1f}x | "
              f"{s.savedmodel_ratio[t1]:.1f}x | | | | |")
    chosen, why = cm.recommend(summaries)
    print()
    print("### Summary (means over seeds; ratios of mean bytes / mean latencies)")
    print()
    print(f"| method | test delta (pt, 95 %) | validation delta (pt) | size ratio | LiteRT ratio "
          f"{t1}t | LiteRT ratio {tn}t | vs SavedModel (TF) {t1}t | recommended |")
    print("|---|---:|---:|---:|---:|---:|---:|:---:|")
    for s in summaries:
        print(f"| {s.method} | {s.test_delta_pt:+.2f} ± {s.test_ci95_pt:.2f} | "
              f"{s.validation_delta_pt:+.2f} | {s.size_ratio:.1f}x | {s.litert_ratio[t1]:.1f}x | "
              f"{s.litert_ratio[tn]:.1f}x | {s.savedmodel_ratio[t1]:.1f}x | "
              f"{'yes' if s is chosen else ''} |")
    print()
    print(f"dense: {mb(np.mean([r['dense_f32_raw'] for r in rows]))} MB float32 .tflite raw, "
          f"{rows[0]['dense_params']:,} parameters (kernel weights of the 15 pruned layers: "
          f"{rows[0]['dense_kernels']:,}); LiteRT ms at {t1}/{tn} threads "
          f"{np.mean([r[f'dense_f32_ms_{t1}'] for r in rows]):.2f}/"
          f"{np.mean([r[f'dense_f32_ms_{tn}'] for r in rows]):.2f}; SavedModel (TF) "
          f"{np.mean([r[f'dense_sm_ms_{t1}'] for r in rows]):.2f}/"
          f"{np.mean([r[f'dense_sm_ms_{tn}'] for r in rows]):.2f}")
    print(f"recommended (rule fixed in advance, on validation, never test): {chosen.method}: "
          f"{why}")
    print(f"savedmodel_latency_ratio={chosen.savedmodel_ratio[t1]:.2f} seeds={len(rows)} "
          f"threads={t1}")
    print(cm.last_line(chosen, t1))


def parse_mapping(text: str) -> Dict[str, float]:
    """'block4=0.5,block5=0.5' -> {'block4': 0.5, 'block5': 0.5}."""
    out = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        out[key.strip()] = float(value)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny run for development (see above)")
    p.add_argument("--data-root", help="image tree with train/ and eval/ class folders "
                   "(default: rebuilt from the Debian package into a temp dir)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--train-per-class", type=int, default=600)
    p.add_argument("--val-per-class", type=int, default=150)
    p.add_argument("--eval-limit-per-class", type=int, default=0, help="0: all")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--head-epochs", type=int, default=2)
    p.add_argument("--fine-tune-epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--fine-tune-lr", type=float, default=1e-4)
    p.add_argument("--head-units", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--initial-sparsity", type=float, default=0.3)
    p.add_argument("--target-sparsity", type=float, default=0.8)
    p.add_argument("--prune-fraction", type=float, default=2 / 3,
                   help="share of a pruning stretch over which sparsity ramps up")
    p.add_argument("--frequency", type=int, default=10, help="steps between mask updates")
    p.add_argument("--filter-fractions", type=parse_mapping,
                   default=parse_mapping("block1=0.25,block2=0.25,block3=0.5,block4=0.5,"
                                         "block5=0.5"),
                   help="structured pruning: fraction of filters removed per block / layer")
    p.add_argument("--clusters", type=parse_mapping, default={"conv": 16, "dense": 32},
                   help="clusters per layer kind, e.g. conv=16,dense=32")
    p.add_argument("--representative", type=int, default=100,
                   help="train images for int8 calibration")
    p.add_argument("--latency-rounds", type=int, default=5)
    p.add_argument("--latency-runs", type=int, default=10, help="timed calls per round")
    p.add_argument("--max-minutes", type=float, default=0,
                   help="start no seed that would end after it (0: no limit)")
    p.add_argument("--json", help="also write the per-seed rows here")
    p.add_argument("--first-seed", type=int, default=0,
                   help="seeds first-seed .. first-seed + seeds - 1")
    p.add_argument("--merge", help="per-seed rows (a --json file) of an earlier run with the "
                                   "same settings, summarised together with this run's")
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    args.clusters = {k: int(v) for k, v in args.clusters.items()}

    tmp = tempfile.mkdtemp(prefix="bench-compression-")
    try:
        root = args.data_root or build_data(os.path.join(tmp, "data"),
                                            args.train_per_class + args.val_per_class)
        t0 = time.time()
        data = load_data(root, args)
        log(f"data: {len(data[0][1])} train, {len(data[1][1])} validation, {len(data[2][1])} "
            f"test images ({time.time() - t0:.0f}s)")
        info = weights.load_vgg16_weights_info() or weights.provision_vgg16_weights()
        log(f"weights: {info.source} ({info.path}); threads measured: {THREADS}")
        rows, started = [], time.time()
        earlier = merged_rows(args.merge, range(args.first_seed, args.first_seed + args.seeds))
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            t0 = time.time()
            rows.append(run_seed(seed, args, data, info.path, tmp))
            r = rows[-1]
            log(f"seed {seed} done in {time.time() - t0:.0f}s: dense test acc "
                f"{r['dense_test_acc']:.4f}; " + ", ".join(
                    f"{m} {r[f'{m}_test_acc']:.4f} ({r['dense_f32_gz'] / r[f'{m}_gz']:.1f}x, "
                    f"{r['dense_f32_ms_1'] / r[f'{m}_ms_1']:.1f}x)" for m in cm.METHODS))
            if args.json:
                with open(args.json, "w", encoding="utf-8") as f:
                    json.dump(rows, f, indent=1, default=str)
            elapsed = time.time() - started
            if (args.max_minutes and len(rows) < args.seeds and
                    elapsed + elapsed / len(rows) > 60 * args.max_minutes):
                log(f"stopping after {len(rows)} of {args.seeds} seeds: another seed would "
                    f"exceed --max-minutes {args.max_minutes}")
                break
        print_results(sorted(earlier + rows, key=lambda r: r["seed"]), args, len(data[2][1]),
                      len(data[1][1]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def merged_rows(path: Optional[str], seeds) -> List[Dict[str, Any]]:
    """The rows of `path` (a --json file) whose seeds this run does not repeat; [] without it."""
    if not path:
        return []
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    return [r for r in rows if r["seed"] not in set(seeds)]


if __name__ == "__main__":
    sys.exit(main())
