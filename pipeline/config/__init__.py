"""One typed pipeline config: profile defaults <- YAML file <- CLI overrides, validated up front.

    schema.py     the sections (dataclasses; the module configs come from modules/configs.py)
    typecheck.py  building a dataclass from plain values with type checks
    load.py       load_config: defaults, YAML, --set overrides, class discovery, validation
    validate.py   semantic checks (never changes the config)
    errors.py     ConfigError

Unknown keys, wrong types and missing paths raise `ConfigError` with the dotted key and what is
wrong, before any component starts.
"""
from pipeline.config.errors import ConfigError
from pipeline.config.load import load_config, resolve_class_names
from pipeline.config.schema import (PROFILE_DEFAULTS, PROFILES, REPO_ROOT, BeamConfig,
                                    DataConfig, PipelineConfig, abs_path, data_set_name)
from pipeline.config.validate import validate
from pipeline.data_layout import (discover_class_names, empty_class_folders, has_span,
                                  is_uri, pattern_for_span, spans_on_disk)

__all__ = ["ConfigError", "load_config", "resolve_class_names", "validate", "PipelineConfig",
           "DataConfig", "BeamConfig", "PROFILES", "PROFILE_DEFAULTS", "REPO_ROOT", "abs_path",
           "data_set_name", "discover_class_names", "empty_class_folders", "has_span", "is_uri",
           "pattern_for_span", "spans_on_disk"]
