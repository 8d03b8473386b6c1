"""ImageExampleGen component: TFX's FileBasedExampleGen with an image-folder executor.

TFX has no image-folder ExampleGen. Building it on `FileBasedExampleGen` (rather than converting to
TFRecord and using ImportExampleGen) keeps TFX's own driver: `{SPAN}`/`{VERSION}` resolution in the
input patterns, `RangeConfig`, and the input fingerprint that makes unchanged re-runs cache hits;
driver.py adds the files' relative paths to that fingerprint, so a file moved to another class
folder (a new label) is not a cache hit.
"""
from __future__ import annotations

import json
from typing import Optional, Sequence

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2

from components.image_example_gen.driver import ImageFileDriver
from tfx.types import standard_artifacts
from tfx.types import channel
from tfx.types.component_spec import ExecutionParameter
from tfx.types.standard_component_specs import FileBasedExampleGenSpec

from components.image_example_gen import executor

CLASS_NAMES_KEY = "class_names"
MAX_QUARANTINE_FRACTION_KEY = "max_quarantine_fraction"
MAX_IMAGE_PIXELS_KEY = "max_image_pixels"
VALIDATION_FRACTION_KEY = executor.VALIDATION_FRACTION_KEY


class ImageExampleGenSpec(FileBasedExampleGenSpec):
    """FileBasedExampleGenSpec plus the class list and the quarantine policy."""
    PARAMETERS = {
        **FileBasedExampleGenSpec.PARAMETERS,
        CLASS_NAMES_KEY: ExecutionParameter(type=str),  # JSON list; label = index in it
        MAX_QUARANTINE_FRACTION_KEY: ExecutionParameter(type=float, optional=True),
        MAX_IMAGE_PIXELS_KEY: ExecutionParameter(type=int, optional=True),
        VALIDATION_FRACTION_KEY: ExecutionParameter(type=float, optional=True),
    }


class ImageExampleGen(FileBasedExampleGen):
    """Reads `<input_base>/<pattern>` image files into tf.Examples.

    Features: `image` (encoded bytes, as in the file), `label` (int64, index of the class folder in
    `class_names`), `class_name`, `path` (relative to input_base), `height`, `width` (pixels).
    Undecodable files are quarantined (listed in `<examples>/quarantine.json`); the execution fails
    when a split's exceed its allowance (`max_quarantine_fraction` of it, rounded down, at least
    one file: modules/image_files.quarantine_allowance), naming every such split. With
    `validation_fraction` > 0 and an input split 'validation' whose pattern is train's, that
    fraction of train's files (chosen by a stable hash of the relative path: modules/splits.py)
    goes to validation.
    """
    SPEC_CLASS = ImageExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
    DRIVER_CLASS = ImageFileDriver

    def __init__(self, input_base: str, class_names: Sequence[str],
                 input_config: Optional[example_gen_pb2.Input] = None,
                 output_config: Optional[example_gen_pb2.Output] = None,
                 range_config: Optional[range_config_pb2.RangeConfig] = None,
                 max_quarantine_fraction: float = 0.01,
                 max_image_pixels: int = 25_000_000, validation_fraction: float = 0.0):
        input_config = input_config or example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="train", pattern="train/*/*"),
            example_gen_pb2.Input.Split(name="eval", pattern="eval/*/*"),
        ])
        output_config = output_config or example_gen_pb2.Output()
        spec = ImageExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            range_config=range_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            class_names=json.dumps(list(class_names)),
            max_quarantine_fraction=float(max_quarantine_fraction),
            max_image_pixels=int(max_image_pixels),
            validation_fraction=float(validation_fraction),
            examples=channel.Channel(type=standard_artifacts.Examples))
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
