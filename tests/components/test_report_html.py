"""components/export_pusher/report/html.py + report.html.j2: the page rendered from a report dict
written here (no pipeline run): sections, escaping, embedded images, tables."""
import base64
import importlib.resources
import json
import os
import re

import pytest

from components.export_pusher import report as report_lib
from components.export_pusher.report import html as html_lib

PNG = b"\x89PNG\r\n\x1a\n not a real image, embedded as is"
TRIALS = [{"trial": 1, "hyperparameters": {"learning_rate": 0.001}, "fold_scores": [0.8, 0.82],
           "mean": 0.81}]


def _report(**overrides):
    report = {
        "version": 7, "model_uri": "/models/7", "deployed": "int8", "weights_source": "imagenet",
        "eval_examples": 40, "held_out": {"split": "eval"},
        "run": {"profile": "test", "class_names": ["neg", "pos"],
                "config": {"note": "<script>alert('x')</script>", "seed": 0}},
        "data_manifest": {"sha256": "ab12", "files": 3, "root": "/data"},
        "saved_model": {"bytes": 2000, "gzip_bytes": 1500, "accuracy": 0.9, "auc": 0.95,
                        "latency": {"1": {"median_ms": 3.25}}},
        "tflite": {"int8": {"file": "model_int8.tflite", "bytes": 600, "gzip_bytes": 400,
                            "accuracy": 0.875, "auc": None, "agreement": 0.99,
                            "min_agreement": 0.98, "latency": {"1": {"median_ms": 1.5}}}},
        "rejected": {"float32": {"bytes": 900, "gzip_bytes": 800,
                                 "reason": "agreement <97%> below 99.00%"}},
        "latency_method": "single image",
        "per_class": {"classes": {"neg": {"precision": 0.95, "recall": None, "support": 20},
                                  "pos": {"precision": float("nan"), "recall": 1.0,
                                          "support": 20}}},
        "contract_files": ["labels.txt", "MODEL.md"],
        "sparsity": {"layers": {"conv_a": 0.6}, "overall": 0.6},
        "training": {"pruning": {"target_sparsity": 0.6, "layers": ["conv_a"]},
                     "hyperparameters": {"learning_rate": 0.001}, "train_seconds": 12},
        "tuner_files": [], "library_versions": {"python": "3.11.7", "tensorflow": "2.16.2"},
    }
    report.update(overrides)
    return report


def _png(dest, rel):
    os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
    with open(os.path.join(dest, rel), "wb") as f:
        f.write(PNG)
    return rel


def test_page_has_every_section_and_escapes_values(tmp_path):
    dest = str(tmp_path)
    plots = {"accuracy_vs_size": _png(dest, "report_files/accuracy_vs_size.png"),
             "confusion": _png(dest, "report_files/confusion_matrix.png")}
    page = html_lib.render(_report(), dest, plots)
    for text in ("<title>Model version 7</title>", "Artifacts", "gzip bytes",
                 "Rejected by the parity gate", "Confusion matrix", "Contract",
                 '<a href="labels.txt">labels.txt</a>', "Sparsity of the exported model",
                 "conv_a", "Training", "Training time: 12 s.", "Augmented training samples",
                 "Augmentation disabled.", "Library versions", "<td>tensorflow</td>",
                 "Resolved config", "ab12 (3 files under /data)"):
        assert text in page, text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "agreement &lt;97%&gt; below 99.00%" in page
    assert "Tuner trials" not in page  # no tuner files


def test_artifacts_table_rows_and_status(tmp_path):
    page = html_lib.render(_report(), str(tmp_path), {})
    rows = re.findall(r"<tr><td>(TFLite \w+|SavedModel)</td>(.*?)</tr>", page)
    assert [name for name, _ in rows] == ["SavedModel", "TFLite int8", "TFLite float32"]
    cells = dict(rows)
    assert '<td class="n">0.9000</td>' in cells["SavedModel"]
    assert '<td class="n">3.25</td>' in cells["SavedModel"]
    assert '<td class="n">99.00% (min 98%)</td>' in cells["TFLite int8"]
    assert cells["TFLite int8"].endswith('<span class="ok">pushed</span></td>')
    assert cells["TFLite float32"].endswith('<span class="bad">rejected</span></td>')
    assert "<th>latency ms, 1 thread(s)</th>" in page


def test_per_class_table_formats_missing_and_nan(tmp_path):
    page = html_lib.render(_report(), str(tmp_path), {})
    assert ('<tr><td>neg</td><td class="n">0.9500</td><td class="n">–</td>'
            '<td class="n">20</td></tr>') in page
    assert '<tr><td>pos</td><td class="n">n/a</td><td class="n">1.0000 (20 of 20)</td>' in page
    # with the count of predictions recorded, precision shows its counts too (helper-78)
    report = _report()
    report["per_class"]["classes"]["neg"].update(predicted=40, recall=0.5)
    page = html_lib.render(report, str(tmp_path), {})
    assert ('<tr><td>neg</td><td class="n">0.9500 (38 of 40)</td><td class="n">0.5000 (10 of '
            '20)</td>') in page
    # helper-79: a NaN figure renders without counts, not a crash
    report["per_class"]["classes"]["neg"].update(precision=float("nan"), recall=float("nan"))
    page = html_lib.render(report, str(tmp_path), {})
    assert '<tr><td>neg</td><td class="n">n/a</td><td class="n">n/a</td>' in page


def test_plots_are_embedded_as_data_uris(tmp_path):
    dest = str(tmp_path)
    plots = {"accuracy_vs_size": _png(dest, "report_files/a.png"),
             "confusion": _png(dest, "report_files/c.png"),
             "augmentation": _png(dest, "report_files/s.png")}
    page = html_lib.render(_report(), dest, plots)
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 3 and all(base64.b64decode(u) == PNG for u in uris)
    assert 'alt="augmented training samples"' in page
    assert "Augmentation disabled." not in page


def test_tuner_trials_table_and_files(tmp_path):
    dest = str(tmp_path)
    os.makedirs(tmp_path / "tuner")
    (tmp_path / "tuner" / "trials.json").write_text(json.dumps(TRIALS))
    _png(dest, "tuner/trials.png")
    files = ["tuner/trials.json", "tuner/trials.png"]
    page = html_lib.render(_report(tuner_files=files), dest, {})
    for text in ("Tuner trials", "<th>learning_rate</th>", "<th>fold_scores</th>",
                 "0.8000, 0.8200", '<a href="tuner/trials.json">tuner/trials.json</a>'):
        assert text in page, text
    assert page.count("data:image/png;base64,") == 1


def test_unpruned_untrained_report(tmp_path):
    report = _report(training={}, rejected={}, contract_files=[],
                     augmentation_note="Augmentation was disabled for this model.")
    del report["sparsity"]
    page = html_lib.render(report, str(tmp_path), {})
    for text in ("Not pruned.", "No training summary.",
                 "Augmentation was disabled for this model."):
        assert text in page, text
    assert "Rejected by the parity gate" not in page and "<h2>Contract</h2>" not in page


def test_write_html_writes_report_html(tmp_path):
    path = report_lib.write_html(_report(), str(tmp_path), {})
    assert path == os.path.join(str(tmp_path), report_lib.HTML_FILE)
    with open(path, encoding="utf-8") as f:
        assert f.read() == html_lib.render(_report(), str(tmp_path), {})


def test_template_is_package_data():
    template = importlib.resources.files("components.export_pusher.report") / html_lib.TEMPLATE
    assert template.is_file()


@pytest.mark.parametrize("value, digits, text", [(None, 4, "–"), (float("nan"), 4, "n/a"),
                                                 (0.5, 2, "0.50"), (3, 4, "3"), ("x", 4, "x")])
def test_fmt(value, digits, text):
    assert html_lib.fmt(value, digits) == text


def test_training_table_lists_structured_pruning_and_clustering():
    training = {"phase1": {"epochs": 2, "validation": {"accuracy": 0.8, "auc": 0.9}},
                "structured_pruning": {"layers_pruned": ["block4_conv1", "block5_conv1"],
                                       "params_before": 1000, "params_after": 600,
                                       "learning_rate": 1e-5, "fine_tune_epochs": 2,
                                       "validation": {"accuracy": 0.75, "auc": 0.85}},
                "pruning": {"schedule": "constant", "target_sparsity": 0.5,
                            "layers": ["head_dense"], "learning_rate": 1e-5,
                            "fine_tune_epochs": 1},
                "clustering": {"number_of_clusters": {"conv": 16, "dense": 32},
                               "layers": ["head_dense"], "learning_rate": 1e-5,
                               "fine_tune_epochs": 1},
                "quantization_aware": {"scheme": "pcqat", "learning_rate": 1e-5,
                                       "fine_tune_epochs": 2}}
    phases = [row[0] for row in html_lib.training_tables(training)["phases"]]
    assert phases[1] == ("structured pruning: filters removed from 2 conv layers, 1000 -> 600 "
                         "parameters (lr 1e-05)")
    assert phases[2].startswith("pruning fine-tune")
    assert phases[3] == ("clustering fine-tune (sparsity kept): {'conv': 16, 'dense': 32} "
                         "clusters on 1 layers (lr 1e-05)")
    assert phases[4] == "quantization-aware fine-tune (PCQAT, 8-bit; lr 1e-05)"


def test_training_table_says_which_pruning_fine_tune_the_fallback_kept():
    fallback = {"ran": True, "margin": 0.02, "dense_accuracy": 0.7, "retrain_blocks": 1,
                "second_retrain_blocks": 3, "accuracy": 0.63, "second_accuracy": 0.69,
                "kept": "second"}
    training = {"pruning": {"schedule": "constant", "target_sparsity": 0.5, "layers": [],
                            "learning_rate": 3e-5, "fine_tune_epochs": 4,
                            "fallback": fallback}}
    rows = html_lib.training_tables(training)["phases"]
    assert [(r[0], r[2]) for r in rows[1:]] == [
        ("pruning fallback, first fine-tune: top 1 block(s) retrained; not kept", "0.6300"),
        ("pruning fallback, second fine-tune: top 3 block(s) retrained, the first ended more "
         "than 0.02 below the dense model's 0.7000; kept", "0.6900")]
    not_run = {"pruning": {**training["pruning"], "fallback": {**fallback, "ran": False}}}
    assert len(html_lib.training_tables(not_run)["phases"]) == 1


GATES = [{"name": "accuracy", "kind": "value", "threshold": 0.7, "value": 0.8125,
          "passed": True, "config_key": "evaluator.accuracy_lower_bound"},
         {"name": "accuracy change", "kind": "change", "threshold": -0.01, "value": None,
          "passed": None, "note": "no baseline model of the same classes yet",
          "config_key": "evaluator.max_accuracy_drop"}]


def test_gates_that_blessed_the_model_are_listed(tmp_path):
    page = html_lib.render(_report(evaluation={"blessed": True, "gates": GATES}),
                           str(tmp_path), {})
    assert "Evaluator gates (TFMA, held-out test split)" in page
    rows = re.findall(r"<tr><td>(accuracy[^<]*)</td>(.*?)</tr>", page)
    assert [name for name, _ in rows] == ["accuracy", "accuracy change"]
    assert re.findall(r'<td class="n">([^<]*)</td>', rows[0][1]) == [
        "0.8125", "pass", "evaluator.accuracy_lower_bound"]
    assert "no baseline model of the same classes yet" in rows[1][1]
    assert "candidate − baseline ≥ -0.0100" in rows[1][1]


def test_a_failed_change_gate_shows_both_accuracies(tmp_path):
    change = {"name": "accuracy vs baseline", "kind": "change", "threshold": -0.01,
              "value": -0.025, "passed": False, "candidate_value": 0.771,
              "baseline_value": 0.796, "config_key": "evaluator.max_accuracy_drop"}
    page = html_lib.render(_report(evaluation={"blessed": True, "gates": [change]}),
                           str(tmp_path), {})
    (row,) = re.findall(r"<tr><td>accuracy vs baseline</td>(.*?)</tr>", page)
    assert ("-0.0250 (candidate 0.7710, baseline 0.7960, on the same test images" in row
            and "FAIL" in row)
    with_interval = {**change, "interval": [-0.06, 0.01]}  # TFMA's, with a baseline
    page = html_lib.render(_report(evaluation={"blessed": True, "gates": [with_interval]}),
                           str(tmp_path), {})
    (row,) = re.findall(r"<tr><td>accuracy vs baseline</td>(.*?)</tr>", page)
    assert ("baseline 0.7960, on the same test images; 95 % interval of the difference -0.0600 "
            "to +0.0100, which holds the threshold") in row


def test_change_gate_without_a_recorded_threshold_is_listed_as_not_applicable(tmp_path):
    from components.tfma_gates import NO_BASELINE, no_baseline_row
    page = html_lib.render(_report(evaluation={"blessed": True,
                                               "gates": [GATES[0], no_baseline_row()]}),
                           str(tmp_path), {})
    row = re.search(r"<tr><td>accuracy vs baseline</td>(.*?)</tr>", page)[1]
    assert "candidate − baseline" in row and "n/a" in row and NO_BASELINE in row


def test_no_gates_section_without_an_evaluation(tmp_path):
    assert "Evaluator gates" not in html_lib.render(_report(), str(tmp_path), {})


def test_phase_1_shows_the_epochs_run_and_auc_only_when_there_is_one():
    binary = {"phase1": {"epochs": 10, "epochs_run": 6,
                         "validation": {"accuracy": 0.8, "auc": 0.9}}}
    tables = html_lib.training_tables(binary)
    assert tables["phases"] == [("phase 1: head on frozen base", "6 of 10", "0.8000", "0.9000")]
    assert tables["phase_header"][-1] == "validation AUC"
    three = {"phase1": {"epochs": 10, "epochs_run": 10, "validation": {"accuracy": 0.7}},
             "final_validation": {"accuracy": 0.71}}
    tables = html_lib.training_tables(three)  # 3+ classes: Keras reports no AUC
    assert tables["phase_header"] == ["phase", "epochs", "validation accuracy"]
    assert tables["phases"] == [("phase 1: head on frozen base", 10, "0.7000"),
                                ("final (stripped) model", "", "0.7100")]


def test_data_checks_are_in_the_summary_table(tmp_path):
    checks = {"quarantine": {"quarantined": 12, "splits": {
        "train": {"files": [{"path": f"train/a/{i}.png", "reason": "truncated"}
                            for i in range(11)]},
        "test": {"files": [{"path": "eval/b/x.txt", "reason": "not an image"}]}}},
        "leakage": {"leaked_files": 2}}
    page = html_lib.render(_report(data_checks=checks), str(tmp_path), {})
    row = re.search(r"<td>unreadable files \(quarantined, not trained on; newest span\)</td><td[^>]*>"
                    r"([^<]*)</td>", page)[1]
    assert row.startswith("12 (train/a/0.png: truncated; ") and row.endswith("… 2 more)")
    assert re.search(r"<td>files with identical bytes in more than one split \(newest span\)</td>"
                     r"<td[^>]*>2</td>", page)
    assert "quarantined" not in html_lib.render(_report(), str(tmp_path), {})
    assert "nested folder" not in page  # no ignored files recorded: no row


def test_ignored_non_image_files_get_a_row(tmp_path):
    checks = {"quarantine": {"quarantined": 0, "ignored": 2, "splits": {
        "train": {"files": [], "ignored": ["train/a/notes.txt"]},
        "test": {"files": [], "ignored": ["eval/b/Thumbs.db"]}}}, "leakage": {"leaked_files": 0}}
    rows = dict(html_lib.data_check_rows(checks))
    assert rows[html_lib.IGNORED_LABEL] == "2 (train/a/notes.txt; eval/b/Thumbs.db)"
    assert rows[html_lib.QUARANTINE_LABEL] == "0"


def test_images_read_as_stored_despite_an_exif_orientation_get_a_row(tmp_path):
    checks = {"quarantine": {"quarantined": 0, "exif_oriented": 2, "splits": {
        "train": {"files": [], "exif_oriented": ["train/a/phone.jpg"]},
        "test": {"files": [], "exif_oriented": ["eval/b/phone.png"]}}},
        "leakage": {"leaked_files": 0}}
    rows = dict(html_lib.data_check_rows(checks))
    assert rows[html_lib.ORIENTED_LABEL] == "2 (train/a/phone.jpg; eval/b/phone.png)"
    page = html_lib.render(_report(data_checks=checks), str(tmp_path), {})
    assert "images with an EXIF orientation, used as stored" in page
    assert html_lib.ORIENTED_LABEL not in dict(html_lib.data_check_rows(
        {"quarantine": {"quarantined": 0, "splits": {}}}))


def test_data_checks_an_older_artifact_did_not_record_are_not_shown_as_clean(tmp_path):
    rows = dict(html_lib.data_check_rows({"examples_uri": "/x"}))
    assert set(rows.values()) == {"not recorded"} and len(rows) == 2


def test_the_client_check_is_shown_when_it_ran(tmp_path):
    check = {"file": "model_int8.tflite", "split": "test", "examples": 60, "accuracy": 0.9,
             "same_class_as_saved_model": 0.9833, "saved_model_bytes_accuracy": 0.9167,
             "predictions_file": "client_predictions.csv"}
    page = html_lib.render(_report(client_check=check), str(tmp_path), {})
    assert ("Client check: model_int8.tflite on 60 test image files prepared as MODEL.md says "
            "(Pillow, LiteRT): acc=0.9000") in page
    assert "Client check" not in html_lib.render(_report(), str(tmp_path), {})


def test_agreement_cell_shows_the_counts_the_gate_compares():
    """98.94 % under a 99 % minimum passed (186 >= floor(0.99 * 188) = 186): the cell shows the
    counts, so the pushed row does not read as a contradiction; older reports keep the %."""
    info = {"agreement": 186 / 188, "min_agreement": 0.99, "agreeing": 186,
            "agreement_examples": 188, "required_agreeing": 186}
    assert html_lib.agreement_cell(info) == ("186 of 188 (98.94%, 95 % interval 96.2%-99.7%; "
                                             "needs 186 = floor(99% of 188))")
    # helper-70: the held-out split's counts beside them, with their own interval
    held = {**info, "held_out_agreeing": 494, "held_out_examples": 500}
    assert html_lib.agreement_cell(held).endswith(
        "; held-out: 494 of 500 (98.80%, 95 % interval 97.4%-99.4%)"), html_lib.agreement_cell(held)
    assert html_lib.agreement_cell({"agreement": 0.99, "min_agreement": 0.98}) == \
        "99.00% (min 98%)"
    assert html_lib.agreement_cell({}) == "–"


def test_the_change_gate_row_names_its_baseline_and_classes_are_in_label_order(tmp_path):
    change = {"name": "accuracy vs baseline", "metric": "binary_accuracy", "threshold": -0.01,
              "kind": "change", "value": 0.02, "passed": True, "candidate_value": 0.82,
              "baseline_value": 0.80, "config_key": "evaluator.max_accuracy_drop"}
    report = _report(evaluation={"gates": [change], "baseline_model_uri": "/p/Trainer/model/15",
                                 "baseline_version": 1796507314})
    (row,) = html_lib.gate_rows(report)
    assert row[2].endswith("(candidate 0.8200, baseline 0.8000, on the same test images); "
                           "baseline: version 1796507314")
    report["evaluation"]["baseline_version"] = None
    assert html_lib.gate_rows(report)[0][2].endswith(
        "baseline: model /p/Trainer/model/15 (no pushed version holds it)")
    report["run"]["class_names"] = ["pos", "neg"]  # report.json's keys are sorted: neg, pos
    assert [r[0] for r in html_lib.per_class_rows(report)] == ["pos", "neg"]


def test_a_recall_gate_row_gives_its_classs_hits_and_interval():
    recall = {"name": "recall of 'defect'", "metric": "recall", "threshold": 0.5, "kind": "value",
              "value": 0.55, "passed": True, "config_key": "evaluator.min_class_recall",
              "hits": 11, "test_examples": 20, "wilson_interval": [0.3421, 0.7418]}
    (row,) = html_lib.gate_rows(_report(evaluation={"gates": [recall]}))
    assert row[2] == ("0.5500 (11 of 20 test images; 95 % interval 0.3421-0.7418, which holds "
                      "the threshold: not settled by these test images)")


def test_the_deployed_files_held_out_notes_are_on_the_page_and_in_model_md(tmp_path):
    """helper-66: the summary's notes on the deployed int8 (held-out agreement and a class's
    recall below its gate) were not in the pushed version: a reader of its files never saw
    them."""
    from components.export_pusher import contract
    note = ("model_int8.tflite recalls shirt on 3 of 25 held-out images (0.1200), below the "
            "recall of 'shirt' gate (0.1500) the SavedModel passed; export.tflite_variants "
            "without it deploys the next file")
    page = html_lib.render({**_report(), "deployed_notes": [note]}, str(tmp_path), {})
    assert "Notes on the deployed file (held-out test split; they decide nothing)" in page
    assert f'<li class="bad">{note.replace(chr(39), "&#39;")}</li>' in page
    assert "Notes on the deployed file" not in html_lib.render(_report(), str(tmp_path), {})
    built = contract.build(["shirt", "coat"], 32, [255.0] * 3, {}, deployed="model_int8.tflite")
    assert "Measured on the held-out test split" not in contract.model_card(built)
    built["deployed_tflite"]["notes"] = [note]
    card = contract.model_card(built)
    assert ("**Deploy `model_int8.tflite`**" in card
            and card.index("**Deploy") < card.index(f"- {note}"))


def test_model_md_states_the_deployed_files_accuracy_and_agreement_with_intervals():
    """helper-70: MODEL.md held no accuracy or agreement figure, and report.json's agreements
    (1-2 disagreements in 300-500 images) read more exact than they are."""
    from components.export_pusher import contract
    from components.export_pusher.deployed_notes import measured_lines
    report = _report(held_out={"split": "test", "examples": 40})
    report["tflite"]["int8"].update(agreeing=297, agreement_examples=300,
                                    parity_split="validation", held_out_agreeing=39,
                                    held_out_examples=40)
    lines = measured_lines(report, "model_int8.tflite")
    assert lines == [
        "accuracy on the held-out `test` split: 35 of 40, 87.5%; 95 % interval 73.9%-94.5% "
        "(the SavedModel's 0.9000)",
        "the same class as the SavedModel on the held-out `test` split: 39 of 40, 97.5%; "
        "95 % interval 87.1%-99.6%",
        "the same class as the SavedModel on the parity gate's `validation` sample, which "
        "decided the push: 297 of 300, 99.0%; 95 % interval 97.1%-99.7%"], lines
    assert measured_lines(report, "model_float32.tflite") == []
    # helper-74: how far its probabilities were, and for a quantized file that an image the
    # model is unsure of can move them further (validation and test showed 0.0017; an enlarged
    # thumbnail, 0.255); each figure rounded up, so "at most" holds (0.00141 -> 0.0015)
    report["tflite"]["int8"].update(max_abs_diff=0.00169, held_out_max_abs_diff=0.00141,
                                    quantization="int8", max_probability_diff=0.2,
                                    probability_diff_fraction=0.99)
    probabilities = measured_lines(report, "model_int8.tflite")[3]
    assert probabilities.startswith(
        "its probabilities: at most 0.0015 from the SavedModel's on the held-out `test` split "
        "and 0.0017 from the SavedModel's on the parity gate's `validation` sample (the largest "
        "difference in any class's probability): measured on these images, most of which the "
        "model is sure of; on an image it is unsure of"), probabilities
    assert probabilities.endswith("the parity gate allows up to 0.20 on all but 1% of its "
                                  "sample, so set any threshold on probabilities with this "
                                  "file, not the SavedModel"), probabilities
    report["tflite"]["int8"]["probability_diff_fraction"] = 0.999  # helper-77: not "0%"
    assert "allows up to 0.20 on all but 0.1% of its sample" in measured_lines(
        report, "model_int8.tflite")[3]
    report["tflite"]["int8"]["probability_diff_fraction"] = 1.0
    assert "allows up to 0.20 on every example of its sample" in measured_lines(
        report, "model_int8.tflite")[3]
    report["tflite"]["int8"]["held_out_max_abs_diff"] = float("nan")  # no figure, no crash
    assert measured_lines(report, "model_int8.tflite")[3].startswith(
        "its probabilities: at most 0.0017 from the SavedModel's on the parity gate's")
    report["tflite"]["int8"]["held_out_max_abs_diff"] = 0.00141
    report["tflite"]["int8"]["quantization"] = "none"  # a float32 file: the figures alone
    assert measured_lines(report, "model_int8.tflite")[3].endswith(
        "(the largest difference in any class's probability)")
    for key in ("max_abs_diff", "held_out_max_abs_diff"):
        del report["tflite"]["int8"][key]
    assert len(measured_lines(report, "model_int8.tflite")) == 3
    report["saved_model"] = {}  # no SavedModel figure recorded: none printed (not 'nan')
    assert measured_lines(report, "model_int8.tflite")[0].endswith("95 % interval 73.9%-94.5%")
    card = contract.model_card(contract.build(["neg", "pos"], 32, [255.0] * 3, {},
                                              deployed="model_int8.tflite", measured=lines))
    assert card.index("**Deploy") < card.index("Measured for `model_int8.tflite`") \
        < card.index(f"- {lines[0]}")


def test_model_md_of_two_classes_has_a_decision_threshold_table_on_validation():
    """helper-78: MODEL.md said only '>= 0.5'. It now tables each class's recall and precision
    at other thresholds on the validation sample, and says when class weights make the
    probabilities a score rather than a frequency."""
    from components.export_pusher import contract
    record = {"split": "validation", "examples": 101, "rows": [
        {"threshold": 0.5, "classes": [{"hits": 5, "examples": 9, "predicted": 7},
                                       {"hits": 90, "examples": 92, "predicted": 94}]},
        {"threshold": 0.9, "classes": [{"hits": 8, "examples": 9, "predicted": 20},
                                       {"hits": 80, "examples": 92, "predicted": 81}]}]}
    lines = contract.threshold_lines(record, ["defect", "ok"], {"0": 5.47, "1": 0.55})
    text = "\n".join(lines)
    assert lines[0] == "## Choosing a decision threshold (two classes)"
    assert "measured with the SavedModel on 101 examples of the `validation` split (9 " \
        "'defect', 92 'ok'; all of them when the split holds at most `export.parity_examples`" \
        ", else a class-stratified sample at its mix): choose t on these, never on the test " \
        "split" in text, text
    assert "not a place to choose t" in text
    assert "class weights ('defect' 5.47, 'ok' 0.55; `trainer.class_weight`)" in text
    assert ("| 0.9 | 0.889 (8 of 9) | 0.400 (8 of 20) | 0.870 (80 of 92) | 0.988 (80 of 81) |"
            in lines), text
    assert "class weights" not in "\n".join(
        contract.threshold_lines(record, ["defect", "ok"], {"0": 1.0, "1": 1.0}))
    assert contract.threshold_lines(record, ["a", "b", "c"]) == []
    assert contract.threshold_lines(None, ["defect", "ok"]) == []
    card = contract.model_card(contract.build(["defect", "ok"], 32, [255.0] * 3, {},
                                              thresholds=lines))
    assert card.index("## Preparing an image") < card.index("## Choosing a decision threshold")
    assert "P(class 1 = 'ok'), and 1 minus it is P('defect')" in card


def test_the_deployed_files_notes_say_when_its_accuracy_is_no_better_than_one_answer():
    """helper-78: the note that accuracy only matched answering the largest class for every
    image was on the console alone; the version's notes (report.json, report.html, MODEL.md)
    now say it of the deployed file."""
    from components.export_pusher.deployed_notes import held_out_notes
    report = _report(held_out={"split": "test", "examples": 220,
                               "per_class": {"defect": 20, "ok": 200}})
    report["tflite"]["int8"]["accuracy"] = 0.9
    notes = held_out_notes(report, "model_int8.tflite", [])
    assert notes == ["model_int8.tflite's held-out accuracy 0.9000 is not above the share of ok "
                     "in the test split (200 of 220 = 0.9091): a model answering ok for every "
                     "image scores as much; judge this one by its per-class recall and AUC"]
    report["tflite"]["int8"]["accuracy"] = 0.95
    assert held_out_notes(report, "model_int8.tflite", []) == []
