"""One typed pipeline config: profile defaults <- YAML file <- CLI overrides, validated up front.

Every field is a dataclass field with a type; unknown keys, wrong types and missing paths raise
`ConfigError` with the dotted key and what is wrong, before any component starts.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from modules.augmentation_config import AugmentationConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("quick", "full")


class ConfigError(ValueError):
    """A config value is unknown, of the wrong type or points at nothing."""


@dataclass
class DataConfig:
    """Where the image-folder tree lives: `<root>/<split>/<class>/*.<ext>`."""
    root: str = "data/fashion_binary"
    train_pattern: str = "train/*/*"       # relative to root; may contain {SPAN}
    eval_pattern: str = "eval/*/*"
    class_names: List[str] = field(default_factory=list)  # empty: sorted folder names under train
    max_quarantine_fraction: float = 0.01  # undecodable files tolerated before the run fails
    max_image_pixels: int = 25_000_000     # larger images are quarantined, not decoded


@dataclass
class ModelConfig:
    """VGG16 transfer model. Input is the Transform output: float32 RGB in [0, 255]."""
    image_size: int = 32                   # pixels per side after Transform's resize (>= 32)
    weights: str = "imagenet"              # 'imagenet' (provisioned offline), 'none', or an .h5 path
    head_units: int = 128
    dropout: float = 0.3


@dataclass
class TunerConfig:
    """Keras Tuner search over the Trainer's hyperparameters."""
    strategy: str = "random"               # 'random' | 'grid'
    max_trials: int = 2
    epochs: int = 1                        # epochs per trial
    seed: int = 42
    learning_rate: List[float] = field(default_factory=lambda: [0.001, 0.01, 0.1])
    batch_size: List[int] = field(default_factory=lambda: [16, 32, 64])
    cv_folds: int = 1                      # > 1: k-fold cross-validation on the train split


@dataclass
class PruningConfig:
    """tfmot magnitude pruning of the trainable layers, then fine-tuning epochs (steps = batches)."""
    enabled: bool = True
    schedule: str = "constant"             # 'constant' (ConstantSparsity) | 'polynomial' (PolynomialDecay)
    target_sparsity: float = 0.5
    initial_sparsity: float = 0.0          # polynomial only
    begin_step: int = 0
    end_step: int = -1                     # -1: end of fine-tuning
    frequency: int = 100
    fine_tune_epochs: int = 1


@dataclass
class FineTuneConfig:
    """Phase 2, gradual unfreezing: unfreeze the top conv blocks one step at a time (lower LR)."""
    unfreeze_blocks: int = 1               # 0 disables phase 2; at most 5
    learning_rate: float = 1e-4
    epochs_per_step: int = 2
    patience: int = 1                      # early stopping on the eval split's loss


@dataclass
class TrainerConfig:
    epochs: int = 3                        # phase 1: frozen base, head only
    fine_tune: FineTuneConfig = field(default_factory=FineTuneConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)


@dataclass
class ExportConfig:
    """TFLite variants pushed beside the SavedModel, each gated on agreement with it."""
    tflite_variants: List[str] = field(default_factory=lambda: ["float32", "dynamic_range", "int8"])
    min_agreement: Dict[str, float] = field(default_factory=lambda: {
        "float32": 0.99, "dynamic_range": 0.99, "int8": 0.98})
    parity_examples: int = 1000            # eval examples compared (all when fewer)


@dataclass
class EvaluatorConfig:
    """TFMA gates: absolute lower bounds and the allowed drop against the latest blessed model."""
    accuracy_lower_bound: float = 0.70
    auc_lower_bound: float = 0.80
    max_accuracy_drop: float = 0.01        # candidate may be at most this much worse than baseline


@dataclass
class OutputConfig:
    root: str = "outputs"                  # pipeline_root, metadata.sqlite and serving/ live here
    serving_dir: str = ""                  # default: <root>/serving


@dataclass
class PipelineConfig:
    pipeline_name: str = "image-classifier"
    profile: str = "quick"
    seed: int = 42
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    tuner: TunerConfig = field(default_factory=TunerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    beam_pipeline_args: List[str] = field(default_factory=lambda: [
        "--runner=FnApiRunner", "--direct_num_workers=1"])

    # ---- derived locations (absolute) ----
    @property
    def data_root(self) -> str:
        return _abs(self.data.root)

    @property
    def output_root(self) -> str:
        return _abs(self.output.root)

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_root, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output_root, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        return _abs(self.output.serving_dir) if self.output.serving_dir else os.path.join(
            self.output_root, "serving")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


# Profile defaults: only the differences from the dataclass defaults above.
PROFILE_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "quick": {},
    "full": {
        "model": {"image_size": 224, "head_units": 256, "dropout": 0.5},
        "tuner": {"max_trials": 9, "epochs": 3, "strategy": "grid"},
        "trainer": {"epochs": 10, "pruning": {"fine_tune_epochs": 3}},
    },
}


def _abs(path: str) -> str:
    p = Path(os.path.expanduser(path))
    return str(p if p.is_absolute() else (REPO_ROOT / p))


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Checks `value` against the annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:  # Optional[X]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _coerce(value, args[0], key)
    if origin in (list, List):
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list of {_type_name(item_tp)}, got "
                              f"{type(value).__name__} {value!r}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Dict):
        _, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        return {str(k): _coerce(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        return _build(tp, value, key + ".")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true/false, got {type(value).__name__} {value!r}")
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}: expected {tp.__name__}, got bool {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: Any, values: Dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]!s} "
                          f"(known keys under '{prefix.rstrip('.') or 'top level'}': "
                          f"{', '.join(sorted(names))})")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in values.items()}
    for f in dataclasses.fields(cls):
        # A partial mapping (e.g. only export.min_agreement.float32) updates the default mapping
        # instead of replacing it, so the other entries keep their defaults.
        if isinstance(kwargs.get(f.name), dict) and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
            if isinstance(default, dict):
                kwargs[f.name] = {**default, **kwargs[f.name]}
    return cls(**kwargs)


def _deep_merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _parse_override(item: str) -> Dict[str, Any]:
    """`a.b.c=value` (value parsed as YAML) -> {'a': {'b': {'c': value}}}."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. trainer.epochs=2")
    key, raw = item.split("=", 1)
    value = yaml.safe_load(raw) if raw != "" else ""
    tree: Dict[str, Any] = value
    for part in reversed(key.strip().split(".")):
        tree = {part: tree}
    return tree


def load_config(path: Optional[str] = None, profile: Optional[str] = None,
                overrides: Optional[List[str]] = None, check_paths: bool = True) -> PipelineConfig:
    """Builds and validates the config: profile defaults, then the YAML file, then overrides."""
    file_values: Dict[str, Any] = {}
    if path:
        if not os.path.isfile(path):
            raise ConfigError(f"config file {path}: no such file")
        try:
            with open(path) as f:
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
    merged = _deep_merge(PROFILE_DEFAULTS[profile], file_values)
    for tree in override_trees:
        merged = _deep_merge(merged, tree)
    merged["profile"] = profile
    config = _build(PipelineConfig, merged)
    validate(config, check_paths=check_paths)
    return config


def validate(config: PipelineConfig, check_paths: bool = True) -> None:
    """Semantic checks that types alone cannot express."""
    m, t, tr, ev = config.model, config.tuner, config.trainer, config.evaluator
    if m.image_size < 32:
        raise ConfigError(f"model.image_size: VGG16 needs at least 32 pixels, got {m.image_size}")
    if not (0.0 <= m.dropout < 1.0):
        raise ConfigError(f"model.dropout: expected 0 <= dropout < 1, got {m.dropout}")
    if m.head_units < 1:
        raise ConfigError(f"model.head_units: expected >= 1, got {m.head_units}")
    if t.strategy not in ("random", "grid"):
        raise ConfigError(f"tuner.strategy: expected 'random' or 'grid', got {t.strategy!r}")
    for name in ("learning_rate", "batch_size"):
        values = getattr(t, name)
        if not values:
            raise ConfigError(f"tuner.{name}: the search space is empty")
        if any(v <= 0 for v in values):
            raise ConfigError(f"tuner.{name}: values must be > 0, got {values}")
    if t.max_trials < 1 or t.epochs < 1 or tr.epochs < 1:
        raise ConfigError("tuner.max_trials, tuner.epochs and trainer.epochs must be >= 1")
    if not (0.0 < tr.pruning.target_sparsity < 1.0):
        raise ConfigError(f"trainer.pruning.target_sparsity: expected 0 < s < 1, "
                          f"got {tr.pruning.target_sparsity}")
    if tr.pruning.schedule not in ("constant", "polynomial"):
        raise ConfigError(f"trainer.pruning.schedule: expected 'constant' or 'polynomial', "
                          f"got {tr.pruning.schedule!r}")
    if tr.augmentation.fill_mode not in ("nearest", "reflect", "wrap", "constant"):
        raise ConfigError(f"trainer.augmentation.fill_mode: expected nearest, reflect, wrap or "
                          f"constant, got {tr.augmentation.fill_mode!r}")
    if not (0 <= tr.fine_tune.unfreeze_blocks <= 5):
        raise ConfigError(f"trainer.fine_tune.unfreeze_blocks: expected 0..5, got "
                          f"{tr.fine_tune.unfreeze_blocks}")
    if t.cv_folds < 1:
        raise ConfigError(f"tuner.cv_folds: expected >= 1, got {t.cv_folds}")
    known_variants = ("float32", "dynamic_range", "int8")
    for v in config.export.tflite_variants:
        if v not in known_variants:
            raise ConfigError(f"export.tflite_variants: unknown variant {v!r} "
                              f"(known: {', '.join(known_variants)})")
    for v, frac in config.export.min_agreement.items():
        if v not in known_variants or not (0.0 <= frac <= 1.0):
            raise ConfigError(f"export.min_agreement.{v}: expected a known variant and a "
                              f"fraction in [0, 1], got {frac}")
    for name in ("accuracy_lower_bound", "auc_lower_bound", "max_accuracy_drop"):
        v = getattr(ev, name)
        if not (0.0 <= v <= 1.0):
            raise ConfigError(f"evaluator.{name}: expected a value in [0, 1], got {v}")
    if m.weights not in ("imagenet", "none") and check_paths and not os.path.isfile(
            _abs(m.weights)):
        raise ConfigError(f"model.weights: {m.weights} is not 'imagenet', 'none' or an "
                          f"existing weights file")
    if check_paths:
        _validate_data(config)


def _validate_data(config: PipelineConfig) -> None:
    root = config.data_root
    if not os.path.isdir(root):
        raise ConfigError(f"data.root: {root} does not exist (expected <root>/train/<class>/*.png)")
    if "{SPAN}" in config.data.train_pattern:
        return  # span folders are resolved by ExampleGen's driver at run time
    if not config.data.class_names:
        config.data.class_names = discover_class_names(root, config.data.train_pattern)
    if len(config.data.class_names) < 2:
        raise ConfigError(f"data.root: {root} has {len(config.data.class_names)} class folder(s) "
                          f"under {config.data.train_pattern!r}; need at least 2 "
                          f"(found: {config.data.class_names})")


def discover_class_names(root: str, pattern: str) -> List[str]:
    """Sorted class-folder names: the parent folders of files matched by `<root>/<pattern>`."""
    import glob
    files = [p for p in glob.glob(os.path.join(root, pattern)) if os.path.isfile(p)]
    return sorted({os.path.basename(os.path.dirname(p)) for p in files})
