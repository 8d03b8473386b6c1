"""Train/eval leakage: files with identical bytes (sha256) in more than one input split.

Reported, not fatal: `leakage.json` in the Examples artifact lists each duplicated content hash with
its paths per split, and the artifact gets the custom property `leaked_files` (files involved).
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, List

from tfx.dsl.io import fileio

LEAKAGE_FILE = "leakage.json"
_CHUNK = 1 << 20


def sha256_of(path: str) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with fileio.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def find_leakage(files_by_split: Dict[str, List[str]], input_base: str) -> Dict[str, Any]:
    """{'leaked_files': n, 'duplicates': [{'sha256', 'paths': {split: [relative paths]}}]}.

    Only content present in two or more splits counts; duplicates inside one split do not.
    """
    seen: Dict[str, Dict[str, List[str]]] = {}
    for split, files in files_by_split.items():
        for path in files:
            rel = os.path.relpath(path, input_base)
            seen.setdefault(sha256_of(path), {}).setdefault(split, []).append(rel)
    duplicates = [{"sha256": digest, "paths": paths}
                  for digest, paths in sorted(seen.items()) if len(paths) > 1]
    leaked = sum(len(p) for d in duplicates for p in d["paths"].values())
    return {"leaked_files": leaked, "duplicates": duplicates}
