"""Fast checks of the retraining pieces: span patterns, the window, the single-split layout, the
span resolver, the re-entrant lock and the CLI's config errors (the real runs are in
tests/e2e/test_retrain_spans.py)."""
import os
import shutil

import pytest
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_artifacts

from pipeline.__main__ import main
from pipeline.config import (ConfigError, has_span, load_config, pattern_for_span,
                             spans_on_disk)
from modules.splits import SINGLE_SPLIT
from pipeline.pipeline import example_gen_io
from pipeline.resolvers import BaselineModelStrategy, SpanWindowStrategy, blessed_model_ids
from pipeline.retrain import check_span_layout, span_window
from pipeline.run_lock import AlreadyRunningError, run_lock


def _spans(root, real_png, spans, classes=("shirt", "tshirt_top"), fmt="span-{}", per_class=30):
    """`per_class` copies of a real PNG per class per span: enough for the path-hash split to give
    every class images in train, validation and test."""
    for span in spans:
        for cls in classes:
            d = root / fmt.format(span) / cls
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                shutil.copy(real_png, d / f"a{i:02d}.png")
    return root


def test_span_patterns(tmp_path, real_png):
    assert has_span("span-{SPAN}/*/*") and has_span("{SPAN:3}/*") and not has_span("train/*/*")
    assert pattern_for_span("span-{SPAN}/*/*", 12) == "span-12/*/*"
    assert pattern_for_span("s{SPAN:3}/v{VERSION}/*", 7) == "s007/v*/*"
    _spans(tmp_path, real_png, [1, 2, 10])
    (tmp_path / "span-11").mkdir()  # no files: not a span
    (tmp_path / "span-x" / "shirt").mkdir(parents=True)
    shutil.copy(real_png, tmp_path / "span-x" / "shirt" / "a.png")
    assert spans_on_disk(str(tmp_path), "span-{SPAN}/*/*") == [1, 2, 10]


def test_span_window():
    assert span_window([1, 2, 3, 5], 1) == [5]
    assert span_window([1, 2, 3, 5], 3) == [3, 5]  # span 4 never arrived
    assert span_window([], 2) == []
    from pipeline.data_layout import missing_in_window
    assert missing_in_window([1, 2, 3, 5], 3) == [4]  # named on validate's and retrain's lines
    assert missing_in_window([1, 3], 3) == [2] and missing_in_window([], 2) == []
    assert missing_in_window([1], 2) == [] and missing_in_window([4, 5], 3) == []  # no span 0


def test_the_span_resolver_reads_the_window_on_disk_not_the_newest_ingested(tmp_path, real_png):
    """Run locally, Transform's window is the spans on disk in the window ending at the newest
    span on disk (a span folder removed after its ingestion is not read, at the end of the
    window or inside it); compiled, or a layout without {SPAN}, a RollingRange as before."""
    from pipeline.pipeline import span_window
    _spans(tmp_path / "spans", real_png, [1, 2, 3, 5])
    config = load_config(overrides=[f"data.root={tmp_path / 'spans'}",
                                    "data.train_pattern=span-{SPAN}/*/*",
                                    "data.eval_pattern=", "retrain.num_spans=3"])
    window = span_window(config)
    assert (window["range_config"].static_range.start_span_number,
            window["range_config"].static_range.end_span_number, window["spans"]) == (3, 5, [3, 5])
    shutil.rmtree(tmp_path / "spans" / "span-5")
    window = span_window(config)
    assert (window["range_config"].static_range.start_span_number,
            window["range_config"].static_range.end_span_number, window["spans"]) == (1, 3,
                                                                                      [1, 2, 3])
    shutil.rmtree(tmp_path / "spans" / "span-2")
    assert span_window(config)["spans"] == [1, 3]
    compiled = span_window(config, kubeflow=True)
    assert compiled["range_config"].rolling_range.num_spans == 3 and "spans" not in compiled
    # a tree without {SPAN} (helper-46: spans_on_disk raised IndexError on it)
    for split in ("train", "eval"):
        _spans(tmp_path / "flat", real_png, [0], fmt=split)
    flat = load_config(overrides=[f"data.root={tmp_path / 'flat'}", "retrain.num_spans=3"])
    assert span_window(flat)["range_config"].rolling_range.num_spans == 3
    from pipeline.pipeline import create_components
    create_components(flat, None, "offline")  # builds, with its RollingRange resolver


def test_span_layout_discovers_classes_from_the_newest_span(tmp_path, real_png):
    _spans(tmp_path, real_png, [1], classes=("a", "b"))
    _spans(tmp_path, real_png, [2], classes=("a", "b", "c"))
    config = load_config(overrides=[f"data.root={tmp_path}", "data.train_pattern=span-{SPAN}/*/*",
                                    "data.eval_pattern="])
    assert config.data.class_names == ["a", "b", "c"]
    check_span_layout(config)


def test_span_layout_without_any_span_is_a_config_error(tmp_path):
    (tmp_path / "incoming").mkdir()
    with pytest.raises(ConfigError, match="no files match 'span-{SPAN}/\\*/\\*'"):
        load_config(overrides=[f"data.root={tmp_path / 'incoming'}",
                               "data.train_pattern=span-{SPAN}/*/*", "data.eval_pattern="])


def test_retrain_needs_span_in_the_pattern(capsys, tiny_image_tree):
    assert main(["retrain", "--set", f"data.root={tiny_image_tree}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: retrain reads data in spans") and "{SPAN}" in err


@pytest.mark.parametrize("override, message", [
    ("retrain.num_spans=0", "retrain.num_spans: expected >= 1"),
    ("data.split_hash_buckets={holdout: 1}", "data.split_hash_buckets"),
    ("data.split_hash_buckets={train: 4, validation: 1, test: 0}", "data.split_hash_buckets"),
    ("data.split_hash_buckets={train: 4, eval: 1}", "data.split_hash_buckets"),
    ("data.validation_fraction=0", "data.validation_fraction"),
    ("vertex.max_concurrent_run_count=0", "vertex.max_concurrent_run_count"),
])
def test_retrain_and_vertex_values_are_validated(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


def test_single_input_split_is_hash_split_by_path():
    config = load_config(overrides=["data.eval_pattern=", "data.split_hash_buckets={train: 3, "
                                    "validation: 1, test: 2}"], check_paths=False)
    input_config, output_config, fraction = example_gen_io(config)
    assert [(s.name, s.pattern) for s in input_config.splits] == [(SINGLE_SPLIT, "train/*/*")]
    split = output_config.split_config
    assert [(s.name, s.hash_buckets) for s in split.splits] == [
        ("train", 3), ("validation", 1), ("test", 2)]
    assert split.partition_feature_name == "path" and fraction == 0.0


def test_folder_splits_name_the_three_roles():
    from tfx.components.example_gen import utils
    input_config, output_config, _ = example_gen_io(load_config(check_paths=False))
    assert output_config is None
    assert utils.generate_output_split_names(input_config, example_gen_pb2.Output()) == [
        "train", "validation", "test"]


def test_single_split_output_is_what_the_executor_partitions():
    from tfx.components.example_gen import utils
    config = load_config(overrides=["data.eval_pattern="], check_paths=False)
    input_config, output_config, _ = example_gen_io(config)
    assert utils.generate_output_split_names(input_config, output_config) == [
        "train", "validation", "test"]
    assert isinstance(output_config, example_gen_pb2.Output)


def test_config_time_hash_split_is_tfx_partition():  # noqa: D401
    """The config check predicts ExampleGen's hash split: TFX's own partition function on the
    `path` feature of real tf.Examples agrees with modules.splits.hash_split for every file."""
    import tensorflow as tf
    from tfx.components.example_gen.base_example_gen_executor import _PartitionFn
    from modules.splits import hash_split
    config = load_config(overrides=["data.eval_pattern="], check_paths=False)
    _, output_config, _ = example_gen_io(config)
    names = [s.name for s in output_config.split_config.splits]
    buckets, total = [], 0
    for s in output_config.split_config.splits:
        total += s.hash_buckets
        buckets.append(total)
    for i in range(200):
        rel = f"span-{i % 7}/class_{i % 3}/img-{i:04d}.png"
        example = tf.train.Example(features=tf.train.Features(feature={
            "path": tf.train.Feature(bytes_list=tf.train.BytesList(value=[rel.encode()]))}))
        tfx_split = names[_PartitionFn(example, len(buckets), buckets,
                                       output_config.split_config)]
        assert hash_split(rel, names, [s.hash_buckets for s in
                                       output_config.split_config.splits]) == tfx_split, rel


def _examples(artifact_id, span):
    a = standard_artifacts.Examples()
    a.id = artifact_id
    a.set_int_custom_property("span", span)
    return a


def test_span_window_strategy_keeps_the_latest_ingestion_per_span():
    strategy = SpanWindowStrategy(range_config=range_config_pb2.RangeConfig(
        rolling_range=range_config_pb2.RollingRange(num_spans=2)))
    artifacts = [_examples(1, 1), _examples(2, 2), _examples(5, 2), _examples(7, 3),
                 _examples(3, 1)]
    resolved = strategy._resolve(  # pylint: disable=protected-access
        {"examples": artifacts})["examples"]
    assert [(a.id, a.get_int_custom_property("span")) for a in resolved] == [(7, 3), (5, 2)]
    # the window on disk, {1, 3} in the range 1..3: span 2, ingested earlier, has no folder now
    on_disk = SpanWindowStrategy(range_config=range_config_pb2.RangeConfig(
        static_range=range_config_pb2.StaticRange(start_span_number=1, end_span_number=3)),
        spans=[1, 3])
    resolved = on_disk._resolve({"examples": artifacts})["examples"]  # pylint: disable=protected-access
    assert [(a.id, a.get_int_custom_property("span")) for a in resolved] == [(7, 3), (3, 1)]


def _blessing(model_id, blessed):
    b = standard_artifacts.ModelBlessing()
    b.set_int_custom_property("current_model_id", model_id)
    b.set_int_custom_property("blessed", blessed)
    return b


def _model(artifact_id, root=None, class_names=("cat", "dog")):
    """A Model artifact; with `root`, its uri holds a training_summary.json naming its classes
    (as modules/trainer.run_fn writes it)."""
    import json
    m = standard_artifacts.Model()
    m.id = artifact_id
    if root is not None:
        m.uri = str(root / f"model_{artifact_id}")
        os.makedirs(m.uri, exist_ok=True)
        with open(os.path.join(m.uri, "training_summary.json"), "w", encoding="utf-8") as f:
            json.dump({"class_names": list(class_names)}, f)
    return m


def test_blessed_model_ids_newest_first():
    assert blessed_model_ids([_blessing(3, 1), _blessing(9, 0), _blessing(5, 1)]) == [5, 3]


@pytest.mark.parametrize("candidate, expected", [
    (9, 5),      # a new, not yet blessed candidate: the latest blessed model
    (5, 3),      # the candidate is the latest blessed model (unchanged re-run): the one before it
    (None, 5),   # no candidate input: the latest blessed model
])
def test_baseline_is_the_latest_blessed_model_other_than_the_candidate(candidate, expected,
                                                                      tmp_path):
    models = [_model(i, tmp_path) for i in (3, 5, 9)]
    blessings = [_blessing(3, 1), _blessing(5, 1), _blessing(9, 0)]
    inputs = {"model": models, "model_blessing": blessings,
              "candidate": [_model(candidate if candidate is not None else 11, tmp_path)]}
    out = BaselineModelStrategy().resolve_artifacts(None, inputs)
    assert [m.id for m in out["model"]] == [expected]
    assert [b.get_int_custom_property("current_model_id") for b in out["model_blessing"]] == \
        [expected]


def test_no_baseline_when_only_the_candidate_is_blessed(tmp_path):
    out = BaselineModelStrategy().resolve_artifacts(
        None, {"model": [_model(4, tmp_path)], "model_blessing": [_blessing(4, 1)],
               "candidate": [_model(4, tmp_path)]})
    assert out["model"] == [] and out["model_blessing"] == []


def test_a_model_of_another_class_set_is_never_the_baseline(tmp_path):
    """Latest blessed is a 3-class model, the candidate has 2 classes: the baseline is the older
    2-class model; with no same-class model there is none (never a model of other classes, nor
    one whose classes are unknown)."""
    two, three = ("shirt", "tshirt_top"), ("coat", "pullover", "shirt")
    models = [_model(3, tmp_path, two), _model(5, tmp_path, three), _model(6, tmp_path, three),
              _model(7)]  # 7: no training summary (classes unknown)
    blessings = [_blessing(3, 1), _blessing(5, 1), _blessing(6, 1), _blessing(7, 1)]
    out = BaselineModelStrategy().resolve_artifacts(
        None, {"model": models, "model_blessing": blessings,
               "candidate": [_model(9, tmp_path, two)]})
    assert [m.id for m in out["model"]] == [3]
    out = BaselineModelStrategy().resolve_artifacts(
        None, {"model": models[1:], "model_blessing": blessings[1:],
               "candidate": [_model(10, tmp_path, two)]})
    assert out["model"] == []
    out = BaselineModelStrategy().resolve_artifacts(
        None, {"model": models, "model_blessing": blessings,
               "candidate": [_model(11, tmp_path, ("coat", "shirt", "pullover"))]})
    assert out["model"] == []  # same classes, another order: other labels, not comparable


def test_run_lock_is_reentrant_within_a_process_only(tmp_path):
    with run_lock(str(tmp_path)) as path:
        with run_lock(str(tmp_path)) as again:  # e.g. retrain -> local_runner.run
            assert again == path
        assert os.path.exists(path)
        # The outer hold is still in place for other processes (see test_run_lock.py); in this
        # process, after the inner exit, the lock is still held by the outer block.
    with run_lock(str(tmp_path)):
        pass


def test_run_lock_conflict_message_says_already_running(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pipeline.run_lock import run_lock\n"
         "with run_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)\n",
         str(tmp_path)], cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
        text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunningError, match="already running"):
            with run_lock(str(tmp_path)):
                pass
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_spans_of_the_window_never_ingested_are_ingested_first(tmp_path, real_png):
    """What `retrain` does before the run when num_spans > 1: ExampleGen alone, one span each."""
    from pipeline.retrain import ingest_span, ingested_spans
    data = _spans(tmp_path / "incoming", real_png, [1, 2, 3])
    for cls in ("shirt", "tshirt_top"):  # a few files per class so both splits get some
        for i in range(4):
            shutil.copy(real_png, data / "span-2" / cls / f"b{i}.png")
    config = load_config(overrides=[f"data.root={data}", "data.train_pattern=span-{SPAN}/*/*",
                                    "data.eval_pattern=", f"output.root={tmp_path / 'out'}",
                                    "retrain.num_spans=3"])
    assert ingested_spans(config) == []
    ingest_span(config, 2)
    assert ingested_spans(config) == [2]
    ingest_span(config, 1)
    assert ingested_spans(config) == [1, 2]


@pytest.mark.slow
def test_an_older_span_whose_files_changed_is_seen_and_ingested_again(tmp_path, real_png):
    """Images of an already ingested span of the window removed or added: its recorded input
    fingerprint no longer matches the files, so retrain ingests it again (the window's
    resolver then takes that newest ingestion) instead of training on the old files."""
    from pipeline.retrain import changed_since_ingestion, ingest_span
    from pipeline.span_labels import latest_ingestions
    data = _spans(tmp_path / "incoming", real_png, [1, 2])
    for cls in ("shirt", "tshirt_top"):
        for i in range(4):
            shutil.copy(real_png, data / "span-1" / cls / f"b{i}.png")
    config = load_config(overrides=[f"data.root={data}", "data.train_pattern=span-{SPAN}/*/*",
                                    "data.eval_pattern=", f"output.root={tmp_path / 'out'}",
                                    "retrain.num_spans=2"])
    ingest_span(config, 1)
    first = latest_ingestions(config)[1]
    assert not changed_since_ingestion(config, 1, first)
    (data / "span-1" / "shirt" / "b0.png").unlink()  # a retracted image
    assert changed_since_ingestion(config, 1, first)
    ingest_span(config, 1)
    again = latest_ingestions(config)[1]
    assert again.id > first.id and not changed_since_ingestion(config, 1, again)
    # hidden files are no change, neither added now nor counted by an older release's record
    from pipeline.retrain import span_fingerprint
    (data / "span-1" / "shirt" / ".DS_Store").write_bytes(b"x")
    assert not changed_since_ingestion(config, 1, again)
    recorded = again.custom_properties["input_fingerprint"]
    current = recorded.string_value
    recorded.string_value = span_fingerprint(config, 1, "all")
    assert recorded.string_value != current  # as a release before 2026-12-06 recorded it
    assert not changed_since_ingestion(config, 1, again)
    # nor are non-image files, neither added now nor counted by the 2026-12-06 release's record
    (data / "span-1" / "shirt" / "notes.txt").write_text("where these came from")
    recorded.string_value = current
    assert not changed_since_ingestion(config, 1, again)
    recorded.string_value = span_fingerprint(config, 1, "visible")
    assert recorded.string_value not in (current, span_fingerprint(config, 1, "all"))
    assert not changed_since_ingestion(config, 1, again)
    recorded.string_value = current
    # recorded by a release before the paths digest: unchanged files are not "changed"
    # (helper-43's upgrade); a changed file still is
    from pipeline.retrain import PATHS_FIELD
    recorded = again.custom_properties["input_fingerprint"]
    recorded.string_value = recorded.string_value.split(PATHS_FIELD)[0]
    assert not changed_since_ingestion(config, 1, again)
    (data / "span-1" / "shirt" / "b1.png").unlink()
    assert changed_since_ingestion(config, 1, again)


def test_a_broken_link_in_any_span_of_the_window_is_a_config_error(tmp_path, real_png):
    """retrain backfills the window's older spans from disk: a dangling link there would fail
    its ExampleGen driver with a NotFoundError naming no file; the newest span alone was
    checked. Outside the window it is never read, and not an error."""
    data = _spans(tmp_path / "incoming", real_png, [1, 2, 3])
    (data / "span-2" / "shirt" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    sets = [f"data.root={data}", "data.train_pattern=span-{SPAN}/*/*", "data.eval_pattern="]
    with pytest.raises(ConfigError, match=r"broken symbolic link\(s\) \['span-2/shirt/gone.png'\]"):
        load_config(overrides=[*sets, "retrain.num_spans=2"])
    load_config(overrides=[*sets, "retrain.num_spans=1"])  # span 2 is not read


def test_a_failed_backfill_cancels_its_executions(tmp_path, real_png, imagenet_weights_path):
    """The backfill's ExampleGen fails (a file of span 1 turned into a dangling link after the
    checks): retrain reports it, and leaves no execution NEW/RUNNING for the next run to take
    for a killed run's (real LocalDagRunner and MLMD)."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipeline.local_runner import RunFailedError
    from pipeline.mlmd import open_store
    from pipeline.retrain import retrain
    data = _spans(tmp_path / "incoming", real_png, [1, 2])
    config = load_config(overrides=[f"data.root={data}", "data.train_pattern=span-{SPAN}/*/*",
                                    "data.eval_pattern=", f"output.root={tmp_path / 'out'}",
                                    "retrain.num_spans=2"])
    victim = data / "span-1" / "shirt" / "a00.png"
    victim.unlink()
    victim.symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(RunFailedError, match="ingesting span 1"):
        retrain(config, quiet=True)
    executions = open_store(config.metadata_path).get_executions()
    assert executions
    assert all(e.last_known_state not in (pb.Execution.NEW, pb.Execution.RUNNING)
               for e in executions)
    assert any(e.custom_properties["cancel_reason"].string_value.startswith("the run failed")
               for e in executions)


def test_span_folders_that_break_or_confuse_span_resolution_are_a_config_error(tmp_path,
                                                                               real_png):
    """`span-2-old` (not a number: ExampleGen fails on it mid-run) and `span-03` beside `span-3`
    (one span, two folders: one is read, the other silently changes the fingerprint) are
    refused by validate, naming the folders."""
    data = _spans(tmp_path / "incoming", real_png, [1, 2, 3])
    sets = [f"data.root={data}", "data.train_pattern=span-{SPAN}/*/*", "data.eval_pattern="]
    shutil.copytree(data / "span-2", data / "span-2-old")
    with pytest.raises(ConfigError) as e:
        load_config(overrides=sets)
    assert "folder(s) ['span-2-old'] match 'span-{SPAN}' but their span is not a number" \
        in str(e.value)
    shutil.rmtree(data / "span-2-old")
    shutil.copytree(data / "span-3", data / "span-03")
    with pytest.raises(ConfigError) as e:
        load_config(overrides=sets)
    assert "folders ['span-03', 'span-3'] are all span 3: only one would be read" in str(e.value)
    shutil.rmtree(data / "span-03")
    load_config(overrides=sets)


def test_a_gap_in_span_numbers_that_shrinks_the_window_is_a_note(tmp_path, real_png):
    """Spans 1, 2, 3 and 5 with a window of 2: retrain trains on span 5 alone; a note says so
    up front (no note when the spans are consecutive, or when nothing older exists)."""
    from pipeline.config.validate import data_notes
    data = _spans(tmp_path / "incoming", real_png, [1, 2, 3, 5])
    sets = [f"data.root={data}", "data.train_pattern=span-{SPAN}/*/*", "data.eval_pattern=",
            "retrain.num_spans=2"]
    [note] = [n for n in data_notes(load_config(overrides=sets)) if "window of spans" in n]
    assert note.startswith("retrain.num_spans=2: the window of spans ending at the newest (5) "
                           "holds only [5] because span(s) [4] are not on disk; span(s) "
                           "[1, 2, 3] are older than the window and not trained on")
    shutil.copytree(data / "span-3", data / "span-4")
    assert not [n for n in data_notes(load_config(overrides=sets)) if "window of spans" in n]


def test_a_class_problem_in_the_newest_span_names_the_span(tmp_path, real_png):
    """Span layouts have no split folders: 'split train' alone does not say where to look; the
    error names the span and its folder."""
    data = _spans(tmp_path / "incoming", real_png, [1, 2])
    _spans(data, real_png, [3], classes=("shirt", "tshirt_tp"))
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[f"data.root={data}", "data.train_pattern=span-{SPAN}/*/*",
                               "data.eval_pattern=", "data.class_names=[shirt, tshirt_top]"])
    assert "data.class_names / data.root: span 3 (span-3/*/*): " in str(e.value)


def test_trainer_lines_say_cached_or_which_model_was_warm_started_from():
    """Printed by retrain and by report (helper-42: report left the warm start out)."""
    from pipeline.retrain import trainer_lines
    assert trainer_lines({}) == []
    assert trainer_lines({"trainer_state": "CACHED"}) == [
        "trainer: unchanged data, served from the cache (no training)"]
    assert trainer_lines({"trainer_state": "COMPLETE"}) == ["trainer: trained a new model"]
    warm = trainer_lines({"trainer_state": "COMPLETE", "warm_start_from": {
        "model_id": 17, "uri": "/o/Trainer/model/17", "version": "1796537369"}})
    assert warm == ["trainer: trained a new model, warm-started from model 17 (version "
                    "1796537369)"]


def test_trainer_lines_never_call_an_unfinished_or_unevaluated_trainer_a_trained_model():
    """helper-67: after a run SIGKILLed in the Trainer, `report` showed the earlier run's
    evaluation and ended 'trainer: trained a new model'."""
    from pipeline.retrain import trainer_lines
    for state, how in (("RUNNING", "did not finish (RUNNING: still running, or its process "
                                   "was killed): no model from it yet"),
                       ("CANCELED", "was cancelled (its run was killed, interrupted or failed): "
                                    "no model from it"),
                       ("FAILED", "failed: no model from it")):
        assert trainer_lines({"trainer_state": state, "trainer_model_id": 40,
                              "candidate": {"model_id": 31}}) == [
            f"trainer: the newest Trainer {how}; any model evaluated above was trained by an "
            f"earlier run"]
    # a cached Trainer re-used an earlier model: not "made" by it (helper-68)
    assert trainer_lines({"trainer_state": "CACHED", "trainer_model_id": 40,
                          "candidate": {"model_id": 31}}) == [
        "trainer: unchanged data, served from the cache (no training)"]
    # finished, but its run stopped before the Evaluator: the evaluation is another model's
    assert trainer_lines({"trainer_state": "COMPLETE", "trainer_model_id": 40,
                          "candidate": {"model_id": 31}}) == [
        "trainer: the newest Trainer made model 40, which was never evaluated (its run stopped "
        "before its Evaluator finished, or has not reached it yet); the evaluation above is of "
        "model 31"]
    assert trainer_lines({"trainer_state": "COMPLETE", "trainer_model_id": 31,
                          "candidate": {"model_id": 31}}) == ["trainer: trained a new model"]


def test_trainer_lines_name_the_layers_warm_start_could_not_copy(tmp_path):
    """helper-65: warm-started from a 3-class model, a 2-class retrain copied every layer but
    the head, and the summary did not say so."""
    import json

    from pipeline.lineage import warm_start_skipped
    from pipeline.retrain import trainer_lines
    (tmp_path / "training_summary.json").write_text(json.dumps({"warm_start": {
        "copied": ["block1_conv1"], "skipped": {"predictions": "shapes [(256, 3), (3,)] there, "
                                                               "[(256, 1), (1,)] here"}}}))
    skipped = warm_start_skipped(str(tmp_path))
    assert list(skipped) == ["predictions"]
    assert warm_start_skipped(str(tmp_path / "none")) == {}
    line, = trainer_lines({"trainer_state": "COMPLETE", "warm_start_skipped": skipped,
                           "warm_start_from": {"model_id": 37, "uri": "/m", "version": None}})
    assert line == ("trainer: trained a new model, warm-started from model 37 (no pushed version "
                    "holds it) (not copied, trained afresh: predictions: shapes [(256, 3), "
                    "(3,)] there, [(256, 1), (1,)] here)")
