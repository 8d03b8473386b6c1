"""Class names in one-line lists that a reader (or a script) must be able to split again.

Folder names may hold commas, semicolons, quotes or spaces ('t shirt, top'): joined with ", "
such a list is ambiguous. `shown` leaves a plain name as it is and quotes any other.
"""
import re

_PLAIN = re.compile(r"[^\s,;:'\"=()\[\]]+")


def shown(name: str) -> str:
    """'shirt' -> shirt; 't shirt, top' -> 't shirt, top' (Python's repr: quotes, escapes)."""
    return name if _PLAIN.fullmatch(name) else repr(name)
