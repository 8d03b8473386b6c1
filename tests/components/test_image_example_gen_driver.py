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
