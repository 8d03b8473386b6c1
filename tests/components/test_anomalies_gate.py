"""AnomaliesGate executor on real TFDV anomalies (inferred schema vs drifted statistics)."""
import os


import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tfx.types import artifact_utils, standard_artifacts

from components.anomalies_gate.executor import (ANOMALIES_FILE, AnomaliesFoundError,
                                                Executor, describe_anomalies)


def _anomalies_artifact(tmp_path, frames):
    """An ExampleAnomalies artifact: per split, TFDV's validation of `frames[split]` against the
    schema inferred from the first split, written as ExampleValidator writes it."""
    splits = list(frames)
    schema = tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(frames[splits[0]]))
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path / "anomalies")
    artifact.split_names = artifact_utils.encode_split_names(splits)
    for split, frame in frames.items():
        anomalies = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame), schema)
        os.makedirs(os.path.join(artifact.uri, f"Split-{split}"))
        with open(os.path.join(artifact.uri, f"Split-{split}", ANOMALIES_FILE), "wb") as f:
            f.write(anomalies.SerializeToString())
    return artifact


TRAIN = pd.DataFrame({"class_name": ["shirt", "tshirt_top"] * 10, "height": [28] * 20})


def test_new_class_name_stops_the_run_with_a_readable_list(tmp_path):
    drifted = pd.DataFrame({"class_name": ["shirt", "dress"] * 10, "height": [28] * 20})
    artifact = _anomalies_artifact(tmp_path, {"train": TRAIN, "eval": drifted})
    lines = describe_anomalies(artifact.uri, ["train", "eval"])
    assert len(lines) == 1, lines
    assert lines[0].startswith("split 'eval': feature 'class_name': Unexpected string values")
    assert "dress" in lines[0]
    with pytest.raises(AnomaliesFoundError) as exc:
        Executor().Do({"anomalies": [artifact]}, {}, {})
    msg = str(exc.value)
    assert msg.startswith("ExampleValidator found 1 anomaly")
    assert "stops before Transform and training" in msg and lines[0] in msg
    assert msg.endswith("Pushed versions are unchanged. If the new data is right, update the "
                        "curated schema (data.schema_path: widen the feature's domain, e.g. "
                        "int_domain for height/width) or run without data.schema_path to infer "
                        "one from this data; else fix the images")  # helper-65


def test_missing_feature_is_reported(tmp_path):
    drifted = pd.DataFrame({"height": [28] * 20})
    artifact = _anomalies_artifact(tmp_path, {"train": TRAIN, "eval": drifted})
    (line,) = describe_anomalies(artifact.uri, ["train", "eval"])
    assert line.startswith("split 'eval': feature 'class_name': Column dropped"), line


def test_no_anomalies_passes(tmp_path):
    artifact = _anomalies_artifact(tmp_path, {"train": TRAIN, "eval": TRAIN.iloc[::-1]})
    assert describe_anomalies(artifact.uri, ["train", "eval"]) == []
    Executor().Do({"anomalies": [artifact]}, {}, {})  # does not raise
