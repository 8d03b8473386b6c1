"""pipeline/span_labels.py: spans trained together share their labels. Real ImageExampleGen
ingestions into real MLMD: span 1 labelled with the classes of its time, then a new class folder
sorts in between; `run` and `retrain` refuse before any work, naming the spans and the class whose
label moved, and accept a class list that keeps the old labels."""
import shutil

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.span_labels import ingested_class_names, label_conflict


def test_label_conflict_names_the_class_whose_label_moved():
    assert label_conflict(["a", "c"], ["a", "c", "b"]) is None  # a new class after the old ones
    assert label_conflict(["a", "c"], ["a", "c"]) is None
    assert label_conflict(["a", "c"], ["a", "b", "c"]) == "'c' is label 1 there and 2 here"
    assert label_conflict(["a", "b", "c"], ["a", "c"]) == "'b' (label 1 there) is not a class here"


def _span(root, real_png, span, classes, per_class=30):
    for cls in classes:
        d = root / f"span-{span}" / cls
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shutil.copy(real_png, d / f"a{i:02d}.png")


@pytest.mark.slow
def test_a_class_inserted_before_old_ones_is_refused_before_any_work(tmp_path, real_png):
    from pipeline.local_runner import run
    from pipeline.retrain import ingest_span, retrain
    data = tmp_path / "incoming"
    _span(data, real_png, 1, ["boot", "trouser"])
    sets = [f"data.root={data}", "data.train_pattern=span-{SPAN}/*/*", "data.eval_pattern=",
            f"output.root={tmp_path / 'out'}", "retrain.num_spans=2"]
    old = load_config(overrides=sets)
    assert old.data.class_names == ["boot", "trouser"]
    ingest_span(old, 1)  # labelled boot=0, trouser=1
    assert ingested_class_names(old) == {1: ["boot", "trouser"]}

    _span(data, real_png, 2, ["boot", "sandal", "trouser"])  # 'sandal' sorts in between
    new = load_config(overrides=sets)
    assert new.data.class_names == ["boot", "sandal", "trouser"]
    for entry in (lambda: retrain(new), lambda: run(new)):
        with pytest.raises(ConfigError) as e:
            entry()
        message = str(e.value)
        assert "span(s) [1]" in message and "'trouser' is label 1 there and 2 here" in message
        assert 'class_names: ["boot", "trouser", "sandal"]` under `data:`' in message
        assert "--set retrain.num_spans=1" in message
    assert ingested_class_names(new) == {1: ["boot", "trouser"]}  # nothing ingested or run

    from pipeline.span_labels import check_span_labels
    check_span_labels(load_config(overrides=sets + ['data.class_names=["boot", "trouser", '
                                                    '"sandal"]']))  # the old labels hold
    check_span_labels(load_config(overrides=sets + ["retrain.num_spans=1"]))
    # the resolver trains on ingested spans whether or not their folders are still on disk
    shutil.rmtree(data / "span-1")
    with pytest.raises(ConfigError, match=r"span\(s\) \[1\]"):
        check_span_labels(new)


def test_retrain_refuses_to_backfill_a_span_without_a_class_folder(tmp_path, real_png):
    """retrain ingests the window's older spans first, with this run's classes: a span lacking
    one would fail ImageExampleGen after work; refused up front, naming span and class."""
    from pipeline.span_labels import check_span_labels
    data = tmp_path / "incoming"
    _span(data, real_png, 1, ["boot", "trouser"])
    _span(data, real_png, 2, ["boot", "sandal", "trouser"])
    config = load_config(overrides=[
        f"data.root={data}", "data.train_pattern=span-{SPAN}/*/*", "data.eval_pattern=",
        f"output.root={tmp_path / 'out'}", "retrain.num_spans=2"])
    check_span_labels(config)  # run does not backfill: nothing ingested, nothing mixed
    with pytest.raises(ConfigError, match=r"span\(s\) \[1\] .*class\(es\) \{1: \['sandal'\]\}"):
        check_span_labels(config, backfill=True)
