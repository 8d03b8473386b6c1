"""Loads the config: the profile's defaults, then a YAML file, then `--set key=value` overrides;
builds the typed config (typecheck.py), fills in discovered class names, validates (validate.py).

Relative paths: a `--set` path (`CWD_PATH_KEYS`) is relative to the current directory, as a shell
user expects; `data.root` in a YAML file is relative to that file; anything else (the defaults,
other keys) is relative to the project root (`schema.abs_path`).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from modules import tuner_strategies
from modules.configs import NAMED_WEIGHTS
from pipeline.config.errors import ConfigError
from pipeline.config.schema import (PROFILE_DEFAULTS, PROFILES, DataConfig, PipelineConfig,
                                    deep_merge)
from pipeline.config.typecheck import build
from pipeline.config.validate import validate
from pipeline.data_layout import (FLAT_TRAIN_PATTERN, classes_on_disk, flat_class_folders,
                                  has_span, is_uri, spans_on_disk)


# Path keys whose relative `--set` values are taken from the current directory.
CWD_PATH_KEYS = ("data.root", "data.schema_path", "output.root", "output.serving_dir",
                 "model.weights")


def _from_cwd(key: str, value: Any) -> Any:
    """`value` made absolute against the current directory when `key` is a path key and the value
    a relative local path; anything else as it is."""
    if (key not in CWD_PATH_KEYS or not isinstance(value, str) or not value
            or value in NAMED_WEIGHTS or is_uri(value)):
        return value
    return os.path.abspath(os.path.expanduser(value))


def _parse_override(item: str) -> Dict[str, Any]:
    """`a.b.c=value` (value parsed as YAML; text that is not valid YAML, such as the pattern
    `*/*`, is taken as a string) -> {'a': {'b': {'c': value}}}; a relative path for one of
    CWD_PATH_KEYS becomes absolute against the current directory."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. trainer.epochs=2")
    key, raw = item.split("=", 1)
    try:
        parsed = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        parsed = raw  # e.g. '*/*' (a YAML alias to YAML): the key's type check judges it
    value = _from_cwd(key.strip(), parsed)
    tree: Dict[str, Any] = value
    for part in reversed(key.strip().split(".")):
        tree = {part: tree}
    return tree


def load_config(path: Optional[str] = None, profile: Optional[str] = None,
                overrides: Optional[List[str]] = None, check_paths: bool = True,
                check_files: bool = True) -> PipelineConfig:
    """Builds and validates the config: profile defaults, then the YAML file, then overrides.
    `check_files=False` skips reading the image files' headers (`report` describes a past run
    whatever the tree holds now)."""
    file_values: Dict[str, Any] = {}
    if path:
        if not os.path.isfile(path):
            raise ConfigError(f"config file {path}: no such file")
        try:
            with open(path, encoding="utf-8") as f:
                file_values = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {path}: not valid YAML ({e})") from None
        if not isinstance(file_values, dict):
            raise ConfigError(f"config file {path}: expected a mapping at the top level")
        if path and "data" in file_values and isinstance(file_values["data"], dict):
            root = file_values["data"].get("root")
            if isinstance(root, str) and not os.path.isabs(os.path.expanduser(root)):
                # Relative data paths in a YAML file are relative to that file.
                file_values["data"]["root"] = str(
                    (Path(path).resolve().parent / root).resolve())
    override_trees = [_parse_override(item) for item in overrides or []]
    # `--set profile=full` selects the profile too (it used to be silently overwritten below).
    set_profile = next((t["profile"] for t in reversed(override_trees) if "profile" in t), None)
    profile = profile or set_profile or file_values.get("profile") or "quick"
    if profile not in PROFILES:
        raise ConfigError(f"profile: expected one of {', '.join(PROFILES)}, got {profile!r}")
    merged = deep_merge(PROFILE_DEFAULTS[profile], file_values)
    for tree in override_trees:
        merged = deep_merge(merged, tree)
    merged["profile"] = profile
    config = build(PipelineConfig, merged)
    if check_paths:
        config = resolve_class_names(resolve_flat_layout(config))
    config = resolve_auto_strategy(config)
    validate(config, check_paths=check_paths, check_files=check_files)
    return config


def resolve_auto_strategy(config: PipelineConfig) -> PipelineConfig:
    """`tuner.strategy: auto` (the profiles' default) replaced by the strategy the measured rule
    picks for the space's size and `tuner.max_trials` (modules/tuner_strategies.auto_strategy);
    any other value is kept."""
    t = config.tuner
    if t.strategy != tuner_strategies.AUTO:
        return config
    combinations = 1
    for values in t.search_space().values():
        combinations *= len(values or [])
    chosen = tuner_strategies.auto_strategy(combinations, t.max_trials)
    return dataclasses.replace(config, tuner=dataclasses.replace(t, strategy=chosen))


def resolve_flat_layout(config: PipelineConfig) -> PipelineConfig:
    """A local root of class folders alone (`data_layout.flat_class_folders`) with the default
    patterns: the config with `data.train_pattern: */*` and `data.eval_pattern: ''`, so the
    class folders are hash-split by path into train / validation / test
    (`data.split_hash_buckets`) and only `data.root` need be set; `config_notes` says so.
    Anything else, or patterns the user set, as it is. Returned as a copy."""
    d, defaults = config.data, DataConfig()
    if ((d.train_pattern, d.eval_pattern, d.test_pattern)
            != (defaults.train_pattern, defaults.eval_pattern, defaults.test_pattern)
            or not flat_class_folders(config.data_root)):
        return config
    return dataclasses.replace(config, data=dataclasses.replace(
        d, train_pattern=FLAT_TRAIN_PATTERN, eval_pattern=""))


def resolve_class_names(config: PipelineConfig) -> PipelineConfig:
    """The config with `data.class_names` filled in from a local tree when not configured: the
    sorted class folders under train_pattern (the newest span's). Returned as a copy."""
    d = config.data
    root = config.data_root
    if d.class_names or is_uri(root) or not os.path.isdir(root):
        return config
    if has_span(d.train_pattern) and not spans_on_disk(root, d.train_pattern):
        return config  # validate() names the missing span
    names = classes_on_disk(root, d.train_pattern)
    return dataclasses.replace(config, data=dataclasses.replace(d, class_names=names))


