"""AnomaliesGate executor: reads ExampleValidator's per-split `SchemaDiff.pb` and fails on any anomaly.

ExampleValidator only records anomalies; it never stops a run. This executor turns a non-empty
`Anomalies` proto into `AnomaliesFoundError`, whose message is a readable list
(`split 'eval': feature 'class_name': Unexpected string values: ...`), so the CLI can print it.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

from absl import logging
from tensorflow_data_validation.utils import anomalies_util
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

ANOMALIES_FILE = "SchemaDiff.pb"


# What to do, said with every refusal (helper-65: the error named no key and did not say that
# nothing already pushed changed).
REMEDY = ("Pushed versions are unchanged. If the new data is right, update the curated schema "
          "(data.schema_path: widen the feature's domain, e.g. int_domain for height/width) or "
          "run without data.schema_path to infer one from this data; else fix the images")


class AnomaliesFoundError(RuntimeError):
    """ExampleValidator found anomalies: the data does not match the schema."""


def describe_anomalies(anomalies_uri: str, splits: List[str]) -> List[str]:
    """One line per anomalous feature: "split 'S': feature 'F': short description (detail)"."""
    lines = []
    for split in splits:
        path = os.path.join(anomalies_uri, f"Split-{split}", ANOMALIES_FILE)
        if not fileio.exists(path):
            continue
        anomalies = anomalies_util.load_anomalies_binary(path)
        for feature, info in sorted(anomalies.anomaly_info.items()):
            detail = "; ".join(r.description for r in info.reason if r.description)
            short = info.short_description or "anomaly"
            lines.append(f"split '{split}': feature '{feature}': {short}"
                         + (f" ({detail})" if detail and detail != short else ""))
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            lines.append(f"split '{split}': dataset: {info.short_description or info.description}")
    return lines


class Executor(base_executor.BaseExecutor):
    """Raises AnomaliesFoundError when any split of the `anomalies` artifact has an anomaly."""

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        artifact = artifact_utils.get_single_instance(input_dict["anomalies"])
        splits = artifact_utils.decode_split_names(artifact.split_names)
        lines = describe_anomalies(artifact.uri, splits)
        if lines:
            raise AnomaliesFoundError(
                f"ExampleValidator found {len(lines)} anomal{'y' if len(lines) == 1 else 'ies'} "
                f"(data does not match the schema); the run stops before Transform and "
                f"training:\n  " + "\n  ".join(lines) + f"\n(anomalies artifact: {artifact.uri})"
                + "\n" + REMEDY)
        logging.info("AnomaliesGate: no anomalies in splits %s", splits)
