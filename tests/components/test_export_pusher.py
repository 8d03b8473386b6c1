"""The ExportPusher executor on artifacts built here: real small SavedModels, transformed-examples
TFRecords and a transform graph (no pipeline run, no mocks of the gate or the push).

- a pruned model is pushed with its three default TFLite variants (each checked in TensorFlow's
  interpreter and in standalone LiteRT), labels.txt, MODEL.md, strict report.json and report.html
  (plots, exported per-layer sparsity ~ target, data manifest hash, library versions, tuner
  trials), world-readable; its sparse-storage int8 variant, which LiteRT's default delegate
  cannot load, is refused with LiteRT's own error;
- a model whose int8 conversion cannot keep its decisions is pushed without the int8 variant, and
  the report says why; when no configured variant passes, nothing is pushed (ParityError);
- a model that predicts one class for every held-out example is refused (ParityError);
- the held-out sample is stratified and seeded, not the first N records;
- a failure while the version is built leaves neither a version dir nor an `.incomplete-*` one;
- a model that is not blessed pushes nothing.
"""
import os


import hashlib
import json
import shutil
import stat

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tensorflow_transform.tf_metadata import (dataset_metadata, metadata_io,
                                              schema_utils)
from tfx.types import artifact_utils, standard_artifacts

from components.export_pusher import report as report_lib
from components.export_pusher import versioning
from components.export_pusher.executor import Executor
from components.export_pusher.parity import ParityError
from modules import export, pruning, tflite_variants
from modules.export import gzip_size
from modules.configs import AugmentationConfig
from modules.features import IMAGE_KEY, LABEL_KEY

SIZE = 16
TARGET = 0.6
PRUNED_LAYERS = ["conv_a", "dense_a"]
MIN_AGREEMENT = {"float32": 0.99, "dynamic_range": 0.99, "int8": 0.98}
# as modules/tuning_report.py writes them
TRIALS = [{"trial": 1, "trial_id": "00", "status": "COMPLETED",
           "hyperparameters": {"learning_rate": 0.001, "batch_size": 16},
           "fold_scores": [0.8, 0.82], "mean": 0.81, "std": 0.01, "seconds": 12.5,
           "best_so_far": 0.81},
          {"trial": 2, "trial_id": "01", "status": "COMPLETED",
           "hyperparameters": {"learning_rate": 0.01, "batch_size": 32},
           "fold_scores": [0.7, 0.78], "mean": 0.74, "std": 0.04, "seconds": 11.0,
           "best_so_far": 0.81}]


# ---------------------------------------------------------------- artifacts

def _write_split(root, split, images, labels):
    os.makedirs(os.path.join(root, f"Split-{split}"), exist_ok=True)
    path = os.path.join(root, f"Split-{split}", "transformed_examples-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as w:
        for img, label in zip(images, labels):
            w.write(tf.train.Example(features=tf.train.Features(feature={
                IMAGE_KEY: tf.train.Feature(float_list=tf.train.FloatList(
                    value=img.reshape(-1).tolist())),
                LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            })).SerializeToString())


def _transform_graph(root):
    """A Transform output dir as far as the ExportPusher reads it: transformed_metadata/."""
    schema = schema_utils.schema_from_feature_spec({
        IMAGE_KEY: tf.io.FixedLenFeature([SIZE, SIZE, 3], tf.float32),
        LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)})
    metadata_io.write_metadata(dataset_metadata.DatasetMetadata(schema),
                               os.path.join(root, "transformed_metadata"))
    return root


def _examples(root, train, evals, splits=("train", "eval")):
    art = standard_artifacts.Examples()
    art.uri = root
    art.split_names = artifact_utils.encode_split_names(list(splits))
    if "train" in splits:
        _write_split(root, "train", *train)
    if "eval" in splits:
        _write_split(root, "eval", *evals)
    return art


def _model_artifact(root, keras_model, training_summary):
    art = standard_artifacts.Model()
    art.uri = root
    export.save_image_model(keras_model, os.path.join(root, "Format-Serving"))
    with open(os.path.join(root, "training_summary.json"), "w", encoding="utf-8") as f:
        json.dump(training_summary, f)
    return art


def _artifact(cls, uri, **int_props):
    art = cls()
    art.uri = uri
    os.makedirs(uri, exist_ok=True)
    for k, v in int_props.items():
        art.set_int_custom_property(k, v)
    return art


def _run(tmp, model, examples, transform_uri, blessed=True, tuner_dir=None, data_root=None,
         variants=tflite_variants.DEFAULT_VARIANTS, parity_examples=200, evaluation_uri=None,
         splits=None, raw_examples=None):
    serving = os.path.join(tmp, "serving")
    pushed = _artifact(standard_artifacts.PushedModel, os.path.join(tmp, "pushed"))
    inputs = {"model": [model], "transformed_examples": [examples],
              "transform_graph": [_artifact(standard_artifacts.TransformGraph, transform_uri)],
              "model_blessing": [_artifact(standard_artifacts.ModelBlessing,
                                           os.path.join(tmp, "blessing"),
                                           blessed=int(blessed))]}
    if tuner_dir:
        inputs["tuner_results"] = [_artifact(standard_artifacts.TunerResults, tuner_dir)]
    if raw_examples:
        inputs["examples"] = [raw_examples]
    if evaluation_uri:
        inputs["model_evaluation"] = [_artifact(standard_artifacts.ModelEvaluation,
                                                evaluation_uri)]
    run_info = {"profile": "test", "weights_source": "none (test)",
                "class_names": ["neg", "pos"], "data_root": data_root or "",
                "data_patterns": ["train/*/*", "eval/*/*"],
                "config": {"seed": 0, "trainer": {"pruning": {"layers": PRUNED_LAYERS}}}}
    Executor().Do(inputs, {"pushed_model": [pushed]}, {
        "serving_dir": serving, "tflite_variants": json.dumps(list(variants)),
        "min_agreement": json.dumps(MIN_AGREEMENT), "parity_examples": parity_examples,
        "seed": 7, "latency_runs": 5, "run_info": json.dumps(run_info),
        **(splits or {"parity_split": "eval"})})
    return serving, pushed


# ---------------------------------------------------------------- a pruned model

def _pruned_model():
    """A small conv net with conv_a and dense_a pruned to TARGET by tfmot, then stripped."""
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((SIZE, SIZE, 3), name=IMAGE_KEY)
    x = tf_keras.layers.Rescaling(1 / 255.0)(inputs)
    x = tf_keras.layers.Conv2D(16, 3, activation="relu", name="conv_a")(x)
    x = tf_keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv_b")(x)
    x = tf_keras.layers.Flatten()(x)
    x = tf_keras.layers.Dense(16, activation="relu", name="dense_a")(x)
    outputs = tf_keras.layers.Dense(1, activation="sigmoid", name="predictions")(x)
    model = tf_keras.Model(inputs, outputs)
    pruned = pruning.apply_pruning(model, PRUNED_LAYERS,
                                   pruning.sparsity.ConstantSparsity(TARGET, 0, frequency=1))
    pruned.compile(optimizer=tf_keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    x_train, y_train = _bright_vs_dark(64, seed=5)
    pruned.fit(x_train, y_train, batch_size=8, epochs=6, verbose=0,
               callbacks=[pruning.sparsity.UpdatePruningStep()])
    stripped = pruning.strip_pruning(pruned)
    x_eval, y_eval = _bright_vs_dark(40, seed=2)
    accuracy = np.mean((stripped.predict(x_eval, verbose=0)[:, 0] >= 0.5) == y_eval)
    assert accuracy >= 0.9, f"the test model did not learn bright vs dark: {accuracy}"
    return stripped


def _bright_vs_dark(n, seed):
    """Textured images; label 1 = brighter half. float32 [n, SIZE, SIZE, 3] in [0, 255]."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    base = np.where(labels == 1, 170.0, 80.0)[:, None, None, None]
    images = np.clip(base + rng.normal(0, 30, (n, SIZE, SIZE, 3)), 0, 255).astype(np.float32)
    return images, labels


@pytest.fixture(scope="module")
def pruned_push(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("pruned_push"))
    model = _model_artifact(os.path.join(tmp, "model"), _pruned_model(), {
        "seed": 0, "weights_source": "none (test)",
        "augmentation": vars(AugmentationConfig()),
        "pruning": {"layers": PRUNED_LAYERS, "target_sparsity": TARGET,
                    "schedule": "constant"}})
    examples = _examples(os.path.join(tmp, "examples"), _bright_vs_dark(24, 1),
                         _bright_vs_dark(40, 2))
    transform_uri = _transform_graph(os.path.join(tmp, "transform"))
    tuner_dir = os.path.join(tmp, "tuner_results")
    os.makedirs(tuner_dir)
    with open(os.path.join(tuner_dir, "trials.json"), "w", encoding="utf-8") as f:
        json.dump(TRIALS, f)
    with open(os.path.join(tuner_dir, "trials.csv"), "w", encoding="utf-8") as f:
        f.write("trial_id,learning_rate,batch_size,score\n00,0.001,16,0.81\n01,0.01,32,0.74\n")
    report_lib.plot_accuracy_vs_size(  # any real PNG stands in for the tuner's plot
        {"saved_model": {"gzip_bytes": 1e6, "accuracy": 0.8}, "tflite": {},
         "eval_examples": 1}, os.path.join(tuner_dir, "trials.png"))
    data_root = os.path.join(tmp, "data")
    for rel, content in [("train/neg/a.png", b"a"), ("train/pos/b.png", b"bb"),
                         ("eval/neg/c.png", b"ccc")]:
        os.makedirs(os.path.dirname(os.path.join(data_root, rel)), exist_ok=True)
        with open(os.path.join(data_root, rel), "wb") as f:
            f.write(content)
    serving, pushed = _run(tmp, model, examples, transform_uri, tuner_dir=tuner_dir,
                           data_root=data_root,
                           variants=[*tflite_variants.DEFAULT_VARIANTS, "int8_sparse"])
    versions = versioning.list_versions(serving)
    assert len(versions) == 1, os.listdir(serving)
    dest = os.path.join(serving, str(versions[0]))
    with open(os.path.join(dest, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    return {"dest": dest, "report": report, "pushed": pushed, "serving": serving,
            "data_root": data_root, "tmp": tmp, "model": model, "examples": examples,
            "transform_uri": transform_uri}


def test_pruned_model_pushed_with_all_default_variants(pruned_push):
    dest, report = pruned_push["dest"], pruned_push["report"]
    assert sorted(report["tflite"]) == sorted(tflite_variants.DEFAULT_VARIANTS), report["rejected"]
    for variant in tflite_variants.DEFAULT_VARIANTS:
        assert os.path.isfile(os.path.join(dest, f"model_{variant}.tflite"))
        info = report["tflite"][variant]
        assert info["sparse_storage"] is False
        # checked where it was converted and where users run it
        assert set(info["runtimes"]) == {"TensorFlow's interpreter", "LiteRT"}
        assert info["litert"]["loaded"] and info["litert"]["runtime"].startswith("ai-edge-litert")
        assert set(info["latency"]) == {str(t) for t in sorted({1, os.cpu_count()})}
    assert os.path.isfile(os.path.join(dest, "saved_model", "saved_model.pb"))
    assert pruned_push["pushed"].get_int_custom_property("pushed") == 1
    assert report["deployed"] == "int8"
    assert not [n for n in os.listdir(pruned_push["serving"])
                if n.startswith(versioning.INCOMPLETE_PREFIX)]


def test_a_model_pushed_before_is_not_pushed_again_and_says_so(pruned_push):
    """The ExportPusher run again on the same model with the same export settings (e.g.
    re-blessed against itself): no new version, the earlier one named, and the PushedModel
    marked for the summary (helper-58: it read as a fresh push)."""
    p = pruned_push
    assert p["pushed"].get_int_custom_property("already_pushed") == 0
    assert "thresholds" not in p["report"]  # its gate read the held-out split: no table there
    assert p["report"]["export_settings"]["export.tflite_variants"] == sorted(
        [*tflite_variants.DEFAULT_VARIANTS, "int8_sparse"])
    assert p["report"]["export_settings"]["export.min_agreement.int8"] == MIN_AGREEMENT.get(
        "int8", tflite_variants.variant("int8").min_agreement)  # in effect, defaults resolved
    serving, again = _run(p["tmp"], p["model"], p["examples"], p["transform_uri"],
                          variants=[*tflite_variants.DEFAULT_VARIANTS, "int8_sparse"])
    assert versioning.list_versions(serving) == versioning.list_versions(p["serving"])
    assert again.get_int_custom_property("already_pushed") == 1
    assert again.get_string_custom_property("pushed_destination") == p["dest"]


def test_a_model_pushed_before_is_exported_again_when_export_settings_changed(pruned_push,
                                                                               tmp_path):
    """helper-76: a REJECTED line names the key that sets its threshold
    (export.min_agreement.int8); re-run with it changed, the same model was 'already pushed' and
    nothing changed until another model was trained. Now changed export settings export it
    again as a new version that says so; the earlier version is untouched."""
    p = pruned_push
    shutil.copytree(p["serving"], tmp_path / "serving")
    before = {v: _tree_digest(os.path.join(tmp_path, "serving", str(v)))
              for v in versioning.list_versions(str(tmp_path / "serving"))}
    serving, again = _run(str(tmp_path), p["model"], p["examples"], p["transform_uri"],
                          variants=["float32"])
    versions = versioning.list_versions(serving)
    assert len(versions) == len(before) + 1 and versions[:-1] == sorted(before)
    assert {v: _tree_digest(os.path.join(serving, str(v))) for v in before} == before
    assert again.get_int_custom_property("already_pushed") == 0
    with open(os.path.join(serving, str(versions[-1]), "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    assert report["model_uri"] == p["report"]["model_uri"]
    assert report["reexported_from"] == {"version": p["report"]["version"],
                                         "changed": ["export.tflite_variants"]}
    assert report["export_settings"]["export.tflite_variants"] == ["float32"]
    assert set(report["tflite"]) == {"float32"}


def test_export_settings_compare_what_is_in_effect_and_read_older_versions_reports():
    """helper-77: a key set to its default, or the variants listed in another order, is the
    same setting; a version pushed before `export_settings` was recorded is compared on what its
    report.json shows (each variant's thresholds), so a refused int8 followed by a changed
    `export.min_agreement.int8` re-exports it too; what it does not show is not compared."""
    from components.export_pusher.executor import (changed_export_settings, export_settings,
                                                   recorded_export_settings)
    base = {"tflite_variants": json.dumps(["float32", "int8"]), "min_agreement": "{}",
            "parity_examples": 300, "parity_split": "validation", "held_out_split": "test",
            "seed": 42}
    default = tflite_variants.variant("int8").min_agreement
    same = {**base, "tflite_variants": json.dumps(["int8", "float32"]),
            "min_agreement": json.dumps({"int8": default})}
    assert changed_export_settings(export_settings(base), export_settings(same)) == []
    lower = {**base, "min_agreement": json.dumps({"int8": 0.95})}
    assert changed_export_settings(json.loads(json.dumps(export_settings(base))),
                                   export_settings(lower)) == ["export.min_agreement.int8"]
    legacy = {"tflite": {"float32": {"min_agreement": 0.99, "max_probability_diff": 0.01,
                                     "probability_diff_fraction": 0.99,
                                     "parity_split": "validation"}},
              "rejected": {"int8": {"min_agreement": default, "max_probability_diff": 0.2,
                                    "probability_diff_fraction": 0.99,
                                    "parity_split": "validation"}},
              "held_out": {"split": "test", "seed": 42}}
    recorded = recorded_export_settings(legacy)
    assert "export.parity_examples" not in recorded  # not shown: not compared
    assert changed_export_settings(recorded, export_settings(base)) == []
    assert changed_export_settings(recorded, export_settings(lower)) == [
        "export.min_agreement.int8"]
    assert changed_export_settings({}, export_settings(lower)) == []
    # helper-79: a record of an earlier format (names without `export.`) is rebuilt from the
    # report, not taken as one that holds nothing to compare
    early = {**legacy, "export_settings": {"tflite_variants": ["float32", "int8"],
                                           "min_agreement": None}}
    assert changed_export_settings(recorded_export_settings(early), export_settings(lower)) == [
        "export.min_agreement.int8"]
    assert recorded_export_settings({"run": {"config": {"export": None}}}) == {}


def _tree_digest(path):
    digest = hashlib.sha256()
    for dirpath, dirnames, names in sorted(os.walk(path)):
        dirnames.sort()
        for name in sorted(names):
            with open(os.path.join(dirpath, name), "rb") as f:
                digest.update(name.encode() + f.read())
    return digest.hexdigest()


def test_an_unreadable_report_in_a_numbered_folder_does_not_block_later_pushes(tmp_path,
                                                                                 caplog):
    """helper-75: a damaged or hand-made `serving/<n>/report.json` made every later push fail
    with a JSONDecodeError naming no file. It is skipped with a warning that names it, and the
    earlier push of the model is still found."""
    from components.export_pusher.executor import find_pushed_version
    serving = tmp_path / "serving"
    (serving / "100").mkdir(parents=True)
    (serving / "100" / "report.json").write_text(json.dumps({"model_uri": "/m/1"}))
    (serving / "200").mkdir()
    (serving / "200" / "report.json").write_text("{broken")
    (serving / "300" / "report.json").mkdir(parents=True)  # a folder, not a file
    (serving / "400").mkdir()
    (serving / "400" / "report.json").write_text("[1, 2]")  # JSON, not an object
    (serving / "500").mkdir()  # no report.json at all: no warning
    with caplog.at_level("WARNING"):
        assert find_pushed_version(str(serving), "/m/1") == 100
        assert find_pushed_version(str(serving), "/m/2") is None
    warned = [r.getMessage() for r in caplog.records if "not a readable JSON" in r.getMessage()]
    for version in ("200", "300", "400"):
        assert any(str(serving / version / "report.json") in w for w in warned), warned
    assert not any(str(serving / "500") in w for w in warned)


def test_gzip_sizes_ran_beside_conversions_never_beside_a_latency_measurement(pruned_push):
    report = pruned_push["report"]
    windows = report["gzip_windows"]
    checked = {**report["tflite"], **report["rejected"]}  # pushed and refused, all sized
    assert [w["artifact"] for w in windows][0] == "saved_model"
    assert sorted(w["artifact"] for w in windows[1:]) == sorted(checked)
    for variant in tflite_variants.DEFAULT_VARIANTS:
        with open(os.path.join(pruned_push["dest"], f"model_{variant}.tflite"), "rb") as f:
            assert report["tflite"][variant]["gzip_bytes"] == gzip_size(f.read())
    assert report["saved_model"]["gzip_bytes"] > 0
    first_gzip = min(w["started_at"] for w in windows)
    last_gzip = max(w["ended_at"] for w in windows)
    timed = [*report["saved_model"]["latency"].values()] + [
        lat for info in checked.values() for lat in (info.get("latency") or {}).values()]
    assert len(timed) >= (1 + len(tflite_variants.DEFAULT_VARIANTS)) * len({1, os.cpu_count()})
    for lat in timed:  # each latency window entirely before or after every gzip
        assert lat["ended_at"] <= first_gzip or lat["started_at"] >= last_gzip, (lat, windows)
    assert {"gzip", "gzip_wait"} <= set(report["seconds"])


def test_exported_sparsity_per_layer_matches_target(pruned_push):
    sp = pruned_push["report"]["sparsity"]
    assert set(sp["layers"]) == set(PRUNED_LAYERS)
    for layer, value in sp["layers"].items():
        assert value == pytest.approx(TARGET, abs=0.02), (layer, value)
    assert sp["overall"] == pytest.approx(TARGET, abs=0.02)
    # counted independently from the pushed SavedModel's variables
    loaded = tf.saved_model.load(os.path.join(pruned_push["dest"], "saved_model"))
    kernels = {v.name: v.numpy() for v in loaded.variables if v.name.endswith("kernel:0")}
    assert np.mean(kernels["conv_a/kernel:0"] == 0) == pytest.approx(sp["layers"]["conv_a"])
    assert np.mean(kernels["conv_b/kernel:0"] == 0) < 0.05  # not pruned


def test_report_json_has_run_facts(pruned_push):
    report = pruned_push["report"]
    versions = report["library_versions"]
    for lib in ("tensorflow", "tfx", "tfmot", "tft", "tfma", "keras-tuner"):
        assert versions[lib][0].isdigit(), (lib, versions[lib])
    assert report["weights_source"] == "none (test)"
    assert report["run"]["config"]["trainer"]["pruning"]["layers"] == PRUNED_LAYERS
    # sha256 over the "<sha256>  <relative path>" lines of the data files, sorted by path
    lines = [f"{hashlib.sha256(c).hexdigest()}  {rel}\n" for rel, c in [
        ("eval/neg/c.png", b"ccc"), ("train/neg/a.png", b"a"), ("train/pos/b.png", b"bb")]]
    manifest = report["data_manifest"]
    assert manifest["files"] == 3
    assert manifest["sha256"] == hashlib.sha256("".join(lines).encode()).hexdigest()
    cm = report["confusion_matrix"]
    assert cm["artifact"] == "int8"
    assert np.sum(cm["rows_true_columns_predicted"]) == report["eval_examples"] == 40
    assert report["tuner_files"] == ["tuner/trials.json", "tuner/trials.csv", "tuner/trials.png"]
    assert "standalone LiteRT" in report["latency_method"]
    assert report["held_out"]["split"] == "eval" and report["held_out"]["examples"] == 40


def test_data_manifest_ignores_location_and_sees_changes(pruned_push, tmp_path):
    root = pruned_push["data_root"]
    first = report_lib.data_manifest(root, ["train/*/*", "eval/*/*"])
    copy = str(tmp_path / "copy")
    shutil.copytree(root, copy)
    assert report_lib.data_manifest(copy, ["train/*/*", "eval/*/*"])["sha256"] == first["sha256"]
    with open(os.path.join(copy, "eval", "neg", "c.png"), "ab") as f:
        f.write(b"!")
    assert report_lib.data_manifest(copy, ["train/*/*", "eval/*/*"])["sha256"] != first["sha256"]


def test_report_html_with_plots_and_tuner_trials(pruned_push):
    dest = pruned_push["dest"]
    with open(os.path.join(dest, "report.html"), encoding="utf-8") as f:
        page = f.read()
    plots = pruned_push["report"]["plots"]
    assert set(plots) == {"accuracy_vs_size", "confusion", "augmentation"}
    for rel in plots.values():
        path = os.path.join(dest, rel)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", rel
    assert page.count("data:image/png;base64,") == 4  # 3 plots + the tuner's trials.png
    for text in ("Artifacts", "gzip bytes", "Confusion matrix", "Sparsity of the exported model",
                 "conv_a",
                 "Augmented training samples", "Tuner trials", "<th>learning_rate</th>",
                 "0.8000, 0.8200",
                 "Library versions", "tensorflow", "Resolved config", "none (test)",
                 pruned_push["report"]["data_manifest"]["sha256"]):
        assert text in page, text
    for name in ("trials.json", "trials.csv", "trials.png"):
        assert os.path.isfile(os.path.join(dest, "tuner", name))


def test_augmented_grid_shows_changed_images():
    layers = report_lib.augmentation_layers_of(
        {"augmentation": vars(AugmentationConfig()), "seed": 3}, {})
    assert len(layers) == 5  # rotation, shift (width + height), shear, zoom, flip
    images, _ = _bright_vs_dark(4, 0)
    out = report_lib.augment_samples(layers, images, repeats=2)
    assert out[0].shape == images.shape
    assert not np.allclose(out[0], images) and not np.allclose(out[0], out[1])
    assert report_lib.augmentation_layers_of({"augmentation": vars(
        AugmentationConfig(enabled=False))}, {}) == []


# ---------------------------------------------------------------- the parity gate

def _threshold_model():
    """P(class 1) = sigmoid(20 * (mean pixel - 100)): its decisions hinge on sub-unit pixel
    differences, which int8 activations (calibrated on images spanning 0..255, one step ~ 1.0)
    cannot represent; float32 and dynamic range (tiny kernel, left in float) keep them."""
    inputs = tf_keras.Input((SIZE, SIZE, 3), name=IMAGE_KEY)
    x = tf_keras.layers.GlobalAveragePooling2D()(inputs)
    dense = tf_keras.layers.Dense(1, activation="sigmoid", name="predictions")
    model = tf_keras.Model(inputs, dense(x))
    dense.set_weights([np.full((3, 1), 20.0 / 3, np.float32), np.array([-2000.0], np.float32)])
    return model


def _near_threshold(n, seed):
    """Flat images at 100 +- (0.05..0.45): label 1 above 100."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    delta = rng.uniform(0.05, 0.45, n) * np.where(labels == 1, 1, -1)
    images = np.broadcast_to((100.0 + delta)[:, None, None, None], (n, SIZE, SIZE, 3))
    return images.astype(np.float32), labels


def _full_range(n, seed):
    rng = np.random.default_rng(seed)
    levels = np.linspace(0, 255, n)[:, None, None, None]
    images = np.clip(levels + rng.normal(0, 5, (n, SIZE, SIZE, 3)), 0, 255)
    return images.astype(np.float32), (np.arange(n) % 2)


@pytest.fixture(scope="module")
def parity_push(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("parity_push"))
    model = _model_artifact(os.path.join(tmp, "model"), _threshold_model(), {"seed": 0})
    examples = _examples(os.path.join(tmp, "examples"), _full_range(32, 1),
                         _near_threshold(60, 2))
    # An evaluation the report cannot read (no eval_config.json in it): noted, not fatal.
    serving, pushed = _run(tmp, model, examples, _transform_graph(os.path.join(tmp, "tf")),
                           evaluation_uri=os.path.join(tmp, "unreadable_evaluation"))
    (version,) = versioning.list_versions(serving)
    dest = os.path.join(serving, str(version))
    with open(os.path.join(dest, "report.json"), encoding="utf-8") as f:
        return {"dest": dest, "report": json.load(f), "pushed": pushed}


def test_an_unreadable_evaluation_is_noted_in_the_report_and_does_not_block_the_push(
        parity_push):
    evaluation = parity_push["report"]["evaluation"]
    assert evaluation["blessed"] is True and "gates" not in evaluation
    assert "eval_config.json" in evaluation["error"]
    assert parity_push["pushed"].get_int_custom_property("pushed") == 1


def test_parity_gate_refuses_disagreeing_int8(parity_push):
    dest, report = parity_push["dest"], parity_push["report"]
    assert report["saved_model"]["accuracy"] == 1.0
    assert sorted(report["tflite"]) == ["dynamic_range", "float32"]
    for variant in ("float32", "dynamic_range"):
        assert report["tflite"][variant]["agreement"] == 1.0
        assert os.path.isfile(os.path.join(dest, f"model_{variant}.tflite"))
    rejected = report["rejected"]["int8"]
    assert rejected["agreement"] < 0.98
    assert "below 98.00%" in rejected["reason"] and "of 60 eval examples" in rejected["reason"]
    assert "LiteRT:" in rejected["reason"]
    assert not os.path.exists(os.path.join(dest, "model_int8.tflite"))
    assert report["deployed"] == "dynamic_range"
    # the file to deploy is named, since int8 is absent in this version (present in others)
    assert report["contract"]["deployed_tflite"]["file"] == "model_dynamic_range.tflite"
    with open(os.path.join(dest, "MODEL.md"), encoding="utf-8") as f:
        card = f.read()
    assert "**Deploy `model_dynamic_range.tflite`**: of the .tflite files that passed" in card
    # the order is the variant table's, opt-in variants included
    assert "the first in the order int8_sparse, else int8, else dynamic_range, else float32" in card
    assert "sparsity" not in report
    with open(os.path.join(dest, "report.html"), encoding="utf-8") as f:
        page = f.read()
    assert "Rejected by the parity gate" in page and "below 98.00%" in page
    assert parity_push["pushed"].get_int_custom_property("pushed") == 1


def test_the_gate_decides_on_its_split_and_the_report_measures_on_the_held_out_one(tmp_path):
    """parity_split 'validation' (images far from the threshold: int8 keeps every decision) and
    held_out_split 'test' (images at it: int8 flips many): int8 is pushed, decided on validation
    only, and the report still shows what it does on test. Swapped, the same int8 is refused."""
    model = _model_artifact(str(tmp_path / "model"), _threshold_model(), {"seed": 0})
    root = str(tmp_path / "examples")
    examples = standard_artifacts.Examples()
    examples.uri = root
    examples.split_names = artifact_utils.encode_split_names(["train", "validation", "test"])
    _write_split(root, "train", *_full_range(32, 1))
    _write_split(root, "validation", *_full_range(40, 4))
    _write_split(root, "test", *_near_threshold(60, 2))
    graph = _transform_graph(str(tmp_path / "tf"))
    serving, _ = _run(str(tmp_path / "a"), model, examples, graph, variants=["int8"],
                      splits={"parity_split": "validation", "held_out_split": "test",
                              "probability_diff_fraction": 0.99})
    (version,) = versioning.list_versions(serving)
    with open(os.path.join(serving, str(version), "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    assert report["parity"]["split"] == "validation" and report["parity"]["examples"] == 40
    assert report["parity"]["probability_diff_fraction"] == 0.99
    assert report["held_out"]["split"] == "test" and report["held_out"]["examples"] == 60
    info = report["tflite"]["int8"]
    assert info["parity_split"] == "validation" and info["agreement"] >= 0.98
    assert info["runtimes"]["LiteRT"]["examples"] == 40
    assert info["held_out_agreement"] < 0.98  # reported on test, decided nothing
    # the SavedModel is right on every test image, so int8's test accuracy is its agreement there:
    # the report's figures come from the test slice of LiteRT's predictions, not validation's
    assert report["saved_model"]["accuracy"] == 1.0
    assert info["accuracy"] == pytest.approx(info["held_out_agreement"])
    assert np.sum(report["confusion_matrix"]["rows_true_columns_predicted"]) == 60
    # helper-78: a two-class version tables other decision thresholds on the gate's split
    # (validation), never the held-out one, and MODEL.md shows them
    record = report["thresholds"]
    assert record["split"] == "validation" and record["examples"] == 40
    assert [r["threshold"] for r in record["rows"]] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7,
                                                         0.8, 0.9]
    for row in record["rows"]:
        assert sum(c["examples"] for c in row["classes"]) == 40
        assert sum(c["predicted"] for c in row["classes"]) == 40
    with open(os.path.join(serving, str(version), "MODEL.md"), encoding="utf-8") as f:
        assert "examples of the `validation` split" in f.read().split(
            "## Choosing a decision threshold (two classes)")[1]
    with pytest.raises(ParityError, match=r"int8: .* of 60 test examples, below 98.00%"):
        _run(str(tmp_path / "b"), model, examples, graph, variants=["int8"],
             splits={"parity_split": "test", "held_out_split": "validation"})


def test_sparse_storage_variant_litert_cannot_load_is_refused_with_its_error(pruned_push):
    """EXPERIMENTAL_SPARSITY: TensorFlow's interpreter runs it, LiteRT's default XNNPACK delegate
    fails to prepare it; the gate refuses it with LiteRT's message and pushes the others."""
    rejected = pruned_push["report"]["rejected"]["int8_sparse"]
    assert rejected["sparse_storage"] is True
    assert "TensorFlow's interpreter" in rejected["runtimes"]  # loads where converted
    assert "LiteRT" in rejected["load_errors"]
    assert "LiteRT: failed to load or run:" in rejected["reason"]
    assert "prepare" in rejected["reason"] or "delegate" in rejected["reason"]
    assert not os.path.exists(os.path.join(pruned_push["dest"], "model_int8_sparse.tflite"))


def test_pushed_version_carries_the_contract_and_is_world_readable(pruned_push):
    dest, report = pruned_push["dest"], pruned_push["report"]
    with open(os.path.join(dest, "labels.txt"), encoding="utf-8") as f:
        assert f.read() == "neg\npos\n"
    with open(os.path.join(dest, "MODEL.md"), encoding="utf-8") as f:
        card = f.read()
    for text in ("`examples`", "`image_xf`", "antialias", "composited over RGB (255, 255, 255)",
                 "P(class 1 = 'pos')", f"[1, {SIZE}, {SIZE}, 3]"):
        assert text in card, text
    for variant in tflite_variants.DEFAULT_VARIANTS:
        io_ = report["contract"]["tflite"][f"model_{variant}.tflite"]
        assert io_["input"]["shape"] == [1, SIZE, SIZE, 3] and io_["input"]["dtype"] == "float32"
        assert f"`model_{variant}.tflite`: input `{io_['input']['name']}`" in card
    for dirpath, _, filenames in os.walk(dest):
        assert stat.S_IMODE(os.stat(dirpath).st_mode) == 0o755, dirpath
        for name in filenames:
            assert stat.S_IMODE(os.stat(os.path.join(dirpath, name)).st_mode) == 0o644, name


def test_report_json_lists_every_pushed_files_sha256(pruned_push):
    """helper-59: a version's files can be checked against report.json (all but report.json and
    report.html, written after the list), e.g. a copy moved to another server."""
    import hashlib
    dest, report = pruned_push["dest"], pruned_push["report"]
    on_disk = {os.path.relpath(os.path.join(d, n), dest): os.path.join(d, n)
               for d, _, names in os.walk(dest) for n in names}
    assert set(report["file_sha256"]) == set(on_disk) - {"report.json", "report.html"}
    assert {"labels.txt", "MODEL.md", "saved_model/saved_model.pb"} <= set(report["file_sha256"])
    assert any(name.endswith(".tflite") for name in report["file_sha256"])
    for name, digest in report["file_sha256"].items():
        with open(on_disk[name], "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest, name


def test_report_json_is_strict_json(pruned_push):
    with open(os.path.join(pruned_push["dest"], "report.json"), encoding="utf-8") as f:
        json.loads(f.read(), parse_constant=lambda c: pytest.fail(f"{c} in report.json"))


def test_no_passing_variant_refuses_the_push(tmp_path):
    """Only int8 configured and it cannot keep the decisions: one-line ParityError, no version."""
    model = _model_artifact(str(tmp_path / "model"), _threshold_model(), {"seed": 0})
    examples = _examples(str(tmp_path / "examples"), _full_range(32, 1), _near_threshold(40, 2))
    with pytest.raises(ParityError, match=r"no TFLite variant passed the parity gate, nothing "
                                          r"pushed: int8: .*below 98.00%"):
        _run(str(tmp_path), model, examples, _transform_graph(str(tmp_path / "tf")),
             variants=["int8"])
    assert os.listdir(str(tmp_path / "serving")) == []


def _constant_model():
    """Predicts class 1 (P = 0.73) for every image: agrees with any of its own conversions."""
    inputs = tf_keras.Input((SIZE, SIZE, 3), name=IMAGE_KEY)
    x = tf_keras.layers.GlobalAveragePooling2D()(inputs)
    dense = tf_keras.layers.Dense(1, activation="sigmoid", name="predictions")
    model = tf_keras.Model(inputs, dense(x))
    dense.set_weights([np.zeros((3, 1), np.float32), np.array([1.0], np.float32)])
    return model


def test_single_class_model_is_refused(tmp_path):
    model = _model_artifact(str(tmp_path / "model"), _constant_model(), {"seed": 0})
    examples = _examples(str(tmp_path / "examples"), _full_range(16, 1), _near_threshold(20, 2))
    with pytest.raises(ParityError, match=r"predicts class 'pos' for all 20 examples of split 'eval'"):
        _run(str(tmp_path), model, examples, _transform_graph(str(tmp_path / "tf")))
    assert os.listdir(str(tmp_path / "serving")) == []


def test_held_out_sample_is_stratified_not_the_first_records(tmp_path):
    """60 eval records written class by class (30 of class 0 first): a sample of 20 holds 10 of
    each, so the gate and the report see both classes."""
    images, labels = _near_threshold(60, 3)
    order = np.argsort(labels, kind="stable")
    model = _model_artifact(str(tmp_path / "model"), _threshold_model(), {"seed": 0})
    examples = _examples(str(tmp_path / "examples"), _full_range(16, 1),
                         (images[order], labels[order]))
    serving, _ = _run(str(tmp_path), model, examples, _transform_graph(str(tmp_path / "tf")),
                      variants=["float32"], parity_examples=20)
    (version,) = versioning.list_versions(serving)
    with open(os.path.join(serving, str(version), "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    assert report["held_out"]["per_class"] == {"neg": 10, "pos": 10}
    per_class = report["tflite"]["float32"]["runtimes"]["LiteRT"]["per_class"]
    assert {k: v["examples"] for k, v in per_class.items()} == {"neg": 10, "pos": 10}
    assert np.sum(report["confusion_matrix"]["rows_true_columns_predicted"], axis=1).tolist() \
        == [10, 10]


# ---------------------------------------------------------------- atomicity, blessing

@pytest.fixture()
def small_inputs(tmp_path):
    model = _model_artifact(str(tmp_path / "model"), _threshold_model(), {"seed": 0})
    transform_uri = _transform_graph(str(tmp_path / "tf"))
    return str(tmp_path), model, transform_uri


def test_failure_during_build_leaves_no_version_and_no_staging(small_inputs):
    tmp, model, transform_uri = small_inputs
    # The eval split is missing: the build fails after the SavedModel was copied into staging.
    examples = _examples(os.path.join(tmp, "examples"), _full_range(8, 1), None,
                         splits=("train",))
    serving = os.path.join(tmp, "serving")
    with pytest.raises(ValueError, match="Split-eval|split 'eval'|eval"):
        _run(tmp, model, examples, transform_uri)
    assert os.listdir(serving) == [], os.listdir(serving)


def test_a_serving_dir_that_became_unwritable_is_a_named_error(small_inputs):
    """helper-62: the serving dir made unwritable after the run's start-up check gave a bare
    PermissionError and exit 1. Now a ServingNotWritableError (a known error: exit 4) names the
    dir and says nothing was published. The dir here is /sys/kernel (through a symlink), which
    refuses a new folder even to root."""
    import errno
    tmp, model, transform_uri = small_inputs
    try:
        os.mkdir("/sys/kernel/.incomplete-probe", 0o700)
        os.rmdir("/sys/kernel/.incomplete-probe")
        pytest.skip("/sys/kernel is writable on this machine")
    except OSError as e:
        if e.errno not in versioning.NOT_WRITABLE:
            pytest.skip(f"/sys/kernel refuses a folder with {errno.errorcode[e.errno]}")
    os.symlink("/sys/kernel", os.path.join(tmp, "serving"))
    examples = _examples(os.path.join(tmp, "examples"), _full_range(8, 1),
                         _near_threshold(8, 2))
    with pytest.raises(versioning.ServingNotWritableError) as e:
        _run(tmp, model, examples, transform_uri, variants=["float32"])
    assert str(e.value).startswith(f"cannot write a new version into {tmp}/serving (")
    assert "nothing was published and pushed versions are unchanged" in str(e.value)
    from pipeline.local_runner import known_error_types
    assert isinstance(e.value, known_error_types())  # printed as is, exit 4


def test_a_client_check_that_cannot_run_is_reported_and_the_push_goes_on(small_inputs):
    """The client check measures, it never blocks: raw examples without the held-out split
    (and a model without serving_bytes) leave an error in report.json and a pushed version."""
    tmp, model, transform_uri = small_inputs
    examples = _examples(os.path.join(tmp, "examples"), _full_range(8, 1),
                         _near_threshold(8, 2))
    raw = _artifact(standard_artifacts.Examples, os.path.join(tmp, "raw"))
    raw.split_names = artifact_utils.encode_split_names(["train"])
    serving, pushed = _run(tmp, model, examples, transform_uri, variants=["float32"],
                           raw_examples=raw)
    assert pushed.get_int_custom_property("pushed") == 1
    (version,) = versioning.list_versions(serving)
    with open(os.path.join(serving, str(version), "report.json"), encoding="utf-8") as f:
        check = json.load(f)["client_check"]
    assert check["file"] == "model_float32.tflite" and check["error"]
    assert not os.path.exists(os.path.join(serving, str(version), "client_predictions.csv"))


def test_not_blessed_pushes_nothing(small_inputs):
    tmp, model, transform_uri = small_inputs
    examples = _examples(os.path.join(tmp, "examples"), _full_range(8, 1),
                         _near_threshold(8, 2))
    serving, pushed = _run(tmp, model, examples, transform_uri, blessed=False)
    assert not os.path.exists(serving) or os.listdir(serving) == []
    assert pushed.get_int_custom_property("pushed") == 0
    assert not os.path.exists(os.path.join(pushed.uri, "report.json"))


def test_the_component_defaults_to_the_pipelines_probability_rule():
    """A user wiring ExportPusher by hand gets the pipeline's 99 % rule, not the strict max."""
    from tfx.types import channel, standard_artifacts

    from components.export_pusher.component import ExportPusher
    from modules.configs import ExportConfig
    pusher = ExportPusher(model=channel.Channel(type=standard_artifacts.Model),
                          transformed_examples=channel.Channel(type=standard_artifacts.Examples),
                          transform_graph=channel.Channel(type=standard_artifacts.TransformGraph),
                          serving_dir="/tmp/serving")
    assert pusher.exec_properties["probability_diff_fraction"] == \
        ExportConfig().probability_diff_fraction == 0.99
    # ... and so does the executor when the property is unset (an older or hand-built node)
    from components.export_pusher import executor
    assert executor._diff_fraction({}) == executor._diff_fraction(
        {"probability_diff_fraction": None}) == 0.99
    assert executor._diff_fraction({"probability_diff_fraction": 1.0}) == 1.0


def test_the_newest_spans_transformed_examples_are_found_by_position():
    """Transform's outputs carry no span: the i-th is the i-th input, both in id order. Span 1
    ingested again (its files changed) after span 2 has the higher id; the held-out sample
    must still be span 2's (helper-45: the report used span 3's test split instead of 5's)."""
    from components.export_pusher.executor import newest_transformed

    def examples(artifact_id, span=None):
        a = standard_artifacts.Examples()
        a.id = artifact_id
        if span is not None:
            a.set_int_custom_property("span", span)
        return a

    window = [examples(47, 2), examples(66, 1)]  # span 1 re-ingested after span 2
    transformed = [examples(76), examples(75)]   # Transform's outputs, given in any order
    assert newest_transformed(transformed, window).id == 75
    assert newest_transformed(transformed, [examples(47, 5), examples(66, 3)]).id == 75
    assert newest_transformed([examples(9)], [examples(3, 0)]).id == 9
    assert newest_transformed(transformed, []).id == 76  # no window given: the last one


def test_the_report_names_the_spans_trained_on_and_the_span_tested_on():
    """helper-59: a version folder read on its own did not say which spans its model was trained
    and tested on. report.json's `spans` and a report.html row do, for trees with spans."""
    from components.export_pusher.executor import data_spans
    from components.export_pusher.report import html as html_lib

    def examples(artifact_id, span):
        a = standard_artifacts.Examples()
        a.id = artifact_id
        a.set_int_custom_property("span", span)
        return a
    spans = data_spans([examples(47, 2), examples(66, 1)], [examples(47, 2)],
                       ["span-{SPAN}/*/*"])
    assert (spans["trained_on"], spans["held_out"]) == ([1, 2], 2)
    assert data_spans([], [examples(47, 3)], ["span-{SPAN}/*/*"])["trained_on"] == [3]
    assert data_spans([], [examples(47, 0)], ["train/*/*", "eval/*/*"]) is None  # no spans
    rows = dict(html_lib.summary_rows({"run": {}, "spans": spans, "eval_examples": 36,
                                       "held_out": {"split": "test"}}))
    assert rows["held-out examples (metrics, confusion matrix)"] == "36 of split 'test' of span 2"
    assert rows["data spans trained on (train and validation)"] == "1, 2; test from span 2 only"
    assert "data spans trained on (train and validation)" not in dict(html_lib.summary_rows(
        {"run": {}, "spans": None, "held_out": {"split": "test"}}))


def test_a_pushed_version_is_dated_by_its_push_and_its_models_training(tmp_path):
    """helper-67: nothing in a served version said when it was trained or pushed."""
    import time

    from components.export_pusher.executor import push_dates
    from components.export_pusher.report import html as html_lib
    summary = tmp_path / "training_summary.json"
    summary.write_text("{}")
    os.utime(summary, (1796571229, 1796571229))
    dates = push_dates(str(tmp_path))
    assert dates["trained_at"] == "2026-12-06T15:33:49Z"
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5)) <= \
        dates["pushed_at"]
    assert push_dates(str(tmp_path / "gone"))["trained_at"] is None  # never guessed
    rows = dict(html_lib.summary_rows({"run": {}, "held_out": {}, **dates}))
    assert rows["model trained (UTC)"] == "2026-12-06T15:33:49Z"
    assert rows["pushed (UTC)"] == dates["pushed_at"]
    assert dict(html_lib.summary_rows({"run": {}, "held_out": {}}))["pushed (UTC)"] == \
        "not recorded"  # a version pushed by an older release
