"""pipeline/predict.py: which pushed model `predict` uses when none is given, and the error when
this data set has none (naming other data sets' serving dirs that do)."""
import os

import pytest

from pipeline.predict import PredictError, newest_version


def _version(serving, n):
    os.makedirs(os.path.join(serving, str(n), "saved_model"))
    open(os.path.join(serving, str(n), "saved_model", "saved_model.pb"), "wb").close()


def test_newest_numeric_version_is_used(tmp_path):
    serving = tmp_path / "outputs" / "mine" / "serving"
    for n in (2, 10, 9):
        _version(serving, n)
    os.makedirs(serving / "_staging-11")  # not a version
    os.makedirs(serving / "9999999999")  # made by hand, no model in it (helper-62)
    assert newest_version(str(serving)) == str(serving / "10")
    for n in (2, 10, 9):
        os.remove(serving / str(n) / "saved_model" / "saved_model.pb")
    with pytest.raises(PredictError, match=r"numbered folders \(9, 10, 9999999999\) hold no "
                                           r"saved_model/saved_model.pb"):
        newest_version(str(serving))


def test_no_model_names_other_data_sets_with_models(tmp_path):
    outputs = tmp_path / "outputs"
    _version(outputs / "my_photos" / "serving", 1)
    os.makedirs(outputs / "empty_one" / "serving")  # no versions: not named
    serving = outputs / "fashion_binary" / "serving"
    with pytest.raises(PredictError) as e:
        newest_version(str(serving))
    message = str(e.value)
    assert message.startswith(f"no pushed model under {serving}")
    assert str(outputs / "my_photos" / "serving") in message
    assert "empty_one" not in message
    assert "--set data.root=" in message and "--model" in message


def test_no_model_and_no_other_data_sets(tmp_path):
    with pytest.raises(PredictError, match=r"run the pipeline first \(make run\) or pass "
                                           r"--model DIR\|FILE.tflite \(a run with --set "
                                           r"output.root=DIR pushes under DIR/serving: give "
                                           r"predict the same --set\)$"):
        newest_version(str(tmp_path / "outputs" / "x" / "serving"))


def test_no_model_after_runs_says_none_was_blessed_not_run_first(tmp_path):
    """helper-66: after a run whose model was not blessed, predict said 'run the pipeline
    first'."""
    root = tmp_path / "outputs" / "closet"
    root.mkdir(parents=True)
    (root / "metadata.sqlite").write_bytes(b"")  # a run was made on this output root
    with pytest.raises(PredictError) as e:
        newest_version(str(root / "serving"))
    assert str(e.value).startswith(
        f"no pushed model under {root / 'serving'}: no run on this output root has pushed a "
        f"model (`python -m pipeline report` with the same --set says why: a failed gate, a "
        f"refused push, a run that stopped or is still running) or pass --model")
    assert "run the pipeline first" not in str(e.value)
    # a configured output.serving_dir elsewhere: the output root's MLMD is given (helper-68)
    with pytest.raises(PredictError) as e:
        newest_version(str(tmp_path / "srv" / "models"), str(root / "metadata.sqlite"))
    assert "no run on this output root has pushed a model" in str(e.value)
    with pytest.raises(PredictError, match="run the pipeline first"):
        newest_version(str(tmp_path / "srv" / "models"), str(tmp_path / "none.sqlite"))


def test_a_configured_serving_dir_gets_no_hint_about_its_siblings(tmp_path):
    """output.serving_dir=/srv/models: folders beside it are not this project's data sets."""
    _version(tmp_path / "unrelated" / "models", 1)
    with pytest.raises(PredictError) as e:
        newest_version(str(tmp_path / "srv" / "models"))
    assert "other output roots" not in str(e.value)


def test_predict_silences_tensorflows_start_up_lines_unless_a_level_is_set(
        tmp_path, monkeypatch, capsys):
    from pipeline.__main__ import main
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert main(["predict", "--model", str(tmp_path / "none.tflite"), "x.png"]) != 0
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # the user's choice is kept
    main(["predict", "--model", str(tmp_path / "none.tflite"), "x.png"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
