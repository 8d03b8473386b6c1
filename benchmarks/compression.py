"""Benchmark: pruned + int8 deployed model vs an equally trained dense control, over seeds.

For each seed, in one run, with ImageNet VGG16 weights and the seven augmentations:

  phase 1   head on the frozen base, `--head-epochs` epochs (shared by both arms of the seed)
  dense     + `--fine-tune-epochs` epochs with all 13 conv layers trainable, no pruning
  pruned    + `--fine-tune-epochs` epochs of the project's pruning fine-tune
            (modules/trainer.prune_and_fine_tune) with `layers: all` (13 conv + 2 dense layers),
            PolynomialDecay `--initial-sparsity` -> `--target-sparsity` reached after
            `--prune-fraction` of the fine-tune steps, then strip_pruning; deployed as full int8
            TFLite (what the ExportPusher pushes; the sparse-storage variant `int8_sparse` is
            measured beside it but LiteRT's default delegate cannot load it)

Same training budget: both arms get head-epochs + fine-tune-epochs epochs, the same learning rates,
data order and augmentation seed, so pruning cannot look like a gain that is really extra epochs.
Accuracy is measured on every test image of the two classes (2,000 for Fashion-MNIST Shirt vs
T-shirt/top, rebuilt from the Debian package with data/build_dataset.py --eval-per-class all):
the dense control through its SavedModel, the deployed model through standalone LiteRT
(ai-edge-litert, default delegates: what users run).

Printed side by side per seed: gzip size of the dense float32 TFLite vs the deployed int8 TFLite,
accuracy of each, and single-image latency (median of 50 after 5 warm-up calls) at 1 thread and at
the machine's threads: both .tflite files in LiteRT (the same runtime: what compression buys) and
the SavedModels in TensorFlow with intra-op threads set explicitly (a second column); plus
int8-alone (dense int8) and the sparse-storage raw/gzip trade-off.
Last line: `size_ratio=<x> accuracy_delta_pt=<y> accuracy_delta_ci95_pt=<+-> litert_latency_ratio=
<z> ...` (means over the seeds; accuracy_delta_pt = dense - deployed, in points, with its 95 %
t-interval half-width over the seeds, standard deviation and range).

This uses the project's modules on in-memory arrays (decode_and_resize is the Transform's own
decode), not the TFX pipeline, so that 3 seeds fit in ~30 minutes on 2 CPU cores.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import glob  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Dict, List, Tuple  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from modules import export, latency, litert, metrics  # noqa: E402
from modules.configs import AugmentationConfig, PruningConfig  # noqa: E402
from modules.data import arrays_dataset  # noqa: E402
from modules.model import build_model, set_base_trainable  # noqa: E402
from modules.preprocessing import decode_and_resize  # noqa: E402
from modules.trainer import prune_and_fine_tune  # noqa: E402
from modules.training import compile_model  # noqa: E402
from pipeline import weights  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ("shirt", "tshirt_top")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build_data(out: str, train_per_class: int) -> str:
    """All 1,000 test images per class and `train_per_class` train images, as PNG folders."""
    subprocess.run([sys.executable, os.path.join(REPO, "data", "build_dataset.py"),
                    "--train-per-class", str(train_per_class), "--eval-per-class", "all",
                    "--out", out], check=True, stdout=subprocess.DEVNULL)
    return out


def load_split(root: str, split: str, image_size: int, limit_per_class: int = 0
               ) -> Tuple[np.ndarray, np.ndarray]:
    """images float32 [N, S, S, 3] in [0, 255] (the Transform's decode) and labels int64 [N]."""
    paths, labels = [], []
    for label, cls in enumerate(CLASSES):
        files = sorted(glob.glob(os.path.join(root, split, cls, "*.png")))
        if limit_per_class:
            files = files[:limit_per_class]
        if not files:
            raise SystemExit(f"no images in {os.path.join(root, split, cls)}")
        paths += files
        labels += [label] * len(files)
    ds = tf.data.Dataset.from_tensor_slices(paths).map(
        lambda p: decode_and_resize(tf.io.read_file(p), image_size)).batch(256)
    images = np.concatenate([b.numpy() for b in ds])
    return images.astype(np.float32), np.asarray(labels, np.int64)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return metrics.accuracy_of(probs, labels)


THREADS = sorted({1, int(os.cpu_count() or 1)})


def litert_run(content: bytes, images: np.ndarray, workdir: str, name: str):
    """LiteRT predictions [N, K] and {threads: latency} of a .tflite (default delegates)."""
    path = os.path.join(workdir, f"{name}.tflite")
    with open(path, "wb") as f:
        f.write(content)
    result = litert.run_litert(path, images=images, threads=THREADS)
    os.remove(path)
    if not result.ok:
        raise RuntimeError(f"LiteRT cannot run {name}: {result.error}")
    return result.predictions, result.latency


def t_half_width(values: List[float]) -> float:
    """Half-width of the 95 % Student-t interval of the mean of `values`."""
    if len(values) < 2:
        return float("nan")
    from scipy import stats
    return float(stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values)
                 / np.sqrt(len(values)))


def run_seed(seed: int, args, data, weights_path: str, workdir: str) -> Dict[str, float]:
    (x_train, y_train), (x_test, y_test) = data
    tf_keras.backend.clear_session()
    steps_per_epoch = int(np.ceil(len(y_train) / args.batch_size))
    def train_ds():  # a fresh pipeline per arm: both arms see the same data order
        return arrays_dataset(x_train, y_train, args.batch_size, shuffle=True, seed=seed)

    aug = AugmentationConfig()  # the seed's seven augmentations

    def new_model():
        return build_model(args.image_size, 2, weights_path=weights_path,
                           head_units=args.head_units, dropout=args.dropout, augmentation=aug,
                           seed=seed)

    t0 = time.time()
    model = new_model()
    compile_model(model, args.lr, 2)
    model.fit(train_ds(), epochs=args.head_epochs, verbose=0)
    phase1 = model.get_weights()
    log(f"seed {seed}: phase 1 ({args.head_epochs} epochs) {time.time() - t0:.0f}s")

    # Dense control: the same fine-tune epochs and learning rate, all conv layers trainable.
    t0 = time.time()
    dense = new_model()
    dense.set_weights(phase1)
    set_base_trainable(dense, True)
    compile_model(dense, args.fine_tune_lr, 2)
    tf_keras.utils.set_random_seed(seed + 1000)
    dense.fit(train_ds(), epochs=args.fine_tune_epochs, verbose=0)
    dense_dir = os.path.join(workdir, f"dense_{seed}")
    export.save_image_model(dense, dense_dir)
    log(f"seed {seed}: dense control fine-tune {time.time() - t0:.0f}s")

    # Pruned: the project's pruning fine-tune, all 13 conv + 2 dense layers.
    t0 = time.time()
    tf_keras.utils.set_random_seed(seed + 1000)
    prune_steps = steps_per_epoch * args.fine_tune_epochs
    prune_cfg = PruningConfig(layers="all", schedule="polynomial",
                              initial_sparsity=args.initial_sparsity,
                              target_sparsity=args.target_sparsity, begin_step=0,
                              end_step=max(1, int(prune_steps * args.prune_fraction)),
                              frequency=args.frequency, fine_tune_epochs=args.fine_tune_epochs)
    pruned, info = prune_and_fine_tune(model, prune_cfg, args.fine_tune_lr, 2, train_ds())
    pruned_dir = os.path.join(workdir, f"pruned_{seed}")
    export.save_image_model(pruned, pruned_dir)
    log(f"seed {seed}: pruning fine-tune {time.time() - t0:.0f}s, overall sparsity "
        f"{info['overall_sparsity']:.3f}")

    t0 = time.time()
    rng = np.random.default_rng(seed)
    rep = x_train[rng.choice(len(x_train), min(args.representative, len(x_train)), replace=False)]
    representative = lambda: rep[:, None]  # noqa: E731
    dense_f32 = export.convert_tflite(dense_dir, "float32")
    dense_int8 = export.convert_tflite(dense_dir, "int8", representative)
    deployed = export.convert_tflite(pruned_dir, "int8", representative)
    sparse_storage = export.convert_tflite(pruned_dir, "int8_sparse", representative)
    log(f"seed {seed}: 4 TFLite conversions {time.time() - t0:.0f}s")

    t0 = time.time()
    dense_acc = accuracy(export.load_image_signature(dense_dir)(x_test), y_test)
    pruned_sm_probs = export.load_image_signature(pruned_dir)(x_test)
    deployed_probs, deployed_lat = litert_run(deployed, x_test, workdir, "deployed")
    _, dense_f32_lat = litert_run(dense_f32, x_test[:8], workdir, "dense_f32")
    deployed_acc = accuracy(deployed_probs, y_test)
    sm_lat = latency.saved_model_latency(pruned_dir, x_test, THREADS)
    dense_sm_lat = latency.saved_model_latency(dense_dir, x_test, THREADS)
    log(f"seed {seed}: evaluation on {len(y_test)} test images {time.time() - t0:.0f}s")
    for d in (dense_dir, pruned_dir):
        shutil.rmtree(d, ignore_errors=True)
    row = {
        "seed": seed,
        "dense_acc": dense_acc, "pruned_sm_acc": accuracy(pruned_sm_probs, y_test),
        "deployed_acc": deployed_acc,
        "int8_agreement": metrics.class_agreement(deployed_probs, pruned_sm_probs),
        "delta_pt": 100.0 * (dense_acc - deployed_acc),
        "dense_f32_raw": len(dense_f32), "dense_f32_gz": export.gzip_size(dense_f32),
        "dense_int8_gz": export.gzip_size(dense_int8),
        "deployed_raw": len(deployed), "deployed_gz": export.gzip_size(deployed),
        "sparse_raw": len(sparse_storage), "sparse_gz": export.gzip_size(sparse_storage),
        "sparsity": info["overall_sparsity"],
    }
    for t in THREADS:
        row[f"deployed_ms_{t}"] = deployed_lat[str(t)]["median_ms"]
        row[f"dense_f32_ms_{t}"] = dense_f32_lat[str(t)]["median_ms"]
        row[f"sm_ms_{t}"] = sm_lat[str(t)]["median_ms"]
        row[f"dense_sm_ms_{t}"] = dense_sm_lat[str(t)]["median_ms"]
    row["loadavg"] = os.getloadavg()[0]
    return row


def mb(n: float) -> str:
    return f"{n / 1e6:.2f}"


def print_results(rows: List[Dict[str, float]], args, n_test: int) -> None:
    print()
    print(f"Fashion-MNIST shirt vs tshirt_top, {args.image_size}x{args.image_size}, "
          f"{args.train_per_class}/class train, {n_test} test images, {len(rows)} seed(s); "
          f"budget per arm: "
          f"{args.head_epochs} head + {args.fine_tune_epochs} fine-tune epochs; pruned: 13 conv + "
          f"2 dense, PolynomialDecay {args.initial_sparsity}->{args.target_sparsity}; latency: "
          f"single image, median of {latency.LATENCY_RUNS} after {latency.WARMUP_RUNS} warm-up "
          f"calls, .tflite in standalone LiteRT (ai-edge-litert, default "
          f"delegates), SavedModel in TensorFlow (intra-op threads = t, inter-op 1)")
    t1, tn = THREADS[0], THREADS[-1]
    print()
    print(f"| seed | dense acc | deployed acc | delta (pt) | dense f32 gzip MB | deployed int8 "
          f"gzip MB | size ratio | LiteRT ms dense f32 / int8, {t1}t | LiteRT ratio {t1}t | "
          f"LiteRT ratio {tn}t | vs SavedModel (TF) {t1}t | sparsity | load |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def line(label, r, delta):
        return (f"| {label} | {r['dense_acc']:.4f} | {r['deployed_acc']:.4f} | {delta} | "
                f"{mb(r['dense_f32_gz'])} | {mb(r['deployed_gz'])} | "
                f"{r['dense_f32_gz'] / r['deployed_gz']:.1f}x | "
                f"{r[f'dense_f32_ms_{t1}']:.2f} / {r[f'deployed_ms_{t1}']:.2f} | "
                f"{r[f'dense_f32_ms_{t1}'] / r[f'deployed_ms_{t1}']:.1f}x | "
                f"{r[f'dense_f32_ms_{tn}'] / r[f'deployed_ms_{tn}']:.1f}x | "
                f"{r[f'dense_sm_ms_{t1}'] / r[f'deployed_ms_{t1}']:.1f}x | "
                f"{r['sparsity']:.3f} | {r['loadavg']:.1f} |")
    for r in rows:
        print(line(str(r["seed"]), r, f"{r['delta_pt']:+.2f}"))
    mean = {k: statistics.fmean(r[k] for r in rows) for k in rows[0] if k != "seed"}
    deltas = [r["delta_pt"] for r in rows]
    sd = statistics.stdev(deltas) if len(deltas) > 1 else 0.0
    ci = t_half_width(deltas)
    print(line("mean", mean, f"{mean['delta_pt']:+.2f} ± {ci:.2f} (95 %)"))
    size_ratio = mean["dense_f32_gz"] / mean["deployed_gz"]
    litert_ratio = mean[f"dense_f32_ms_{t1}"] / mean[f"deployed_ms_{t1}"]
    sm_ratio = mean[f"dense_sm_ms_{t1}"] / mean[f"deployed_ms_{t1}"]
    print()
    print("| also measured (means) | value |")
    print("|---|---:|")
    print(f"| pruned SavedModel accuracy (before int8) | {mean['pruned_sm_acc']:.4f} |")
    print(f"| deployed int8 (LiteRT) vs pruned SavedModel class agreement | "
          f"{mean['int8_agreement']:.4f} |")
    print(f"| int8 alone (dense int8 gzip) size ratio | "
          f"{mean['dense_f32_gz'] / mean['dense_int8_gz']:.1f}x |")
    print(f"| pruned int8 raw MB: dense storage (deployed) / sparse storage (int8_sparse) | "
          f"{mb(mean['deployed_raw'])} / {mb(mean['sparse_raw'])} |")
    print(f"| pruned int8 gzip MB: dense storage (deployed) / sparse storage (int8_sparse) | "
          f"{mb(mean['deployed_gz'])} / {mb(mean['sparse_gz'])} |")
    print(f"| dense float32 TFLite raw MB | {mb(mean['dense_f32_raw'])} |")
    for t in THREADS:
        print(f"| latency ms at {t} thread(s): dense SavedModel (TF) / dense f32 (LiteRT) / "
              f"pruned SavedModel (TF) / deployed int8 (LiteRT) | "
              f"{mean[f'dense_sm_ms_{t}']:.2f} / {mean[f'dense_f32_ms_{t}']:.2f} / "
              f"{mean[f'sm_ms_{t}']:.2f} / {mean[f'deployed_ms_{t}']:.2f} |")
    print()
    print(f"size_ratio={size_ratio:.2f} accuracy_delta_pt={mean['delta_pt']:.2f} "
          f"accuracy_delta_ci95_pt={ci:.2f} litert_latency_ratio={litert_ratio:.2f} "
          f"savedmodel_latency_ratio={sm_ratio:.2f} accuracy_delta_sd_pt={sd:.2f} "
          f"accuracy_delta_range_pt=[{min(deltas):.2f},{max(deltas):.2f}] seeds={len(rows)} "
          f"method=prune_int8")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", help="image tree with train/ and eval/ class folders "
                   "(default: rebuilt from the Debian package into a temp dir)")
    p.add_argument("--image-size", type=int, default=48)
    p.add_argument("--train-per-class", type=int, default=1000)
    p.add_argument("--eval-limit-per-class", type=int, default=0, help="0: all")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--head-epochs", type=int, default=2)
    p.add_argument("--fine-tune-epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--fine-tune-lr", type=float, default=1e-4)
    p.add_argument("--head-units", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--initial-sparsity", type=float, default=0.3)
    p.add_argument("--target-sparsity", type=float, default=0.8)
    p.add_argument("--prune-fraction", type=float, default=2 / 3,
                   help="fraction of the fine-tune steps over which sparsity ramps up; the rest "
                        "recovers accuracy with the final mask")
    p.add_argument("--frequency", type=int, default=20, help="steps between mask updates")
    p.add_argument("--representative", type=int, default=100,
                   help="train images for int8 calibration")
    p.add_argument("--max-minutes", type=float, default=0,
                   help="time budget: start no seed that would end after it (0: no limit); "
                        "the results then cover the seeds that finished")
    args = p.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="bench-compression-")
    try:
        root = args.data_root or build_data(os.path.join(tmp, "data"), args.train_per_class)
        t0 = time.time()
        data = (load_split(root, "train", args.image_size, args.train_per_class),
                load_split(root, "eval", args.image_size, args.eval_limit_per_class))
        log(f"data: {len(data[0][1])} train, {len(data[1][1])} test images "
            f"({time.time() - t0:.0f}s)")
        info = weights.load_vgg16_weights_info() or weights.provision_vgg16_weights()
        log(f"weights: {info.source} ({info.path})")
        rows, started = [], time.time()
        for seed in range(args.seeds):
            t0 = time.time()
            rows.append(run_seed(seed, args, data, info.path, tmp))
            r = rows[-1]
            log(f"seed {seed} done in {time.time() - t0:.0f}s: dense acc {r['dense_acc']:.4f}, "
                f"pruned SavedModel acc {r['pruned_sm_acc']:.4f}, deployed acc "
                f"{r['deployed_acc']:.4f} (int8 agreement {r['int8_agreement']:.4f}), gzip "
                f"{r['dense_f32_gz']} -> {r['deployed_gz']} bytes, LiteRT 1-thread latency "
                f"{r['dense_f32_ms_1']:.2f} -> {r['deployed_ms_1']:.2f} ms")
            elapsed = time.time() - started
            if (args.max_minutes and seed + 1 < args.seeds and
                    elapsed + elapsed / len(rows) > 60 * args.max_minutes):
                log(f"stopping after {len(rows)} of {args.seeds} seeds: another seed would "
                    f"exceed --max-minutes {args.max_minutes}")
                break
        print_results(rows, args, len(data[1][1]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
