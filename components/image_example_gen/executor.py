"""Executor of ImageExampleGen: lists image files per split, converts each to a tf.Example in Beam.

Checks that need no pixel reads (empty split, unknown class folder, too few classes) run before Beam
starts, so a bad tree fails in seconds with a message naming the folder. Files that cannot be decoded
are quarantined (not fatal) up to `max_quarantine_fraction` of the split.
"""
from __future__ import annotations

import io
import json
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

import apache_beam as beam
import tensorflow as tf
from absl import logging
from PIL import Image
from tfx.components.example_gen import base_example_gen_executor, utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from modules.class_names import quoted
from modules import image_files
from modules import splits as split_roles
from components.image_example_gen.data_checks import (INPUT_BASE_PROPERTY, QUARANTINE_FILE,
                                                      SPLIT_FILES, split_files_csv)
from components.image_example_gen.leakage import LEAKAGE_FILE, find_leakage

_QUARANTINE_DIR_KEY = "_quarantine_dir"
# > 0: the input split 'validation' has train's pattern; this fraction of train's files (by a
# stable hash of the relative path) goes to validation instead of train.
VALIDATION_FRACTION_KEY = "validation_fraction"
_TAG_QUARANTINE = "quarantine"
_TAG_ORIENTED = "exif_oriented"  # read, trained on as stored, but tagged to be turned
_LISTED_IN_ERROR = 50  # quarantined files named in the error that stops a run


class ImageFolderError(ValueError):
    """The image-folder tree cannot be turned into examples (names the folder and the problem)."""


def list_split_paths(input_base: str, pattern: str) -> Tuple[List[str], List[str]]:
    """(files, folders): sorted regular files and folders matching `<input_base>/<pattern>`;
    hidden ones (`image_files.is_hidden_name`: dot names, `__MACOSX`) are skipped. A folder
    matched where the pattern expects an image (e.g. `train/bag/extra` for `train/*/*`) is not
    read: it is returned so it can be reported.

    Files inside hidden folders (e.g. `train/.ipynb_checkpoints/x.png`) are skipped too: unlike
    Python's glob (used by the config's class discovery), `fileio.glob` lets `*` match a
    leading dot.
    """
    paths = [p for p in fileio.glob(os.path.join(input_base, pattern))
             if not image_files.is_hidden_path(p, input_base)]
    folders = {p for p in paths if fileio.isdir(p)}
    return sorted(p for p in paths if p not in folders), sorted(folders)


def files_outside_class_folders(input_base: str, pattern: str) -> List[str]:
    """Sorted visible regular files one level above `pattern`'s files (e.g. `train/stray.png`
    for `train/*/*`): outside any class folder, so never read; returned to be reported."""
    return list_split_paths(input_base, os.path.dirname(pattern))[0] \
        if os.path.dirname(pattern) else []


def list_split_files(input_base: str, pattern: str) -> List[str]:
    """Sorted regular files matching `<input_base>/<pattern>` (hidden ones skipped)."""
    return list_split_paths(input_base, pattern)[0]


def check_split(input_base: str, split: str, pattern: str, files: List[str],
                class_names: List[str], every_class: bool = True) -> None:
    """Raises ImageFolderError when a split is empty, has a class folder not in `class_names`,
    or (every_class) has no image of a configured class."""
    where = os.path.join(input_base, pattern)
    if not files:
        raise ImageFolderError(f"{split_roles.split_words(split)}: no files match {where} "
                               f"(expected <split>/<class>/<image> files)")
    folders = sorted({os.path.basename(os.path.dirname(p)) for p in files})
    unknown = [f for f in folders if f not in class_names]
    if unknown:
        raise ImageFolderError(f"{split_roles.split_words(split)}: class folder(s) {unknown} "
                               f"under {input_base} are not among the configured classes {class_names}")
    missing = [c for c in class_names if c not in folders]
    if every_class and missing:
        raise ImageFolderError(f"{split_roles.split_words(split)}: no images of configured "
                               f"class(es) {missing} "
                               f"(files matching {where}); every class needs images in every "
                               f"split")


def check_hash_split(input_base: str, files: List[str], output_config: example_gen_pb2.Output,
                     class_names: List[str]) -> None:
    """Before Beam: every output split of a hash split gets images of every configured class
    (the partition is TFX's, replicated by splits.hash_split)."""
    names = [s.name for s in output_config.split_config.splits]
    buckets = [s.hash_buckets for s in output_config.split_config.splits]
    seen: Dict[str, set] = {n: set() for n in names}
    for p in files:
        rel = os.path.relpath(p, input_base)
        seen[split_roles.hash_split(rel, names, buckets)].add(os.path.basename(os.path.dirname(p)))
    for name in names:
        missing = [c for c in class_names if c not in seen[name]]
        if missing:
            raise ImageFolderError(
                f"split '{name}' (hash-split {dict(zip(names, buckets))} of "
                f"{len(files)} files): no images of configured class(es) {missing}; every class "
                f"needs images in every split: add images or change data.split_hash_buckets")


def files_by_role(files: Dict[str, List[str]], input_base: str,
                  hash_split: Optional[Tuple[List[str], List[int]]]) -> Dict[str, List[str]]:
    """The files of each output split: `files` (by input split) as they are, or, for one input
    hash-partitioned into `hash_split` (names, buckets), each file under the output split the
    partition sends it to (`splits.hash_split`, TFX's), so that identical bytes in train and
    test buckets are found as leakage too."""
    if not hash_split:
        return files
    names, buckets = hash_split
    out: Dict[str, List[str]] = {n: [] for n in names}
    for paths in files.values():
        for p in paths:
            out[split_roles.hash_split(os.path.relpath(p, input_base), names, buckets)].append(p)
    return out


def check_readable_classes(files: Dict[str, List[str]], input_base: str, unread: Dict[str, str],
                           class_names: List[str]) -> None:
    """After quarantine: ImageFolderError when a configured class has no readable image left in
    an output split (every one of its files there quarantined), naming the split, the class and
    its quarantined files. `files`: absolute paths per output split (`files_by_role`); `unread`:
    {quarantined path relative to `input_base`: why}."""
    relative = {split: [os.path.relpath(p, input_base) for p in paths]
                for split, paths in files.items()}
    for split, name, rels in image_files.unreadable_classes(relative, unread):
        if name in class_names:
            raise ImageFolderError(
                f"split '{split}': class {quoted(name)} has no readable image: all {len(rels)} of its "
                f"files there were quarantined ("
                + "; ".join(f"{rel}: {unread[rel]}" for rel in rels[:5])
                + f"{'; ...' if len(rels) > 5 else ''}), so no model could learn or be tested "
                f"on it. Fix or replace these files")


def carve_validation(files: List[str], input_base: str, fraction: float
                     ) -> Tuple[List[str], List[str]]:
    """(train, validation): `fraction` of `files` by a stable hash of their relative path."""
    train, validation = [], []
    for p in files:
        carved = split_roles.in_carved_split(os.path.relpath(p, input_base), fraction)
        (validation if carved else train).append(p)
    return train, validation


def _example(features: Dict[str, Any]) -> tf.train.Example:
    feature = {}
    for key, value in features.items():
        if isinstance(value, bytes):
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        else:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
    return tf.train.Example(features=tf.train.Features(feature=feature))


VANISHED = "the file was deleted or moved while the run read the data"


def image_file_to_example(path: str, input_base: str, class_names: List[str],
                          max_image_pixels: int) -> Tuple[Optional[tf.train.Example], str]:
    """Reads one image file. Returns (example, '') or (None, reason) when it must be quarantined.

    The example holds the file's bytes unchanged in `image`; decoding is Transform's job. Here the
    file is fully decoded once with Pillow to prove it is a readable image of sane size.
    """
    try:
        with fileio.open(path, "rb") as f:
            data = f.read()
    except (tf.errors.NotFoundError, FileNotFoundError):  # listed, then gone (helper-62)
        return None, VANISHED
    problem, (width, height) = image_files.content_problem(data, max_image_pixels)
    if problem:
        return None, problem
    class_name = os.path.basename(os.path.dirname(path))
    rel = os.path.relpath(path, input_base)
    return _example({
        "image": data,
        "label": class_names.index(class_name),
        "class_name": class_name.encode(),
        "path": rel.encode(),
        "height": height,
        "width": width,
    }), ""


def oriented(path: str, example: tf.train.Example) -> int:
    """The EXIF orientation (modules/image_files.exif_orientation) of a JPEG or PNG example's
    bytes, from its header; 1 for other formats."""
    if not path.lower().endswith(image_files.ORIENTED_SUFFIXES):
        return 1
    with Image.open(io.BytesIO(example.features.feature["image"].bytes_list.value[0])) as img:
        return image_files.exif_orientation(img)


class _ConvertDoFn(beam.DoFn):
    """path -> serialized tf.Example, or a quarantine record on the tagged output."""

    def __init__(self, input_base: str, class_names: List[str], max_image_pixels: int):
        self._input_base = input_base
        self._class_names = class_names
        self._max_pixels = max_image_pixels

    def process(self, path: str) -> Iterable[Any]:
        example, reason = image_file_to_example(path, self._input_base, self._class_names,
                                                self._max_pixels)
        # relative to the data root, as the examples' `path` and the ignored files are
        rel = os.path.relpath(path, self._input_base)
        if example is None:
            yield beam.pvalue.TaggedOutput(_TAG_QUARANTINE, json.dumps(
                {"path": rel, "reason": reason}))
            return
        orientation = oriented(path, example)
        if orientation != 1:
            yield beam.pvalue.TaggedOutput(_TAG_ORIENTED, json.dumps(
                {"path": rel, "orientation": orientation}))
        yield example


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Converts image-folder splits to tf.Examples and enforces the quarantine limit."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        raise NotImplementedError("ImageExampleGen overrides GenerateExamplesByBeam")

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                               exec_properties: Dict[str, Any]) -> Dict[str, beam.PCollection]:
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        class_names = json.loads(exec_properties["class_names"])
        max_pixels = int(exec_properties.get("max_image_pixels") or 25_000_000)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                                  input_config)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
                                  output_config)
        split_names = utils.generate_output_split_names(input_config, output_config)
        if len(class_names) < 2:
            raise ImageFolderError(f"class_names {class_names}: need at least 2 classes")

        listed: Dict[str, List[str]] = {}
        for split in input_config.splits:  # notes.txt, nested folders: ignored, not read
            files, folders = list_split_paths(input_base, split.pattern)
            listed[split.name] = image_files.partition_image_files(files)[0]
            self._ignored[split.name] = image_files.ignored_paths(
                input_base, files, folders, files_outside_class_folders(input_base, split.pattern))
        patterns = {split.name: split.pattern for split in input_config.splits}
        fraction = float(exec_properties.get(VALIDATION_FRACTION_KEY) or 0.0)
        if fraction and patterns.get(split_roles.VALIDATION) == patterns.get(split_roles.TRAIN):
            # validation is carved out of train's files by a stable hash of the path
            listed[split_roles.TRAIN], listed[split_roles.VALIDATION] = carve_validation(
                listed[split_roles.TRAIN], input_base, fraction)
            self._ignored[split_roles.VALIDATION] = []  # train's, listed once
        hashed = bool(output_config.split_config.splits)
        self._class_names = class_names
        self._hash_split = ([s.name for s in output_config.split_config.splits],
                            [s.hash_buckets for s in output_config.split_config.splits]
                            ) if hashed else None
        if hashed:
            check_hash_split(input_base, next(iter(listed.values())), output_config, class_names)
        converted = {}
        for split in input_config.splits:
            files = listed[split.name]
            # one input hash-split into the outputs: classes are checked per output split later
            check_split(input_base, split.name, split.pattern, files, class_names,
                        every_class=not hashed)
            logging.info("ImageExampleGen: split %s has %d files", split.name, len(files))
            self._file_counts[split.name] = len(files)
            self._files[split.name] = files
            converted[split.name] = (
                pipeline
                | f"ListFiles[{split.name}]" >> beam.Create(files, reshuffle=False)
                | f"ToExample[{split.name}]" >> beam.ParDo(
                    _ConvertDoFn(input_base, class_names, max_pixels)).with_outputs(
                        _TAG_QUARANTINE, _TAG_ORIENTED, main="examples"))
            (converted[split.name][_TAG_QUARANTINE]
             | f"WriteQuarantine[{split.name}]" >> beam.io.WriteToText(
                 os.path.join(exec_properties[_QUARANTINE_DIR_KEY], split.name),
                 file_name_suffix=".jsonl"))
            (converted[split.name][_TAG_ORIENTED]
             | f"WriteOriented[{split.name}]" >> beam.io.WriteToText(
                 os.path.join(oriented_dir(exec_properties[_QUARANTINE_DIR_KEY]), split.name),
                 file_name_suffix=".jsonl"))

        if output_config.split_config.splits:
            # One input split hash-partitioned into the configured output splits.
            (only,) = converted.values()
            buckets, total = [], 0
            for s in output_config.split_config.splits:
                total += s.hash_buckets
                buckets.append(total)
            parts = only["examples"] | "SplitData" >> beam.Partition(
                base_example_gen_executor._PartitionFn,  # pylint: disable=protected-access
                len(buckets), buckets, output_config.split_config)
            return {name: parts[i] for i, name in enumerate(split_names)}
        return {name: converted[s.name]["examples"]
                for name, s in zip(split_names, input_config.splits)}

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        quarantine_dir = os.path.join(self._get_tmp_dir(), "quarantine")
        exec_properties = dict(exec_properties)
        exec_properties[_QUARANTINE_DIR_KEY] = quarantine_dir
        self._file_counts: Dict[str, int] = {}
        self._files: Dict[str, List[str]] = {}
        self._ignored: Dict[str, List[str]] = {}
        super().Do(input_dict, output_dict, exec_properties)
        report = summarize_quarantine(quarantine_dir, self._file_counts, self._ignored)
        add_oriented(report, oriented_dir(quarantine_dir))
        if report["exif_oriented"]:
            logging.warning("ImageExampleGen: %d image(s) carry an EXIF orientation, which "
                            "TensorFlow ignores: trained and tested as stored (sideways), "
                            "listed in %s", report["exif_oriented"],
                            os.path.join(examples.uri, QUARANTINE_FILE))
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        unread = {q["path"]: q["reason"] for info in report["splits"].values()
                  for q in info["files"]}
        # quarantined files were never read: identical corrupt copies are not leakage
        by_role = files_by_role(self._files, input_base, self._hash_split)  # output splits
        leakage = find_leakage({s: [p for p in files
                                    if os.path.relpath(p, input_base) not in unread]
                                for s, files in by_role.items()}, input_base)
        with fileio.open(os.path.join(examples.uri, LEAKAGE_FILE), "w") as f:
            f.write(json.dumps(leakage, indent=2))
        with fileio.open(os.path.join(examples.uri, SPLIT_FILES), "w") as f:
            f.write(split_files_csv(by_role, input_base, unread))
        examples.set_int_custom_property("leaked_files", leakage["leaked_files"])
        if leakage["leaked_files"]:
            logging.warning("ImageExampleGen: %d files have identical bytes in more than one split "
                            "(leakage between splits), listed in %s", leakage["leaked_files"],
                            os.path.join(examples.uri, LEAKAGE_FILE))
        if report["ignored"]:
            names = [p for files in self._ignored.values() for p in files]
            logging.warning("ImageExampleGen ignored %d path(s) without an image extension or "
                            "nested in a class folder (not read, not trained on): %s%s",
                            len(names), ", ".join(names[:5]), " ..." if len(names) > 5 else "")
        with fileio.open(os.path.join(examples.uri, QUARANTINE_FILE), "w") as f:
            f.write(json.dumps(report, indent=2))
        examples.set_int_custom_property("quarantined", report["quarantined"])
        # the data these examples were read from, as run (a compiled pipeline's data_root
        # parameter can differ from the config it was compiled with): the report's manifest
        examples.set_string_custom_property(INPUT_BASE_PROPERTY, input_base)
        limit = float(exec_properties.get("max_quarantine_fraction") or 0.0)
        over = over_quarantine_limit(report, limit)
        if over:  # every split over its allowance at once: one run to learn them all
            raise ImageFolderError(f"{over}. Fix or remove these files, or raise "
                                   f"data.max_quarantine_fraction")
        for split, info in report["splits"].items():
            for q in info["files"]:
                logging.warning("ImageExampleGen quarantined %s (%s): %s", q["path"],
                                split_roles.split_words(split), q["reason"])
        check_readable_classes(by_role, input_base, unread, self._class_names)


def over_quarantine_limit(report: Dict[str, Any], limit: float) -> str:
    """'' when every split of a `summarize_quarantine` report is within its allowance
    (`image_files.quarantine_allowance`); else one message naming each split over it and its
    unreadable files (listed here: a failed run's output folder, and its quarantine.json, is
    removed), at most _LISTED_IN_ERROR in all."""
    parts, budget = [], _LISTED_IN_ERROR
    for split, info in report["splits"].items():
        allowed = image_files.quarantine_allowance(info["files_total"], limit)
        if info["quarantined"] <= allowed:
            continue
        shown = info["files"][:budget]
        budget -= len(shown)
        listed = ": " + "; ".join(f"{q['path']}: {q['reason']}" for q in shown) if shown else ""
        more = (f"{'; ...' if shown else ' (not listed:'} {info['quarantined'] - len(shown)} "
                f"more{'' if shown else ')'}" if info["quarantined"] > len(shown) else "")
        parts.append(f"{split_roles.split_words(split)}: {info['quarantined']} of "
                     f"{info['files_total']} files "
                     f"({info['fraction']:.1%}) could not be read, above data.max_quarantine_"
                     f"fraction={limit:.1%} of the split (at most {allowed}){listed}{more}")
    return " | ".join(parts)


def summarize_quarantine(quarantine_dir: str, file_counts: Dict[str, int],
                         ignored: Optional[Dict[str, List[str]]] = None) -> Dict[str, Any]:
    """Reads the quarantine shards written by Beam into {'quarantined': n, 'ignored': m,
    'splits': {split: {files_total, quarantined, fraction, files, ignored}}}: `files` are the
    quarantined {'path', 'reason'}, `ignored` the relative paths of the split's non-image files
    and nested folders (ending in '/'; not in files_total)."""
    ignored = ignored or {}
    splits: Dict[str, Any] = {}
    total = 0
    for split, n_files in file_counts.items():
        records = []
        for shard in fileio.glob(os.path.join(quarantine_dir, split + "*")):
            with fileio.open(shard) as f:
                records += [json.loads(line) for line in f if line.strip()]
        records.sort(key=lambda r: r["path"])
        total += len(records)
        splits[split] = {"files_total": n_files, "quarantined": len(records),
                         "fraction": len(records) / max(n_files, 1), "files": records,
                         "ignored": sorted(ignored.get(split, []))}
    return {"quarantined": total, "ignored": sum(len(v) for v in ignored.values()),
            "splits": splits}


def oriented_dir(quarantine_dir: str) -> str:
    """Where the Beam shards of EXIF-oriented files go: beside the quarantine shards, not among
    them (those are globbed by split name)."""
    return quarantine_dir.rstrip("/") + "-exif"


def add_oriented(report: Dict[str, Any], shard_dir: str) -> None:
    """Adds to `summarize_quarantine`'s report `exif_oriented` (a count) and, per split,
    `exif_oriented`: the sorted relative paths of the read images carrying an EXIF orientation
    (JPEG / PNG, orientation 2..8): TensorFlow ignores the tag, so they are used as stored."""
    total = 0
    for split, info in report["splits"].items():
        paths = []
        for shard in fileio.glob(os.path.join(shard_dir, split + "-*")):
            with fileio.open(shard) as f:
                paths += [json.loads(line)["path"] for line in f if line.strip()]
        info["exif_oriented"] = sorted(paths)
        total += len(paths)
    report["exif_oriented"] = total


__all__ = ["Executor", "image_file_to_example", "list_split_files", "list_split_paths",
           "check_split", "ImageFolderError"]
