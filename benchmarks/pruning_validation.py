"""Which pruning fine-tune loses least, measured on the VALIDATION role only (never test).

Per seed, one model is trained as the quick profile's Trainer does (phase 1: head on the frozen
ImageNet VGG16, 10 epochs, early stopping on validation; phase 2: block 5 at 1e-5, kept only if
validation improves), then each pruning variant (`VARIANTS`) starts from those same weights and
prunes the head and block 5 (`layers: trainable`): the quick profile's (the target sparsity from
the first step, up to 4 recovery epochs, the best validation epoch kept), its learning rate,
selection and sparsity changed one at a time, and the quick profile's schedule before it.
Printed: validation accuracy after phase 1, phase 2, and after each variant.

    .venv/bin/python benchmarks/pruning_validation.py DATA_ROOT [--seeds 2] [--image-size 32]

DATA_ROOT must have train/, eval/ and test/ (then eval/ is the validation role; test/ is never
read), e.g. `data/build_dataset.py --classes pullover,coat,shirt --train-per-class 300
--eval-per-class 100 --test-per-class 300 --mixed-formats --out /tmp/mc3`.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tf_keras  # noqa: E402

from benchmarks.image_tree import load_split  # noqa: E402
from modules import trainer  # noqa: E402
from modules.configs import AugmentationConfig, FineTuneConfig, PruningConfig  # noqa: E402
from modules.data import arrays_dataset  # noqa: E402
from modules.layer_names import CONV_LAYER_NAMES  # noqa: E402
from modules.model import build_model  # noqa: E402
from modules.training import class_weight_for, compile_model, early_stopping, evaluate  # noqa: E402

VARIANTS = {  # name: (learning rate, PruningConfig); 50 % on head + block 5 (`trainable`) unless named
    "constant from step 1, up to 4 epochs, best validation epoch kept, lr 1e-5 (quick profile)":
        (1e-5, PruningConfig(schedule="constant", fine_tune_epochs=4, early_stopping_patience=1)),
    "same, lr 1e-4":
        (1e-4, PruningConfig(schedule="constant", fine_tune_epochs=4, early_stopping_patience=1)),
    "same, lr 1e-5, the last of 4 epochs kept":
        (1e-5, PruningConfig(schedule="constant", fine_tune_epochs=4, early_stopping_patience=0)),
    "same, lr 1e-5, 80 % sparsity":
        (1e-5, PruningConfig(schedule="constant", fine_tune_epochs=4, early_stopping_patience=1,
                             target_sparsity=0.8)),
    "same, lr 1e-5, activation-aware score (|w| * rms(x) on the Dense layers, Wanda)":
        (1e-5, PruningConfig(schedule="constant", fine_tune_epochs=4, early_stopping_patience=1,
                             score="activation_aware")),
    "same, lr 1e-5, 80 % sparsity, activation-aware score":
        (1e-5, PruningConfig(schedule="constant", fine_tune_epochs=4, early_stopping_patience=1,
                             target_sparsity=0.8, score="activation_aware")),
    "same, lr 1e-4, activation-aware score":
        (1e-4, PruningConfig(schedule="constant", fine_tune_epochs=4, early_stopping_patience=1,
                             score="activation_aware")),
    "all 13 conv + head, lr 1e-5, activation-aware score":
        (1e-5, PruningConfig(schedule="constant", fine_tune_epochs=4, early_stopping_patience=1,
                             score="activation_aware", layers="all")),
    "all 13 conv only (head dense), lr 1e-5":
        (1e-5, PruningConfig(schedule="constant", fine_tune_epochs=4, early_stopping_patience=1,
                             layers=list(CONV_LAYER_NAMES))),
    "polynomial, one jump after half of 2 epochs, lr 1e-4, last epoch kept (quick profile before)":
        (1e-4, PruningConfig(schedule="polynomial", ramp_fraction=0.5, fine_tune_epochs=2,
                             early_stopping_patience=0)),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--only", action="append", default=[],
                   help="run only the variants whose name contains this text (repeatable)")
    args = p.parse_args(argv)
    variants = {n: v for n, v in VARIANTS.items()
                if not args.only or any(text in n for text in args.only)}
    from pipeline.weights.cache import load_vgg16_weights_info
    weights = load_vgg16_weights_info().path
    if not os.path.isdir(os.path.join(args.root, "test")):
        p.error(f"{args.root}: needs a test/ folder, so that eval/ is the validation role")
    classes = sorted(os.listdir(os.path.join(args.root, "train")))
    k, size = len(classes), args.image_size
    xt, yt = load_split(args.root, "train", classes, size)
    xv, yv = load_split(args.root, "eval", classes, size)
    results = {name: [] for name in variants}
    for seed in range(args.seeds):
        tf_keras.backend.clear_session()
        tf_keras.utils.set_random_seed(seed)
        model = build_model(size, k, weights, head_units=256, dropout=0.5, pooling="avg",
                            augmentation=AugmentationConfig(enabled=False), seed=seed)
        cw = class_weight_for("balanced", yt, k)
        train = arrays_dataset(xt, yt, 32, True, seed)
        val = arrays_dataset(xv, yv, 256, False, seed)
        compile_model(model, 1e-3, k)
        model.fit(train, validation_data=val, epochs=10, verbose=0, class_weight=cw,
                  callbacks=early_stopping(2))
        phase1 = evaluate(model, val)
        info = trainer._gradual_unfreezing(
            model, FineTuneConfig(unfreeze_blocks=1, learning_rate=1e-5, epochs_per_step=5,
                                  patience=2), k, train, val, class_weight=cw, baseline=phase1)
        phase2 = evaluate(model, val)
        weights_after = model.get_weights()
        print(f"seed {seed}: validation phase 1 {phase1['accuracy']:.4f}, phase 2 "
              f"{phase2['accuracy']:.4f} (steps kept: {info['kept_steps']})", flush=True)
        for name, (lr, config) in variants.items():
            model.set_weights(weights_after)
            started = time.time()
            pruned, _ = trainer.prune_and_fine_tune(model, config, lr, k, train, val,
                                                    class_weight=cw)
            compile_model(pruned, 1e-3, k)
            acc = evaluate(pruned, val)["accuracy"]
            results[name].append(acc)
            print(f"seed {seed}: {name}: validation {acc:.4f} ({time.time() - started:.0f} s)",
                  flush=True)
    print()
    print("| pruning fine-tune (head + block 5) | validation accuracy per seed | mean |")
    print("|---|---|---:|")
    for name, accs in results.items():
        print(f"| {name} | {', '.join(f'{a:.4f}' for a in accs)} | {np.mean(accs):.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
