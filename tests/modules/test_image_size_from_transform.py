"""One image size for Transform, Tuner and Trainer (issue #15): `with_transform_image_size` takes
`model.image_size` from Transform's output schema, and refuses a custom_config that says
otherwise. The Transform output here is a real TFTransformOutput directory holding only what
`transformed_feature_spec()` reads (transformed_metadata/schema.pbtxt)."""
import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from modules.configs import RunConfig
from modules.image_size import transform_image_size, with_transform_image_size
from modules.features import IMAGE_KEY, LABEL_KEY


def _transform_output(root, dims):
    import tensorflow_transform as tft
    schema = schema_pb2.Schema()
    image = schema.feature.add(name=IMAGE_KEY, type=schema_pb2.FLOAT)
    image.presence.min_fraction = 1.0
    for d in dims:
        image.shape.dim.add(size=d)
    label = schema.feature.add(name=LABEL_KEY, type=schema_pb2.INT)
    label.shape.SetInParent()
    label.presence.min_fraction = 1.0
    (root / "transformed_metadata").mkdir(parents=True)
    (root / "transformed_metadata" / "schema.pbtxt").write_text(str(schema))
    return tft.TFTransformOutput(str(root))


def run_config_for_transform(custom, output):
    """What tuner_fn / run_fn do: the RunConfig from custom_config, then Transform's size."""
    return with_transform_image_size(RunConfig.from_dict(custom), custom, output)


def _custom(image_size=None):
    custom = RunConfig(class_names=["a", "b"]).to_dict()
    custom["model"].pop("image_size")
    if image_size is not None:
        custom["model"]["image_size"] = image_size
    return custom


def test_the_image_size_is_transforms(tmp_path):
    output = _transform_output(tmp_path, [48, 48, 3])
    assert transform_image_size(output) == 48
    # The compiled pipeline's custom_config has no image size: Transform's is used.
    assert run_config_for_transform(_custom(), output).model.image_size == 48
    # A local run's custom_config has it, equal to Transform's.
    assert run_config_for_transform(_custom(48), output).model.image_size == 48


def test_a_different_image_size_is_refused(tmp_path):
    output = _transform_output(tmp_path, [32, 32, 3])
    with pytest.raises(ValueError, match=r"model.image_size=64, but Transform resized the images "
                                         r"to 32x32"):
        run_config_for_transform(_custom(64), output)


def test_a_transform_output_without_a_square_image_is_refused(tmp_path):
    with pytest.raises(ValueError, match=rf"Transform output {IMAGE_KEY}: expected a fixed"):
        transform_image_size(_transform_output(tmp_path, [32, 16, 3]))
