"""pipeline.mlmd.span_of: the one reader of an MLMD artifact's `span` property."""
import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.mlmd import span_of


def _artifact(**span):
    artifact = pb.Artifact()
    if span:
        [(kind, value)] = span.items()
        setattr(artifact.custom_properties["span"], kind, value)
    return artifact


@pytest.mark.parametrize("stored, expected", [
    ({"int_value": 3}, 3),
    ({"int_value": 0}, 0),           # span 0 is a span, not "no span"
    ({"string_value": "12"}, 12),    # older stores wrote a string
    ({}, None),
    ({"string_value": ""}, None),
])
def test_span_of_reads_int_and_string_spans(stored, expected):
    assert span_of(_artifact(**stored)) == expected


def test_span_of_a_tfx_artifact_is_read_through_its_mlmd_proto():
    """ExampleGen's driver writes the span as a custom property (TFX's SpanRangeStrategy reads
    it there too)."""
    from tfx.types import standard_artifacts

    from pipeline.resolvers import _span
    examples = standard_artifacts.Examples()
    examples.set_int_custom_property("span", 4)
    assert _span(examples) == 4
    examples.set_string_custom_property("span", "0")
    assert _span(examples) == 0
    assert _span(standard_artifacts.Examples()) == 0
