"""pipeline/predict.py's input handling (no model): folders expand to their images, and an
unreadable image is named without stopping the others."""
import pytest
from PIL import Image

from components.image_example_gen.executor import image_file_to_example
from pipeline.predict import PredictError, check_images, expand_paths

MAX_PIXELS = 25_000_000  # data.max_image_pixels' default


def _png(path, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 20, 30)).save(path)
    return str(path)


def test_a_folder_expands_to_its_images_recursively_sorted(tmp_path):
    b = _png(tmp_path / "imgs" / "b.png")
    a = _png(tmp_path / "imgs" / "sub" / "a.png")
    (tmp_path / "imgs" / "notes.txt").write_text("x")
    _png(tmp_path / "imgs" / ".hidden.png")
    _png(tmp_path / "imgs" / ".cache" / "c.png")
    _png(tmp_path / "imgs" / "__MACOSX" / "sub" / "a.png")  # a macOS zip's metadata folder
    single = _png(tmp_path / "one.png")
    skipped = []
    assert expand_paths([single, str(tmp_path / "imgs")], skipped) == [single, b, a]
    assert skipped == [str(tmp_path / "imgs" / "notes.txt")]  # named, hidden ones not


def test_a_folder_without_images_and_no_argument_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(PredictError, match=r"folder .*empty: no image files in it"):
        expand_paths([str(tmp_path / "empty")])
    with pytest.raises(PredictError, match="no image given"):
        expand_paths([])
    # beside other arguments, an empty folder is one problem line and the rest goes on
    good = _png(tmp_path / "good.png")
    problems = []
    assert expand_paths([str(tmp_path / "empty"), good], problems=problems) == [good]
    assert problems == [f"folder {tmp_path / 'empty'}: no image files in it (PNG, JPEG, GIF, BMP "
                        f"by extension)"]


def test_unreadable_images_are_named_and_the_others_kept(tmp_path):
    good = _png(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    gone = str(tmp_path / "gone.jpg")
    usable, problems = check_images([str(bad), good, gone], MAX_PIXELS)
    assert usable == [good]
    assert problems == [f"image {bad}: not a decodable image (UnidentifiedImageError: content is "
                        f"not an image format Pillow recognises)", f"image {gone}: no such file"]
    with pytest.raises(PredictError, match=r"bad.png: not a decodable image.*gone.jpg: no such"):
        check_images([str(bad), gone], MAX_PIXELS)


def test_an_empty_file_is_named_as_the_run_names_it(tmp_path):
    good = _png(tmp_path / "good.png")
    empty = tmp_path / "zero.png"
    empty.write_bytes(b"")
    assert check_images([str(empty), good], MAX_PIXELS) == ([good], [f"image {empty}: empty file"])


def test_class_names_come_from_the_report_then_labels_txt_and_never_as_bare_numbers(tmp_path):
    """report.json's contract names the classes exactly; labels.txt is the fallback; with
    neither holding as many names as the model has outputs, '#i' (a class may be named '1')
    and a note saying so."""
    import json

    from pipeline.predict import class_names_for
    (tmp_path / "labels.txt").write_text("10\n2\n")
    assert class_names_for(str(tmp_path), 2) == ["10", "2"]
    (tmp_path / "report.json").write_text(json.dumps({"contract": {"class_names": ["1", "0"]}}))
    assert class_names_for(str(tmp_path), 2) == ["1", "0"]  # the report wins
    notes = []
    assert class_names_for(str(tmp_path), 3, notes) == ["#0", "#1", "#2"]
    assert notes == [f"no class names for this model's 3 outputs in {tmp_path} (report.json or "
                     f"labels.txt: labels.txt has 2 line(s)): classes are shown as their index, "
                     f"#0 to #2"]


def test_an_image_the_run_would_quarantine_is_refused_with_the_runs_reason(tmp_path):
    """One rule (image_files.content_problem) for the run's quarantine and predict: an image
    above data.max_image_pixels, a truncated one and a format TensorFlow does not decode."""
    good = _png(tmp_path / "c" / "good.png", size=(8, 8))
    large = _png(tmp_path / "c" / "large.png", size=(8, 9))
    truncated = tmp_path / "c" / "cut.png"
    noise = Image.frombytes("RGB", (8, 8), bytes(range(192)))
    whole = tmp_path / "whole.png"
    noise.save(whole)
    truncated.write_bytes(whole.read_bytes()[:-30])
    tiff = tmp_path / "c" / "scan.png"
    Image.new("RGB", (8, 8)).save(tiff, format="TIFF")
    paths = [good, large, str(truncated), str(tiff)]
    usable, problems = check_images(paths, max_pixels=64)
    assert usable == [good]
    assert problems[0] == f"image {large}: image is 8x9 = 72 pixels, above max_image_pixels=64"
    for path, problem in zip(paths[1:], problems):
        reason = image_file_to_example(path, str(tmp_path), ["c"], 64)[1]
        assert reason and problem == f"image {path}: {reason}"
    assert "TIFF" in problems[2] and "truncated" in problems[1].lower()


def test_a_prediction_decided_by_a_tie_says_so():
    """helper-66: `predict` printed 'coat (0.4492)' for an int8 output where shirt had 0.4492
    too."""
    from pipeline.predict import Prediction, format_predictions
    text = format_predictions("/m.tflite", [
        Prediction("a.png", "coat", 0.44921875, [0.44921875, 0.44921875, 0.1015625],
                   ["shirt"]),
        Prediction("b.png", "bag", 0.9, [0.05, 0.05, 0.9])])
    assert text.splitlines() == [
        "model: /m.tflite",
        "a.png: coat (0.4492) (a tie with shirt: the model's output gives them the same "
        "probability)",
        "b.png: bag (0.9000)"]


def test_predict_names_the_classes_tied_with_the_predicted_one(tmp_path, monkeypatch):
    """predict() itself finds the ties in the model's output (helper-68: the test above builds
    its Prediction by hand). The LiteRT process is replaced by int8-like probabilities: what is
    tested is what predict does with them."""
    import json

    import numpy as np

    import pipeline.predict as predict_lib
    version = tmp_path / "serving" / "7"
    version.mkdir(parents=True)
    (version / "report.json").write_text(json.dumps({"contract": {
        "class_names": ["coat", "shirt", "bag"]}}))
    model = version / "model_int8.tflite"
    model.write_bytes(b"not read: LiteRT is replaced below")
    images = [_png(tmp_path / "imgs" / f"{n}.png") for n in ("a", "b")]
    step = 1 / 256
    outputs = np.array([[115 * step, 115 * step, 26 * step], [0.1, 0.2, 0.7]], np.float32)
    monkeypatch.setattr(predict_lib, "tflite_probabilities", lambda *args, **kwargs: outputs)
    _, predictions, problems = predict_lib.predict(images, str(model), str(tmp_path / "serving"),
                                                   MAX_PIXELS)
    assert problems == []
    assert [(p.class_name, p.tied_with) for p in predictions] == [("coat", ["shirt"]),
                                                                   ("bag", [])]
