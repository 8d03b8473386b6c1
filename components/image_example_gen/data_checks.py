"""What ImageExampleGen's data checks wrote into its Examples artifact, read back: quarantine.json
(files that could not be decoded, with the reason, and the ignored non-image files and nested
folders) and leakage.json (identical bytes in more than one split). Read by the run summary
(pipeline/summary.py) and kept in the pushed report (components/export_pusher)."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from tfx.dsl.io import fileio

from components.image_example_gen.leakage import LEAKAGE_FILE

QUARANTINE_FILE = "quarantine.json"
# Examples custom property: the data root ImageExampleGen read (a compiled run's data_root
# parameter can differ from the root it was compiled with); the pushed report names it
INPUT_BASE_PROPERTY = "input_base"


def read_data_checks(examples_uri: str) -> Dict[str, Any]:
    """{'examples_uri', 'quarantine': quarantine.json's content, 'leakage': leakage.json's}; a
    file that is absent (an older artifact) is left out."""
    out: Dict[str, Any] = {"examples_uri": examples_uri}
    for key, name in (("quarantine", QUARANTINE_FILE), ("leakage", LEAKAGE_FILE)):
        path = os.path.join(examples_uri, name)
        if fileio.exists(path):
            with fileio.open(path) as f:
                out[key] = json.load(f)
    return out


def quarantined_files(checks: Dict[str, Any]) -> List[Dict[str, str]]:
    """Every quarantined file ({'path', 'reason'}) of `read_data_checks`'s result, split by
    split in file order; [] when none or not recorded."""
    splits = (checks.get("quarantine") or {}).get("splits") or {}
    return [q for info in splits.values() for q in info["files"]]


def ignored_files(checks: Dict[str, Any]) -> List[str]:
    """Every ignored path (a non-image file, or a nested folder ending in '/'; relative to the
    data root) of `read_data_checks`'s result, split by split; [] when none or not recorded
    (artifacts before this record)."""
    splits = (checks.get("quarantine") or {}).get("splits") or {}
    return [p for info in splits.values() for p in info.get("ignored", [])]


def oriented_files(checks: Dict[str, Any]) -> List[str]:
    """Every read image carrying an EXIF orientation (relative to the data root; trained and
    tested as stored, since TensorFlow ignores the tag), split by split; [] when none or not
    recorded (artifacts before this record)."""
    splits = (checks.get("quarantine") or {}).get("splits") or {}
    return [p for info in splits.values() for p in info.get("exif_oriented", [])]
