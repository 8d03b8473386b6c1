"""pipeline/data_layout.py: notes on classes whose validation or test images are few."""
import os

import pytest

from modules import image_files
from pipeline import data_layout
from pipeline.config import ConfigError, load_config


# a real 1x1 PNG: validate reads each image file's header (bytes that are not an image count as
# files the run would quarantine)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
                    "0000000a4944415478da6360000000020001e527defc0000000049454e44ae426082")


def _layout(tmp_path, per_class):
    for split in ("train", "eval"):
        for name in ("cat", "dog"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                (folder / f"{i}.png").write_bytes(PNG)
    return load_config(overrides=[f"data.root={tmp_path}"]).split_layout


def test_thin_test_and_validation_classes_are_named_with_what_rests_on_them(tmp_path):
    layout = _layout(tmp_path, 100)
    counts = {"train": {"cat": 80, "dog": 80}, "validation": {"cat": 20, "dog": 9},
              "test": {"cat": 4, "dog": 100}}
    validation, test = data_layout.few_images(counts, layout)
    assert validation.startswith("split 'validation' (files train/*/* carved from them): only "
                                 "9 of 'dog' (fewer than 10 images): tuning, early stopping and "
                                 "the parity gate judge this class on few images")
    assert validation.endswith("raise data.validation_fraction or give a validation folder")
    assert test == ("split 'test' (files eval/*/*): only 4 of 'cat' (fewer than 10 images): "
                    "its recall gate and the test figures rest on few images; add images")
    two = {"test": {"cat": 4, "dog": 3}}
    assert "only 4 of 'cat', 3 of 'dog' (fewer than 10 images): their recall gates and" \
        in data_layout.few_images(two, layout)[0]
    enough = {"validation": {"cat": 10, "dog": 10}, "test": {"cat": 10, "dog": 10}}
    assert data_layout.few_images(enough, layout) == []


def test_formats_tensorflow_cannot_decode_are_an_error_above_the_quarantine_limit(tmp_path):
    """.webp/.tif count as images (the run reads and quarantines them), so above
    data.max_quarantine_fraction the run would fail minutes in: validate says so first."""
    import pytest

    from pipeline.config import ConfigError, validate
    from pipeline.config.validate import data_notes, data_overview
    _layout(tmp_path, 100)
    (tmp_path / "train" / "cat" / "phone.webp").write_bytes(b"x")
    config = load_config(overrides=[f"data.root={tmp_path}"])
    validate(config)  # 1 of ~180 train files: under the 1 % limit, a note
    [note] = [n for n in data_notes(config) if ".webp" in n]
    assert "1 of" in note and "train/cat/phone.webp" in note and "quarantined" in note
    assert any(".webp" in line and "note:" in line for line in data_overview(config))
    for i in range(3):
        (tmp_path / "eval" / "dog" / f"scan{i}.TIF").write_bytes(b"x")
    with pytest.raises(ConfigError) as e:
        validate(load_config(overrides=[f"data.root={tmp_path}"]))
    message = str(e.value)
    assert "split 'test': 3 of 203 files are .tif" in message
    assert "eval/dog/scan0.TIF" in message and "data.max_quarantine_fraction=1.0%" in message
    assert "convert them to PNG or JPEG" in message
    validate(load_config(overrides=[f"data.root={tmp_path}",
                                    "data.max_quarantine_fraction=0.02"]))
    # judged by content, as the run judges: JPEG bytes saved as .tif are read fine
    import numpy as np
    from PIL import Image
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
            tmp_path / "eval" / "dog" / f"scan{i}.TIF", format="JPEG")
    validate(load_config(overrides=[f"data.root={tmp_path}"]))


def test_a_hashed_layout_counts_undecodable_files_over_its_one_input_split(tmp_path):
    """my_images/<class>/* split by path hash: ImageExampleGen counts the quarantine over the
    single input split, so validate does too (2 of 203 is within 1 %)."""
    files = {"train": [f"a/{i}.png" for i in range(100)] + ["b/0.png", "a/x.webp", "b/y.webp"],
             "validation": [f"b/{i}.png" for i in range(50)],
             "test": [f"c/{i}.png" for i in range(50)]}
    layout = load_config(overrides=[f"data.root={_flat(tmp_path)}", "data.train_pattern=*/*",
                                    "data.eval_pattern="]).split_layout
    assert layout.hashed
    errors, notes = data_layout.undecodable_formats(files, 0.01, layout)
    # named as a user sees it, not by TFX's internal 'single_split' (helper-74)
    assert errors == [] and notes[0].startswith(
        "the class folders (one input, split by path hash into train / validation / test): "
        "2 of 203 files are .webp")
    assert "single_split" not in notes[0] and "stops the run" in notes[0]  # 2 allowed of 203
    assert data_layout.undecodable_formats(files, 0.01)[0]  # per split: 2 of 103, above 1 %


def test_a_split_exactly_at_its_quarantine_allowance_is_told_one_more_file_stops_the_run():
    """helper-74: validate reads headers, so 3 of 339 (the allowance) passed and the run then
    found a truncated JPEG too and failed; the note at the limit says so. Below it, no such
    words."""
    at = {"train": [f"a/{i}.png" for i in range(336)] + ["a/x.webp", "a/y.webp", "a/z.webp"]}
    _, notes = data_layout.undecodable_formats(at, 0.01)
    assert len(notes) == 1 and "3 of 339 files are .webp" in notes[0]
    assert notes[0].endswith("that is the most data.max_quarantine_fraction=1.0% allows here "
                             "(at most 3 of its 339 files): one more unreadable file, such as "
                             "a truncated one that only a full decode in the run finds, stops "
                             "the run")
    below = {"train": [f"a/{i}.png" for i in range(337)] + ["a/x.webp", "a/y.webp"]}
    _, notes = data_layout.undecodable_formats(below, 0.01)
    assert len(notes) == 1 and "stops the run" not in notes[0]


def _flat(root):
    for name in ("cat", "dog"):
        (root / name).mkdir()
        for i in range(60):
            (root / name / f"{i}.png").write_bytes(PNG)
    return root


def test_symbolic_links_to_an_image_the_splits_read_are_named(tmp_path):
    """helper-74: a link in a class folder to another image there was a second training example
    of that image, without a word. A link to a file outside the splits is an image like any
    other (no note)."""
    from pipeline.config.validate import data_notes
    _layout(tmp_path, 100)
    first = sorted(os.listdir(tmp_path / "train" / "cat"))[0]
    os.symlink(first, tmp_path / "train" / "cat" / "link.png")
    os.symlink(os.path.join("..", "..", "train", "cat", first),
               tmp_path / "eval" / "cat" / "moved.png")
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.png"
    outside.write_bytes((tmp_path / "train" / "cat" / first).read_bytes())
    os.symlink(outside, tmp_path / "train" / "dog" / "outside.png")
    config = load_config(overrides=[f"data.root={tmp_path}"])
    [note] = [n for n in data_notes(config) if "symbolic link" in n]
    assert note.startswith(f"2 image path(s) read a file another path of the splits reads "
                           f"too, through symbolic links (eval/cat/moved.png -> "
                           f"train/cat/{first}, train/cat/link.png -> train/cat/{first}): each "
                           f"path is read as its own example"), note
    assert "outside.png" not in note and "two labels" not in note
    (tmp_path / "train" / "cat" / "link.png").unlink()
    (tmp_path / "eval" / "cat" / "moved.png").unlink()
    assert not [n for n in data_notes(config) if "symbolic link" in n]
    # helper-77: a linked folder (every image in it read twice) and a link across class
    # folders (one image, two labels)
    os.symlink(os.path.join("..", "..", "train", "dog", "0.png"),
               tmp_path / "train" / "cat" / "dog0.png")
    config = load_config(overrides=[f"data.root={tmp_path}"])
    [note] = [n for n in data_notes(config) if "symbolic link" in n]
    assert "train/cat/dog0.png -> train/dog/0.png" in note and "1 of them under two class " \
        "folders, with two labels" in note, note
    (tmp_path / "train" / "cat" / "dog0.png").unlink()
    extra = tmp_path.parent / f"{tmp_path.name}-more"
    extra.mkdir()
    for i in range(30):
        (extra / f"{i}.png").write_bytes(PNG)
    os.symlink(extra, tmp_path / "train" / "bird")  # one folder outside, linked twice
    os.symlink(extra, tmp_path / "eval" / "bird")
    config = load_config(overrides=[f"data.root={tmp_path}"])
    [note] = [n for n in data_notes(config) if "symbolic link" in n]
    assert note.startswith("60 image path(s)") and "two labels" not in note, note
    assert f"eval/bird/0.png -> ../{extra.name}/0.png" in note, note


def test_jpegs_with_an_exif_orientation_are_named(tmp_path):
    """Phone photos stored sideways with an orientation tag: TensorFlow ignores the tag, so
    validate and the run's notes name them (upright JPEGs and PNGs are not named)."""
    import numpy as np
    from PIL import Image

    from pipeline.config.validate import data_notes
    _layout(tmp_path, 100)
    pixels = Image.fromarray(np.arange(48 * 32 * 3, dtype=np.uint8).reshape(32, 48, 3))
    exif = Image.Exif()
    exif[image_files.EXIF_ORIENTATION] = 6
    pixels.save(tmp_path / "train" / "cat" / "phone.jpg", exif=exif)
    upright = Image.Exif()
    upright[image_files.EXIF_ORIENTATION] = 1
    pixels.save(tmp_path / "train" / "dog" / "upright.jpg", exif=upright)
    pixels.save(tmp_path / "eval" / "dog" / "plain.JPG")
    pixels.save(tmp_path / "eval" / "cat" / "phone.png", exif=exif)  # a PNG eXIf chunk
    config = load_config(overrides=[f"data.root={tmp_path}"])
    [note] = [n for n in data_notes(config) if "EXIF" in n]
    assert note.startswith("2 image(s) carry an EXIF orientation")
    assert "train/cat/phone.jpg" in note and "eval/cat/phone.png" in note
    assert "upright.jpg" not in note and "exif_transpose" in note
    (tmp_path / "train" / "cat" / "phone.jpg").unlink()
    (tmp_path / "eval" / "cat" / "phone.png").unlink()
    assert not [n for n in data_notes(config) if "EXIF" in n]


def test_empty_files_and_animated_or_transparent_gifs_are_named(tmp_path):
    """A 0-byte file is quarantined and an animated GIF read as its first frame: validate and
    the run's notes say so up front (a one-frame GIF and the other files are not named); empty
    files above data.max_quarantine_fraction are a config error, as undecodable formats."""
    import numpy as np
    from PIL import Image

    from pipeline.config.validate import data_notes
    _layout(tmp_path, 100)
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (0, 128, 255)]
    frames[0].save(tmp_path / "train" / "cat" / "moving.gif", save_all=True,
                   append_images=frames[1:])
    frames[0].save(tmp_path / "train" / "dog" / "still.gif")
    (tmp_path / "eval" / "dog" / "empty.png").write_bytes(b"")
    config = load_config(overrides=[f"data.root={tmp_path}"])
    notes = data_notes(config)
    [empty] = [n for n in notes if "0-byte" in n]
    assert empty.startswith("split 'test': 1 of 201 files are empty (0-byte), which the run "
                            "will not read (TensorFlow decodes PNG, JPEG, GIF and BMP; "
                            "data.max_image_pixels caps the size)")
    assert empty.endswith("eval/dog/empty.png; they will be quarantined (not trained on): "
                          "replace the empty ones with the images to use them")
    [animated] = [n for n in notes if "animated" in n]
    assert animated.startswith("1 animated GIF(s): only the first frame is trained on")
    assert animated.endswith(": train/cat/moving.gif")
    assert not [n for n in notes if "transparent colour" in n]
    palette = frames[1].convert("P")
    used = int(np.asarray(palette)[0, 0])
    palette.save(tmp_path / "eval" / "cat" / "unused.gif", transparency=(used + 1) % 256,
                 optimize=False)  # a transparent index no pixel has: nothing to say
    assert not [n for n in data_notes(config) if "transparent colour" in n]
    (tmp_path / "eval" / "cat" / "unused.gif").unlink()
    palette.save(tmp_path / "eval" / "cat" / "clear.gif", transparency=used)
    [clear] = [n for n in data_notes(config) if "transparent colour" in n]
    assert clear == ("1 GIF(s) with a transparent colour: TensorFlow reads their transparent "
                     "pixels as black (0, 0, 0), in training and in the exported model, not as "
                     "data.alpha_background; convert them to PNG to keep the transparency: "
                     "eval/cat/clear.gif")
    (tmp_path / "eval" / "cat" / "clear.gif").unlink()
    (tmp_path / "train" / "cat" / "moving.gif").unlink()
    (tmp_path / "eval" / "dog" / "empty.png").unlink()
    assert not [n for n in data_notes(config) if "animated" in n or "0-byte" in n]
    for i in range(3):  # 3 of 203 > 1 %: the run would stop, so validate refuses
        (tmp_path / "eval" / "dog" / f"empty{i}.png").write_bytes(b"")
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[f"data.root={tmp_path}"])
    assert "3 of 203 files are empty (0-byte)" in str(e.value)
    assert "above data.max_quarantine_fraction=1.0%" in str(e.value)


def test_mirrored_copies_with_the_random_flip_is_a_note(tmp_path):
    from pipeline.config.validate import config_notes, data_notes, data_overview
    _layout(tmp_path, 100)
    root = f"data.root={tmp_path}"
    assert config_notes(load_config(overrides=[root])) == []  # defaults: no mirrored copies
    mirrored = [root, "trainer.augmentation.mirrored_copies=true",
                "trainer.augmentation.enabled=true"]
    both = load_config(overrides=mirrored)
    [note] = config_notes(both)
    assert note.startswith("trainer.augmentation.mirrored_copies with horizontal_flip")
    assert note in data_notes(both) and f"  note: {note}" in data_overview(both)
    for off in ("trainer.augmentation.horizontal_flip=false",
                "trainer.augmentation.enabled=false"):
        assert config_notes(load_config(overrides=[*mirrored, off])) == []


def test_a_class_name_in_another_unicode_form_is_named_as_such(tmp_path):
    """A folder named on macOS (NFD: 'e' + combining accent) and data.class_names typed as NFC
    look identical; the error says what differs instead of listing two equal-looking names."""
    import unicodedata

    import pytest
    nfc, nfd = "caf\u00e9", unicodedata.normalize("NFD", "caf\u00e9")
    layout = _layout(tmp_path, 100)
    files = {"train": [f"train/{nfd}/1.png", "train/dog/2.png"]}
    with pytest.raises(data_layout.LayoutError) as e:
        data_layout.check_classes(files, [nfc, "dog"], layout)
    message = str(e.value)
    assert "is 'caf\u00e9' written with other Unicode code points" in message
    assert "folder: NFD or mixed" in message and "data.class_names: NFC" in message
    assert "'0x301'" in message


def test_imbalanced_train_classes_get_one_note_with_what_class_weight_does():
    counts = {"train": {"tshirt": 124, "trouser": 14, "bag": 33}, "test": {"tshirt": 30}}
    (note,) = data_layout.imbalance(counts, "balanced")
    assert note.startswith("split 'train': classes are imbalanced, from 124 images of 'tshirt' "
                           "to 14 of 'trouser' (8.9:1); trainer.class_weight: balanced weighs")
    assert "trainer.class_weight: none, so the large classes dominate" in \
        data_layout.imbalance(counts, "none")[0]
    assert data_layout.imbalance({"train": {"a": 49, "b": 10}}, "balanced") == []  # 4.9:1


def _solid(path, height, width):
    """A one-colour RGB PNG of height x width pixels."""
    import numpy as np
    from PIL import Image
    Image.fromarray(np.full((height, width, 3), 5, np.uint8)).save(path)


def test_images_at_most_half_the_input_size_are_named(tmp_path, image_helpers):
    """An image whose shorter side is at most half model.image_size gets one note naming the
    smallest and the key; images above half the input size get none, nor does VGG16's smallest
    input (32 px), below which nothing can be set."""
    from pipeline.config.validate import data_notes
    image_helpers.png_tree(tmp_path, ("cat", "dog"), shape=(40, 60))
    config = load_config(overrides=[f"data.root={tmp_path}", "model.image_size=64"])
    assert not [n for n in data_notes(config) if "upscaled" in n]  # 40 px > 64 / 2
    _solid(tmp_path / "train" / "dog" / "t.png", 16, 9)
    _solid(tmp_path / "eval" / "cat" / "s.png", 30, 32)
    [note] = [n for n in data_notes(config) if "upscaled" in n]
    assert note.startswith("2 of 122 images are at most half the model's input size (64 px, "
                           "model.image_size) on their shorter side (smallest: train/dog/t.png, "
                           "9x16)")
    assert not [n for n in data_notes(load_config(overrides=[
        f"data.root={tmp_path}", "model.image_size=32"])) if "upscaled" in n]


def test_images_far_from_square_are_named_at_any_input_size(tmp_path, image_helpers):
    """An image 3 or more times as wide as tall (or tall as wide) gets one note naming the most
    extreme, also at the default 32 px where no upscaling note is given; 2:1 gets none."""
    from pipeline.config.validate import data_notes
    image_helpers.png_tree(tmp_path, ("cat", "dog"), shape=(40, 60))
    _solid(tmp_path / "train" / "cat" / "w.png", 20, 40)
    config = load_config(overrides=[f"data.root={tmp_path}"])
    assert not [n for n in data_notes(config) if "stretched" in n]  # 2:1
    _solid(tmp_path / "train" / "dog" / "s.png", 1, 28)
    _solid(tmp_path / "eval" / "cat" / "t.png", 90, 30)
    [note] = [n for n in data_notes(config) if "stretched" in n]
    assert note.startswith("2 of 123 images are 3 or more times as wide as tall or as tall as "
                           "wide (most: train/dog/s.png, 28x1): the model's input is square "
                           "(32x32)")
    assert not [n for n in data_notes(config) if "upscaled" in n]  # 32 px: nothing smaller


def test_upscaled_note_reads_an_even_sample_of_headers(tmp_path, monkeypatch):
    """Above UPSCALE_SAMPLE files, headers of an evenly spaced sample are read, and the note
    says the count is of a sample."""
    import numpy as np
    from PIL import Image
    monkeypatch.setattr(data_layout, "UPSCALE_SAMPLE", 5)
    (tmp_path / "a").mkdir()
    files = []
    for i in range(20):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a" / f"{i:02d}.png")
        files.append(f"a/{i:02d}.png")
    [note] = data_layout.size_notes(str(tmp_path), {"train": files}, 64)
    assert note.startswith("5 of 5 sampled images are at most half")


def test_class_folders_with_glob_characters_are_listed_and_a_root_with_them_is_refused(
        tmp_path, image_helpers):
    """`bag [2]` is a class folder like any other (listing escapes it); a data root holding
    `[` matches nothing in TensorFlow's glob, so it is a config error naming the characters and
    the remedy."""
    image_helpers.png_tree(tmp_path / "plain", ("bag [2]", "coat?"))
    config = load_config(overrides=[f"data.root={tmp_path / 'plain'}"])
    assert list(config.data.class_names) == ["bag [2]", "coat?"]
    assert data_layout.empty_class_folders(config.data_root, "train/*/*") == []
    assert len(data_layout.files_matching(config.data_root, "train/bag [2]/*")) == 0  # a glob
    assert len(data_layout.files_matching(config.data_root, "train/*/*")) == 60
    (tmp_path / "plain").rename(tmp_path / "photos [2023]")
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[f"data.root={tmp_path / 'photos [2023]'}"])
    assert str(e.value).startswith(f"data.root: {tmp_path / 'photos [2023]'} holds [, which "
                                   f"TFX's file patterns read as wildcards")
    os.symlink(tmp_path / "photos [2023]", tmp_path / "photos")  # the remedy it offers
    assert load_config(overrides=[f"data.root={tmp_path / 'photos'}"]).data.class_names == [
        "bag [2]", "coat?"]


def test_folders_no_split_reads_are_named_with_the_setting_for_a_val_folder(tmp_path,
                                                                           image_helpers):
    """train/ + val/ + test/: val/ is read by no split (validation is carved from train), so a
    note names it with the key that reads it; a loose unlabelled folder is named too; once
    eval_pattern reads val/, only the other is left; hidden folders are not named."""
    import numpy as np
    from PIL import Image

    from pipeline.config.validate import data_notes
    image_helpers.png_tree(tmp_path, ("cat", "dog"), splits=("train", "val", "test"))
    (tmp_path / "unlabelled").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "unlabelled" / "x.png")
    (tmp_path / ".cache").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / ".cache" / "x.png")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("no images here")
    [note] = [n for n in data_notes(load_config(overrides=[f"data.root={tmp_path}"]))
              if "no split reads" in n]
    assert note == ("folder(s) no split reads, holding images: unlabelled/ (1 image file(s)), "
                    "val/ (60 image file(s)); the splits read test/*/*, train/*/*; to validate "
                    "on val/ instead of a part carved from train, --set "
                    "'data.eval_pattern=val/*/*'")
    config = load_config(overrides=[f"data.root={tmp_path}", "data.eval_pattern=val/*/*"])
    [note] = [n for n in data_notes(config) if "no split reads" in n]
    assert note.startswith("folder(s) no split reads, holding images: unlabelled/ (1 image "
                           "file(s)); the splits read test/*/*, train/*/*, val/*/*")
    assert "eval_pattern" not in note


def test_a_test_folder_without_images_is_named_with_the_split_held_out_instead(
        tmp_path, image_helpers):
    """test/<class>/ folders made but not filled yet: test/ matches nothing, so eval/ is the
    held-out split; a note says so instead of saying nothing. Filled, test/ is read: no note."""
    import shutil

    from pipeline.config.validate import data_notes
    image_helpers.png_tree(tmp_path, ("cat", "dog"), splits=("train", "eval"))
    for name in ("cat", "dog"):
        (tmp_path / "test" / name).mkdir(parents=True)
    notes = data_notes(load_config(overrides=[f"data.root={tmp_path}"]))
    assert ("folder(s) named like a split but holding no image file: test/; no split reads "
            "them (the held-out test split is eval/*/*)") in notes
    for name in ("cat", "dog"):
        for i in range(3):
            shutil.copy(tmp_path / "eval" / name / f"{i}.png", tmp_path / "test" / name)
    config = load_config(overrides=[f"data.root={tmp_path}"])
    assert config.split_layout.patterns["test"] == "test/*/*"
    assert not [n for n in data_notes(config) if "named like a split" in n]


def test_a_class_folder_whose_name_breaks_labels_txt_is_a_config_error(tmp_path, image_helpers):
    """labels.txt holds one name per line: a folder named 'cat\\ndog' would shift every later
    index for a client reading it; ' cat' would be read back as 'cat'. Refused up front, the
    folder named."""
    for i, (bad, what) in enumerate((("cat\ndog", "U+000A"),
                                     ("cat ", "leading or trailing white space"),
                                     ("a\x1b[31mb", "U+001B"))):
        root = tmp_path / str(i)
        image_helpers.png_tree(root, (bad, "zebra"), per_class=3)
        with pytest.raises(ConfigError) as e:
            load_config(overrides=[f"data.root={root}"])
        assert f"data.class_names: class {bad!r} has" in str(e.value) and what in str(e.value)
        assert "rename its folder" in str(e.value)


def test_a_root_named_dot_or_slash_never_puts_outputs_in_outputs_or_the_project():
    from pipeline.config.schema import data_set_name
    assert data_set_name("/") == data_set_name(".") == data_set_name("..") == "data"
    assert data_set_name("/x/my photos/") == "my_photos"


def test_files_the_run_would_quarantine_are_judged_from_their_headers(tmp_path):
    """A scraper's HTML error page saved as .jpg, WEBP bytes saved as .jpg and an image above
    data.max_image_pixels are quarantined by the run from the header alone: validate names
    each with its kind, counts them per split against the limit, and refuses above it."""
    import io

    from PIL import Image

    from pipeline.config.validate import data_notes
    _layout(tmp_path, 100)
    (tmp_path / "train" / "cat" / "page.jpg").write_bytes(b"<!DOCTYPE html><html>404</html>")
    config = load_config(overrides=[f"data.root={tmp_path}"])
    [note] = [n for n in data_notes(config) if "page.jpg" in n]
    assert "are not images (content Pillow does not recognise" in note
    webp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(webp, "WEBP")  # 16 pixels
    (tmp_path / "eval" / "dog" / "scraped.jpg").write_bytes(webp.getvalue())
    Image.new("RGB", (8, 8)).save(tmp_path / "eval" / "dog" / "big.png")  # 64 pixels
    (tmp_path / "eval" / "cat" / "page.JPG").write_bytes(b"<html><body>Forbidden</body></html>")
    with pytest.raises(ConfigError) as e:  # 3 of 203 test files: above 1 % of that split
        load_config(overrides=[f"data.root={tmp_path}", "data.max_image_pixels=32"])
    message = str(e.value)
    assert message.startswith(
        "data.root: split 'test': 3 of 203 files are WEBP inside .jpg, above "
        "data.max_image_pixels, not images (content Pillow does not recognise: an HTML page "
        "saved as .jpg?), which the run will not read")
    for listed in ("eval/dog/big.png (above data.max_image_pixels)",
                   "eval/dog/scraped.jpg (WEBP inside .jpg)", "eval/cat/page.JPG (not images"):
        assert listed in message
    assert ("above data.max_quarantine_fraction=1.0% of the split (at most 2 of its 203 "
            "files): convert them to PNG or JPEG; replace the ones that are not images with "
            "the images; shrink the large ones (or raise data.max_image_pixels), or remove "
            "them") in message
    # the run judges them the same way (ImageExampleGen's reasons)
    from components.image_example_gen.executor import image_file_to_example
    for name, reason in (("scraped.jpg", "format WEBP is not decodable by TensorFlow"),
                         ("big.png", "above max_image_pixels=32")):
        example, why = image_file_to_example(str(tmp_path / "eval" / "dog" / name),
                                             str(tmp_path), ["cat", "dog"], 32)
        assert example is None and reason in why


def test_a_class_whose_files_are_all_unreadable_in_a_split_is_an_error(tmp_path):
    """Within the one-file allowance, but the only image of 'dog' in eval/ is an HTML page:
    the run would stop at ImageExampleGen (no readable image of the class), so validate
    refuses first (review helper-52)."""
    _layout(tmp_path, 100)
    for f in (tmp_path / "eval" / "dog").iterdir():
        f.unlink()
    (tmp_path / "eval" / "dog" / "only.jpg").write_bytes(b"<html>Access denied</html>")
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[f"data.root={tmp_path}"])
    assert ("split 'test': class 'dog' has no readable image: all 1 of its files there would be "
            "quarantined (eval/dog/only.jpg: not images") in str(e.value)


def test_pngs_whose_transparency_is_a_colour_key_are_named(tmp_path):
    """helper-60: an RGB or grayscale PNG with a tRNS colour key shows transparent in viewers,
    but the Transform (TensorFlow's decoder) reads the keyed colour as stored, not as
    data.alpha_background; validate names such files. RGBA and palette PNGs are composited,
    not named."""
    import io

    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from modules.preprocessing import decode_and_resize
    from pipeline.config.validate import data_notes
    _layout(tmp_path, 20)
    black = np.zeros((8, 8, 3), np.uint8)
    black[:4] = 200
    Image.fromarray(black).save(tmp_path / "train" / "cat" / "keyed.png", transparency=(0, 0, 0))
    Image.fromarray(black[..., 0]).save(tmp_path / "eval" / "dog" / "grey.png", transparency=0)
    Image.fromarray(black).convert("RGBA").save(tmp_path / "train" / "dog" / "alpha.png")
    Image.fromarray(black).convert("P").save(tmp_path / "train" / "dog" / "palette.png",
                                             transparency=0)
    config = load_config(overrides=[f"data.root={tmp_path}"])
    [note] = [n for n in data_notes(config) if "colour key" in n]
    assert note == ("2 PNG(s) whose transparency is a colour key (tRNS, no alpha channel): "
                    "TensorFlow reads the keyed colour as stored, in training and in the "
                    "exported model, not as data.alpha_background; save them with an alpha "
                    "channel (RGBA) to composite them: train/cat/keyed.png, eval/dog/grey.png")
    # what the note says: the keyed black stays black through the Transform's decode
    data = (tmp_path / "train" / "cat" / "keyed.png").read_bytes()
    assert Image.open(io.BytesIO(data)).convert("RGBA").getpixel((0, 7))[3] == 0  # viewers
    pixels = decode_and_resize(tf.constant(data), 8).numpy()
    assert (pixels[7] == 0).all() and (pixels[0] == 200).all()
