"""Three classes, mixed formats, only `data.root` set: the pipeline end to end on a stranger's folder.

The tree is real Fashion-MNIST images (pullover, coat, shirt) stored as users' folders hold them:
RGB at odd sizes, RGBA on transparent canvases, grayscale + alpha, JPEG, 8-bit grayscale
(`data/build_dataset.py --mixed-formats`, from Debian's dataset-fashion-mnist; skipped with a
reason where that package is absent). Train and eval folders only: validation is carved from
train, eval/ is the held-out test split. One run backs every assertion:

- the Evaluator's gates for 3 classes: accuracy, macro one-vs-rest AUC and each class's recall,
  read back with their values and named in the run summary;
- a softmax model ([1, 3] output) pushed with a 3-line labels.txt, per-class precision/recall in
  report.json, and its float32 .tflite agreeing with the SavedModel in LiteRT via the contract;
- the outputs go to the data set's own root, outputs/<folder name>/ (here under tmp).
"""
import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE = "/usr/share/datasets/fashion-mnist"
CLASSES = ["coat", "pullover", "shirt"]


@pytest.fixture(scope="module")
def three_class_run(tmp_path_factory, fast_run_overrides):
    if not os.path.isdir(SOURCE):
        pytest.skip(f"{SOURCE} absent (apt-get install dataset-fashion-mnist to run this test)")
    tmp = tmp_path_factory.mktemp("multiclass")
    tree = tmp / "garments"
    subprocess.run([sys.executable, os.path.join(REPO_ROOT, "data", "build_dataset.py"),
                    "--classes", "pullover,coat,shirt", "--train-per-class", "60",
                    "--eval-per-class", "20", "--test-per-class", "0", "--mixed-formats",
                    "--out", str(tree)], check=True, stdout=subprocess.DEVNULL)
    from pipeline.config import load_config
    from pipeline.local_runner import run
    from pipeline.summary import format_summary
    overrides = [o for o in fast_run_overrides if not o.startswith("evaluator.")]
    config = load_config(overrides=[f"data.root={tree}", f"output.root={tmp / 'outputs'}",
                                    *overrides, "evaluator.accuracy_lower_bound=0.0",
                                    "evaluator.auc_lower_bound=0.0",
                                    "evaluator.min_class_recall=0.0",
                                    "export.tflite_variants=[float32]"])
    summary = run(config)
    return {"config": config, "summary": summary, "text": format_summary(summary),
            "tree": tree}


def test_classes_and_roles_come_from_the_folder(three_class_run):
    config = three_class_run["config"]
    assert config.data.class_names == CLASSES
    assert config.split_layout.patterns == {"train": "train/*/*", "validation": "train/*/*",
                                            "test": "eval/*/*"}


def test_three_class_gates_read_back_with_values(three_class_run):
    rows = {g["name"]: g for g in three_class_run["summary"]["gates"]}
    change = rows.pop("accuracy vs baseline")  # no baseline yet: listed, not applicable
    assert (change["passed"], change["value"]) == (None, None)
    assert set(rows) == {"accuracy", "macro one-vs-rest AUC", "recall of 'coat'",
                         "recall of 'pullover'", "recall of 'shirt'"}
    for name, row in rows.items():
        assert row["value"] is not None and 0.0 <= row["value"] <= 1.0, name
        assert row["passed"] is True, name  # gates opened for a model of minutes
    assert rows["macro one-vs-rest AUC"]["value"] > 0.5  # better than chance
    text = three_class_run["text"]
    for name in rows:
        assert f"gate {name} (>= 0.0000): " in text, name
    assert ("gate accuracy vs baseline: n/a, no other blessed model of the same classes in this "
            "order (") in text


def test_each_recall_gate_knows_where_its_test_images_went(three_class_run):
    """The Evaluator's predicted_as on each class's slice is that class's confusion-matrix row:
    the shares sum to 1 and its own share is the recall the gate read."""
    for name in CLASSES:
        (row,) = [g for g in three_class_run["summary"]["gates"]
                  if g["name"] == f"recall of '{name}'"]
        assert set(row["predicted_as"]) == set(CLASSES), name
        assert sum(row["predicted_as"].values()) == pytest.approx(1.0, abs=1e-9), name
        assert row["predicted_as"][name] == pytest.approx(row["value"], abs=1e-6), name
        # the Evaluator's per-class figures: that recall, on the class's test images, with
        # the Wilson interval on the gate's line
        figures = three_class_run["summary"]["per_class"][name]
        assert figures["recall"] == pytest.approx(row["value"], abs=1e-6), name
        hits = round(row["value"] * figures["support"])
        assert f"({hits} of {figures['support']} test images; 95 % interval " in \
            next(line for line in three_class_run["text"].splitlines()
                 if line.startswith(f"  gate recall of '{name}'")), name
    supports = [three_class_run["summary"]["per_class"][n]["support"] for n in CLASSES]
    assert sum(supports) == three_class_run["summary"]["metrics"]["example_count"]


def test_softmax_model_pushed_with_labels_and_per_class_metrics(three_class_run):
    summary = three_class_run["summary"]
    assert summary["blessed"] and summary["pushed"]
    dest = summary["pushed_destination"]
    with open(os.path.join(dest, "labels.txt"), encoding="utf-8") as f:
        assert f.read().split() == CLASSES
    with open(os.path.join(dest, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    assert report["held_out"]["split"] == "test"
    assert set(report["held_out"]["per_class"]) == set(CLASSES)
    assert set(report["per_class"]["classes"]) == set(CLASSES)
    assert report["saved_model"]["auc_note"] == "macro average of one-vs-rest ROC AUCs"
    tflite = report["contract"]["tflite"]["model_float32.tflite"]
    assert tflite["output"]["shape"] == [1, 3]
    assert "softmax probabilities in labels.txt order" in tflite["output"]["meaning"]


def test_the_float32_tflite_follows_the_contract_in_litert(three_class_run, tmp_path):
    import glob
    import numpy as np
    import tensorflow as tf
    dest = three_class_run["summary"]["pushed_destination"]
    paths = sorted(glob.glob(os.path.join(three_class_run["tree"], "eval", "*", "*")))
    out = tmp_path / "client.json"
    subprocess.run([os.path.join(REPO_ROOT, ".venv-litert", "bin", "python"),
                    os.path.join(REPO_ROOT, "tests", "external", "tflite_client.py"), dest,
                    os.path.join(dest, "model_float32.tflite"), str(out), *paths], check=True)
    client = np.asarray(json.loads(out.read_text())["outputs"]).argmax(-1)
    serve = tf.saved_model.load(os.path.join(dest, "saved_model")).signatures["serving_default"]
    examples = []
    for p in paths:
        with open(p, "rb") as f:
            examples.append(tf.train.Example(features=tf.train.Features(feature={
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f.read()]))}))
                .SerializeToString())
    saved = serve(examples=tf.constant(examples))["probability"].numpy().argmax(-1)
    assert np.mean(client == saved) >= 0.98, (client, saved)  # RGBA, LA, JPEG, odd sizes


def test_outputs_under_the_data_sets_own_root(three_class_run):
    config = three_class_run["config"]
    assert three_class_run["summary"]["pushed_destination"].startswith(config.serving_dir)
    from pipeline.config import load_config
    default = load_config(overrides=[f"data.root={three_class_run['tree']}"])
    assert default.output_root == os.path.join(REPO_ROOT, "outputs", "garments")
