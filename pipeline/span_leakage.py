"""Leakage across the spans of a retraining window: a held-out image of the newest span whose
bytes equal an image an older span of the window trains on.

ImageExampleGen's `leakage.json` compares the splits of one ingestion (one span). With
`retrain.num_spans` > 1 the Trainer also reads the older spans' train and validation splits,
and the Evaluator tests on the newest span's test split: an image delivered again in a later
span (a re-sent batch, a renamed span folder) is split by its new path and may land in the test
split while its first copy is trained on, so the test figures read high. Reported, not fatal,
as the per-span check is.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from modules import splits as roles
from pipeline.config import PipelineConfig
from pipeline.data_layout import files_by_split

# held-out split of the newest span -> the older spans' splits that must not hold its bytes
_GUARDED = {roles.TEST: (roles.TRAIN, roles.VALIDATION), roles.VALIDATION: (roles.TRAIN,)}


def window_leakage(config: PipelineConfig, window: List[int],
                   older: Optional[List[int]] = None) -> List[Dict[str, Any]]:
    """[{'path', 'split', 'same_bytes_as': [(relative path, span, split), ...]}] for each file
    of the newest span's test and validation splits (relative to data.root) whose sha256
    equals a file of an older span in a split it trains on (test: train or validation;
    validation: train). `older`: the spans to compare with, default the window's older ones
    (with warm start, `retrain` passes every older span on disk: an earlier model of the
    warm-start chain may have trained on any of them, helper-45); [] when there is none. Only
    files of equal size are hashed (a cached cron run reads no more than the held-out files and
    their size twins); a file that cannot be read is skipped (ImageExampleGen names it)."""
    from components.image_example_gen.leakage import sha256_of
    older = window[:-1] if older is None else [s for s in older if s != window[-1]]
    if not window or not older:
        return []
    root, layout = config.data_root, config.split_layout

    def size(rel):
        try:
            return os.path.getsize(os.path.join(root, rel))
        except OSError:
            return None

    def digest(rel):
        try:
            return sha256_of(os.path.join(root, rel))
        except OSError:
            return None

    newest = files_by_split(root, layout, window[-1])
    held = [(rel, split) for split in _GUARDED for rel in newest.get(split, [])]
    held_sizes = {size(rel) for rel, _ in held} - {None}
    trained: Dict[str, List[tuple]] = {}
    twin_sizes = set()
    for span in older:
        for split, rels in files_by_split(root, layout, span).items():
            for rel in rels:
                if size(rel) in held_sizes:
                    twin_sizes.add(size(rel))
                    trained.setdefault(digest(rel), []).append((rel, span, split))
    trained.pop(None, None)
    found = []
    for rel, split in held:
        if size(rel) not in twin_sizes:
            continue
        same = [t for t in trained.get(digest(rel), []) if t[2] in _GUARDED[split]]
        if same:
            found.append({"path": rel, "split": split, "same_bytes_as": same})
    return found


def format_window_leakage(found: List[Dict[str, Any]], newest: int,
                          window: Optional[List[int]] = None, listed: int = 5) -> str:
    """One line for the retrain summary ('' when nothing leaked). A copy found only in spans
    outside `window` (compared because of warm start) may never have been trained on: the
    line says "may"."""
    if not found:
        return ""
    test = sum(1 for f in found if f["split"] == roles.TEST)
    shown = "; ".join(f"{f['path']} ({f['split']}) == " + ", ".join(
        f"{rel} (span {span}, {split})" for rel, span, split in f["same_bytes_as"][:2])
        for f in found[:listed])
    more = f"; ... {len(found) - listed} more" if len(found) > listed else ""
    in_window = window is None or any(span in window for f in found
                                      for _, span, _ in f["same_bytes_as"])
    effect = ("the test figures above read high" if test else
              "early stopping and the tuner's choice were judged on images trained on")
    if not in_window:
        effect = (f"{effect.replace(' read ', ' may read ').replace(' were ', ' may have been ')}"
                  f" (the copies are in older spans outside the window, which an earlier "
                  f"model of the warm-start chain may have trained on)")
    return (f"LEAKAGE across spans: {len(found)} held-out image(s) of span {newest} ({test} in "
            f"test) have the same bytes as images older spans train or validate on (the window's; with "
            f"warm start, any older span on disk, as an earlier model of the chain may have), so "
            f"{effect}: {shown}{more}; remove the copies from the newest span (or from the "
            f"older one) and retrain")
