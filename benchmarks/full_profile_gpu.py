"""Benchmark: the `full` profile's Trainer on a GPU (issue #18), on the embedded data at 224x224.

    .venv/bin/python benchmarks/full_profile_gpu.py [--mixed-precision float16] [--jit-compile]
                                                    [--set key=value ...]

Runs what the pipeline's Trainer runs for `--profile full` (modules.trainer.train: VGG16 with the
ImageNet weights, the seven augmentations, 10 epochs of the head with early stopping, one block
unfrozen for 2 epochs, pruning to 0.5 over 3 epochs, strip) in the tf.distribute strategy the
process gets (modules/distribution.py: one GPU -> default, several -> MirroredStrategy), with the
full profile's first grid values as hyperparameters (learning rate 0.001, batch 16 per replica;
the Tuner is not run). Images are decoded and resized exactly as Transform does
(modules.preprocessing.decode_and_resize) from data/fashion_binary: train (1000) to fit,
eval (300) to validate, test (500) for the final accuracy.

Prints, per fit phase, images/s (epochs after the first, which traces) and epoch times, then
peak GPU memory per GPU (tf.config.experimental.get_memory_info) and the final test accuracy;
the last line is `images_per_s= epoch_s= peak_gpu_mem_gb= test_accuracy= train_s= device=`.
Sized for about 3-5 minutes on one T4/L4/A100 (15 epochs over 1000 images at 224x224), well
inside 8 minutes.

Without a GPU it prints one line saying so and exits 0. `--allow-cpu --tiny` runs it anyway on
CPU at toy scale (32x32, 16 images per class and split, one epoch per phase): that only proves the
script works; its figures say nothing about a GPU.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Dict, List, Tuple  # noqa: E402

import numpy as np  # noqa: E402

TINY = ["model.image_size=32", "trainer.epochs=1", "trainer.fine_tune.epochs_per_step=1",
        "trainer.pruning.fine_tune_epochs=1", "trainer.augmentation.enabled=false"]


def load_split(root: str, split: str, classes: List[str], size: int,
               limit: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Transform's decode + resize of `<root>/<split>/<class>/*`: float32 [N, size, size, 3]."""
    import tensorflow as tf

    from modules.preprocessing import decode_and_resize
    images, labels = [], []
    for label, name in enumerate(classes):
        paths = sorted(glob.glob(os.path.join(root, split, name, "*")))
        for path in paths[:limit or None]:
            encoded = tf.io.read_file(path)
            images.append(decode_and_resize(encoded, size).numpy())
            labels.append(label)
    return np.stack(images).astype(np.float32), np.array(labels, np.int64)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mixed-precision", default="none", choices=("none", "float16",
                                                                      "bfloat16"))
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config overrides on top of --profile full")
    parser.add_argument("--allow-cpu", action="store_true",
                        help="run without a GPU (proves the script works; not the GPU figure)")
    parser.add_argument("--tiny", action="store_true",
                        help="toy scale: 32x32, 16 images per class and split, 1 epoch per phase")
    args = parser.parse_args(argv)

    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not args.allow_cpu:
        print("full_profile_gpu: no GPU visible to TensorFlow on this machine; nothing measured "
              "(run it where `nvidia-smi` shows one; --allow-cpu --tiny proves the script only)")
        return 0
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)  # peak memory = what training used

    import tf_keras

    from modules import distribution, trainer
    from modules.data import arrays_dataset
    from pipeline.config import load_config
    from pipeline.pipeline import module_config, resolve_weights

    strategy = distribution.choose_strategy()
    overrides = [f"trainer.mixed_precision={args.mixed_precision}",
                 f"trainer.jit_compile={str(args.jit_compile).lower()}",
                 *(TINY if args.tiny else []), *args.set]
    config = load_config(profile="full", overrides=overrides)
    weights_path, weights_source = resolve_weights(config)
    from modules.configs import RunConfig
    run_config = RunConfig.from_dict(module_config(config, weights_path, weights_source))
    size = run_config.model.image_size
    classes = list(config.data.class_names)
    limit = 16 if args.tiny else 0
    t0 = time.perf_counter()
    x_train, y_train = load_split(config.data_root, "train", classes, size, limit)
    x_val, y_val = load_split(config.data_root, "eval", classes, size, limit)
    x_test, y_test = load_split(config.data_root, "test", classes, size, limit)
    print(f"data: {len(y_train)} train / {len(y_val)} validation / {len(y_test)} test images at "
          f"{size}x{size} ({time.perf_counter() - t0:.1f} s to decode)", flush=True)

    hp = {"learning_rate": float(run_config.tuner.learning_rate[0]),
          "batch_size": int(run_config.tuner.batch_size[0]), "source": "config"}
    batch = distribution.global_batch_size(hp["batch_size"], strategy)
    tr_input = run_config.trainer.input
    train_ds = arrays_dataset(x_train, y_train, batch, shuffle=True, seed=run_config.seed,
                              input_config=tr_input)
    val_ds = arrays_dataset(x_val, y_val, batch, shuffle=False, seed=0, input_config=tr_input)

    epochs: List[Dict[str, float]] = []

    class EpochTimer(tf_keras.callbacks.Callback):
        """Wall time of every epoch (validation included), in order, across all fits."""

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epochs.append({"fit_epoch": epoch, "seconds": time.perf_counter() - self._t})

    t0 = time.perf_counter()
    model, summary = trainer.train(run_config, hp, train_ds, val_ds, y_train,
                                   strategy=strategy, callbacks=[EpochTimer()])
    train_s = time.perf_counter() - t0
    with strategy.scope():
        test = model.evaluate(arrays_dataset(x_test, y_test, batch, False, 0), verbose=0,
                              return_dict=True)

    # An epoch 0 of each fit traces its graphs; the steady state is the epochs after it.
    steady = [e["seconds"] for e in epochs if e["fit_epoch"] > 0] or \
        [e["seconds"] for e in epochs]
    epoch_s = statistics.median(steady)
    images_per_s = len(y_train) / epoch_s
    peaks = {}
    for i, _ in enumerate(gpus):
        peaks[f"GPU:{i}"] = tf.config.experimental.get_memory_info(f"GPU:{i}")["peak"] / 1e9
    device = (f"{len(gpus)} x {tf.config.experimental.get_device_details(gpus[0]).get('device_name', 'GPU')}"
              if gpus else "CPU")
    print(json.dumps({"distribution": summary["distribution"], "precision": summary["precision"],
                      "jit_compile": summary["jit_compile"],
                      "epoch_seconds": [round(e["seconds"], 2) for e in epochs],
                      "phase1_epochs_run": summary["phase1"]["epochs_run"],
                      "final_validation": summary["final_validation"],
                      "test": test, "peak_gpu_memory_gb": peaks}, indent=1, default=str))
    if not gpus:
        print("NOTE: no GPU: CPU figures at toy scale, they say nothing about the GPU benchmark")
    print(f"images_per_s={images_per_s:.1f} epoch_s={epoch_s:.2f} "
          f"peak_gpu_mem_gb={max(peaks.values()) if peaks else 'n/a'} "
          f"test_accuracy={test['accuracy']:.4f} train_s={train_s:.1f} device={device!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
