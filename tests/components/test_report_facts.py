"""components/export_pusher/report/facts.py and plots.py without a pipeline run: manifest hash,
exported sparsity, deployed variant, confusion matrix, tuner files; the PNGs' sizes."""
import ast
import hashlib
import os
import struct

import numpy as np
import pytest

from components.export_pusher import report as report_lib
from components.export_pusher.report import facts

REPORT_DIR = os.path.dirname(facts.__file__)


class _Var:
    """What exported_sparsity reads of a loaded SavedModel variable."""

    def __init__(self, name, value):
        self.name, self._value = name, np.asarray(value, np.float32)

    def numpy(self):
        return self._value


def test_data_manifest_is_sha256sum_of_matched_files(tmp_path):
    files = {"train/a/1.png": b"one", "eval/b/2.png": b"two", "other/x.txt": b"not matched",
             "train/a/notes.txt": b"matched, not an image: ignored as ImageExampleGen does"}
    for rel, content in files.items():
        os.makedirs(tmp_path / os.path.dirname(rel), exist_ok=True)
        (tmp_path / rel).write_bytes(content)
    m = facts.data_manifest(str(tmp_path), ["train/*/*", "eval/*/*", ""])
    lines = "".join(f"{hashlib.sha256(files[r]).hexdigest()}  {r}\n"
                    for r in ("eval/b/2.png", "train/a/1.png"))
    assert m["files"] == 2 and m["sha256"] == hashlib.sha256(lines.encode()).hexdigest()
    spans = facts.data_manifest(str(tmp_path), ["{SPAN}/*/*"])
    assert spans["files"] == 2 and spans["sha256"] == m["sha256"]
    assert facts.data_manifest(str(tmp_path / "missing"), ["*"])["sha256"] is None
    # hidden files (a macOS zip's debris) are not data, as ImageExampleGen skips them
    (tmp_path / "train" / "a" / "._1.png").write_bytes(b"junk")
    (tmp_path / "train" / "__MACOSX").mkdir()
    (tmp_path / "train" / "__MACOSX" / "1.png").write_bytes(b"junk")
    assert facts.data_manifest(str(tmp_path), ["train/*/*", "eval/*/*"])["sha256"] == m["sha256"]


def test_a_span_trees_manifest_covers_only_the_spans_trained_on(tmp_path):
    """helper-67: a model retrained on spans 2-3 had a manifest over every span on disk (880
    files, span 1's included)."""
    for rel in ("span-1/a/1.png", "span-02/a/2.png", "span-3/b/3.png", "span-12/a/4.png"):
        os.makedirs(tmp_path / os.path.dirname(rel), exist_ok=True)
        (tmp_path / rel).write_bytes(rel.encode())
    every = facts.data_manifest(str(tmp_path), ["span-{SPAN}/*/*"])
    assert every["files"] == 4 and "spans" not in every
    window = facts.data_manifest(str(tmp_path), ["span-{SPAN}/*/*"], [2, 3])
    assert (window["files"], window["spans"]) == (2, [2, 3])  # span-02 is span 2
    assert window["sha256"] == facts.data_manifest(
        str(tmp_path), ["span-{SPAN}/*/*"], [3, 2])["sha256"]
    assert facts.data_manifest(str(tmp_path), ["span-{SPAN}/*/*"], [1])["files"] == 1  # not 12
    assert facts.in_spans("train/a/1.png", "train/*/*", [5])  # no {SPAN}: every file


def test_the_report_names_the_data_root_the_examples_were_read_from():
    """A compiled pipeline run with `--param data_root=` another tree: ImageExampleGen records
    the root it read, and the ExportPusher's report names (and hashes) that one (user trial
    helper-55: report.json named the compile-time root and its manifest)."""
    from tfx.types import standard_artifacts

    from components.export_pusher.executor import examples_input_base
    examples = standard_artifacts.Examples()
    assert examples_input_base([examples]) is None and examples_input_base([]) is None
    examples.set_string_custom_property("input_base", "/data/tree2")
    assert examples_input_base([standard_artifacts.Examples(), examples]) == "/data/tree2"


def test_exported_sparsity_counts_exact_zeros_per_layer():
    variables = [_Var("conv/kernel:0", [[0, 1], [0, 0]]), _Var("conv/bias:0", [0, 0]),
                 _Var("dense/kernel:0", [0, 2, 3, 4, 5, 6])]
    sp = facts.exported_sparsity(variables, ["conv", "dense", "absent"])
    assert sp["layers"] == {"conv": 0.75, "dense": pytest.approx(1 / 6), "absent": None}
    assert sp["overall"] == pytest.approx(4 / 10)
    assert (sp["pruned_parameters"], sp["zero_parameters"]) == (10, 4)
    assert facts.exported_sparsity([], ["conv"])["overall"] is None


def test_deployed_variant_is_lowest_deploy_rank_else_saved_model():
    assert facts.deployed_variant({"tflite": {"float32": {}, "int8": {}}}) == "int8"
    assert facts.deployed_variant({"tflite": {"float32": {}}}) == "float32"
    assert facts.deployed_variant({"tflite": {}}) == "saved_model"


def test_copy_tuner_results(tmp_path):
    src = tmp_path / "tuner_results"
    src.mkdir()
    (src / "trials.png").write_bytes(b"png")
    (src / "trials.json").write_text("[]")
    assert facts.copy_tuner_results(str(src), str(tmp_path / "dest")) == [
        "tuner/trials.json", "tuner/trials.png"]
    assert (tmp_path / "dest" / "tuner" / "trials.png").read_bytes() == b"png"
    assert facts.copy_tuner_results(None, str(tmp_path)) == []


def test_library_versions_lists_python_and_each_library():
    versions = facts.library_versions()
    assert set(versions) == {"python", *facts.LIBRARIES}
    assert versions["python"][0].isdigit()


def test_add_facts_for_a_multiclass_deployed_variant(tmp_path):
    labels = np.array([0, 1, 2, 2])
    probs = np.eye(3, dtype=np.float32)[[0, 1, 1, 2]]
    report = {"run": {"class_names": ["a", "b", "c"], "weights_source": "imagenet"},
              "training": {}, "tflite": {"float32": {}}}
    facts.add_facts(report, str(tmp_path), variables=[], labels=labels,
                    predictions={"float32": probs, "saved_model": probs[::-1]})
    assert report["deployed"] == "float32" and report["weights_source"] == "imagenet"
    assert report["confusion_matrix"] == {
        "artifact": "float32", "class_names": ["a", "b", "c"],
        "rows_true_columns_predicted": [[1, 0, 0], [0, 1, 0], [0, 1, 1]]}
    assert report["per_class"]["classes"]["b"] == {"precision": 0.5, "recall": 1.0,
                                                   "support": 1, "predicted": 2}
    assert "sparsity" not in report and report["tuner_files"] == []
    assert report["data_manifest"]["sha256"] is None  # no data root recorded


def test_facts_and_plots_import_no_plotting_or_tensorflow_at_module_level():
    for name, banned in (("facts.py", ("matplotlib", "tensorflow")),
                         ("plots.py", ("matplotlib", "tensorflow")),
                         ("samples.py", ("matplotlib", "tensorflow"))):
        with open(os.path.join(REPORT_DIR, name), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        modules = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
        modules += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert not [m for m in modules if m.split(".")[0] in banned], (name, modules)


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_plots_write_pngs_of_the_documented_sizes(tmp_path):
    report = {"saved_model": {"gzip_bytes": 2e6, "accuracy": 0.9},
              "tflite": {"int8": {"gzip_bytes": 2e5, "accuracy": 0.88}},
              "rejected": {"float32": {"gzip_bytes": 8e5, "accuracy": 0.7},
                           "int8_sparse": {"reason": "no accuracy"}}, "eval_examples": 40}
    report_lib.plot_accuracy_vs_size(report, str(tmp_path / "a.png"))
    assert _png_size(tmp_path / "a.png") == (600, 400)
    report_lib.plot_confusion([[3, 1, 0], [0, 4, 0], [1, 0, 5]], ["a", "b", "c"], "t",
                              str(tmp_path / "c.png"))
    assert _png_size(tmp_path / "c.png") == (720, 620)  # (160 C + 240) x (140 C + 200)
    images = np.zeros((2, 8, 8, 3), np.float32)
    report_lib.plot_augmented_grid(images, [images + 100, images + 300], str(tmp_path / "s.png"))
    assert _png_size(tmp_path / "s.png") == (390, 260)  # 3 columns, 2 rows of 130 px


def test_confusion_labels_are_never_drawn_as_boxes(tmp_path):
    """A class named '靴' was drawn as a box (no CJK font installed): a character the default
    font lacks is drawn with an installed font that has it, else written as its code point."""
    import warnings

    from components.export_pusher.report.plots import drawable_labels
    # U+1D81 is in matplotlib's own STIXGeneral, not in DejaVu Sans; plane-16 private use
    # U+10FFFD is in no font (matplotlib's Last Resort font only draws boxes)
    labels, families = drawable_labels(["sandale_é", "t shirt, top", "\u1d81", "a\U0010fffd"])
    assert labels == ["sandale_é", "t shirt, top", "\u1d81", "a<U+10FFFD>"]
    assert len(families) == 2  # the default, then one that has U+1D81 (STIXGeneral here)
    from matplotlib.text import Text
    [money], _ = drawable_labels(["$5 - $10"])  # not mathtext: drawn as written
    assert Text()._preprocess_math(money) == ("$5 - $10", False)
    cjk, _ = drawable_labels(["靴"])
    assert cjk in (["靴"], ["<U+9774>"])  # drawn with a CJK font where one is installed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report_lib.plot_confusion([[3, 1, 0], [0, 4, 0], [1, 0, 5]], ["靴", "\u1d81", "a\U0010fffd"],
                                  "t", str(tmp_path / "c.png"))
    assert not [str(w.message) for w in caught if "missing from font" in str(w.message)]
