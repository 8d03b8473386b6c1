"""What ImageExampleGen's data checks wrote into its Examples artifact, read back: quarantine.json
(files that could not be decoded, with the reason, and the ignored non-image files and nested
folders) and leakage.json (identical bytes in more than one split). Read by the run summary
(pipeline/summary.py) and kept in the pushed report (components/export_pusher); and
split_files.csv (every file's split), which `write_data_splits` turns into the pushed version's
data_splits.csv."""
from __future__ import annotations

import csv
import io
import json
import os
from typing import Any, Dict, Iterable, List, Optional

from tfx.dsl.io import fileio

from modules.splits import TEST

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


DATA_SPLITS = "data_splits.csv"


def write_data_splits(staging: str, window: List[Any], examples: List[Any],
                      spanned: bool = True) -> Optional[Dict[str, Any]]:
    """`data_splits.csv` in the version: every image file's split as ImageExampleGen assigned it
    (its `split_files.csv`), for every span trained on (`window`, else `examples`), with a
    `span` column (empty for a tree without spans, `spanned` False: ExampleGen records span 0
    there); an older span's test rows read 'no' (the test split is
    the newest span's). Returns report.json's record ({'file', 'files': rows per split of the
    newest span}), None when no artifact lists its files (an older one, or imported records)."""
    artifacts = list(window or examples)
    spans = [int(a.get_int_custom_property("span"))
             if spanned and a.has_custom_property("span") else None for a in artifacts]
    listed = [(span, read_split_files(a.uri)) for span, a in zip(spans, artifacts)]
    listed = sorted(((s, rows) for s, rows in listed if rows is not None),
                    key=lambda item: -1 if item[0] is None else item[0])
    if not listed:
        return None
    newest = listed[-1][0]
    with open(os.path.join(staging, DATA_SPLITS), "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("span",) + SPLIT_FILES_HEADER)
        for span, rows in listed:
            for row in rows:
                older_test = span != newest and row["split"] == TEST
                writer.writerow(("" if span is None else span, row["split"], row["path"],
                                 row["class"], "no" if older_test else row["read"]))
    counts: Dict[str, int] = {}
    for row in listed[-1][1]:
        counts[row["split"]] = counts.get(row["split"], 0) + 1
    return {"file": DATA_SPLITS, "files": counts,
            "columns": "span, split, path (relative to the data root), class, read (no: "
                       "quarantined, or an older span's test split, which nothing reads)"}
