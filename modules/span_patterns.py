"""TFX's `{SPAN}` / `{VERSION}` placeholders in an input pattern (`span-{SPAN}/*/*`,
`{SPAN:2}` zero-padded to 2 digits), as regexes: one rule for the pipeline's span checks
(pipeline/data_layout.py) and the pushed report's data manifest
(components/export_pusher/report/facts.py)."""
from __future__ import annotations

import re

SPAN_SPEC = re.compile(r"\{SPAN(?::(\d+))?\}")
VERSION_SPEC = re.compile(r"\{VERSION(?::(\d+))?\}")


def as_glob(pattern: str) -> str:
    """`pattern` with every `{SPAN}` and `{VERSION}` placeholder as `*`."""
    return VERSION_SPEC.sub("*", SPAN_SPEC.sub("*", pattern))


def spans_regex(pattern: str) -> str:
    """A regex for paths matching `pattern` (relative to the root), the span in group 'span'."""
    parts = []
    for piece in re.split(r"(\{SPAN(?::\d+)?\}|\{VERSION(?::\d+)?\}|\*|\?)", pattern):
        if SPAN_SPEC.fullmatch(piece):
            width = SPAN_SPEC.fullmatch(piece).group(1)
            parts.append(f"(?P<span>\\d{{{width}}})" if width else "(?P<span>\\d+)")
        elif VERSION_SPEC.fullmatch(piece) or piece == "*":
            parts.append("[^/]*")
        elif piece == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(piece))
    return "".join(parts)
