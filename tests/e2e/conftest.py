"""Shared by the end-to-end tests: a small tree of real images, the overrides of a fast run, and
one fast run (plus its immediate re-run) that several test modules read."""
import glob
import os
import shutil
from typing import Dict, List

import pytest

E2E_CLASSES = ("shirt", "tshirt_top")
# eval/ is the validation split, test/ the held-out one (pipeline/data_layout.py)
E2E_PER_CLASS = {"train": 100, "eval": 20, "test": 30}
# ignored, never read: two non-image files, a folder nested in a class folder (with an image)
E2E_IGNORED = ("train/shirt/notes.txt", "test/tshirt_top/Thumbs.db", "train/tshirt_top/extra/",
               "eval/stray.png")  # and an image outside any class folder


@pytest.fixture(scope="session")
def e2e_per_class() -> Dict[str, int]:
    """Images per class in each split of `e2e_tree`."""
    return dict(E2E_PER_CLASS)


@pytest.fixture(scope="session")
def e2e_ignored() -> List[str]:
    """The non-image files in `e2e_tree` (relative paths)."""
    return list(E2E_IGNORED)


@pytest.fixture(scope="session")
def e2e_tree(data_root, tmp_path_factory):
    """100 train, 20 eval (validation) and 30 test real images per class, copied from
    data/fashion_binary (read-only), plus the non-image files a real folder holds
    (E2E_IGNORED: ignored by ImageExampleGen, listed in its data checks)."""
    root = tmp_path_factory.mktemp("e2e_data")
    for split, n in E2E_PER_CLASS.items():
        for cls in E2E_CLASSES:
            os.makedirs(root / split / cls)
            for src in sorted(glob.glob(os.path.join(data_root, split, cls, "*.png")))[:n]:
                shutil.copy(src, root / split / cls)
    for rel in E2E_IGNORED:
        if rel.endswith("/"):
            os.makedirs(root / rel)
            shutil.copy(sorted(glob.glob(os.path.join(data_root, "train", "shirt", "*.png")))[-1],
                        root / rel)
        else:
            (root / rel).write_bytes(b"not an image")
    return root


@pytest.fixture(scope="session")
def fast_run_overrides() -> List[str]:
    """`--set` overrides for a run of minutes: one tiny trial, 8 head epochs (enough for a model
    clearly better than chance, so that TFLite agreement means something) and one epoch per
    later phase, 32x32 images, and the Evaluator's gates opened so that the run blesses and
    pushes."""
    return ["model.image_size=32",
            "tuner.max_trials=1", "tuner.epochs=1", "tuner.learning_rate=[0.001]",
            "tuner.batch_size=[16]", "trainer.epochs=8", "trainer.pruning.fine_tune_epochs=1",
            "trainer.fine_tune.epochs_per_step=1",
            "evaluator.accuracy_lower_bound=0.0", "evaluator.auc_lower_bound=0.0",
            "evaluator.min_class_recall=0.0",
            "evaluator.max_accuracy_drop=1.0"]


COMPONENTS = ["ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
              "Tuner", "Trainer", "Evaluator", "ExportPusher"]


def mlmd_store(path):
    """A read-only MLMD store over the SQLite file at `path` (the project's own opener)."""
    from pipeline.mlmd import open_store
    return open_store(path)


def executions_by_node(store, pipeline_name):
    out = {}
    for node in COMPONENTS:
        ctx = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node}")
        out[node] = sorted(store.get_executions_by_context(ctx.id), key=lambda e: e.id) if ctx else []
    return out


@pytest.fixture(scope="session")
def runs(e2e_tree, fast_run_overrides, tmp_path_factory):
    """The default pipeline on `e2e_tree` with the fast overrides, run twice (the second run
    changes nothing): configs, summaries and the MLMD executions after each run."""
    from pipeline.config import load_config
    from pipeline.local_runner import run
    out = tmp_path_factory.mktemp("e2e_outputs")
    config = load_config(overrides=[f"data.root={e2e_tree}", f"output.root={out}",
                                    *fast_run_overrides])
    first = run(config)
    after_first = executions_by_node(mlmd_store(config.metadata_path), config.pipeline_name)
    second = run(config)
    after_second = executions_by_node(mlmd_store(config.metadata_path), config.pipeline_name)
    return {"config": config, "first": first, "second": second,
            "after_first": after_first, "after_second": after_second}
