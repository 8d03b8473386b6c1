"""Which data set a default output root belongs to.

The default output root is outputs/<the data root's folder name> (`schema.data_set_name`), so two
data sets never share MLMD, caches or serving dirs. Two different folders can have the same name
(`/a/photos`, `/b/photos`; or names the sanitiser maps alike, `my data` / `my_data`): a run
records its data root in OWNER_FILE of the default root it uses (`claim`), and a data root that
finds another's recorded there (paths inside the project relative to it; links not resolved)
gets `<that root>-<8 hex of its own path's SHA-1>` instead (`default_output_root`), with a note
saying so (`shared_root_note`). An explicit `output.root` is used as given and never claimed.
A root made before this record existed is claimed by whichever data set runs there next.
"""
from __future__ import annotations

import hashlib
import os
from typing import List, Optional

OWNER_FILE = "DATA_ROOT"


def data_identity(data_root: str, project_root: Optional[str] = None) -> str:
    """The data root as recorded: the URI without a trailing '/', or the local path normalised
    (links kept: a link repointed to a new version of the data is the same data set), relative
    to `project_root` when inside it (so a moved or re-cloned project keeps its outputs)."""
    if "://" in data_root:
        return data_root.rstrip("/")
    path = os.path.normpath(os.path.abspath(data_root))
    if project_root:
        project = os.path.normpath(os.path.abspath(project_root))
        if path == project or path.startswith(project + os.sep):
            return os.path.relpath(path, project)
    return path


def owner(output_root: str) -> Optional[str]:
    """The data root recorded in `output_root`, or None (none yet, or a root made before this
    record existed: the next run claims it)."""
    try:
        with open(os.path.join(output_root, OWNER_FILE), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def default_output_root(base: str, data_root: str, project_root: Optional[str] = None) -> str:
    """`base` (outputs/<folder name>) unless it holds another data root's outputs; then
    `base`-<8 hex of this data root's SHA-1>."""
    identity = data_identity(data_root, project_root)
    holder = owner(base)
    if holder is None or holder == identity:
        return base
    return f"{base}-{hashlib.sha1(identity.encode('utf-8')).hexdigest()[:8]}"


def claim(output_root: str, data_root: str, project_root: Optional[str] = None) -> None:
    """Records `data_root` as the owner of `output_root` when none is recorded (atomically: a
    reader never sees half a path)."""
    if owner(output_root) is not None:
        return
    os.makedirs(output_root, exist_ok=True)
    tmp = os.path.join(output_root, f".{OWNER_FILE}.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(data_identity(data_root, project_root) + "\n")
    os.replace(tmp, os.path.join(output_root, OWNER_FILE))


def shared_root_note(base: str, output_root: str, data_root: str,
                     project_root: Optional[str] = None) -> List[str]:
    """One note when this data root was moved off `base` because another's outputs are there."""
    if output_root == base or not output_root.startswith(base + "-"):
        return []
    return [f"{base} holds the outputs of another data set with this folder name "
            f"({owner(base)}), so this one's ({data_identity(data_root, project_root)}) go to "
            f"{output_root}; --set output.root=DIR chooses another (e.g. {base} if this is the "
            f"same data set, moved)"]
