"""components/export_pusher/client_check.py: the per-file table, the summary line and the
MODEL.md section (the check itself runs on a real pushed version in
tests/e2e/test_deployed_contract.py)."""
import csv

import numpy as np

from components.export_pusher import client_check, contract


def test_the_predictions_file_has_one_row_per_file_with_the_tflites_class_and_probability(
        tmp_path):
    path = tmp_path / client_check.PREDICTIONS_FILE
    probs = np.array([[0.2], [0.5], [0.9]], np.float32)  # binary: P(class 1); 0.5 is class 1
    reference = np.array([[0.1], [0.4], [0.8]], np.float32)
    client_check._write_predictions(str(path), ["test/a/1.png", "test/b/2.jpg", "test/b/3.png"],
                                    np.array([0, 0, 1]), probs, reference, ["a", "b"])
    assert [p.name for p in tmp_path.iterdir()] == [client_check.PREDICTIONS_FILE]  # no .tmp
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["path"], r["label"], r["tflite_class"], r["saved_model_class"]) for r in rows] == [
        ("test/a/1.png", "a", "a", "a"), ("test/b/2.jpg", "a", "b", "a"),
        ("test/b/3.png", "b", "b", "b")]
    # the probability of the .tflite's own class, and each class's (binary: 1 - p, p)
    assert [float(r["tflite_class_probability"]) for r in rows] == [0.8, 0.5, 0.9]
    assert [(float(r["p(a)"]), float(r["p(b)"])) for r in rows] == [(0.8, 0.2), (0.5, 0.5),
                                                                    (0.1, 0.9)]


def test_the_predictions_file_gives_every_class_probability_for_many_classes(tmp_path):
    path = tmp_path / client_check.PREDICTIONS_FILE
    probs = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]], np.float32)
    client_check._write_predictions(str(path), ["x.png", "y.png"], np.array([1, 2]), probs,
                                    probs, ["t shirt, top", "靴", "c"])
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "label", "tflite_class", "tflite_class_probability",
                             "saved_model_class", "p(t shirt, top)", "p(靴)", "p(c)"]
    assert [(r["label"], r["tflite_class"], float(r["tflite_class_probability"])) for r in rows] \
        == [("靴", "靴", 0.7), ("c", "t shirt, top", 0.6)]
    assert float(rows[1]["p(靴)"]) == 0.3


def test_summary_line_and_model_card_section():
    check = {"file": "model_int8.tflite", "split": "test", "examples": 60, "accuracy": 0.9,
             "same_class_as_saved_model": 0.9833, "saved_model_bytes_accuracy": 0.9167,
             "predictions_file": "client_predictions.csv", "recipe": client_check.RECIPE}
    assert client_check.summary_line(check) == (
        "client check: model_int8.tflite on 60 test image files prepared as MODEL.md says "
        "(Pillow, LiteRT): acc=0.9000, same class as the SavedModel's serving_bytes on 98.3% "
        "(its acc=0.9167); per file: client_predictions.csv")
    other = dict(check, same_sample_as_report=False)
    assert client_check.summary_line(other).endswith(
        "(its acc=0.9167); another sample of the split than the report's (the record orders "
        "differ); per file: client_predictions.csv")
    failed = {k: v for k, v in check.items()  # as run() records a LiteRT failure
              if k not in ("accuracy", "same_class_as_saved_model", "predictions_file")}
    failed["error"] = "LiteRT process failed (exit code 1): boom"
    assert client_check.summary_line(failed) == (
        "client check: model_int8.tflite on the test split's image files could not run: LiteRT "
        "process failed (exit code 1): boom")
    built = contract.build(["a", "b"], 32, [255.0] * 3, {}, deployed="model_int8.tflite",
                           client_check=check)
    card = contract.model_card(built)
    assert "## Checking your client" in card
    assert "`client_predictions.csv` holds what these steps" in card
    assert "with `model_int8.tflite` on 60 image files of the `test` split" in card
    assert "## Checking your client" not in contract.model_card(
        contract.build(["a", "b"], 32, [255.0] * 3, {}, client_check=failed))


def test_model_card_shows_each_class_name_literally_whatever_backticks_or_html_it_holds():
    """A folder named 'a` <img src=x onerror=alert(1)> `b' must not end its code span and put
    raw HTML into MODEL.md: the span's fence is longer than any backtick run in the name."""
    evil = "a` <img src=x onerror=alert(1)> `b"
    card = contract.model_card(contract.build([evil, "``x", "plain"], 32, [255.0] * 3, {}))
    line = next(ln for ln in card.splitlines() if ln.startswith("Classes (3)"))
    assert f"0 = ``{evil}``" in line and "1 = ``` ``x ```" in line and "2 = `plain`" in line
    assert contract.code_span("`") == "`` ` ``"


def test_model_card_says_when_a_files_quantized_output_decided_classes_by_ties():
    """helper-66: 3.9 % of the held-out images had their top two int8 probabilities equal;
    MODEL.md said only 'float32 ... argmax'."""
    io = {"input": {"name": "x", "dtype": "float32", "shape": [1, 32, 32, 3]},
          "output": {"name": "y", "dtype": "float32", "shape": [1, 3]}}
    built = contract.build(["coat", "shirt", "bag"], 32, [255.0] * 3,
                           {"model_int8.tflite": {**io, "held_out_top_ties": 9 / 231},
                            "model_float32.tflite": {**io, "held_out_top_ties": 0.0}})
    assert built["tflite"]["model_int8.tflite"]["output"]["held_out_ties"] == 9 / 231
    assert "held_out_ties" not in built["tflite"]["model_float32.tflite"]["output"]
    card = contract.model_card(built)
    line = next(x for x in card.splitlines() if x.startswith("- `model_int8.tflite`"))
    assert ("Its probabilities are quantized: on 3.9% of the report's held-out sample the "
            "class was decided by a tie (the two largest probabilities are equal and argmax takes the "
            "lower class index (the earlier name in labels.txt))") in line
    assert "quantized" not in next(x for x in card.splitlines()
                                   if x.startswith("- `model_float32.tflite`"))
    binary = contract.build(["a", "b"], 32, [255.0] * 3,
                            {"model_int8.tflite": {**io, "held_out_top_ties": 0.02}})
    assert binary["tflite"]["model_int8.tflite"]["output"]["tie_rule"] == \
        "exactly 0.5 counts as class 1"


def test_model_card_says_how_few_values_a_quantized_file_returns():
    """helper-70: the int8 file returned 52 distinct probabilities on 1,200 images and only
    ..., 0.4531, 0.5000, 0.5469, ... near 0.5 (the logit is quantized before the sigmoid), while
    the docs spoke of steps of 1/256: MODEL.md now gives the values; a float file gets no such
    sentence."""
    import numpy as np

    from modules.metrics import output_values
    io = {"input": {"name": "x", "dtype": "float32", "shape": [1, 32, 32, 3]},
          "output": {"name": "y", "dtype": "float32", "shape": [1, 1]}}
    int8 = np.array([[0.4531], [0.5], [0.5469], [0.5469], [0.9], [0.1]] * 20, np.float32)
    floats = np.linspace(0.01, 0.99, 120, dtype=np.float32)[:, None]
    assert output_values(int8) == {"examples": 120, "distinct": 5,
                                   "around_threshold": [float(np.float32(0.4531)), 0.5,
                                                        float(np.float32(0.5469))]}
    built = contract.build(["a", "b"], 32, [255.0] * 3,
                           {"model_int8.tflite": {**io, "held_out_values": output_values(int8),
                                                  "int8_output_layer": "int8"},
                            "model_float32.tflite": {**io,
                                                     "held_out_values": output_values(floats)}})
    assert built["tflite"]["model_int8.tflite"]["output"]["held_out_values"]["distinct"] == 5
    assert "held_out_values" not in built["tflite"]["model_float32.tflite"]["output"]
    card = contract.model_card(built)
    line = next(x for x in card.splitlines() if x.startswith("- `model_int8.tflite`"))
    assert " int8 throughout, its output layer too. On the report's 120" in line, line
    assert ("On the report's 120 held-out images it returned only 5 distinct probabilities, "
            "around the 0.5 threshold 0.4531, 0.5000, 0.5469: a threshold between two of these "
            "acts as either; rank or threshold finely with a float file or the SavedModel.") \
        in line, line
    assert "distinct" not in next(x for x in card.splitlines()
                                  if x.startswith("- `model_float32.tflite`"))
    # the shared sentence no longer gives the SavedModel's [batch, 1] for the .tflite files
    assert ("the output holds that image's probabilities (its shape above): P(class 1 = "
            "'b')") in card, card
    softmax = output_values(np.array([[0.5, 0.3, 0.2], [0.5, 0.25, 0.25]], np.float32))
    assert softmax == {"examples": 2, "distinct": 1}  # the top probability's values
    floated = contract.model_card(contract.build(["a", "b"], 32, [255.0] * 3, {
        "model_int8.tflite": {**io, "int8_output_layer": "float32"}}))
    assert ("int8 inside but for its output layer (the last Dense and its sigmoid/softmax), "
            "which runs in float32.") in floated
