"""benchmarks/trainer_variants.py's development tree: Fashion-MNIST *train* images only (the peer
benchmark's test images are t10k ones), split into disjoint train / eval / test folders."""
import os
from pathlib import Path

import pytest

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("trainer_variants")


@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason=f"{DEBIAN_DIR} absent "
                    "(apt-get install dataset-fashion-mnist to run this test)")
def test_development_tree_holds_only_train_images_in_disjoint_splits(bench, tmp_path):
    root = bench.build_dev_tree(str(tmp_path / "dev3"))
    seen = {}
    for split, n in bench.SPLIT_SIZES:
        for cls in bench.CLASSES:
            names = os.listdir(os.path.join(root, split, cls))
            assert len(names) == n, (split, cls)
            assert all(name.startswith("train-") for name in names)  # never t10k
            for name in names:
                assert (cls, name.split(".")[0]) not in seen, (split, name, seen.get(name))
                seen[(cls, name.split(".")[0])] = split
    assert sorted(os.listdir(root)) == ["eval", "test", "train"]
