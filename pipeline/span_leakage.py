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
from typing import Any, Dict, List

from modules import splits as roles
from pipeline.config import PipelineConfig
from pipeline.data_layout import files_by_split

# held-out split of the newest span -> the older spans' splits that must not hold its bytes
_GUARDED = {roles.TEST: (roles.TRAIN, roles.VALIDATION), roles.VALIDATION: (roles.TRAIN,)}


def window_leakage(config: PipelineConfig, window: List[int]) -> List[Dict[str, Any]]:
    """[{'path', 'split', 'same_bytes_as': [(relative path, span, split), ...]}] for each file
    of the newest span's test and validation splits (relative to data.root) whose sha256
    equals a file of an older span of `window` in a split it trains on (test: train or
    validation; validation: train); [] with one span."""
    from components.image_example_gen.leakage import sha256_of
    if len(window) < 2:
        return []
    root, layout = config.data_root, config.split_layout
    trained: Dict[str, List[tuple]] = {}
    for span in window[:-1]:
        for split, rels in files_by_split(root, layout, span).items():
            for rel in rels:
                trained.setdefault(sha256_of(os.path.join(root, rel)), []).append(
                    (rel, span, split))
    newest = files_by_split(root, layout, window[-1])
    found = []
    for split, guarded in _GUARDED.items():
        for rel in newest.get(split, []):
            same = [t for t in trained.get(sha256_of(os.path.join(root, rel)), [])
                    if t[2] in guarded]
            if same:
                found.append({"path": rel, "split": split, "same_bytes_as": same})
    return found


def format_window_leakage(found: List[Dict[str, Any]], newest: int, listed: int = 5) -> str:
    """One line for the retrain summary ('' when nothing leaked)."""
    if not found:
        return ""
    test = sum(1 for f in found if f["split"] == roles.TEST)
    shown = "; ".join(f"{f['path']} ({f['split']}) == " + ", ".join(
        f"{rel} (span {span}, {split})" for rel, span, split in f["same_bytes_as"][:2])
        for f in found[:listed])
    more = f"; ... {len(found) - listed} more" if len(found) > listed else ""
    return (f"LEAKAGE across spans: {len(found)} held-out image(s) of span {newest} ({test} in "
            f"test) have the same bytes as images older spans of the window train on, so the "
            f"test figures above read high: {shown}{more}; remove the copies from the newest "
            f"span (or from the older one) and retrain")
