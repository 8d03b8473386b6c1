"""What ImageExampleGen's data checks wrote into its Examples artifact, read back: quarantine.json
(files that could not be decoded, with the reason, and the ignored non-image files and nested
folders) and leakage.json (identical bytes in more than one split). Read by the run summary
(pipeline/summary.py) and kept in the pushed report (components/export_pusher)."""
from __future__ import annotations

import csv
import io
import json
import os
from typing import Any, Dict, Iterable, List, Optional

from tfx.dsl.io import fileio

from components.image_example_gen.leakage import LEAKAGE_FILE

QUARANTINE_FILE = "quarantine.json"
# Every file's split (what the model was trained, validated and tested on, by path: helper-71
# could not check that an image keeps its split as images are added without reading the records)
SPLIT_FILES = "split_files.csv"
SPLIT_FILES_HEADER = ("split", "path", "class", "read")
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


def split_files_csv(by_split: Dict[str, List[str]], input_base: str,
                    unread: Iterable[str]) -> str:
    """SPLIT_FILES' text: one row per file, sorted by split then path: the output split, the
    path relative to `input_base` ('/'-separated), its class folder, and 'yes', or 'no' for a
    quarantined file (listed in `unread`, relative paths), which no split holds."""
    unread = set(unread)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SPLIT_FILES_HEADER)
    for split in sorted(by_split):
        for rel in sorted(os.path.relpath(p, input_base).replace(os.sep, "/")
                          for p in by_split[split]):
            writer.writerow((split, rel, rel.split("/")[-2] if "/" in rel else "",
                             "no" if rel in unread else "yes"))
    return out.getvalue()


def read_split_files(examples_uri: str) -> Optional[List[Dict[str, str]]]:
    """SPLIT_FILES' rows as dicts (header keys); None when the artifact has none (older)."""
    path = os.path.join(examples_uri, SPLIT_FILES)
    if not fileio.exists(path):
        return None
    with fileio.open(path) as f:
        text = f.read()
    return list(csv.DictReader(io.StringIO(text.decode() if isinstance(text, bytes) else text)))

