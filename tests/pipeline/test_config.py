"""pipeline/config.py: profile defaults <- YAML <- --set overrides, and the validation errors."""
import os
import re

import pytest

from pipeline.__main__ import main
from pipeline.config import (REPO_ROOT, ConfigError, PipelineConfig, discover_class_names,
                             load_config)


# ------------------------------------------------------------------------------------ defaults


def test_quick_profile_defaults_load_and_validate():
    cfg = load_config()
    assert isinstance(cfg, PipelineConfig)
    assert cfg.profile == "quick"
    assert cfg.model.image_size == 32
    # the quick profile's differences from the dataclass defaults (pipeline/config/schema.py)
    assert cfg.trainer.epochs == 10 and cfg.trainer.early_stopping_patience == 2
    assert cfg.trainer.augmentation.enabled is False
    assert cfg.trainer.pruning.schedule == "constant" and cfg.trainer.pruning.fine_tune_epochs == 4
    assert cfg.trainer.pruning.learning_rate == 3e-5  # not phase 2's 1e-5 (docs/results.md)
    assert cfg.trainer.pruning.early_stopping_patience == 1
    assert cfg.trainer.pruning.score == "activation_aware" and cfg.trainer.pruning.layers == "all"
    assert cfg.trainer.pruning.retrain_blocks == 1  # blocks 1-4 pruned once, 5 + head retrained
    assert cfg.trainer.pruning.fallback_margin == 0.02  # ... unless that costs > 2 val. points
    assert cfg.trainer.pruning.fallback_retrain_blocks == 3  # ... then blocks 3-5 + head
    assert cfg.tuner.learning_rate == [0.0003, 0.001, 0.003]
    assert cfg.model.pooling == "avg" and cfg.trainer.class_weight == "balanced"
    assert cfg.export.tflite_variants == ["float32", "dynamic_range", "int8"]
    assert cfg.data_root == str(REPO_ROOT / "data" / "fashion_binary")
    assert cfg.serving_dir == os.path.join(cfg.output_root, "serving")
    assert cfg.data.class_names == ["shirt", "tshirt_top"]


def test_full_profile_overrides_only_its_keys():
    cfg = load_config(profile="full")
    assert cfg.profile == "full"
    assert cfg.model.image_size == 224
    assert cfg.model.head_units == 256
    assert cfg.tuner.strategy == "grid" and cfg.tuner.max_trials == 9
    assert cfg.trainer.epochs == 10
    assert cfg.trainer.pruning.fine_tune_epochs == 3
    # deep merge: the sibling keys of an overridden nested key keep their defaults
    assert cfg.trainer.pruning.target_sparsity == 0.5
    assert cfg.trainer.pruning.enabled is True
    assert cfg.model.weights == "imagenet"
    assert cfg.trainer.augmentation.enabled is True  # the seed's seven augmentations
    assert cfg.tuner.learning_rate == [0.001, 0.01, 0.1]  # the seed's space


def test_compression_profile_is_quick_plus_the_recommended_chain():
    cfg = load_config(profile="compression")
    quick = load_config(profile="quick")
    assert cfg.profile == "compression"
    tr = cfg.trainer
    assert tr.structured_pruning.enabled is True
    assert tr.structured_pruning.fractions == {"block1": 0.25, "block2": 0.25, "block3": 0.5,
                                               "block4": 0.5, "block5": 0.5}
    assert (tr.pruning.layers, tr.pruning.schedule, tr.pruning.target_sparsity) == (
        "all", "polynomial", 0.8)
    assert tr.pruning.score == "magnitude"  # what benchmarks/compression.py measured
    assert tr.pruning.retrain_blocks == 5  # likewise: every block retrained
    assert tr.pruning.fallback_margin is None
    assert tr.clustering.enabled is False and tr.quantization_aware.enabled is False
    # everything else is the quick profile's
    assert cfg.model == quick.model and cfg.tuner == quick.tuner
    assert tr.augmentation == quick.trainer.augmentation and tr.epochs == quick.trainer.epochs
    assert "int8" in cfg.export.tflite_variants


# a real 1x1 PNG: validate reads each image file's header (bytes that are not an image count as
# files the run would quarantine)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
                    "0000000a4944415478da6360000000020001e527defc0000000049454e44ae426082")


def _tree(root, classes, splits=("train", "eval", "test"), files=("a.png",)):
    for split in splits:
        for cls in classes:
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for name in files:
                (root / split / cls / name).write_bytes(PNG)


def test_class_names_are_discovered_sorted(tmp_path):
    # created in reverse order: the result must not depend on directory order
    _tree(tmp_path, ("zebra", "ant", "moth"))
    (tmp_path / "train" / "empty_class").mkdir()  # no files: not a class
    assert discover_class_names(str(tmp_path), "train/*/*") == ["ant", "moth", "zebra"]
    # ... but the config refuses the empty folder rather than drop it silently (reliability)
    assert "empty class folder(s) ['train/empty_class']" in _error(
        overrides=[f"data.root={tmp_path}"])
    (tmp_path / "train" / "empty_class").rmdir()
    cfg = load_config(overrides=[f"data.root={tmp_path}"])
    assert cfg.data.class_names == ["ant", "moth", "zebra"]


# ------------------------------------------------------------------------- file and overrides


def test_yaml_file_overrides_profile_and_relative_data_root(tmp_path, tiny_image_tree):
    path = tmp_path / "my.yaml"
    rel_root = os.path.relpath(tiny_image_tree, tmp_path)  # e.g. ../../tiny_tree0
    assert rel_root.startswith("..")
    path.write_text(
        "profile: full\n"
        "trainer:\n  epochs: 4\n  pruning:\n    schedule: polynomial\n"
        f"data:\n  root: {rel_root}\n"
        "tuner:\n  learning_rate: [0.5, 1]\n")
    cfg = load_config(str(path))
    assert cfg.profile == "full"
    assert cfg.model.image_size == 224            # from the full profile
    assert cfg.trainer.epochs == 4                 # the file wins over the profile
    assert cfg.trainer.pruning.schedule == "polynomial"
    assert cfg.trainer.pruning.fine_tune_epochs == 3
    assert cfg.tuner.learning_rate == [0.5, 1.0]   # int accepted where float expected
    assert all(isinstance(v, float) for v in cfg.tuner.learning_rate)
    # a relative data root in a YAML file is relative to that file
    assert cfg.data_root == str(tiny_image_tree.resolve())
    assert cfg.data.class_names == ["shirt", "tshirt_top"]


def test_relative_set_paths_are_relative_to_the_current_directory(tmp_path, tiny_image_tree,
                                                                    monkeypatch):
    """As a shell user expects: `cd ~/photos && python -m pipeline run --set data.root=mine`
    (the README's example runs from the project root, where both readings agree)."""
    monkeypatch.chdir(tiny_image_tree.parent)
    cfg = load_config(overrides=[f"data.root={tiny_image_tree.name}", "output.root=out",
                                 "output.serving_dir=~/srv", "model.weights=imagenet"])
    assert cfg.data_root == str(tiny_image_tree)
    assert cfg.output_root == str(tiny_image_tree.parent / "out")
    assert cfg.serving_dir == os.path.expanduser("~/srv")
    assert cfg.model.weights == "imagenet"  # a name, not a path
    # URIs and absolute paths are kept; a key that is not a path is not touched
    cfg = load_config(overrides=[f"data.root={tiny_image_tree}", "output.root=gs://b/out",
                                 "pipeline_name=out"], check_paths=False)
    assert cfg.data_root == str(tiny_image_tree)
    assert cfg.output.root == "gs://b/out" and cfg.pipeline_name == "out"


def test_default_paths_stay_relative_to_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg.data_root == str(REPO_ROOT / "data" / "fashion_binary")
    assert cfg.output_root == str(REPO_ROOT / "outputs" / "fashion_binary")


def test_set_overrides_win_over_file_and_profile(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trainer:\n  epochs: 4\n")
    cfg = load_config(str(path), overrides=["trainer.epochs=2", "tuner.batch_size=[8]",
                                            "trainer.augmentation.enabled=false",
                                            "export.tflite_variants=[int8]"])
    assert cfg.trainer.epochs == 2
    assert cfg.tuner.batch_size == [8]
    assert cfg.trainer.augmentation.enabled is False
    assert cfg.trainer.augmentation.rotation_range == 40.0  # sibling default kept
    assert cfg.export.tflite_variants == ["int8"]


def test_set_override_single_key():
    assert load_config(overrides=["trainer.epochs=2"]).trainer.epochs == 2


def test_profile_argument_beats_profile_in_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("profile: full\n")
    assert load_config(str(path), profile="quick").model.image_size == 32


# ------------------------------------------------------------------------------------ errors


def _error(**kwargs) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(**kwargs)
    return str(exc.value)


def test_unknown_top_level_key():
    msg = _error(overrides=["bogus=1"])
    assert "unknown config key bogus" in msg
    assert "trainer" in msg  # lists the known keys


def test_unknown_nested_key_names_dotted_key():
    msg = _error(overrides=["trainer.pruning.sparsity=0.3"])
    assert "unknown config key trainer.pruning.sparsity" in msg
    assert "target_sparsity" in msg


def test_unknown_key_in_yaml_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  image_sise: 64\n")
    assert "unknown config key model.image_sise" in _error(path=str(path))


@pytest.mark.parametrize("override, key, expected", [
    ("trainer.epochs=abc", "trainer.epochs", "expected int, got str"),
    ("trainer.epochs=2.5", "trainer.epochs", "expected int, got float"),
    ("trainer.epochs=true", "trainer.epochs", "expected int, got bool"),
    ("trainer.pruning.enabled=3", "trainer.pruning.enabled", "expected true/false"),
    ("tuner.learning_rate=0.1", "tuner.learning_rate", "expected a list of float"),
    ("data.class_names=trouser,sneaker", "data.class_names",
     "got str 'trouser,sneaker' (a list on the command line: --set 'data.class_names=[a,b]')"),
    ("tuner.batch_size=[16, x]", "tuner.batch_size[1]", "expected int, got str"),
    ("trainer=5", "trainer", "expected a mapping"),
])
def test_wrong_type_names_key_and_type(override, key, expected):
    msg = _error(overrides=[override])
    assert msg.startswith(key + ":"), msg
    assert expected in msg


def test_missing_data_path(tmp_path):
    missing = tmp_path / "nope"
    msg = _error(overrides=[f"data.root={missing}"])
    assert "data.root" in msg and str(missing) in msg and "does not exist" in msg
    a_file = tmp_path / "build.py"
    a_file.write_text("", encoding="utf-8")
    msg = _error(overrides=[f"data.root={a_file}"])
    assert f"data.root: {a_file} is a file, not a folder" in msg


def test_data_root_with_one_class_is_rejected(tmp_path):
    (tmp_path / "train" / "only").mkdir(parents=True)
    (tmp_path / "train" / "only" / "a.png").write_bytes(PNG)
    msg = _error(overrides=[f"data.root={tmp_path}"])
    assert "need at least 2" in msg and "only" in msg


def test_empty_class_folder_is_a_config_error_naming_it(tmp_path):
    """Discovery only sees folders holding files: an empty class folder must not vanish silently."""
    _tree(tmp_path, ("shirt", "tshirt_top"))
    load_config(overrides=[f"data.root={tmp_path}"])  # complete tree: fine
    (tmp_path / "eval" / "dress").mkdir()
    (tmp_path / "eval" / "dress" / ".hidden").write_bytes(b"x")
    msg = _error(overrides=[f"data.root={tmp_path}"])
    assert "empty class folder(s) ['eval/dress']" in msg and "eval/*/*" in msg
    (tmp_path / "train" / "dress").mkdir()
    msg = _error(overrides=[f"data.root={tmp_path}"])
    assert "empty class folder(s) ['eval/dress', 'train/dress']" in msg  # all at once


def test_an_unzipped_archives_wrapper_folder_is_named_with_the_root_to_set(tmp_path):
    _tree(tmp_path / "flowers", ("daisy", "tulip"))
    (tmp_path / "__MACOSX" / "flowers").mkdir(parents=True)  # beside it: not a second folder
    msg = _error(overrides=[f"data.root={tmp_path}"])
    assert f"its one folder 'flowers' holds a train/ folder: set data.root={tmp_path}/flowers" \
        in msg


@pytest.mark.parametrize("pattern", ["eval/*/*", "train/*/*"])
def test_two_roles_reading_the_same_files_is_a_config_error(tmp_path, pattern):
    """test_pattern pointed at the validation folder (or at train) would tune, early-stop or
    train on the held-out images (audit helper-54): refused before any work."""
    _tree(tmp_path, ("cat", "dog"))
    load_config(overrides=[f"data.root={tmp_path}"])  # train / eval / test: fine
    msg = _error(overrides=[f"data.root={tmp_path}", f"data.test_pattern={pattern}"])
    assert "splits share 2 file(s)" in msg and "every image needs one role" in msg
    assert "held-out figures come from images that shaped the model" in msg


def test_report_does_not_read_the_image_files_headers(tmp_path):
    """`report` describes a past run: images added to the tree since (here, unreadable ones)
    do not stop it; every command that trains reads the headers first."""
    _tree(tmp_path, ("cat", "dog"), files=("a.png", "b.png"))
    (tmp_path / "eval" / "dog" / "c.jpg").write_bytes(b"<html>gone</html>")
    (tmp_path / "eval" / "dog" / "d.jpg").write_bytes(b"<html>gone</html>")
    assert "not images" in _error(overrides=[f"data.root={tmp_path}"])
    load_config(overrides=[f"data.root={tmp_path}"], check_files=False)


def test_a_macos_zips_metadata_folders_are_skipped_like_hidden_files(tmp_path):
    """Unzipping a macOS zip adds __MACOSX/ (AppleDouble `._x.png` junk) beside the root's
    splits and inside them: neither a class nor a split, never read, never an empty class."""
    _tree(tmp_path, ("shirt", "tshirt_top"))
    for where in ("__MACOSX/train/shirt", "train/__MACOSX", "train/__MACOSX/shirt",
                  "eval/__MACOSX"):
        (tmp_path / where).mkdir(parents=True, exist_ok=True)
        (tmp_path / where / "._a.png").write_bytes(b"\0\5\26\7")
    (tmp_path / "eval" / "__MACOSX" / "b.png").write_bytes(b"junk")
    config = load_config(overrides=[f"data.root={tmp_path}"])
    assert list(config.data.class_names) == ["shirt", "tshirt_top"]
    from pipeline.config.validate import data_overview
    assert "__MACOSX" not in "\n".join(data_overview(config))


# ------------------------------------------------------------------------- data roles, classes


def test_train_eval_tree_carves_validation_from_train_and_holds_eval_out(tmp_path):
    """Today's layout: eval/ becomes the held-out test split, validation is 20 % of train by a
    stable hash of the path (disjoint from test, the same files on every call)."""
    from pipeline import data_layout
    names = [f"img{i:03d}.png" for i in range(60)]
    _tree(tmp_path, ("cat", "dog"), splits=("train", "eval"), files=names)
    cfg = load_config(overrides=[f"data.root={tmp_path}"])
    layout = cfg.split_layout
    assert layout.patterns == {"train": "train/*/*", "validation": "train/*/*",
                               "test": "eval/*/*"}
    files = data_layout.files_by_split(str(tmp_path), layout)
    assert not set(files["train"]) & set(files["validation"])
    assert not set(files["validation"]) & set(files["test"])
    assert all(p.startswith("eval/") for p in files["test"]) and len(files["test"]) == 120
    assert 12 <= len(files["validation"]) <= 36  # about 20 % of 120
    assert files == data_layout.files_by_split(str(tmp_path), layout)  # stable
    # adding images to train does not move any existing file between train and validation
    (tmp_path / "train" / "cat" / "zzz_new.png").write_bytes(PNG)
    again = data_layout.files_by_split(str(tmp_path), layout)
    assert set(files["validation"]) <= set(again["validation"])
    assert set(files["train"]) <= set(again["train"])


def test_test_folder_makes_eval_the_validation_split(tmp_path):
    _tree(tmp_path, ("cat", "dog"))
    layout = load_config(overrides=[f"data.root={tmp_path}"]).split_layout
    assert layout.patterns == {"train": "train/*/*", "validation": "eval/*/*",
                               "test": "test/*/*"}
    assert layout.validation_fraction == 0.0
    _tree(tmp_path / "other", ("cat", "dog"), splits=("train", "test"),
          files=[f"{i}.png" for i in range(30)])
    layout = load_config(overrides=[f"data.root={tmp_path / 'other'}"]).split_layout
    assert layout.patterns["validation"] == "train/*/*" and layout.validation_fraction == 0.2
    assert layout.patterns["test"] == "test/*/*"


def test_configured_class_without_images_is_a_config_error_before_any_work(tmp_path):
    _tree(tmp_path, ("cat", "dog"))
    msg = _error(overrides=[f"data.root={tmp_path}", "data.class_names=[cat, dog, emu]"])
    assert "split 'train'" in msg and "['emu']" in msg
    assert msg.endswith("('emu': no image in any split of this data, no such class folder at "
                        "all: add its images)"), msg  # not a split's matter (helper-65)
    msg = _error(overrides=[f"data.root={tmp_path}", "data.class_names=[cat, dgo]"])
    assert "['dog']" in msg and "not among data.class_names" in msg  # misspelt
    assert "'dog' looks like 'dgo', which has no images in this split: rename the folder or " \
        "correct data.class_names" in msg, msg
    msg = _error(overrides=[f"data.root={tmp_path}", "data.class_names=[cat, zebra]"])
    assert "(misspelt? add them to data.class_names or remove the folders)" in msg, msg
    (tmp_path / "eval" / "emu").mkdir()  # a class in eval/ alone: no train images to add it with
    (tmp_path / "eval" / "emu" / "a.png").write_bytes(PNG)
    msg = _error(overrides=[f"data.root={tmp_path}"])
    assert msg.startswith("data.class_names / data.root: split 'validation' (files eval/*/*): "
                          "class folder(s) ['emu'] are not among data.class_names"), msg
    assert msg.endswith("(misspelt? else a class needs images in every split, train included: "
                        "add its train images (and list it in data.class_names if you set "
                        "that), or remove the folders)"), msg


def test_a_folder_misspelt_in_one_split_is_named_with_its_likely_class(tmp_path):
    """ankle_boot in train/, ankleboot in eval/: the hint says rename, not add a sixth class."""
    _tree(tmp_path, ("ankle_boot", "bag"), splits=("train", "eval"),
          files=[f"{i}.png" for i in range(10)])
    (tmp_path / "eval" / "ankle_boot").rename(tmp_path / "eval" / "ankleboot")
    msg = _error(overrides=[f"data.root={tmp_path}", "data.class_names=[ankle_boot, bag]"])
    assert "class folder(s) ['ankleboot']" in msg
    assert "'ankleboot' looks like 'ankle_boot', which has no images in this split" in msg, msg


def test_class_missing_from_the_test_folder_is_named(tmp_path):
    _tree(tmp_path, ("cat", "dog"))
    (tmp_path / "test" / "dog" / "a.png").unlink()
    (tmp_path / "test" / "dog").rmdir()
    msg = _error(overrides=[f"data.root={tmp_path}"])
    assert "split 'test' (files test/*/*)" in msg and "['dog']" in msg


def test_a_train_eval_trees_held_out_split_is_named_by_its_eval_folder(tmp_path):
    """The user has no test/ folder: the message names where the held-out role is read from."""
    _tree(tmp_path, ("cat", "dog"), splits=("train", "eval"), files=[f"{i}.png" for i in range(30)])
    (tmp_path / "eval" / "sneaker").mkdir()
    (tmp_path / "eval" / "sneaker" / "a.png").write_bytes(PNG)
    msg = _error(overrides=[f"data.root={tmp_path}"])
    assert "split 'test' (files eval/*/*): class folder(s) ['sneaker']" in msg


def test_too_few_images_for_a_carved_validation_split_say_what_to_do(tmp_path):
    _tree(tmp_path, ("cat", "dog"), splits=("train", "eval"))  # one train image per class
    msg = _error(overrides=[f"data.root={tmp_path}"])
    assert "split 'validation' (files train/*/* carved from them)" in msg
    assert "data.validation_fraction" in msg


def test_default_output_root_is_per_data_set(tmp_path):
    _tree(tmp_path / "birds", ("cat", "dog"))
    cfg = load_config(overrides=[f"data.root={tmp_path / 'birds'}"])
    assert cfg.output_root == str(REPO_ROOT / "outputs" / "birds")
    assert load_config().output_root == str(REPO_ROOT / "outputs" / "fashion_binary")
    cfg = load_config(overrides=[f"data.root={tmp_path / 'birds'}", f"output.root={tmp_path}"])
    assert cfg.output_root == str(tmp_path)


def test_missing_schema_path(tiny_image_tree, tmp_path):
    msg = _error(overrides=[f"data.root={tiny_image_tree}",
                            f"data.schema_path={tmp_path / 'schema.pbtxt'}"])
    assert "data.schema_path" in msg and "does not exist" in msg


def test_check_paths_false_skips_data_checks(tmp_path):
    cfg = load_config(overrides=[f"data.root={tmp_path / 'nope'}"], check_paths=False)
    assert cfg.data.root == str(tmp_path / "nope")


def test_missing_config_file(tmp_path):
    missing = tmp_path / "absent.yaml"
    msg = _error(path=str(missing))
    assert str(missing) in msg and "no such file" in msg


def test_invalid_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("trainer: [unclosed\n")
    assert "not valid YAML" in _error(path=str(path))


def test_bad_profile():
    msg = _error(profile="huge")
    assert msg.startswith("profile:") and "'huge'" in msg and "quick, full" in msg


@pytest.mark.parametrize("key", ["learning_rate", "batch_size"])
def test_empty_search_space(key):
    msg = _error(overrides=[f"tuner.{key}=[]"])
    assert msg == f"tuner.{key}: the search space is empty"


def test_bad_tflite_variant():
    msg = _error(overrides=["export.tflite_variants=[float32, float16]"])
    assert "export.tflite_variants" in msg and "'float16'" in msg
    assert "float32, dynamic_range, int8" in msg


@pytest.mark.parametrize("override, key", [
    ("model.image_size=16", "model.image_size"),
    ("model.dropout=1.0", "model.dropout"),
    ("tuner.strategy=bayes", "tuner.strategy"),
    ("tuner.seed=0", "tuner.seed"),     # keras-tuner takes 0 as unseeded (#16)
    ("tuner.seed=-1", "tuner.seed"),
    ("trainer.pruning.target_sparsity=1.0", "trainer.pruning.target_sparsity"),
    ("trainer.pruning.schedule=cubic", "trainer.pruning.schedule"),
    ("trainer.pruning.early_stopping_patience=-1", "trainer.pruning.early_stopping_patience"),
    ("trainer.pruning.score=wanda", "trainer.pruning.score"),
    ("trainer.pruning.retrain_blocks=0", "trainer.pruning.retrain_blocks"),
    ("trainer.pruning.retrain_blocks=6", "trainer.pruning.retrain_blocks"),
    ("trainer.pruning.distillation=1.5", "trainer.pruning.distillation"),
    ("trainer.pruning.distillation=-0.1", "trainer.pruning.distillation"),
    ("trainer.pruning.fallback_margin=-0.1", "trainer.pruning.fallback_margin"),
    ("trainer.pruning.fallback_margin=2", "trainer.pruning.fallback_margin"),
    ("trainer.pruning.fallback_retrain_blocks=1", "trainer.pruning.fallback_retrain_blocks"),
    ("trainer.pruning.fallback_retrain_blocks=6", "trainer.pruning.fallback_retrain_blocks"),
    ("trainer.augmentation.fill_mode=mirror", "trainer.augmentation.fill_mode"),
    ("export.min_agreement.float32=1.5", "export.min_agreement.float32"),
    ("evaluator.auc_lower_bound=2", "evaluator.auc_lower_bound"),
    ("model.weights=/no/such/weights.h5", "model.weights"),
])
def test_semantic_errors_name_the_key(override, key):
    assert _error(overrides=[override]).startswith(key + ":")


def test_override_without_equals():
    assert "expected KEY=VALUE" in _error(overrides=["trainer.epochs"])


# ----------------------------------------------------------------------------------------- CLI


def test_cli_validate_config_error_exit_code_2_without_traceback(capsys):
    assert main(["validate", "--set", "bogus=1"]) == 2
    out, err = capsys.readouterr()
    assert "config error" in err
    assert "bogus" in err
    assert "Traceback" not in err and "Traceback" not in out
    assert out == ""


def test_cli_validate_prints_the_config(capsys):
    import json
    assert main(["validate", "--set", "trainer.epochs=7"]) == 0
    out, _ = capsys.readouterr()
    printed = json.loads(out)
    assert printed["trainer"]["epochs"] == 7
    assert printed["data"]["class_names"] == ["shirt", "tshirt_top"]


def test_cli_validate_checks_and_names_the_litert_environment(tmp_path, capsys, monkeypatch):
    """validate fails as run does when LiteRT is missing, and names the interpreter it found
    and whether $LITERT_PYTHON overrode the config."""
    monkeypatch.setenv("LITERT_PYTHON", str(tmp_path / "nowhere" / "python"))
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "config error: export.litert_python: LiteRT environment not found" in err
    assert "a config meant only for Vertex AI is checked by `compile`" in err
    python = tmp_path / "python"
    python.write_text("")
    monkeypatch.setenv("LITERT_PYTHON", str(python))
    assert main(["validate"]) == 0
    assert (f"LiteRT (the parity gate's runtime): {python} (from $LITERT_PYTHON, which overrides "
            f"export.litert_python)") in capsys.readouterr().err


def test_wall_time_counts_from_the_cli_start(monkeypatch):
    """The runner's own seconds start after the CLI's imports; the printed wall time does not."""
    import time

    from pipeline import __main__ as cli
    monkeypatch.setattr(cli, "STARTED", time.time() - 9.0)
    line = cli._wall_time({"wall_seconds": 7.5}, "/o/metadata.sqlite")
    seconds = float(re.match(r"wall time: ([\d.]+) s \(pipeline 7.5 s\); MLMD: /o/metadata.sqlite$",
                             line)[1])
    assert 9.0 <= seconds < 60


def test_cli_validate_lists_what_each_split_reads(tmp_path, capsys):
    """On stderr (stdout stays the JSON): each role, the folder it is read from, files per class,
    and where outputs go."""
    _tree(tmp_path / "pets", ("cat", "dog"), splits=("train", "eval"),
          files=[f"{i}.png" for i in range(30)])
    assert main(["validate", "--set", f"data.root={tmp_path / 'pets'}"]) == 0
    _, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[0].startswith(f"data: {tmp_path / 'pets'} (")
    train, validation = (re.fullmatch(rf"  split '{s}' \(files train/\*/\*.*\): (\d+) files "
                                      rf"\(cat (\d+), dog (\d+)\)", line)
                         for s, line in zip(("train", "validation"), lines[1:3]))
    assert train and validation
    assert int(train[2]) + int(validation[2]) == 30 and int(train[3]) + int(validation[3]) == 30
    assert lines[3] == "  split 'test' (files eval/*/*): 60 files (cat 30, dog 30)"
    # 20 % of 30 images per class: the validation split is thin, and validate says so
    assert re.fullmatch(r"  note: split 'validation' \(files train/\*/\* carved from them\): only "
                        r"\d of 'cat', \d of 'dog' \(fewer than 10 images\): tuning, early "
                        r"stopping and the parity gate judge these classes on few images; raise "
                        r"data.validation_fraction or give a validation folder", lines[4]), lines[4]
    assert lines[5] == f"outputs: {REPO_ROOT / 'outputs' / 'pets'}"
    assert not [x for x in err.splitlines() if "note:" in x and "'test'" in x]  # 30 test each


def test_non_image_files_are_ignored_listed_and_never_make_a_class(tmp_path, capsys):
    """notes.txt and a nested folder beside the images pass validate and are listed as ignored;
    a folder holding only non-image files is an empty class folder, not a class."""
    _tree(tmp_path / "pets", ("cat", "dog"), splits=("train", "eval"),
          files=[f"{i}.png" for i in range(30)])
    (tmp_path / "pets" / "train" / "cat" / "notes.txt").write_text("x")
    (tmp_path / "pets" / "eval" / "dog" / "Thumbs.db").write_bytes(b"x")
    (tmp_path / "pets" / "eval" / "dog" / "more").mkdir()
    (tmp_path / "pets" / "eval" / "dog" / "more" / "b.png").write_bytes(b"x")
    (tmp_path / "pets" / "train" / "stray.png").write_bytes(b"x")  # outside any class folder
    assert main(["validate", "--set", f"data.root={tmp_path / 'pets'}"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[3] == "  split 'test' (files eval/*/*): 60 files (cat 30, dog 30)"
    assert lines[5] == ("  ignored (not read: no image extension, a nested folder, or outside a "
                        "class folder): 4 path(s): eval/dog/Thumbs.db, eval/dog/more/, "
                        "train/cat/notes.txt, train/stray.png")
    (tmp_path / "pets" / "train" / "docs").mkdir()
    (tmp_path / "pets" / "train" / "docs" / "README.md").write_text("x")
    msg = _error(overrides=[f"data.root={tmp_path / 'pets'}"])
    assert "empty class folder(s) ['train/docs'] (no image files match" in msg, msg


def test_partial_mapping_override_keeps_other_entries():
    cfg = load_config(overrides=["data.split_hash_buckets.test=2"])
    assert cfg.data.split_hash_buckets == {"train": 3, "validation": 1, "test": 2}


def test_export_thresholds_override_the_variant_table_per_variant():
    cfg = load_config(overrides=["export.min_agreement.int8=0.95",
                                 "export.max_probability_diff.float32=0.001",
                                 "export.tflite_variants=[float32, int8, int8_sparse]"])
    assert cfg.export.min_agreement == {"int8": 0.95}
    assert cfg.export.max_probability_diff == {"float32": 0.001}
    assert cfg.export.tflite_variants == ["float32", "int8", "int8_sparse"]
    assert cfg.export.probability_diff_fraction == 0.99  # the default: 1 in 100 may stray
    assert load_config(overrides=["export.probability_diff_fraction=1"]).export \
        .probability_diff_fraction == 1.0


@pytest.mark.parametrize("override, key", [
    ("export.max_probability_diff.int4=0.1", "export.max_probability_diff.int4"),
    ("export.max_probability_diff.int8=2", "export.max_probability_diff.int8"),
    ("export.tflite_variants=[int8, int8]", "export.tflite_variants"),
    ("export.parity_examples=0", "export.parity_examples"),
    ("export.probability_diff_fraction=0", "export.probability_diff_fraction"),
    ("export.probability_diff_fraction=1.5", "export.probability_diff_fraction"),
    ("data.alpha_background=[255, 255]", "data.alpha_background"),
    ("data.alpha_background=[0, 0, 300]", "data.alpha_background"),
])
def test_bad_export_and_background_values_name_the_key(override, key):
    assert key in _error(overrides=[override])


def test_set_profile_override_selects_the_profile(tmp_path):
    cfg = load_config(overrides=["profile=full"])
    assert cfg.profile == "full" and cfg.model.image_size == 224
    path = tmp_path / "c.yaml"
    path.write_text("profile: full\n")
    assert load_config(str(path), overrides=["profile=quick"]).model.image_size == 32
    assert load_config(overrides=["profile=full"], profile="quick").model.image_size == 32
    assert _error(overrides=["profile=huge"]).startswith("profile:")


# ------------------------------------------------------------------- trainer.pruning.layers


def test_pruning_layers_default_and_keywords():
    assert load_config().trainer.pruning.layers == "all"  # quick profile
    assert load_config(profile="full").trainer.pruning.layers == "trainable"
    for keyword in ("head", "trainable", "all"):
        assert load_config(overrides=[f"trainer.pruning.layers={keyword}"]
                           ).trainer.pruning.layers == keyword


def test_pruning_layers_explicit_list():
    cfg = load_config(overrides=["trainer.pruning.layers=[block5_conv3, head_dense]"])
    assert cfg.trainer.pruning.layers == ["block5_conv3", "head_dense"]


@pytest.mark.parametrize("value, expected", [
    ("[block6_conv1]", "unknown layer name(s) ['block6_conv1']"),
    ("everything", "unknown layer name(s) ['everything']"),
    ("[]", "non-empty list of layer names"),
    ("[all, head_dense]", "cannot be combined"),
    ("3", "expected str or List"),
])
def test_pruning_layers_rejected_before_the_run(value, expected):
    msg = _error(overrides=[f"trainer.pruning.layers={value}"])
    assert msg.startswith("trainer.pruning.layers: ")
    assert expected in msg


@pytest.mark.parametrize("override, message", [
    ("trainer.mixed_precision=fp16",
     "trainer.mixed_precision: expected one of none, float16, bfloat16, got 'fp16'"),
    ("trainer.input.num_parallel_calls=0",
     "trainer.input.num_parallel_calls: expected -1 (AUTOTUNE) or >= 1, got 0"),
    ("trainer.input.prefetch=-2", "trainer.input.prefetch: expected -1 (AUTOTUNE), 0 (none)"),
    ("trainer.jit_compile=sometimes", "trainer.jit_compile: expected true/false"),
])
def test_trainer_runtime_settings_are_checked(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[override], check_paths=False)
    assert message in str(e.value)


def test_trainer_runtime_defaults_keep_local_training_as_it_was():
    tr = load_config(check_paths=False).trainer
    assert (tr.mixed_precision, tr.jit_compile) == ("none", False)
    assert (tr.input.num_parallel_calls, tr.input.prefetch) == (-1, -1)  # AUTOTUNE


# ------------------------------------------- trainer.structured_pruning, trainer.clustering


def test_compression_steps_are_off_by_default():
    tr = load_config(check_paths=False).trainer
    assert tr.structured_pruning.enabled is False and tr.clustering.enabled is False
    assert tr.quantization_aware.enabled is False
    assert tr.structured_pruning.fractions == {}
    assert tr.clustering.number_of_clusters == {"conv": 16, "dense": 32}


def test_compression_settings_load():
    tr = load_config(overrides=["trainer.structured_pruning.enabled=true",
                                "trainer.structured_pruning.fractions={block3: 0.25, "
                                "block5_conv3: 0.75}",
                                "trainer.clustering.enabled=true",
                                "trainer.clustering.number_of_clusters=8"],
                     check_paths=False).trainer
    assert tr.structured_pruning.fractions == {"block3": 0.25, "block5_conv3": 0.75}
    assert tr.clustering.enabled and tr.clustering.number_of_clusters == 8


@pytest.mark.parametrize("override, message", [
    ("trainer.structured_pruning.fractions={block6: 0.5}",
     "trainer.structured_pruning.fractions: unknown block or conv layer name 'block6'"),
    ("trainer.structured_pruning.fractions={block4_conv4: 0.5}",
     "trainer.structured_pruning.fractions: unknown block or conv layer name 'block4_conv4'"),
    ("trainer.structured_pruning.fractions={block4: 1.0}",
     "trainer.structured_pruning.fractions: block4: expected a fraction in [0, 1), got 1.0"),
    ("trainer.structured_pruning.fractions={block5_conv1: -0.5}",
     "block5_conv1: expected a fraction in [0, 1), got -0.5"),
    ("trainer.structured_pruning.fractions={block4: half}",
     "trainer.structured_pruning.fractions.block4: expected float"),
    ("trainer.structured_pruning.fine_tune_epochs=-1",
     "trainer.structured_pruning.fine_tune_epochs: expected >= 0"),
    ("trainer.structured_pruning.learning_rate=0",
     "trainer.structured_pruning.learning_rate: expected > 0 or null"),
    ("trainer.clustering.number_of_clusters=2",
     "trainer.clustering.number_of_clusters: expected >= 3"),
    ("trainer.structured_pruning.enabled=true", "enabled but no filter is removed"),
    ("trainer.clustering.number_of_clusters={conv: 16, embedding: 4}",
     "trainer.clustering.number_of_clusters: expected one number or {conv: n, dense: n}"),
    ("trainer.clustering.number_of_clusters={conv: 16, dense: 1}",
     "expected >= 3 (one cluster stays at zero to preserve sparsity), got dense 1"),
    ("trainer.clustering.fine_tune_epochs=0", "trainer.clustering.fine_tune_epochs: expected >= 1"),
    ("trainer.quantization_aware.fine_tune_epochs=0",
     "trainer.quantization_aware.fine_tune_epochs: expected >= 1"),
    ("trainer.quantization_aware.learning_rate=-1",
     "trainer.quantization_aware.learning_rate: expected > 0 or null"),
])
def test_compression_settings_are_checked(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[override], check_paths=False)
    assert message in str(e.value)


def test_override_that_is_not_yaml_is_a_string_and_judged_by_the_key_type(tmp_path):
    """`--set data.train_pattern=*/*` (a YAML alias to YAML) was a traceback; it is a string."""
    _tree(tmp_path / "flat", ("cat", "dog"), splits=("",), files=[f"{i}.png" for i in range(30)])
    cfg = load_config(overrides=[f"data.root={tmp_path / 'flat'}", "data.train_pattern=*/*",
                                 "data.eval_pattern="])
    assert cfg.data.train_pattern == "*/*" and cfg.data.class_names == ["cat", "dog"]
    assert cfg.split_layout.hashed
    msg = _error(overrides=["trainer.epochs=[1,"])
    assert "trainer.epochs" in msg, msg


def test_a_class_whose_train_folder_was_deleted_is_named(tmp_path):
    """helper-62: with train/shirt deleted the error said only '1 class folder(s) under
    train/*/*', not that eval/ still holds shirt."""
    import shutil
    _tree(tmp_path / "d", ("shirt", "tshirt_top"))
    shutil.rmtree(tmp_path / "d" / "train" / "shirt")
    msg = _error(overrides=[f"data.root={tmp_path / 'd'}"])
    assert "has 1 class folder(s) under 'train/*/*'" in msg, msg
    assert msg.endswith("; 'eval/*/*' has class folder(s) ['shirt'] that 'train/*/*' lacks: "
                        "give each its training images"), msg


def _flat_tree(root, classes=("cat", "dog"), n=20):
    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{i}.png").write_bytes(PNG)
    return root


def test_a_root_of_class_folders_alone_is_hash_split_with_only_data_root_set(tmp_path):
    """A stranger's `my_images/<class>/*` (no train/ or eval/) trains with only data.root set:
    the class folders are hash-split into train / validation / test, and the notes say so."""
    from pipeline.config.validate import config_notes
    cfg = load_config(overrides=[f"data.root={_flat_tree(tmp_path / 'flat')}"])
    assert (cfg.data.train_pattern, cfg.data.eval_pattern) == ("*/*", "")
    assert cfg.split_layout.hashed and cfg.data.class_names == ["cat", "dog"]
    note = [n for n in config_notes(cfg) if n.startswith("data.root holds class folders")]
    assert note and "split by a stable hash of each path into train / validation / test " \
        "(3 : 1 : 1, data.split_hash_buckets)" in note[0], config_notes(cfg)


def test_a_root_of_class_folders_keeps_the_patterns_a_user_set(tmp_path):
    """Only the default patterns switch: a user's own pattern is theirs (here it finds no
    class folder and the error offers the hash split), and a split tree is not flat."""
    root = _flat_tree(tmp_path / "flat")
    msg = _error(overrides=[f"data.root={root}", "data.test_pattern="])
    assert "has 0 class folder(s) under 'train/*/*'" in msg, msg
    assert "its folders ['cat', 'dog'] hold the images directly" in msg
    assert "--set 'data.train_pattern=*/*' --set data.eval_pattern=" in msg
    _tree(tmp_path / "split", ("cat", "dog"))
    assert load_config(overrides=[f"data.root={tmp_path / 'split'}"]).data.train_pattern \
        == "train/*/*"


def test_a_root_with_a_split_folder_in_other_letter_case_is_not_taken_for_class_folders(
        tmp_path):
    """`Train/` beside class-like folders: a split tree misnamed, not two classes 'Train' and
    'Eval' (the error names the case)."""
    root = tmp_path / "cased"
    _tree(root, ("cat", "dog"), splits=("Train", "Eval"))
    _flat_tree(root, ("loose_a", "loose_b"), n=2)
    msg = _error(overrides=[f"data.root={root}"])
    assert "folder names are case-sensitive: rename Eval/ to eval/, Train/ to train/" in msg, msg


def test_one_class_folder_or_one_beside_an_empty_one_is_named(tmp_path):
    """helper-71: `mistake/bags/` alone, or beside an empty `sneakers/`, said '0 class folder(s)
    under train/*/*': the layout is still class folders alone, so the checks name the one
    class, or the empty folder."""
    msg = _error(overrides=[f"data.root={_flat_tree(tmp_path / 'one', ('bags',))}"])
    assert "has 1 class folder(s) under '*/*'; need at least 2 (found: ['bags'])" in msg, msg
    root = _flat_tree(tmp_path / "beside", ("bags",))
    (root / "sneakers").mkdir()
    msg = _error(overrides=[f"data.root={root}"])
    assert msg.startswith("data.root: empty class folder(s) ['sneakers']"), msg


def test_a_root_of_class_folders_too_small_for_the_hash_split_names_the_split(tmp_path):
    """One image per class cannot fill train, validation and test: the error names the class,
    the split and the buckets."""
    _tree(tmp_path / "flat", ("cat", "dog"), splits=("",), files=("a.png",))
    msg = _error(overrides=[f"data.root={tmp_path / 'flat'}"])
    assert "every configured class needs images in every split (hash split " in msg, msg


def test_cli_report_before_any_run_is_one_error_line(tmp_path, capsys):
    """`report` on an output root without a run: one line and exit 2, not MLMD's traceback."""
    assert main(["report", "--set", f"output.root={tmp_path / 'fresh'}"]) == 2
    err = capsys.readouterr().err
    assert f"error: no run under {tmp_path / 'fresh'} yet (no MLMD at " in err
    assert "the --config / --set of the run or retrain whose output root it is" in err
    assert "Traceback" not in err


def test_cli_report_says_a_run_is_in_progress_and_when_nothing_was_evaluated(tmp_path, capsys):
    """helper-62: `report` during a push called it killed, and on a root whose runs all stopped
    before the Evaluator printed 'blessed: NO ... model not blessed'."""
    import os

    from pipeline.config import load_config
    from pipeline.mlmd import open_store
    from pipeline.run_lock import run_lock, running_holder
    root = tmp_path / "out"
    config = load_config(overrides=[f"output.root={root}"])
    os.makedirs(root / "logs")
    open_store(config.metadata_path, mode="create")  # a run began: MLMD, no Evaluator output
    (root / "logs" / "error-20261206-121609.log").write_text("RuntimeError: ...")
    assert main(["report", "--set", f"output.root={root}"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"no model has been evaluated under {root} yet: every run so far stopped before the "
        f"Evaluator (the newest traceback: {root / 'logs' / 'error-20261206-121609.log'})",
        f"served: no version pushed yet under {root / 'serving'}"]
    assert running_holder(str(root)) == ""
    with run_lock(str(root)):  # a run holds the outputs (here this process, another fd)
        assert running_holder(str(root)) == str(os.getpid())
        assert main(["report", "--set", f"output.root={root}"]) == 0
        out = capsys.readouterr().out
    assert out.startswith(f"note: a run is in progress on {root} (pid {os.getpid()}): the "
                          f"summary below is of the steps finished so far")
    assert "yet: a run is in progress\n" in out
    assert running_holder(str(root)) == "" and running_holder(str(tmp_path / "none")) == ""


def test_numeric_class_names_say_to_quote_them():
    msg = _error(overrides=["data.class_names=[01, 2]"])
    assert msg.startswith("data.class_names[0]: expected str, got int 1 (YAML reads unquoted")
    assert "quote it" in msg and "a folder named 01 is the string \"01\", not 1" in msg
    assert "YAML reads" not in _error(overrides=["trainer.epochs=many"])  # only for strings


def test_a_broken_symbolic_link_is_a_config_error_naming_it(tmp_path):
    """ExampleGen's driver stats every file its glob matches: a dangling link failed the run
    5 s in with a NotFoundError that named no file; `validate` skipped it unseen."""
    _tree(tmp_path, ("shirt", "tshirt_top"))
    (tmp_path / "train" / "shirt" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "eval" / "shirt" / ".hidden.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "test" / "shirt" / "fine.png").symlink_to(tmp_path / "test" / "shirt" / "a.png")
    msg = _error(overrides=[f"data.root={tmp_path}"])
    assert msg.startswith("data.root: broken symbolic link(s) ")
    assert "['eval/shirt/.hidden.png', 'train/shirt/gone.png']" in msg
    assert "fine.png" not in msg  # a link to a file that exists is read as that file
    (tmp_path / "train" / "shirt" / "gone.png").unlink()
    (tmp_path / "eval" / "shirt" / ".hidden.png").unlink()
    load_config(overrides=[f"data.root={tmp_path}"])


def test_a_tree_with_only_train_says_the_held_out_folder_is_missing(tmp_path):
    """A user's folder with train/ only: the error names the missing folder and the hash split."""
    _tree(tmp_path, ("shirt", "tshirt_top"), splits=("train",),
          files=[f"{i}.png" for i in range(20)])
    msg = _error(overrides=[f"data.root={tmp_path}"])
    assert "split 'test' (files eval/*/*): no image files match 'eval/*/*'" in msg
    assert "so there is no held-out split: add the held-out images there (a folder per class)" \
        in msg and "split 'train/*/*' by path hash" in msg and "--set data.eval_pattern=" in msg
    cfg = load_config(overrides=[f"data.root={tmp_path}", "data.eval_pattern="])  # as it says
    assert cfg.split_layout.hashed


def test_capitalised_split_folders_are_named_in_the_error(tmp_path):
    """Train/ and Eval/ instead of train/ and eval/: the error says names are case-sensitive."""
    _tree(tmp_path, ("cat", "dog"), splits=("Train", "Eval"))
    msg = _error(overrides=[f"data.root={tmp_path}"])
    assert "has 0 class folder(s) under 'train/*/*'" in msg, msg
    assert msg.endswith("; folder names are case-sensitive: rename Eval/ to eval/, Train/ to "
                        "train/ (or set the data.*_pattern keys to these names)"), msg


def test_classes_differing_only_in_case_get_a_note(tmp_path):
    from pipeline.config.validate import config_notes
    _tree(tmp_path, ("Bag", "bag", "coat"), files=[f"{i}.png" for i in range(30)])
    [note] = [n for n in config_notes(load_config(overrides=[f"data.root={tmp_path}"]))
              if "letter case" in n]
    assert note.startswith("classes differing only in letter case: 'Bag' and 'bag': each is "
                           "its own class here"), note


def test_classes_whose_names_look_the_same_in_other_unicode_forms_get_a_note(tmp_path):
    """'café' typed (NFC) and copied from macOS (NFD) are two folders that every report shows
    alike: a note names them by code point."""
    import unicodedata

    from pipeline.config.validate import config_notes
    nfc, nfd = "caf\u00e9", unicodedata.normalize("NFD", "caf\u00e9")
    _tree(tmp_path, (nfc, nfd, "tea"), files=[f"{i}.png" for i in range(30)])
    notes = config_notes(load_config(overrides=[f"data.root={tmp_path}"]))
    [note] = [n for n in notes if "look the same" in n]
    assert "(NFC and NFD forms): 'cafe\\u0301' and 'caf\\xe9': each is its own class" in note
    assert not [n for n in notes if "letter case" in n]


def test_an_output_root_that_cannot_be_written_is_a_config_error_before_any_work(
        tmp_path, capsys):
    """run / retrain / validate would otherwise fail with a traceback at the lock (or after
    training, at the push): a file in the way, a folder without write permission. Reading
    commands (report, predict) may read outputs they cannot write: not checked there."""
    import stat

    from pipeline.config.validate import validate_writable
    data = REPO_ROOT / "data" / "fashion_binary"

    def problem(*overrides):
        with pytest.raises(ConfigError) as e:
            validate_writable(load_config(overrides=[f"data.root={data}", *overrides]))
        return str(e.value)
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "out"
    assert problem(f"output.root={out}").startswith(
        f"output.root: {out} cannot be written: {tmp_path / 'afile'} is a file, not a folder")
    assert main(["validate", "--set", f"data.root={data}", "--set", f"output.root={out}"]) == 2
    assert "config error: output.root:" in capsys.readouterr().err
    load_config(overrides=[f"data.root={data}", f"output.root={out}"])  # report may read it
    assert problem(f"output.root={tmp_path / 'ok'}", f"output.serving_dir={tmp_path / 'afile'}"
                   ).startswith(f"output.serving_dir: {tmp_path / 'afile'} cannot be written")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permissions do not stop this user (the cases above ran)")
        assert f"{locked} is not writable by this user" in problem(f"output.root={locked / 'o'}")
    finally:
        os.chmod(locked, stat.S_IRWXU)


def test_the_pushed_reports_config_records_the_paths_the_run_read(tmp_path):
    """helper-67: report.json's "Resolved config" said data.root "data/fashion_binary" (the
    default, relative to the project), while run.data_root was absolute."""
    import json

    from pipeline.pipeline import create_pipeline, resolved_config
    config = load_config(overrides=[f"output.root={tmp_path / 'out'}"])
    assert config.data.root == "data/fashion_binary"  # as configured
    expected = str(REPO_ROOT / "data" / "fashion_binary")
    values = resolved_config(config, config.data_root)
    assert values["data"]["root"] == expected and values["data"]["schema_path"] == ""
    assert config.data.root == "data/fashion_binary"  # the config itself is unchanged
    pusher = next(c for c in create_pipeline(config).components if c.id == "ExportPusher")
    run_info = json.loads(pusher.exec_properties["run_info"])
    assert run_info["config"]["data"]["root"] == run_info["data_root"] == expected
