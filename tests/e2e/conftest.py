"""Shared by the end-to-end tests: a small tree of real images and the overrides of a fast run."""
import glob
import os
import shutil
from typing import Dict, List

import pytest

E2E_CLASSES = ("shirt", "tshirt_top")
E2E_PER_CLASS = {"train": 20, "eval": 10}


@pytest.fixture(scope="session")
def e2e_per_class() -> Dict[str, int]:
    """Images per class in each split of `e2e_tree`."""
    return dict(E2E_PER_CLASS)


@pytest.fixture(scope="session")
def e2e_tree(data_root, tmp_path_factory):
    """20 train and 10 eval real images per class, copied from data/fashion_binary (read-only)."""
    root = tmp_path_factory.mktemp("e2e_data")
    for split, n in E2E_PER_CLASS.items():
        for cls in E2E_CLASSES:
            os.makedirs(root / split / cls)
            for src in sorted(glob.glob(os.path.join(data_root, split, cls, "*.png")))[:n]:
                shutil.copy(src, root / split / cls)
    return root


@pytest.fixture(scope="session")
def fast_run_overrides() -> List[str]:
    """`--set` overrides for a run of minutes: one tiny trial, one epoch per training phase, 32x32
    images, and the Evaluator's gates opened so that the run blesses and pushes."""
    return ["model.image_size=32", "model.head_units=16",
            "tuner.max_trials=1", "tuner.epochs=1", "tuner.learning_rate=[0.001]",
            "tuner.batch_size=[16]", "trainer.epochs=1", "trainer.pruning.fine_tune_epochs=1",
            "trainer.fine_tune.epochs_per_step=1",
            "evaluator.accuracy_lower_bound=0.0", "evaluator.auc_lower_bound=0.0",
            "evaluator.max_accuracy_drop=1.0", "export.parity_examples=20"]
