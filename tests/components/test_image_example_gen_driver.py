"""ImageExampleGen's driver (components/image_example_gen/driver.py): TFX's file fingerprint plus
the files' relative paths, so a relabelled image (moved to another class folder, mtime kept) is
not a cache hit; and the local runner's compiled pipeline uses that driver."""
import os
import shutil

from tfx.proto import example_gen_pb2

from components.image_example_gen.driver import ImageFileDriver, ImageFileInputProcessor


def _tree(root):
    for split in ("train", "eval"):
        for name in ("dress", "pullover"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(3):
                path = folder / f"{name}{i}.png"
                path.write_bytes(b"x" * (10 + i))
                os.utime(path, (1_700_000_000, 1_700_000_000))


def _fingerprint(root):
    splits = [example_gen_pb2.Input.Split(name="train", pattern="train/*/*"),
              example_gen_pb2.Input.Split(name="eval", pattern="eval/*/*")]
    processor = ImageFileInputProcessor(str(root), splits)
    span, version = processor.resolve_span_and_version()
    return processor.get_input_fingerprint(span, version)


def test_a_file_moved_to_another_class_changes_the_fingerprint(tmp_path):
    _tree(tmp_path)
    before = _fingerprint(tmp_path)
    assert before == _fingerprint(tmp_path)  # unchanged tree: a cache hit, as in TFX
    assert "paths_sha256:" in before and before.startswith("split:train,num_files:6")
    # `mv` keeps size and mtime: TFX's own part of the fingerprint does not move
    os.rename(tmp_path / "train" / "dress" / "dress0.png",
              tmp_path / "train" / "pullover" / "dress0.png")
    after = _fingerprint(tmp_path)
    assert after.split(",paths_sha256:")[0] == before.split(",paths_sha256:")[0]
    assert after != before
    shutil.move(str(tmp_path / "train" / "pullover" / "dress0.png"),
                str(tmp_path / "train" / "dress" / "dress0.png"))
    assert _fingerprint(tmp_path) == before  # moved back: the same data, a cache hit again


def test_files_never_read_never_change_the_fingerprint_which_is_tfxs_without_them(tmp_path):
    """Hidden files and files without an image extension (notes.txt, labels.csv) are not read
    by ImageExampleGen: adding or deleting them is not new data (helper-59)."""
    from tfx.utils import io_utils
    _tree(tmp_path)
    before = _fingerprint(tmp_path)
    # without hidden files: TFX's own fingerprint, then the paths (no re-ingestion on upgrade)
    assert before.split(",paths_sha256:")[0] == "\n".join(
        io_utils.generate_fingerprint(s, str(tmp_path / s / "*" / "*")) for s in ("train", "eval"))
    # a macOS zip's debris: AppleDouble files beside the images and a __MACOSX folder
    (tmp_path / "train" / "dress" / "._dress0.png").write_bytes(b"\0\5\26\7junk")
    (tmp_path / "train" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "train" / "__MACOSX" / "dress").mkdir(parents=True)
    (tmp_path / "train" / "__MACOSX" / "dress" / "._dress1.png").write_bytes(b"junk")
    (tmp_path / "eval" / "__MACOSX").mkdir()
    (tmp_path / "eval" / "__MACOSX" / "x.png").write_bytes(b"junk")
    (tmp_path / "train" / "dress" / "notes.txt").write_text("scraped 2026-12-01")
    (tmp_path / "eval" / "labels.csv").write_text("a,b")
    (tmp_path / "train" / "dress" / "crops.png").mkdir()  # a folder: not read either
    assert _fingerprint(tmp_path) == before  # deleting them later retrains nothing either
    (tmp_path / "train" / "dress" / "dress9.png").write_bytes(b"y")
    assert _fingerprint(tmp_path) != before  # a visible image still counts


def test_the_compiled_local_pipeline_runs_this_driver(tmp_path):
    from tfx.dsl.compiler.compiler import Compiler
    from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2

    from pipeline.config import load_config
    from pipeline.pipeline import create_pipeline
    ir = Compiler().compile(create_pipeline(
        load_config(overrides=[f"output.root={tmp_path}"]), weights=(None, "none")))
    config = pipeline_pb2.IntermediateDeploymentConfig()
    ir.deployment_config.Unpack(config)
    spec = executable_spec_pb2.PythonClassExecutableSpec()
    config.custom_driver_specs["ImageExampleGen"].Unpack(spec)
    assert spec.class_path == f"{ImageFileDriver.__module__}.{ImageFileDriver.__name__}"
