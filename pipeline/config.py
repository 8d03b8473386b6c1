"""One typed pipeline config: profile defaults <- YAML file <- CLI overrides, validated up front.

Every field is a dataclass field with a type; unknown keys, wrong types and missing paths raise
`ConfigError` with the dotted key and what is wrong, before any component starts.
"""
from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import yaml

from modules import tflite_variants
from modules.augmentation_config import AugmentationConfig
from modules.layer_names import check_pruning_layers
from pipeline import data_layout
from pipeline.data_layout import (discover_class_names, empty_class_folders,  # noqa: F401
                                  has_span, is_uri, pattern_for_span, spans_on_disk)

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("quick", "full")


class ConfigError(ValueError):
    """A config value is unknown, of the wrong type or points at nothing."""


@dataclass
class DataConfig:
    """Where the image-folder tree lives: `<root>/<split>/<class>/*.<ext>`, and which files are
    train, validation and test (pipeline/data_layout.py)."""
    root: str = "data/fashion_binary"
    train_pattern: str = "train/*/*"       # relative to root; may contain {SPAN}
    # The second folder: the held-out test split, or validation when a test split exists.
    # '' : no folders, train_pattern is hash-split into train/validation/test (split_hash_buckets)
    eval_pattern: str = "eval/*/*"
    test_pattern: str = "auto"             # 'auto': test/*/* if present; '': none; or a pattern
    validation_fraction: float = 0.2       # of train, by path hash, when no validation folder
    split_hash_buckets: Dict[str, int] = field(
        default_factory=lambda: {"train": 3, "validation": 1, "test": 1})
    class_names: List[str] = field(default_factory=list)  # empty: sorted folder names under train
    max_quarantine_fraction: float = 0.01  # undecodable files tolerated before the run fails
    max_image_pixels: int = 25_000_000     # larger images are quarantined, not decoded
    # A curated schema (schema.pbtxt, e.g. a copy of a past run's SchemaGen output) that new spans
    # are validated against (ImportSchemaGen); '' infers the schema from the data (SchemaGen).
    schema_path: str = ""
    # RGB that transparent pixels are composited over (Transform and serving alike)
    alpha_background: List[float] = field(default_factory=lambda: [255.0, 255.0, 255.0])


@dataclass
class ModelConfig:
    """VGG16 transfer model. Input is the Transform output: float32 RGB in [0, 255]."""
    image_size: int = 32                   # pixels per side after Transform's resize (>= 32)
    weights: str = "imagenet"              # 'imagenet' (provisioned offline), 'none', or an .h5 path
    pooling: str = "avg"                   # 'avg' (GlobalAveragePooling2D) | 'flatten' (the seed's)
    head_units: int = 256
    dropout: float = 0.5


@dataclass
class TunerConfig:
    """Keras Tuner search over the Trainer's hyperparameters."""
    strategy: str = "random"               # 'random' | 'grid'
    max_trials: int = 2
    epochs: int = 1                        # epochs per trial
    seed: int = 42
    learning_rate: List[float] = field(default_factory=lambda: [0.001, 0.01, 0.1])
    batch_size: List[int] = field(default_factory=lambda: [16, 32, 64])
    # Optional dimensions (null: not tuned; the Trainer uses model.* / trainer.fine_tune.*).
    head_units: Optional[List[int]] = None
    dropout: Optional[List[float]] = None
    unfreeze_blocks: Optional[List[int]] = None  # phase-2 depth, 0..5
    cv_folds: int = 1                      # > 1: k-fold cross-validation on the train split
    parallel_trials: int = 1               # > 1: Vertex Tuner runs trials in parallel (compile)


@dataclass
class PruningConfig:
    """tfmot magnitude pruning of the trainable layers, then fine-tuning epochs (steps = batches)."""
    enabled: bool = True
    schedule: str = "constant"             # 'constant' (ConstantSparsity) | 'polynomial' (PolynomialDecay)
    target_sparsity: float = 0.5
    initial_sparsity: float = 0.0          # polynomial only
    begin_step: int = 0
    end_step: int = -1                     # -1: ramp_fraction of the fine-tuning steps
    ramp_fraction: float = 1.0             # polynomial: reach the target after this share of
    #                                        the steps, then recover with the final mask
    learning_rate: Optional[float] = None  # null: phase 2's (pretrained conv layers pruned or
    #                                        phase 2 ran), else phase 1's
    frequency: int = 100
    fine_tune_epochs: int = 1
    # Which layers: 'head' (the 2 Dense layers) | 'trainable' (head + conv layers unfrozen by
    # phase 2) | 'all' (head + all 13 conv layers, made trainable for the pruning fine-tune at
    # phase 2's learning rate) | a list of layer names (e.g. [block5_conv3, head_dense]; frozen
    # conv layers named here are made trainable too).
    layers: Union[str, List[str]] = "trainable"


@dataclass
class FineTuneConfig:
    """Phase 2, gradual unfreezing: unfreeze the top conv blocks one step at a time (lower LR)."""
    unfreeze_blocks: int = 1               # 0 disables phase 2; at most 5
    learning_rate: float = 1e-4
    epochs_per_step: int = 2
    patience: int = 1                      # early stopping on the eval split's loss


@dataclass
class TrainerConfig:
    epochs: int = 3                        # phase 1: frozen base, head only (at most)
    early_stopping_patience: int = 0       # phase 1: > 0 stops on the validation loss
    class_weight: str = "balanced"         # 'balanced' (each class weighs the same) | 'none'
    fine_tune: FineTuneConfig = field(default_factory=FineTuneConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)


@dataclass
class ExportConfig:
    """TFLite variants pushed beside the SavedModel, each gated on agreement with it in
    TensorFlow's interpreter and in standalone LiteRT (modules/tflite_variants.py: the variants
    and their default thresholds)."""
    tflite_variants: List[str] = field(
        default_factory=lambda: list(tflite_variants.DEFAULT_VARIANTS))
    # per-variant overrides of the table's thresholds, e.g. {int8: 0.97}
    min_agreement: Dict[str, float] = field(default_factory=dict)
    max_probability_diff: Dict[str, float] = field(default_factory=dict)
    parity_examples: int = 1000            # held-out examples compared (stratified; all if fewer)
    litert_python: str = ".venv-litert/bin/python"  # relative to the project (make builds it)
    latency_runs: int = 50                 # timed single-image calls per runtime and thread count


@dataclass
class EvaluatorConfig:
    """TFMA gates on the held-out test split: absolute lower bounds and the allowed drop against
    the latest blessed model of the same classes (components/tfma_gates.py)."""
    accuracy_lower_bound: float = 0.70
    auc_lower_bound: float = 0.80          # binary AUC; 3+ classes: macro one-vs-rest AUC
    min_class_recall: float = 0.50         # every class's recall (binary: recall and specificity)
    max_accuracy_drop: float = 0.01        # candidate may be at most this much worse than baseline


@dataclass
class OutputConfig:
    # pipeline_root, metadata.sqlite, logs/ and serving/ live here. '' : outputs/<data set>, the
    # data root's folder name, so two data sets never share MLMD, caches or serving dirs.
    root: str = ""
    serving_dir: str = ""                  # default: <root>/serving


@dataclass
class PortableBeamConfig:
    """Beam's portable stack: a Job API endpoint and the SDK workers' environment."""
    job_endpoint: str = ""                 # host:port of the job service (beam-cluster prints it)
    environment_type: str = "EXTERNAL"     # EXTERNAL (worker pool) | DOCKER | PROCESS | LOOPBACK
    environment_config: str = ""           # EXTERNAL: worker pool host:port; DOCKER: image
    sdk_worker_parallelism: int = 1        # bundles processed concurrently per SDK worker
    setup_file: str = ""                   # stage the project to workers that lack it (not EXTERNAL)
    bind_address: str = "localhost"        # beam-cluster: loopback; an IP opens it UNAUTHENTICATED


@dataclass
class DataflowBeamConfig:
    """Google Cloud Dataflow (Runner v2). Workers need this project installed (image or setup)."""
    project: str = ""
    region: str = "us-central1"
    temp_location: str = ""                # gs://bucket/tmp
    staging_location: str = ""             # gs://bucket/staging (default: under temp_location)
    sdk_container_image: str = ""          # worker image with this project pip-installed
    setup_file: str = ""                   # alternative: build and stage the project per job
    max_num_workers: int = 0               # 0: Dataflow's default autoscaling limit
    machine_type: str = ""                 # '' : Dataflow's default


@dataclass
class FlinkBeamConfig:
    """Beam's Flink job server (a jar from Maven) submitting to a Flink cluster."""
    master_url: str = ""                   # host:port of the Flink JobManager REST endpoint
    job_server_jar: str = ""               # beam-runners-flink-<v>-job-server-<beam>.jar
    environment_type: str = "DOCKER"
    environment_config: str = ""           # DOCKER: SDK image with this project installed
    parallelism: int = 0                   # 0: Flink's default


@dataclass
class SparkBeamConfig:
    """Beam's Spark job server (a jar from Maven) submitting to a Spark master."""
    master_url: str = ""                   # spark://host:7077
    job_server_jar: str = ""               # beam-runners-spark-3-job-server-<beam>.jar
    environment_type: str = "DOCKER"
    environment_config: str = ""


@dataclass
class BeamConfig:
    """Which Beam runner the Beam components (ExampleGen, StatisticsGen, Transform, Evaluator...)
    use; turned into Beam flags by `pipeline.beam_args.beam_pipeline_args` only."""
    runner: str = "local"                  # local | portable | dataflow | flink | spark
    portable: PortableBeamConfig = field(default_factory=PortableBeamConfig)
    dataflow: DataflowBeamConfig = field(default_factory=DataflowBeamConfig)
    flink: FlinkBeamConfig = field(default_factory=FlinkBeamConfig)
    spark: SparkBeamConfig = field(default_factory=SparkBeamConfig)
    extra_args: List[str] = field(default_factory=list)  # appended verbatim, e.g. --job_name=x


@dataclass
class RetrainConfig:
    """`python -m pipeline retrain`: data arriving in spans (`{SPAN}` in data.train_pattern).

    ExampleGen ingests the newest span; Transform, Tuner and Trainer read the newest `num_spans`
    ingested spans (a RollingRange; earlier spans of the window that were never ingested are
    ingested first by `retrain`). StatisticsGen, ExampleValidator and Evaluator see the newest span.
    """
    num_spans: int = 1                     # RollingRange.num_spans: the window of spans trained on
    warm_start: bool = False               # Trainer's base_model: the latest blessed model


@dataclass
class VertexConfig:
    """`compile` / `submit` / `schedule`: the KFP v2 spec (KubeflowV2DagRunner) on Vertex AI."""
    project: str = ""                      # Google Cloud project id
    region: str = "us-central1"            # Vertex AI location (aiplatform `location`)
    pipeline_root: str = ""                # gs://bucket/prefix: artifacts of the Vertex runs
    default_image: str = "image-classifier-pipeline:latest"  # `make image IMAGE=...`, pushed
    service_account: str = ""              # runs as this account ('' : Compute Engine default)
    cron: str = "0 3 * * *"                # `schedule` without --cron (optional CRON_TZ=... prefix)
    max_concurrent_run_count: int = 1      # scheduled runs never overlap (Vertex's run lock)
    display_name: str = ""                 # '' : pipeline_name
    enable_caching: bool = True
    labels: Dict[str, str] = field(default_factory=dict)
    data_root: str = ""                    # input_base on Vertex, e.g. gs://bucket/incoming;
    #                                        '' : data.root as baked into the image (/app/...)
    serving_dir: str = ""                  # '' : /gcs/<bucket>/<prefix>/serving (Cloud Storage
    #                                        FUSE, mounted by Vertex AI at /gcs)
    weights_path: str = "/app/weights/vgg16_imagenet_notop.h5"  # baked into the image


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
    beam: BeamConfig = field(default_factory=BeamConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    vertex: VertexConfig = field(default_factory=VertexConfig)

    @property
    def beam_pipeline_args(self) -> List[str]:
        """Beam flags derived from `beam` (see pipeline/beam_args.py)."""
        from pipeline.beam_args import beam_pipeline_args
        return beam_pipeline_args(self)

    # ---- derived locations (absolute) ----
    @property
    def data_root(self) -> str:
        return _abs(self.data.root)

    @property
    def schema_path(self) -> str:
        return _abs(self.data.schema_path) if self.data.schema_path else ""

    @property
    def output_root(self) -> str:
        if self.output.root:
            return _abs(self.output.root)
        return _abs(os.path.join("outputs", data_set_name(self.data.root)))

    @property
    def split_layout(self) -> "data_layout.SplitLayout":
        """Which files are train, validation and test (pipeline/data_layout.py)."""
        d = self.data
        return data_layout.split_layout(self.data_root, d.train_pattern, d.eval_pattern,
                                        d.test_pattern, d.validation_fraction,
                                        d.split_hash_buckets)

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
    # CPU, minutes. Chosen on the embedded data's validation split (benchmarks/peer_recipe.py
    # and docs/results.md): at 32x32 the seed's augmentations cost 3-5 points, a gentler
    # pruning schedule (ramp over half of 2 epochs at 1e-4) recovers what one constant-sparsity
    # epoch lost, and the seed's learning rates 0.01 / 0.1 only waste trials.
    "quick": {
        "tuner": {"learning_rate": [0.0003, 0.001, 0.003], "batch_size": [32]},
        "trainer": {"epochs": 10, "early_stopping_patience": 2,
                    "augmentation": {"enabled": False},
                    "fine_tune": {"epochs_per_step": 5, "patience": 2},
                    "pruning": {"schedule": "polynomial", "ramp_fraction": 0.5,
                                "fine_tune_epochs": 2, "learning_rate": 0.0001}},
    },
    # The seed's settings (GPU / cloud): 224x224, a 9-trial grid x 3 epochs x 3-fold CV, 10
    # epochs with the seven augmentations, constant 0.5 pruning over 3 epochs.
    "full": {
        "model": {"image_size": 224},
        "tuner": {"max_trials": 9, "epochs": 3, "strategy": "grid", "cv_folds": 3},
        "trainer": {"epochs": 10, "early_stopping_patience": 3,
                    "pruning": {"fine_tune_epochs": 3}},
    },
}


def data_set_name(root: str) -> str:
    """The data root's folder name (`data/fashion_binary` -> `fashion_binary`): the default
    output root is outputs/<it>."""
    name = os.path.basename(os.path.normpath(root.rstrip("/"))) or "data"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _abs(path: str) -> str:
    if is_uri(path):
        return path
    p = Path(os.path.expanduser(path))
    return str(p if p.is_absolute() else (REPO_ROOT / p))


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Checks `value` against the annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:  # Optional[X], or Union[X, Y]: the first alternative that fits
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):
            return None
        errors = []
        for arg in args:
            try:
                return _coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        if len(args) == 1:
            raise ConfigError(errors[0])
        raise ConfigError(f"{key}: expected {' or '.join(_type_name(a) for a in args)}, got "
                          f"{type(value).__name__} {value!r}")
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
    bg = config.data.alpha_background
    if len(bg) != 3 or any(not (0.0 <= c <= 255.0) for c in bg):
        raise ConfigError(f"data.alpha_background: expected 3 RGB values in [0, 255], got {bg}")
    if m.image_size < 32:
        raise ConfigError(f"model.image_size: VGG16 needs at least 32 pixels, got {m.image_size}")
    if not (0.0 <= m.dropout < 1.0):
        raise ConfigError(f"model.dropout: expected 0 <= dropout < 1, got {m.dropout}")
    if m.pooling not in ("avg", "flatten"):
        raise ConfigError(f"model.pooling: expected 'avg' or 'flatten', got {m.pooling!r}")
    if tr.class_weight not in ("balanced", "none"):
        raise ConfigError(f"trainer.class_weight: expected 'balanced' or 'none', got "
                          f"{tr.class_weight!r}")
    if tr.early_stopping_patience < 0:
        raise ConfigError(f"trainer.early_stopping_patience: expected >= 0, got "
                          f"{tr.early_stopping_patience}")
    if m.head_units < 1:
        raise ConfigError(f"model.head_units: expected >= 1, got {m.head_units}")
    if t.strategy not in ("random", "grid"):
        raise ConfigError(f"tuner.strategy: expected 'random' or 'grid', got {t.strategy!r}")
    _validate_search_space(t)
    if t.max_trials < 1 or t.epochs < 1 or tr.epochs < 1:
        raise ConfigError("tuner.max_trials, tuner.epochs and trainer.epochs must be >= 1")
    if not (0.0 < tr.pruning.target_sparsity < 1.0):
        raise ConfigError(f"trainer.pruning.target_sparsity: expected 0 < s < 1, "
                          f"got {tr.pruning.target_sparsity}")
    if not (0.0 < tr.pruning.ramp_fraction <= 1.0):
        raise ConfigError(f"trainer.pruning.ramp_fraction: expected 0 < fraction <= 1, got "
                          f"{tr.pruning.ramp_fraction}")
    if tr.pruning.learning_rate is not None and tr.pruning.learning_rate <= 0:
        raise ConfigError(f"trainer.pruning.learning_rate: expected > 0 or null, got "
                          f"{tr.pruning.learning_rate}")
    if tr.pruning.schedule not in ("constant", "polynomial"):
        raise ConfigError(f"trainer.pruning.schedule: expected 'constant' or 'polynomial', "
                          f"got {tr.pruning.schedule!r}")
    try:
        check_pruning_layers(tr.pruning.layers)
    except ValueError as e:
        raise ConfigError(f"trainer.pruning.layers: {e}") from None
    if tr.augmentation.fill_mode not in ("nearest", "reflect", "wrap", "constant"):
        raise ConfigError(f"trainer.augmentation.fill_mode: expected nearest, reflect, wrap or "
                          f"constant, got {tr.augmentation.fill_mode!r}")
    if not (0 <= tr.fine_tune.unfreeze_blocks <= 5):
        raise ConfigError(f"trainer.fine_tune.unfreeze_blocks: expected 0..5, got "
                          f"{tr.fine_tune.unfreeze_blocks}")
    if t.cv_folds < 1:
        raise ConfigError(f"tuner.cv_folds: expected >= 1, got {t.cv_folds}")
    _validate_export(config.export)
    for name in ("accuracy_lower_bound", "auc_lower_bound", "min_class_recall",
                 "max_accuracy_drop"):
        v = getattr(ev, name)
        if not (0.0 <= v <= 1.0):
            raise ConfigError(f"evaluator.{name}: expected a value in [0, 1], got {v}")
    if m.weights not in ("imagenet", "none") and check_paths and not os.path.isfile(
            _abs(m.weights)):
        raise ConfigError(f"model.weights: {m.weights} is not 'imagenet', 'none' or an "
                          f"existing weights file")
    config.beam_pipeline_args  # noqa: B018  raises ConfigError for a bad beam: section
    buckets = config.data.split_hash_buckets
    if sorted(buckets) != ["test", "train", "validation"] or any(v < 1 for v in buckets.values()):
        raise ConfigError(f"data.split_hash_buckets: expected positive train, validation and "
                          f"test bucket counts (e.g. {{train: 3, validation: 1, test: 1}}), got "
                          f"{buckets}")
    if not (0.0 < config.data.validation_fraction < 1.0):
        raise ConfigError(f"data.validation_fraction: expected 0 < fraction < 1, got "
                          f"{config.data.validation_fraction}")
    if config.retrain.num_spans < 1:
        raise ConfigError(f"retrain.num_spans: expected >= 1, got {config.retrain.num_spans}")
    if config.vertex.max_concurrent_run_count < 1:
        raise ConfigError(f"vertex.max_concurrent_run_count: expected >= 1, got "
                          f"{config.vertex.max_concurrent_run_count}")
    if check_paths:
        _validate_data(config)


def _validate_export(ex: ExportConfig) -> None:
    known = ", ".join(tflite_variants.VARIANTS)
    for v in ex.tflite_variants:
        if v not in tflite_variants.VARIANTS:
            raise ConfigError(f"export.tflite_variants: unknown variant {v!r} (known: {known})")
    if len(set(ex.tflite_variants)) != len(ex.tflite_variants):
        raise ConfigError(f"export.tflite_variants: duplicate variants in {ex.tflite_variants}")
    for key in ("min_agreement", "max_probability_diff"):
        for v, frac in getattr(ex, key).items():
            if v not in tflite_variants.VARIANTS:
                raise ConfigError(f"export.{key}.{v}: unknown variant (known: {known})")
            if not (0.0 <= frac <= 1.0):
                raise ConfigError(f"export.{key}.{v}: expected a fraction in [0, 1], got {frac}")
    if ex.parity_examples < 1:
        raise ConfigError(f"export.parity_examples: expected >= 1, got {ex.parity_examples}")
    if ex.latency_runs < 1:
        raise ConfigError(f"export.latency_runs: expected >= 1, got {ex.latency_runs}")


# Tuner search-space dimension -> (check, what it must be). Types are checked by the dataclass.
_SEARCH_SPACE_CHECKS = {
    "learning_rate": (lambda v: v > 0, "> 0"),
    "batch_size": (lambda v: v > 0, "> 0"),
    "head_units": (lambda v: v >= 1, ">= 1"),
    "dropout": (lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "unfreeze_blocks": (lambda v: 0 <= v <= 5, "in 0..5"),
}


def _validate_search_space(t: TunerConfig) -> None:
    """Each tuned dimension: a non-empty list of distinct, in-range values."""
    for name, (ok, what) in _SEARCH_SPACE_CHECKS.items():
        values = getattr(t, name)
        if values is None:
            continue
        if not values:
            raise ConfigError(f"tuner.{name}: the search space is empty (give values, or null "
                              f"to not tune it)" if name not in ("learning_rate", "batch_size")
                              else f"tuner.{name}: the search space is empty")
        bad = [v for v in values if not ok(v)]
        if bad:
            raise ConfigError(f"tuner.{name}: values must be {what}, got {bad[0]!r} in {values}")
        if len(set(values)) != len(values):
            raise ConfigError(f"tuner.{name}: duplicate values in {values}")
    if t.parallel_trials < 1:
        raise ConfigError(f"tuner.parallel_trials: expected >= 1, got {t.parallel_trials}")


def _validate_data(config: PipelineConfig) -> None:
    """The tree on disk fits the layout: every configured class has images in every split (train,
    validation, test), no split holds an unconfigured class folder, no class folder is empty."""
    root = config.data_root
    if is_uri(root):
        return  # remote data (gs://...) is read by ExampleGen; class names must be configured
    if not os.path.isdir(root):
        raise ConfigError(f"data.root: {root} does not exist (expected <root>/train/<class>/*.png)")
    if config.data.schema_path and not os.path.isfile(_abs(config.data.schema_path)):
        raise ConfigError(f"data.schema_path: {_abs(config.data.schema_path)} does not exist "
                          f"(expected a schema.pbtxt)")
    layout = config.split_layout
    span = None
    if has_span(config.data.train_pattern):
        # ExampleGen's driver resolves {SPAN} at run time (the newest span); here the newest span
        # on disk is checked, and class names are discovered from it when not configured.
        spans = spans_on_disk(root, config.data.train_pattern)
        if not spans:
            raise ConfigError(f"data.train_pattern: no files match "
                              f"{config.data.train_pattern!r} under {root} (no span yet; "
                              f"expected e.g. span-1/<class>/*.png)")
        span = spans[-1]
    for pattern in set(layout.patterns.values()):
        concrete = pattern_for_span(pattern, span) if span is not None else pattern
        empty = empty_class_folders(root, concrete)
        if empty:
            raise ConfigError(f"data.root: empty class folder(s) {empty} (no files match "
                              f"{concrete!r} in them): a class needs images in every split; "
                              f"add images or remove the folder")
    train_like = pattern_for_span(config.data.train_pattern, span) if span is not None \
        else config.data.train_pattern
    if not config.data.class_names:
        config.data.class_names = discover_class_names(root, train_like)
    if len(config.data.class_names) < 2:
        raise ConfigError(f"data.root: {root} has {len(config.data.class_names)} class folder(s) "
                          f"under {train_like!r}; need at least 2 "
                          f"(found: {config.data.class_names})")
    try:
        data_layout.check_classes(data_layout.files_by_split(root, layout, span),
                                  list(config.data.class_names), layout)
    except data_layout.LayoutError as e:
        raise ConfigError(f"data.class_names / data.root: {e}") from None
