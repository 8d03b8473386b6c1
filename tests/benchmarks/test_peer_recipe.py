"""benchmarks/peer_recipe.py: its gate check of the plain script's models (the pipeline's default
absolute gates, EvaluatorConfig, applied to known predictions), and `--tree`'s files per role
and the recipe's decoding."""
import os

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("peer_recipe")


def test_a_model_above_every_default_bound_passes(bench):
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[labels] * 0.8 + 0.2 / 3
    assert bench.failed_default_gates(labels, probs, ["a", "b", "c"]) == []


def test_a_class_never_recognised_fails_its_recall_and_the_accuracy_bound(bench):
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 0, 1, 1, 0, 1])  # class c never: recall 0, accuracy 4/6
    probs = np.eye(3)[predicted] * 0.9 + 0.1 / 3
    failed = bench.failed_default_gates(labels, probs, ["a", "b", "c"])
    assert failed[0] == "accuracy 0.6667 < 0.7"
    assert "recall(c) 0.0000 < 0.5" in failed and not any("recall(a)" in f for f in failed)


def test_two_classes_use_the_binary_auc_and_both_recalls(bench):
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p1 = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.45, 0.46, 0.9])  # class 1 mostly below 0.5
    probs = np.stack([1 - p1, p1], axis=1)
    failed = bench.failed_default_gates(labels, probs, ["shirt", "tshirt_top"])
    assert failed == ["accuracy 0.5000 < 0.7", "recall(tshirt_top) 0.2500 < 0.5"]


def _png(path, value, mode="RGB"):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (8, 8), value).save(path)


def test_your_own_tree_gives_the_recipe_the_pipelines_train_files_and_test_files(bench,
                                                                                 tmp_path):
    """--tree DIR: a train/ + eval/ tree whose validation the pipeline carves from train/: the
    recipe fits on train/ minus that carve, and both score eval/ (the held-out test)."""
    from modules import splits
    for name, value in (("cat", 40), ("dog", 200)):
        for i in range(30):
            _png(tmp_path / "train" / name / f"{i}.png", (value,) * 3)
        for i in range(12):
            _png(tmp_path / "eval" / name / f"{i}.png", (value,) * 3)
    classes, roles = bench.tree_roles(str(tmp_path), [])
    assert classes == ["cat", "dog"]
    carved = {f"train/{c}/{i}.png" for c in classes for i in range(30)
              if splits.in_carved_split(f"train/{c}/{i}.png", 0.2)}
    assert carved  # 60 files at 20 %: some are validation
    rel = {role: {os.path.relpath(p, tmp_path) for _, p in files}
           for role, files in roles.items()}
    assert rel["validation"] == carved and not rel["train"] & carved
    assert len(rel["train"]) + len(carved) == 60
    assert rel["test"] == {f"eval/{c}/{i}.png" for c in classes for i in range(12)}
    assert all(label == classes.index(os.path.basename(os.path.dirname(p)))
               for files in roles.values() for label, p in files)


def test_the_recipe_decodes_alpha_over_white_and_skips_a_file_pillow_cannot_read(bench,
                                                                                  tmp_path):
    _png(tmp_path / "clear.png", (0, 0, 0, 0), mode="RGBA")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    images, labels = bench.load_images([(1, str(tmp_path / "clear.png")),
                                        (0, str(tmp_path / "broken.png"))], 4)
    assert images.shape == (1, 4, 4, 3) and labels.tolist() == [1]
    assert np.all(images == 255.0)  # a transparent pixel is white
