"""Checks a unix-cron expression before anything is compiled or sent to Vertex AI: five fields
with their ranges, names (MON-FRI, JAN), steps (*/15), lists and ranges, and an optional
`CRON_TZ=<zone> ` prefix. A bad one is a ConfigError naming the field and the allowed range."""
from __future__ import annotations

import re
from typing import Dict, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.config.errors import ConfigError

_MONTHS = {m: i for i, m in enumerate(
    "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}
_DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
# (name, lowest, highest, names allowed)
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
           ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS))
_TZ_PREFIX = re.compile(r"^(CRON_TZ|TZ)=(\S+)\s+")


def _cron_value(text: str, field: Tuple[str, int, int, Dict[str, int]], expr: str) -> int:
    name, low, high, names = field
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ConfigError(f"cron {expr!r}: {name} value {text!r} is not a number"
                          + (f" or a name ({', '.join(names)})" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise ConfigError(f"cron {expr!r}: {name} {value} is out of range {low}-{high}")
    return value


def validate_cron(expr: str) -> str:
    """Checks a unix-cron expression (5 fields, optional `CRON_TZ=Area/City ` prefix); returns it
    stripped, or raises ConfigError naming the field and the value that is wrong."""
    text = " ".join(expr.split())
    rest = text
    m = _TZ_PREFIX.match(text)
    if m:
        try:
            ZoneInfo(m.group(2))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"cron {expr!r}: unknown time zone {m.group(2)!r} "
                              f"(expected an IANA name, e.g. Europe/Berlin)") from None
        rest = text[m.end():]
    if rest.startswith("@"):
        raise ConfigError(f"cron {expr!r}: macros like {rest.split()[0]} are not supported; "
                          f"write the 5 fields, e.g. '0 3 * * *' for daily at 03:00")
    fields = rest.split(" ")
    if len(fields) != 5:
        raise ConfigError(f"cron {expr!r}: expected 5 fields (minute hour day-of-month month "
                          f"day-of-week), got {len(fields)}")
    for value, field in zip(fields, _FIELDS):
        name, low, high, _ = field
        for item in value.split(","):
            base, _, step = item.partition("/")
            if step:
                if not step.isdigit() or not 1 <= int(step) <= high:
                    raise ConfigError(f"cron {expr!r}: {name} step {step!r} must be a number "
                                      f"from 1 to {high}")
            if base == "*":
                continue
            if not base:
                raise ConfigError(f"cron {expr!r}: empty {name} item in {value!r}")
            if "-" in base:
                first, _, last = base.partition("-")
                a, b = _cron_value(first, field, expr), _cron_value(last, field, expr)
                if a > b:
                    raise ConfigError(f"cron {expr!r}: {name} range {base} runs backwards")
            else:
                if step:
                    raise ConfigError(f"cron {expr!r}: {name} {item!r}: a step needs '*' or a "
                                      f"range before it (e.g. */15 or 0-30/10)")
                _cron_value(base, field, expr)
    return text


# ----------------------------------------------------------------------------- parameters


