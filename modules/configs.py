"""The typed configs the module code consumes (pure Python: importable without TensorFlow).

`pipeline/config.py` composes these into the pipeline config (adding data, evaluator, output,
beam, retrain and vertex sections), so every default here is written once. The Tuner and the
Trainer receive a `RunConfig` as TFX's `custom_config` (plain JSON, `to_dict`) and rebuild it with
`RunConfig.from_dict`; Transform receives a `PreprocessingConfig`.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from modules.tflite_variants import DEFAULT_VARIANTS

WHITE = [255.0, 255.0, 255.0]


@dataclass
class PreprocessingConfig:
    """Transform: decode, composite alpha over `background` (RGB in [0, 255]), resize to
    `image_size` x `image_size` pixels."""
    image_size: int = 32
    background: List[float] = field(default_factory=lambda: list(WHITE))


@dataclass
class AugmentationConfig:
    """The seed's ImageDataGenerator settings (training only); 0 / False switches one off."""
    enabled: bool = True
    rotation_range: float = 40.0      # degrees, uniform in [-r, r]
    width_shift_range: float = 0.2    # fraction of width
    height_shift_range: float = 0.2   # fraction of height
    shear_range: float = 0.2          # degrees (ImageDataGenerator semantics)
    zoom_range: float = 0.2           # zoom factor uniform in [1 - z, 1 + z]
    horizontal_flip: bool = True
    fill_mode: str = "nearest"        # 'nearest' | 'reflect' | 'wrap' | 'constant'
    # Independent of `enabled`: train (Tuner and Trainer) on every train image and its horizontal
    # mirror, a fixed 2x that keeps feature caching (modules/mirroring.py). Only where a mirrored
    # image is the same class.
    mirrored_copies: bool = False


# model.weights values that name a source instead of a file
NAMED_WEIGHTS = ("imagenet", "none")

@dataclass
class ModelConfig:
    """VGG16 transfer model. Input is the Transform output: float32 RGB in [0, 255]."""
    image_size: int = 32                   # pixels per side after Transform's resize (>= 32)
    weights: str = "imagenet"              # 'imagenet' (provisioned offline), 'none', an .h5 path
    pooling: str = "avg"                   # 'avg' (GlobalAveragePooling2D) | 'flatten' (the seed's)
    head_units: int = 256
    dropout: float = 0.5


@dataclass
class FineTuneConfig:
    """Phase 2, gradual unfreezing: unfreeze the top conv blocks one step at a time (lower LR)."""
    unfreeze_blocks: int = 1               # 0 disables phase 2; at most 5
    learning_rate: float = 1e-5            # the Keras transfer-learning recipe's; 1e-4 cost
                                           # 9 validation points on a 3-class tree (docs/results.md)
    epochs_per_step: int = 2
    patience: int = 1                      # early stopping on the validation loss
    select_on_validation: bool = True      # keep a step only if it beats phase 1 (and the
    #                                        earlier steps) on validation; false keeps every step


PRUNING_SCORES = ("magnitude", "activation_aware")


@dataclass
class PruningConfig:
    """tfmot magnitude pruning, then fine-tuning epochs (steps = batches)."""
    enabled: bool = True
    schedule: str = "constant"             # 'constant' (ConstantSparsity) | 'polynomial'
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
    # Early stopping of the fine-tune on the validation loss once the target sparsity is in force
    # (the best such epoch's weights are kept); 0: train all fine_tune_epochs, keep the last.
    early_stopping_patience: int = 1
    # Which layers: 'head' (the 2 Dense layers) | 'trainable' (head + conv layers unfrozen by
    # phase 2) | 'all' (head + all 13 conv layers, made trainable for the pruning fine-tune at
    # phase 2's learning rate) | a list of layer names (e.g. [block5_conv3, head_dense]; frozen
    # conv layers named here are made trainable too).
    layers: Union[str, List[str]] = "trainable"
    # How weights are ranked: 'magnitude' (tfmot's |w|) | 'activation_aware' (|w| * rms of the
    # weight's input over the train data for the pruned Dense layers -- Wanda's score,
    # modules/activation_aware.py; conv layers keep |w|).
    score: str = "activation_aware"
    # How many of the top conv blocks the fine-tune retrains (with the head), 1-5. Pruned layers
    # of the blocks below are pruned once at the target sparsity (as tfmot's mask would) and
    # frozen; the fine-tune then trains on their outputs computed once when
    # modules/feature_cache.py allows (no augmentation, one replica). 5: every pruned layer.
    retrain_blocks: int = 5
    # Knowledge distillation in the fine-tune: the weight, in [0, 1], of the dense model's
    # probabilities (taken just before pruning) in the targets the pruned model fits; the labels
    # get 1 - weight (modules/distillation.py). 0: labels only.
    distillation: float = 0.0
    # With retrain_blocks < 5: when the pruned model's validation accuracy ends more than this
    # below the dense model's, the fine-tune runs again retraining the top
    # `fallback_retrain_blocks` blocks (5: every block) and the better on validation is kept
    # (compression_steps.prune_with_fallback). null: never.
    fallback_margin: Optional[float] = None
    fallback_retrain_blocks: int = 5       # > retrain_blocks, <= 5


@dataclass
class StructuredPruningConfig:
    """Structured filter pruning (modules/structured_pruning.py), after phase 2 and before
    magnitude pruning: the lowest-L1-norm filters of the conv layers are removed, the model is
    rebuilt smaller (same layer names) and fine-tuned with early stopping on validation."""
    enabled: bool = False
    # fraction of filters removed, in [0, 1), per block ('block4': its 3 conv layers) or per conv
    # layer ('block5_conv3': wins over its block's entry); layers not covered keep all filters.
    # e.g. {block4: 0.5, block5: 0.5}; empty by default (a YAML mapping is merged into it).
    fractions: Dict[str, float] = field(default_factory=dict)
    fine_tune_epochs: int = 2              # 0: no fine-tune (surgery only)
    patience: int = 1                      # early stopping on the validation loss (0: none)
    learning_rate: Optional[float] = None  # null: as the magnitude pruning fine-tune chooses


@dataclass
class ClusteringConfig:
    """Sparsity-preserving weight clustering (tfmot `cluster_weights`, `preserve_sparsity`) of
    the magnitude-pruned layers, fine-tuned, then `strip_clustering` before export."""
    enabled: bool = False
    # clusters (distinct weight values) per kernel: one number for every layer, or by kind
    # {conv: n, dense: n}; each > 2 (one cluster is kept at zero)
    number_of_clusters: Union[int, Dict[str, int]] = field(
        default_factory=lambda: {"conv": 16, "dense": 32})
    fine_tune_epochs: int = 1
    learning_rate: Optional[float] = None  # null: the magnitude pruning fine-tune's


@dataclass
class QuantizationAwareConfig:
    """Quantization-aware training (modules/qat.py) as the last fine-tune: 8-bit fake
    quantization of weights and activations that keeps the pruned zeros (PQAT) and, after
    `clustering`, the clusters (PCQAT). For the int8 TFLite variant; the exported SavedModel
    computes with the fake quantization."""
    enabled: bool = False
    fine_tune_epochs: int = 1
    learning_rate: Optional[float] = None  # null: the magnitude pruning fine-tune's


AUTOTUNE = -1                              # tf.data.AUTOTUNE, spelled without TensorFlow


@dataclass
class InputConfig:
    """The Trainer's tf.data input: parallel reading, parsing and mapping, and how many batches
    are prepared ahead of the accelerator. -1 is tf.data.AUTOTUNE (tf.data sizes it at run time)."""
    num_parallel_calls: int = AUTOTUNE     # readers, parsers and map calls; -1 or >= 1
    prefetch: int = AUTOTUNE               # batches prefetched; -1 (AUTOTUNE), 0 (none) or >= 1


# `trainer.mixed_precision` -> the tf_keras dtype policy of the conv, pooling and Dense layers
# (the output layer always computes in float32, so probabilities and losses stay float32).
MIXED_PRECISION_POLICIES = {"none": "float32", "float16": "mixed_float16",
                            "bfloat16": "mixed_bfloat16"}


@dataclass
class TrainerConfig:
    epochs: int = 3                        # phase 1: frozen base, head only (at most)
    early_stopping_patience: int = 0       # phase 1: > 0 stops on the validation loss
    class_weight: str = "balanced"         # 'balanced' (each class weighs the same) | 'none'
    fine_tune: FineTuneConfig = field(default_factory=FineTuneConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    structured_pruning: StructuredPruningConfig = field(default_factory=StructuredPruningConfig)
    clustering: ClusteringConfig = field(default_factory=ClusteringConfig)
    quantization_aware: QuantizationAwareConfig = field(default_factory=QuantizationAwareConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    input: InputConfig = field(default_factory=InputConfig)
    # 'none' | 'float16' (GPUs with tensor cores: T4, V100, A100, L4; dynamic loss scaling) |
    # 'bfloat16' (A100, H100, recent CPUs). The exported SavedModel is float32 either way.
    mixed_precision: str = "none"
    jit_compile: bool = False              # XLA for training steps (compile: Keras jit_compile)


# The tuned dimensions, in order, and the Python type of their values.
SEARCH_SPACE_TYPES = {"learning_rate": float, "batch_size": int, "head_units": int,
                      "dropout": float, "unfreeze_blocks": int}


# TunerConfig's strategy-specific options -> the strategy they belong to.
STRATEGY_OPTIONS = {"num_initial_points": "bayesian", "alpha": "bayesian", "beta": "bayesian",
                    "max_epochs": "hyperband", "factor": "hyperband",
                    "hyperband_iterations": "hyperband"}
HYPERBAND_DEFAULTS = {"max_epochs": 9, "factor": 3, "hyperband_iterations": 1}


@dataclass
class TunerConfig:
    """Keras Tuner search over the Trainer's hyperparameters (modules/tuner_strategies.py)."""
    strategy: str = "random"               # a name in modules/tuner_strategies.STRATEGIES
    max_trials: int = 2
    epochs: int = 1                        # epochs per trial
    seed: int = 42                         # the search order and the folds
    learning_rate: List[float] = field(default_factory=lambda: [0.001, 0.01, 0.1])
    batch_size: List[int] = field(default_factory=lambda: [16, 32, 64])
    # Optional dimensions (null: not tuned; the Trainer uses model.* / trainer.fine_tune.*).
    head_units: Optional[List[int]] = None
    dropout: Optional[List[float]] = None
    unfreeze_blocks: Optional[List[int]] = None  # phase-2 depth, 0..5
    cv_folds: int = 1                      # > 1: k-fold cross-validation on the train split
    parallel_trials: int = 1               # > 1: Vertex Tuner runs trials in parallel (compile)
    # strategy bayesian only (null: keras-tuner's defaults: 3 x the tuned dimensions, 1e-4, 2.6)
    num_initial_points: Optional[int] = None   # random trials before the Gaussian process
    alpha: Optional[float] = None          # the GP's observation noise
    beta: Optional[float] = None           # exploration weight of the upper confidence bound
    # strategy hyperband only (null: 9, 3, 1). A trial trains `tuner/epochs` epochs (phase 2,
    # when unfreeze_blocks is tuned, starts after `epochs` head epochs); max_trials is ignored.
    max_epochs: Optional[int] = None       # epochs of the longest trial
    factor: Optional[int] = None           # keeps 1/factor of the trials per round, x epochs
    hyperband_iterations: Optional[int] = None  # times the whole set of brackets runs

    def strategy_options(self) -> Dict[str, Any]:
        """The set (non-null) options of the strategies, {name: value}."""
        return {name: getattr(self, name) for name in STRATEGY_OPTIONS
                if getattr(self, name) is not None}

    def search_space(self) -> Dict[str, List[Any]]:
        """The tuned dimensions {name: values}: learning_rate, batch_size, plus any set."""
        return {name: list(getattr(self, name)) for name in SEARCH_SPACE_TYPES
                if getattr(self, name) is not None}


@dataclass
class ExportConfig:
    """TFLite variants pushed beside the SavedModel, each gated on agreement with it in
    TensorFlow's interpreter and in standalone LiteRT (modules/tflite_variants.py: the variants
    and their default thresholds)."""
    tflite_variants: List[str] = field(default_factory=lambda: list(DEFAULT_VARIANTS))
    # per-variant overrides of the table's thresholds, e.g. {int8: 0.97}
    min_agreement: Dict[str, float] = field(default_factory=dict)
    max_probability_diff: Dict[str, float] = field(default_factory=dict)
    # of the gate's examples, the fraction whose every |p - p_savedmodel| must be within
    # max_probability_diff (0.99: one example in a hundred may stray; 1.0: none may)
    probability_diff_fraction: float = 0.99
    parity_examples: int = 1000            # examples per sample (stratified; all if fewer)
    litert_python: str = ".venv-litert/bin/python"  # relative to the project (make builds it)
    latency_runs: int = 50                 # timed single-image calls per runtime and thread count


@dataclass
class RunConfig:
    """What the Tuner's tuner_fn and the Trainer's run_fn receive (TFX custom_config)."""
    seed: int = 42
    class_names: List[str] = field(default_factory=list)
    weights_path: str = ""                 # '' : no pretrained weights (random init)
    weights_source: str = "none"
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    tuner: TunerConfig = field(default_factory=TunerConfig)
    run_eagerly: bool = False              # tests on a few dozen images: skips graph tracing

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON types (TFX serializes custom_config as JSON)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Optional[Dict[str, Any]]) -> "RunConfig":
        return from_dict(cls, values or {})

    @classmethod
    def from_custom_config(cls, custom_config: Optional[Dict[str, Any]]) -> "RunConfig":
        """`from_dict` of a TFX custom_config less the keys TFX's Google Cloud extension adds
        for its own executors (the Vertex Trainer's and Tuner's job arguments, region, ...):
        they reach run_fn / tuner_fn too."""
        values = {k: v for k, v in (custom_config or {}).items()
                  if not k.startswith(CLOUD_EXTENSION_KEY_PREFIX)
                  and k not in CLOUD_EXTENSION_KEYS}
        return from_dict(cls, values)


# Keys of tfx.extensions.google_cloud_ai_platform in a custom_config (ai_platform_training_args,
# ai_platform_tuning_args, ai_platform_enable_vertex, ai_platform_vertex_region, ...).
CLOUD_EXTENSION_KEY_PREFIX = "ai_platform_"
CLOUD_EXTENSION_KEYS = ("remote_trials_working_dir",)


def from_dict(cls: Any, values: Dict[str, Any], where: str = "") -> Any:
    """`cls` (a dataclass) from a mapping, nested dataclasses included; missing keys take the
    defaults, an unknown key is a ValueError naming it (e.g. a hand-edited Vertex parameter)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown key {where}{unknown[0]} (known: "
                         f"{', '.join(sorted(names))})")
    kwargs = {}
    for key, value in values.items():
        tp = hints[key]
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            value = from_dict(tp, value, f"{where}{key}.")
        kwargs[key] = value
    return cls(**kwargs)
