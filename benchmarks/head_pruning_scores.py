"""Why magnitude pruning costs the head accuracy: magnitude vs activation-aware scores, one-shot,
measured on the VALIDATION role only (never test).

Per seed, the quick profile's phase 1 is trained (head on the frozen ImageNet VGG16, 10 epochs,
early stopping on validation). Then the head's two Dense kernels are pruned in one shot, no
fine-tune, by two scores: |w| (tfmot's magnitude) and |w| * rms(x) (the RMS over the train images
of the input feature that weight reads: activation-aware, as in Wanda, Sun et al. 2023). VGG16's
pooled features at 32x32 differ in scale by orders of magnitude (RMS 0 to ~70, printed), so a
small weight on a large feature can matter more than a large weight on a small one.

    .venv/bin/python benchmarks/head_pruning_scores.py DATA_ROOT [--seeds 3] [--image-size 32]

DATA_ROOT must have train/, eval/ and test/ (eval/ is the validation role; test/ is never read),
e.g. `data/build_dataset.py --classes pullover,coat,shirt --train-per-class 300
--eval-per-class 100 --test-per-class 300 --mixed-formats --out /tmp/mc3`.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402

import numpy as np  # noqa: E402
import tf_keras  # noqa: E402

from benchmarks.image_tree import load_split  # noqa: E402
from modules.configs import AugmentationConfig  # noqa: E402
from modules.data import arrays_dataset  # noqa: E402
from modules.model import build_model  # noqa: E402
from modules.training import class_weight_for, compile_model, early_stopping, evaluate  # noqa: E402

HEAD = ("head_dense", "predictions")
SPARSITIES = (0.5, 0.8)


def prune_kernel(kernel: np.ndarray, input_rms, sparsity: float) -> np.ndarray:
    """kernel [in, out] with the `sparsity` share of lowest scores zeroed; score = |w| times
    input_rms [in] (or 1: plain magnitude)."""
    score = np.abs(kernel) * np.reshape(input_rms, (-1, 1))
    return np.where(score > np.quantile(score, sparsity), kernel, 0.0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--image-size", type=int, default=32)
    args = p.parse_args(argv)
    from pipeline.weights.cache import load_vgg16_weights_info
    weights = load_vgg16_weights_info().path
    if not os.path.isdir(os.path.join(args.root, "test")):
        p.error(f"{args.root}: needs a test/ folder, so that eval/ is the validation role")
    classes = sorted(os.listdir(os.path.join(args.root, "train")))
    k, size = len(classes), args.image_size
    xt, yt = load_split(args.root, "train", classes, size)
    xv, yv = load_split(args.root, "eval", classes, size)
    rows = []
    for seed in range(args.seeds):
        tf_keras.backend.clear_session()
        tf_keras.utils.set_random_seed(seed)
        model = build_model(size, k, weights, head_units=256, dropout=0.5, pooling="avg",
                            augmentation=AugmentationConfig(enabled=False), seed=seed)
        val = arrays_dataset(xv, yv, 256, False, seed)
        compile_model(model, 1e-3, k)
        model.fit(arrays_dataset(xt, yt, 32, True, seed), validation_data=val, epochs=10,
                  verbose=0, class_weight=class_weight_for("balanced", yt, k),
                  callbacks=early_stopping(2))
        row = {"dense": evaluate(model, val)["accuracy"]}
        inputs = [tf_keras.Model(model.input, model.get_layer(n).output).predict(xt, verbose=0)
                  for n in ("avg_pool", "head_dense")]
        rms = [np.sqrt(np.mean(np.square(x), axis=0)) for x in inputs]
        print(f"seed {seed}: pooled feature RMS min / median / max: {rms[0].min():.3g} / "
              f"{np.median(rms[0]):.3g} / {rms[0].max():.3g}", flush=True)
        original = [model.get_layer(n).get_weights() for n in HEAD]
        for sparsity in SPARSITIES:
            for score, scales in (("magnitude", (1.0, 1.0)), ("activation-aware", rms)):
                for name, (kernel, bias), scale in zip(HEAD, original, scales):
                    model.get_layer(name).set_weights(
                        [prune_kernel(kernel, np.broadcast_to(scale, kernel.shape[:1]),
                                      sparsity), bias])
                row[f"{score} {sparsity:.0%}"] = evaluate(model, val)["accuracy"]
                for name, w in zip(HEAD, original):
                    model.get_layer(name).set_weights(w)
        print(f"seed {seed}: " + "; ".join(f"{n} {v:.4f}" for n, v in row.items()), flush=True)
        rows.append(row)
    print()
    print("| head pruned one-shot, no fine-tune | validation accuracy per seed | mean | vs dense (pt) |")
    print("|---|---|---:|---:|")
    dense = np.mean([r["dense"] for r in rows])
    for name in rows[0]:
        values = [r[name] for r in rows]
        print(f"| {name} | {' / '.join(f'{v:.4f}' for v in values)} | {np.mean(values):.4f} | "
              f"{100 * (np.mean(values) - dense):+.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
