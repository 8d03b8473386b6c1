"""Class names in one-line lists that a reader (or a script) must be able to split again.

Folder names may hold commas, semicolons, quotes or spaces ('t shirt, top'): joined with ", "
such a list is ambiguous. `shown` leaves a plain name as it is and quotes any other.
"""
import re
import unicodedata
from typing import Any, Dict, List, Optional, Sequence, Tuple

_PLAIN = re.compile(r"[^\s,;:'\"=()\[\]\x00-\x1f\x7f]+")
# Control characters (a newline, ESC), line or paragraph separators and bidirectional controls
# (a right-to-left override): a name holding one would split labels.txt's lines, drive a
# terminal or reorder what a reader sees. Other format characters stay allowed: the zero-width
# joiners of Persian words and emoji sequences, the soft hyphen.
_UNSAFE_CATEGORIES = ("Cc", "Zl", "Zp")
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                           "\u2066\u2067\u2068\u2069")


def canonical(name: str) -> str:
    """`name` in Unicode NFC: 'café' typed (NFC) and a macOS folder's 'café' (NFD) are one key."""
    import unicodedata
    return unicodedata.normalize("NFC", name)


def shown(name: str) -> str:
    """'shirt' -> shirt; 't shirt, top' -> 't shirt, top' (Python's repr: quotes, escapes)."""
    return name if _PLAIN.fullmatch(name) else repr(name)


def quoted(name: str) -> str:
    """A class name in quotes that cannot be misread: 'shirt', "men's", 'a\\tb' (Python's repr,
    which picks double quotes when the name holds a single one). Gate names use it."""
    return repr(name)


def name_problem(name: str) -> Optional[str]:
    """What makes `name` unusable as a class name, or None: empty, leading or trailing white
    space (labels.txt readers strip lines), or a control, line-separator or bidirectional-control
    character (labels.txt holds one name per line; consoles and reports print names)."""
    if not name:
        return "an empty name"
    if name != name.strip():
        return "leading or trailing white space"
    odd = sorted({c for c in name
                  if unicodedata.category(c) in _UNSAFE_CATEGORIES or c in _BIDI_CONTROLS})
    if odd:
        return ("the character(s) " + ", ".join(f"U+{ord(c):04X}" for c in odd)
                + " (control, line-separator or bidirectional-control characters)")
    return None


def in_label_order(by_class: Dict[str, Any], class_names: Sequence[str]
                   ) -> List[Tuple[str, Any]]:
    """The items of a {class name: value} mapping in label order (report.json is written with
    sorted keys); names not in `class_names` after them, as stored."""
    order = {name: i for i, name in enumerate(class_names)}
    return sorted(by_class.items(), key=lambda item: order.get(item[0], len(order)))


TRAINING_SUMMARY = "training_summary.json"  # written by modules/trainer.run_fn into the Model


def trained_class_names(model_uri: str) -> Optional[List[str]]:
    """The class names a Model artifact (its folder `model_uri`, any file system TensorFlow
    reads) was trained on, from its training_summary.json; None when missing, unreadable or
    not recorded."""
    import json

    import tensorflow as tf
    try:
        with tf.io.gfile.GFile(f"{model_uri.rstrip('/')}/{TRAINING_SUMMARY}", "r") as f:
            names = json.load(f).get("class_names")
    except Exception:  # pylint: disable=broad-except  (missing or unreadable: unknown)
        return None
    return [str(n) for n in names] if names else None

