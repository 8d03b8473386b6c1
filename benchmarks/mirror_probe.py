"""Probe behind rule 10 (docs/results.md): does fitting a frozen-VGG16 head on the train images
plus their horizontal mirrors help, and would averaging each image's prediction with its
mirror's? Measured on the VALIDATION role of development trees only (never a test split).

Per development tree (`benchmarks/trainer_variants.build_dev_tree`: Fashion-MNIST *train* images
only, drawn with the tree's sampling seed) and seed: GAP features of the frozen ImageNet VGG16 at
32x32, the plain recipe's head (Dense 256 relu, dropout 0.5, softmax; Adam 1e-3, 10 epochs,
batch 32) fitted on (plain) the train images, (flip) the train images and their mirrors,
(flip+tta) as flip, each validation prediction averaged with its mirror's. Prints each run,
the means and the paired differences.

    .venv/bin/python benchmarks/mirror_probe.py --trees 7,8,9 --seeds 3 [--work /tmp/probe]
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import argparse  # noqa: E402
import statistics  # noqa: E402

import numpy as np  # noqa: E402

ARMS = ("plain", "flip", "flip+tta")
SIZE = 32


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trees", default="7,8,9", help="development trees' sampling seeds")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--work", default="/tmp/mirror-probe", help="where the trees are built")
    args = p.parse_args(argv)
    import tf_keras as keras

    from peer_recipe import load_folder
    from pipeline import weights as provisioning
    from trainer_variants import build_dev_tree
    weights = (provisioning.load_vgg16_weights_info() or provisioning.provision_vgg16_weights()).path
    base = keras.applications.VGG16(include_top=False, weights=weights, input_shape=(SIZE, SIZE, 3))

    def features(x):
        return base.predict(keras.applications.vgg16.preprocess_input(x.copy()), batch_size=128,
                            verbose=0).mean(axis=(1, 2))

    results = {arm: [] for arm in ARMS}
    for tree in [int(t) for t in args.trees.split(",")]:
        root = os.path.join(args.work, f"tree{tree}")
        if not os.path.isdir(root):
            build_dev_tree(root, tree)
        classes = sorted(os.listdir(os.path.join(root, "train")))
        xt, yt = load_folder(root, "train", classes, SIZE)
        xv, yv = load_folder(root, "eval", classes, SIZE)  # eval/ is the validation role here
        ft, ft_mirror = features(xt), features(xt[:, :, ::-1, :])
        fv, fv_mirror = features(xv), features(xv[:, :, ::-1, :])
        for seed in range(args.seeds):
            for arm in ARMS:
                keras.utils.set_random_seed(seed)
                x = ft if arm == "plain" else np.concatenate([ft, ft_mirror])
                y = yt if arm == "plain" else np.concatenate([yt, yt])
                head = keras.Sequential([
                    keras.Input((ft.shape[1],)), keras.layers.Dense(256, activation="relu"),
                    keras.layers.Dropout(0.5), keras.layers.Dense(len(classes), activation="softmax")])
                head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
                head.fit(x, y, batch_size=32, epochs=10, verbose=0)
                probs = head.predict(fv, verbose=0)
                if arm == "flip+tta":
                    probs = (probs + head.predict(fv_mirror, verbose=0)) / 2
                accuracy = float(np.mean(probs.argmax(-1) == yv))
                results[arm].append(accuracy)
                print(f"tree {tree} seed {seed} {arm}: validation {accuracy:.4f} (n={len(yv)})",
                      flush=True)
    for arm in ARMS:
        print(f"{arm}: mean {statistics.mean(results[arm]):.4f}")
    for arm in ARMS[1:]:
        diffs = [100 * (a - b) for a, b in zip(results[arm], results["plain"])]
        sd = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
        print(f"{arm} - plain: {statistics.mean(diffs):+.2f} pt (SD {sd:.2f}, {len(diffs)} paired runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
