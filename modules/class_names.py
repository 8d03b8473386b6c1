"""Class names in one-line lists that a reader (or a script) must be able to split again.

Folder names may hold commas, semicolons, quotes or spaces ('t shirt, top'): joined with ", "
such a list is ambiguous. `shown` leaves a plain name as it is and quotes any other.
"""
import re
from typing import Any, Dict, List, Sequence, Tuple

_PLAIN = re.compile(r"[^\s,;:'\"=()\[\]]+")


def shown(name: str) -> str:
    """'shirt' -> shirt; 't shirt, top' -> 't shirt, top' (Python's repr: quotes, escapes)."""
    return name if _PLAIN.fullmatch(name) else repr(name)


def in_label_order(by_class: Dict[str, Any], class_names: Sequence[str]
                   ) -> List[Tuple[str, Any]]:
    """The items of a {class name: value} mapping in label order (report.json is written with
    sorted keys); names not in `class_names` after them, as stored."""
    order = {name: i for i, name in enumerate(class_names)}
    return sorted(by_class.items(), key=lambda item: order.get(item[0], len(order)))
