"""Builds a config dataclass from plain values (YAML, --set overrides) and checks every value
against its annotation: an unknown key or a wrong type is a ConfigError naming the dotted key."""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Dict, List

from pipeline.config.errors import ConfigError


def type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Checks `value` against the annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:  # Optional[X], or Union[X, Y]: the first alternative that fits
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):
            return None
        errors = []
        for arg in args:
            try:
                return coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        if len(args) == 1:
            raise ConfigError(errors[0])
        raise ConfigError(f"{key}: expected {' or '.join(type_name(a) for a in args)}, got "
                          f"{type(value).__name__} {value!r}")
    if origin in (list, List):
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            example = f"--set '{key}=[a,b]'" if isinstance(value, str) else ""
            raise ConfigError(f"{key}: expected a list of {type_name(item_tp)}, got "
                              f"{type(value).__name__} {value!r}"
                              + (f" (a list on the command line: {example})" if example else ""))
        return [coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Dict):
        _, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        return {str(k): coerce(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        return build(tp, value, key + ".")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true/false, got {type(value).__name__} {value!r}")
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}: expected {tp.__name__}, got bool {value!r}")
    if not isinstance(value, tp):
        hint = ""
        if tp is str and isinstance(value, (int, float, bool)):  # YAML read `1`, `01`, `yes`
            hint = (" (YAML reads unquoted numbers and yes/no as such: quote it, e.g. "
                    "--set 'data.class_names=[\"01\", \"02\"]' or '01' in a YAML file; a "
                    "folder named 01 is the string \"01\", not 1)")
        raise ConfigError(f"{key}: expected {tp.__name__}, got {type(value).__name__} "
                          f"{value!r}{hint}")
    return value


def build(cls: Any, values: Dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]!s} "
                          f"(known keys under '{prefix.rstrip('.') or 'top level'}': "
                          f"{', '.join(sorted(names))})")
    kwargs = {k: coerce(v, hints[k], prefix + k) for k, v in values.items()}
    for f in dataclasses.fields(cls):
        # A partial mapping (e.g. only export.min_agreement.float32) updates the default mapping
        # instead of replacing it, so the other entries keep their defaults.
        if isinstance(kwargs.get(f.name), dict) and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
            if isinstance(default, dict):
                kwargs[f.name] = {**default, **kwargs[f.name]}
    return cls(**kwargs)


