"""pipeline/data_layout.py: notes on classes whose validation or test images are few."""
from pipeline import data_layout
from pipeline.config import load_config


def _layout(tmp_path, per_class):
    for split in ("train", "eval"):
        for name in ("cat", "dog"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                (folder / f"{i}.png").write_bytes(b"x")
    return load_config(overrides=[f"data.root={tmp_path}"]).split_layout


def test_thin_test_and_validation_classes_are_named_with_what_rests_on_them(tmp_path):
    layout = _layout(tmp_path, 100)
    counts = {"train": {"cat": 80, "dog": 80}, "validation": {"cat": 20, "dog": 9},
              "test": {"cat": 4, "dog": 100}}
    validation, test = data_layout.few_images(counts, layout)
    assert validation.startswith("split 'validation' (files train/*/* carved from them): only "
                                 "9 of 'dog' (fewer than 10 images): tuning, early stopping and "
                                 "the parity gate")
    assert validation.endswith("raise data.validation_fraction or give a validation folder")
    assert test == ("split 'test' (files eval/*/*): only 4 of 'cat' (fewer than 10 images): "
                    "their recall gates and the test figures rest on few images; add images")
    enough = {"validation": {"cat": 10, "dog": 10}, "test": {"cat": 10, "dog": 10}}
    assert data_layout.few_images(enough, layout) == []
