"""Semantic checks of a built config (types are checked by typecheck.py): ranges, names from the
tables (TFLite variants, tuner strategies, pruning layers), the beam section, and the data tree on
disk (every configured class has images in every split). Never changes the config."""
from __future__ import annotations

import os
from typing import Dict, List, Optional

from modules import tflite_variants, tuner_strategies
from modules.configs import (HYPERBAND_DEFAULTS, MIXED_PRECISION_POLICIES, NAMED_WEIGHTS,
                             PRUNING_SCORES, STRATEGY_OPTIONS, ExportConfig, TrainerConfig,
                             TunerConfig)
from modules.layer_names import check_filter_fractions, check_pruning_layers
from pipeline import data_layout
from pipeline.config.errors import ConfigError
from pipeline.config.machines import check_machine
from pipeline.config import schema as config_schema
from pipeline.config.schema import PipelineConfig, abs_path
from modules.class_names import canonical, name_problem, shown
from pipeline.data_layout import (empty_class_folders, has_span, is_uri, pattern_for_span,
                                  spans_on_disk)


def validate(config: PipelineConfig, check_paths: bool = True, check_files: bool = True) -> None:
    """Semantic checks that types alone cannot express; ConfigError naming the key. Never
    changes `config` (class names are discovered by load.resolve_class_names before).
    `check_files=False`: the data tree's layout is checked, not each image file's header."""
    m, t, tr, ev = config.model, config.tuner, config.trainer, config.evaluator
    bg = config.data.alpha_background
    if len(bg) != 3 or any(not (0.0 <= c <= 255.0) for c in bg):
        raise ConfigError(f"data.alpha_background: expected 3 RGB values in [0, 255], got {bg}")
    for name in config.data.class_names:
        problem = name_problem(name)
        if problem:
            raise ConfigError(f"data.class_names: class {name!r} has {problem}: labels.txt "
                              f"holds one name per line and reports print them; rename its "
                              f"folder (or the data.class_names entry)")
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
    if t.strategy not in tuner_strategies.STRATEGIES:  # `auto` is resolved by load_config
        raise ConfigError(f"tuner.strategy: expected one of "
                          f"{', '.join(tuner_strategies.STRATEGIES)} or "
                          f"{tuner_strategies.AUTO}, got {t.strategy!r}")
    _validate_search_space(t)
    if t.max_trials < 1 or t.epochs < 1 or tr.epochs < 1:
        raise ConfigError("tuner.max_trials, tuner.epochs and trainer.epochs must be >= 1")
    if not (0.0 < tr.pruning.target_sparsity < 1.0):
        raise ConfigError(f"trainer.pruning.target_sparsity: expected 0 < s < 1, "
                          f"got {tr.pruning.target_sparsity}")
    if tr.pruning.early_stopping_patience < 0:
        raise ConfigError(f"trainer.pruning.early_stopping_patience: expected >= 0 (0: no early "
                          f"stopping), got {tr.pruning.early_stopping_patience}")
    if not (1 <= tr.pruning.retrain_blocks <= 5):
        raise ConfigError(f"trainer.pruning.retrain_blocks: expected 1 to 5 (top conv blocks "
                          f"retrained after pruning), got {tr.pruning.retrain_blocks}")
    if not (0.0 <= tr.pruning.distillation <= 1.0):
        raise ConfigError(f"trainer.pruning.distillation: expected a weight from 0 (labels only) "
                          f"to 1 (the dense model's probabilities only), got "
                          f"{tr.pruning.distillation}")
    margin = tr.pruning.fallback_margin
    if margin is not None and not (0.0 <= margin <= 1.0):
        raise ConfigError(f"trainer.pruning.fallback_margin: expected null (never) or a drop in "
                          f"validation accuracy from 0 to 1, got {margin}")
    wider = tr.pruning.fallback_retrain_blocks
    if not (1 <= wider <= 5) or (margin is not None and wider <= tr.pruning.retrain_blocks < 5):
        raise ConfigError(f"trainer.pruning.fallback_retrain_blocks: expected more than "
                          f"trainer.pruning.retrain_blocks ({tr.pruning.retrain_blocks}) and at "
                          f"most 5, got {tr.pruning.fallback_retrain_blocks}")
    if not (0.0 < tr.pruning.ramp_fraction <= 1.0):
        raise ConfigError(f"trainer.pruning.ramp_fraction: expected 0 < fraction <= 1, got "
                          f"{tr.pruning.ramp_fraction}")
    if tr.pruning.learning_rate is not None and tr.pruning.learning_rate <= 0:
        raise ConfigError(f"trainer.pruning.learning_rate: expected > 0 or null, got "
                          f"{tr.pruning.learning_rate}")
    if tr.pruning.score not in PRUNING_SCORES:
        raise ConfigError(f"trainer.pruning.score: expected one of {list(PRUNING_SCORES)}, "
                          f"got {tr.pruning.score!r}")
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
    if t.seed < 1:
        raise ConfigError(f"tuner.seed: expected >= 1, got {t.seed} (keras-tuner treats seed 0 "
                          f"as unseeded: the search order would differ on every run)")
    _validate_strategy_options(t, pretrained=m.weights != "none")
    _validate_trainer_runtime(tr)
    _validate_compression(tr)
    _validate_vertex_training(config)
    _validate_export(config.export)
    for name in ("accuracy_lower_bound", "auc_lower_bound", "min_class_recall",
                 "max_accuracy_drop"):
        v = getattr(ev, name)
        if not (0.0 <= v <= 1.0):
            raise ConfigError(f"evaluator.{name}: expected a value in [0, 1], got {v}")
    for name, v in ev.class_recall.items():
        if not (0.0 <= v <= 1.0):
            raise ConfigError(f"evaluator.class_recall.{name}: expected a value in [0, 1], "
                              f"got {v}")
        known = {canonical(c) for c in config.data.class_names}
        if known and canonical(name) not in known:
            raise ConfigError(f"evaluator.class_recall: {name!r} is not one of the classes "
                              f"{list(config.data.class_names)}")
    if m.weights not in NAMED_WEIGHTS and check_paths and not os.path.isfile(
            abs_path(m.weights)):
        raise ConfigError(f"model.weights: {m.weights} is not 'imagenet', 'none' or an "
                          f"existing weights file")
    from pipeline.beam_args import beam_pipeline_args
    beam_pipeline_args(config)  # raises ConfigError for a bad beam: section
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
        _validate_data(config, check_files)


def _validate_trainer_runtime(tr: TrainerConfig) -> None:
    """trainer.input (tf.data), trainer.mixed_precision (jit_compile is a bool: typecheck)."""
    if tr.mixed_precision not in MIXED_PRECISION_POLICIES:
        raise ConfigError(f"trainer.mixed_precision: expected one of "
                          f"{', '.join(MIXED_PRECISION_POLICIES)}, got {tr.mixed_precision!r}")
    calls = tr.input.num_parallel_calls
    if calls != -1 and calls < 1:
        raise ConfigError(f"trainer.input.num_parallel_calls: expected -1 (AUTOTUNE) or >= 1, "
                          f"got {calls}")
    if tr.input.prefetch < -1:
        raise ConfigError(f"trainer.input.prefetch: expected -1 (AUTOTUNE), 0 (none) or >= 1, "
                          f"got {tr.input.prefetch}")


def _validate_compression(tr: TrainerConfig) -> None:
    """trainer.structured_pruning (block / conv layer names, fractions in [0, 1)),
    trainer.clustering (cluster counts) and trainer.quantization_aware."""
    sp, cl = tr.structured_pruning, tr.clustering
    try:
        check_filter_fractions(sp.fractions)
    except ValueError as e:
        raise ConfigError(f"trainer.structured_pruning.fractions: {e}") from None
    if sp.enabled and not any(sp.fractions.values()):
        raise ConfigError("trainer.structured_pruning.fractions: enabled but no filter is "
                          "removed; give fractions, e.g. {block4: 0.5, block5: 0.5}")
    for name in ("fine_tune_epochs", "patience"):
        if getattr(sp, name) < 0:
            raise ConfigError(f"trainer.structured_pruning.{name}: expected >= 0, got "
                              f"{getattr(sp, name)}")
    clusters = cl.number_of_clusters
    per_kind = clusters if isinstance(clusters, dict) else {"conv": clusters, "dense": clusters}
    if isinstance(clusters, dict) and sorted(clusters) != ["conv", "dense"]:
        raise ConfigError(f"trainer.clustering.number_of_clusters: expected one number or "
                          f"{{conv: n, dense: n}}, got {clusters}")
    for kind, n in per_kind.items():
        if n < 3:
            raise ConfigError(f"trainer.clustering.number_of_clusters: expected >= 3 (one "
                              f"cluster stays at zero to preserve sparsity), got {kind} {n}")
    if cl.fine_tune_epochs < 1:
        raise ConfigError(f"trainer.clustering.fine_tune_epochs: expected >= 1, got "
                          f"{cl.fine_tune_epochs}")
    if tr.quantization_aware.fine_tune_epochs < 1:
        raise ConfigError(f"trainer.quantization_aware.fine_tune_epochs: expected >= 1, got "
                          f"{tr.quantization_aware.fine_tune_epochs}")
    for section, lr in (("structured_pruning", sp.learning_rate),
                        ("clustering", cl.learning_rate),
                        ("quantization_aware", tr.quantization_aware.learning_rate)):
        if lr is not None and lr <= 0:
            raise ConfigError(f"trainer.{section}.learning_rate: expected > 0 or null, got {lr}")


def _validate_vertex_training(config: PipelineConfig) -> None:
    """vertex.training.trainer / .tuner: machine, GPU and replica combinations Vertex accepts."""
    for name, max_replicas in (("trainer", None), ("tuner", 1)):
        m = getattr(config.vertex.training, name)
        check_machine(f"vertex.training.{name}", m.machine_type, m.accelerator_type,
                      m.accelerator_count, m.replica_count, max_replicas=max_replicas)


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
    if not (0.0 < ex.probability_diff_fraction <= 1.0):
        raise ConfigError(f"export.probability_diff_fraction: expected a fraction in (0, 1], got "
                          f"{ex.probability_diff_fraction}")
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


def _validate_strategy_options(t: TunerConfig, pretrained: bool) -> None:
    """The options of `tuner.strategy` only, in range, and no combination that makes no sense:
    Hyperband with cross-validation (a trial resumes from one checkpoint) or with a phase 2 its
    longest trial never reaches, Bayesian optimization whose trials are all initial random
    points."""
    for name, owner in STRATEGY_OPTIONS.items():
        if getattr(t, name) is not None and owner != t.strategy:
            raise ConfigError(f"tuner.{name}: an option of strategy {owner} only (tuner.strategy "
                              f"is {t.strategy}); remove it or set it to null")
    o = t.strategy_options()
    for name, ok, what in (("num_initial_points", lambda v: v >= 1, ">= 1"),
                           ("alpha", lambda v: v > 0, "> 0"), ("beta", lambda v: v >= 0, ">= 0"),
                           ("max_epochs", lambda v: v >= 1, ">= 1"),
                           ("factor", lambda v: v >= 2, ">= 2"),
                           ("hyperband_iterations", lambda v: v >= 1, ">= 1")):
        if name in o and not ok(o[name]):
            raise ConfigError(f"tuner.{name}: expected {what}, got {o[name]}")
    if t.strategy == "bayesian":
        trials = min(t.max_trials, grid_size(t))
        initial = o.get("num_initial_points", max(3 * len(t.search_space()), 3))
        if initial >= trials:
            raise ConfigError(f"tuner.num_initial_points: {initial} initial random points "
                              f"(keras-tuner's default: 3 per tuned dimension) leave none of "
                              f"the {trials} trials to the Gaussian process; lower it or raise "
                              f"tuner.max_trials (or use strategy random)")
    if t.strategy == "hyperband":
        hb = {**HYPERBAND_DEFAULTS, **o}
        if t.cv_folds > 1:
            raise ConfigError(f"tuner.cv_folds: {t.cv_folds} with strategy hyperband; a "
                              f"Hyperband trial resumes from its predecessor's checkpoint, one "
                              f"model per trial: set tuner.cv_folds=1 (k-fold works with grid, "
                              f"random and bayesian)")
        if hb["max_epochs"] < hb["factor"]:
            raise ConfigError(f"tuner.max_epochs: {hb['max_epochs']} < tuner.factor "
                              f"{hb['factor']}: no trial would be continued (successive halving "
                              f"needs max_epochs >= factor)")
        if pretrained and any(b > 0 for b in t.unfreeze_blocks or []) and \
                hb["max_epochs"] <= t.epochs:
            raise ConfigError(f"tuner.max_epochs: {hb['max_epochs']} <= tuner.epochs "
                              f"{t.epochs}: with strategy hyperband phase 2 (unfreeze_blocks) "
                              f"starts after tuner.epochs head epochs, so no trial would reach "
                              f"it; raise tuner.max_epochs")


def grid_size(t: TunerConfig) -> int:
    """Combinations in the tuned space."""
    size = 1
    for values in t.search_space().values():
        size *= len(values)
    return size


def newest_span(config: PipelineConfig) -> Optional[int]:
    """The newest span on the local disk when `data.train_pattern` holds {SPAN} (None without
    spans); ConfigError when there is none yet. ExampleGen's driver resolves {SPAN} at run time
    (the newest span): that span is the one checked, and class names are discovered from it."""
    if not has_span(config.data.train_pattern):
        return None
    spans = spans_on_disk(config.data_root, config.data.train_pattern)
    if not spans:
        raise ConfigError(f"data.train_pattern: no files match {config.data.train_pattern!r} "
                          f"under {config.data_root} (no span yet; expected e.g. "
                          f"span-1/<class>/*.png)")
    return spans[-1]


def _split_counts(config: PipelineConfig, files: Dict[str, List[str]]) -> Dict[str, Dict[str, int]]:
    """Images per split and class of `files` (`data_layout.files_by_split`: image paths per
    split on the local disk, the newest span's with {SPAN})."""
    return data_layout.check_classes(files, list(config.data.class_names), config.split_layout)


def config_notes(config: PipelineConfig) -> List[str]:
    """Notes on the config itself: a default output root moved off another data set's
    (output_owner), class names that look the same (Unicode forms) or differ only in letter
    case, and settings that are valid
    together but work against each other; `validate` prints them and the run's console too
    (`note: ...`, through `data_notes`)."""
    from pipeline.config.output_owner import shared_root_note
    aug = config.trainer.augmentation
    notes = [] if config.output.root else shared_root_note(
        config.default_output_base, config.output_root, config.data_root,
        str(config_schema.REPO_ROOT))
    by_form: Dict[str, List[str]] = {}
    for name in config.data.class_names:  # 'café' typed (NFC) and from macOS (NFD) look alike
        by_form.setdefault(canonical(name), []).append(name)
    lookalikes = [names for names in by_form.values() if len(names) > 1]
    if lookalikes:
        notes.append("classes whose names look the same, written with other Unicode code "
                     "points (NFC and NFD forms): " + "; ".join(
                         " and ".join(ascii(n) for n in names) for names in lookalikes)
                     + ": each is its own class here, but every report shows them alike; "
                     "merge their folders if they are one class")
    by_case: Dict[str, List[str]] = {}
    for name in by_form:
        by_case.setdefault(name.casefold(), []).append(name)
    twins = [names for names in by_case.values() if len(names) > 1]
    if twins:
        notes.append("classes differing only in letter case: " + "; ".join(
            " and ".join(repr(n) for n in names) for names in twins) + ": each is its own class "
            "here, but one folder on macOS and Windows; merge their folders if they are one "
            "class")
    if (config.split_layout.hashed and config.data.train_pattern == data_layout.FLAT_TRAIN_PATTERN
            and data_layout.flat_class_folders(config.data_root)):
        buckets = config.data.split_hash_buckets
        notes.append(f"data.root holds class folders and no train/ or eval/ folder: their "
                     f"images are split by a stable hash of each path into train / validation "
                     f"/ test ({buckets['train']} : {buckets['validation']} : "
                     f"{buckets['test']}, data.split_hash_buckets), and an image keeps its "
                     f"split as images are added; to choose the held-out images yourself, "
                     f"move the class folders into train/ and the held-out images into "
                     f"eval/<class>/")
    if aug.mirrored_copies and aug.enabled and aug.horizontal_flip:
        notes.append("trainer.augmentation.mirrored_copies with horizontal_flip: every train "
                     "image is already there mirrored, so the random flip only re-mirrors "
                     "copies at random; set trainer.augmentation.horizontal_flip=false (or "
                     "drop mirrored_copies)")
    return notes


def data_notes(config: PipelineConfig) -> List[str]:
    """`config_notes`, then the data's notes (`data_layout.few_images`, formats to convert and
    empty files, EXIF-rotated JPEGs, animated or transparent GIFs, upscaled images, folders no split reads;
    none for a remote root) for a config that passed `validate`: the run logs them before any
    work, and its console prints each as `note: ...` (console.NOTE)."""
    if is_uri(config.data_root):
        return config_notes(config)
    files = data_layout.files_by_split(config.data_root, config.split_layout, newest_span(config))
    return _local_notes(config, _split_counts(config, files), files)


def _local_notes(config: PipelineConfig, counts: Dict[str, Dict[str, int]],
                 files: Dict[str, List[str]]) -> List[str]:
    """`config_notes` and the notes on a local root's files (`counts`: files per split and
    class; `files`: image paths per split): few images, imbalanced train classes, formats to
    convert (empty files too), EXIF-rotated JPEGs and PNGs, animated or transparent GIFs,
    colour-keyed PNGs, images much smaller than the model's input or far from square, symbolic
    links to another image of the splits, folders of images no split reads."""
    return (config_notes(config) + _span_gap_notes(config)
            + data_layout.few_images(counts, config.split_layout)
            + data_layout.imbalance(counts, config.trainer.class_weight)
            + data_layout.undecodable_formats(files, config.data.max_quarantine_fraction,
                                              config.split_layout, config.data_root,
                                              config.data.max_image_pixels)[1]
            + data_layout.rotated_by_exif(config.data_root, files)
            + data_layout.linked_copies(config.data_root, files)
            + data_layout.gif_notes(config.data_root, files)
            + data_layout.colour_key_notes(config.data_root, files)
            + data_layout.size_notes(config.data_root, files, config.model.image_size)
            + data_layout.unread_folders(config.data_root, config.split_layout))


def _span_gap_notes(config: PipelineConfig) -> List[str]:
    """At most one note: `retrain`'s window of `retrain.num_spans` spans ending at the newest
    holds fewer spans because span numbers are missing on disk (spans 1, 2, 3, 5 with a window
    of 2 trains on span 5 alone), while older spans exist."""
    if not has_span(config.data.train_pattern) or config.retrain.num_spans < 2:
        return []
    spans = spans_on_disk(config.data_root, config.data.train_pattern)
    window = data_layout.span_window(spans, config.retrain.num_spans)
    if not spans or len(window) == config.retrain.num_spans or spans[0] >= window[0]:
        return []
    missing = data_layout.missing_in_window(spans, config.retrain.num_spans)
    older = [s for s in spans if s < window[0]]
    return [f"retrain.num_spans={config.retrain.num_spans}: the window of spans ending at the "
            f"newest ({window[-1]}) holds only {window} because span(s) {missing} are not on "
            f"disk; span(s) {older} are older than the window and not trained on (the window "
            f"counts span numbers: number spans consecutively, or raise retrain.num_spans)"]


def data_overview(config: PipelineConfig) -> List[str]:
    """What ImageExampleGen will read, for `validate`: the root and its layout, then each split
    with the folder it is read from and its files per class (the newest span's when the
    patterns hold {SPAN}), the non-image files and nested folders that will be ignored, then the
    output root. For a config that passed `validate`."""
    root, layout = config.data_root, config.split_layout
    lines = [f"data: {root} ({layout.description})"]
    if is_uri(root):
        return lines + ["  remote: read by ImageExampleGen, not listed here",
                        *[f"  note: {note}" for note in config_notes(config)],
                        f"outputs: {config.output_root}"]
    span = newest_span(config)
    if span is not None:
        lines.append(f"  newest span: {span}")
    files = data_layout.files_by_split(root, layout, span)
    counts = _split_counts(config, files)
    for split, per_class in counts.items():
        lines.append(f"  {data_layout.split_source(split, layout)}: {sum(per_class.values())} "
                     f"files (" + ", ".join(f"{shown(c)} {n}" for c, n in per_class.items()) + ")")
    notes = _local_notes(config, counts, files)
    lines += [f"  note: {note}" for note in notes]
    ignored = sorted({p for pattern in set(layout.patterns.values()) for p in
                      data_layout.ignored_files(root, pattern_for_span(pattern, span)
                                                if span is not None else pattern)})
    if ignored:
        from modules.image_files import IGNORED_LABEL, printable
        lines.append(f"  {IGNORED_LABEL}: {len(ignored)} path(s): "
                     + ", ".join(printable(p) for p in ignored[:10])
                     + (" ..." if len(ignored) > 10 else ""))
    return lines + [f"outputs: {config.output_root}"]


def writable_problem(path: str) -> Optional[str]:
    """Why this process could not create or write the local directory `path`, or None: the path
    or a parent is a file, or the deepest existing folder on it is not writable (a read-only
    mount, another user's folder)."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            return None
        probe = parent
    if not os.path.isdir(probe):
        return f"{probe} is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return (f"{probe} is not writable by this user"
                + (" (a read-only file system)" if _read_only_mount(probe) else ""))
    return None


def _read_only_mount(path: str) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def validate_writable(config: PipelineConfig) -> None:
    """The output root and the serving dir (local ones) can be created and written: a run
    would otherwise fail with a traceback when it takes its lock, or after training when it
    pushes. For the commands that write (`run`, `retrain`, `validate`); `report` and `predict`
    read outputs another user may own or a read-only mount may hold."""
    for key, path in (("output.root", config.output_root),
                      ("output.serving_dir", config.serving_dir)):
        if is_uri(path):
            continue
        problem = writable_problem(path)
        if problem:
            raise ConfigError(f"{key}: {path} cannot be written: {problem}; set {key} to a "
                              f"folder you can write")


SPLIT_FOLDERS = ("train", "eval", "test")  # the default patterns' split folders


def _validate_data(config: PipelineConfig, check_files: bool = True) -> None:
    """The tree on disk fits the layout: every configured class has images in every split (train,
    validation, test), no split holds an unconfigured class folder, no class folder is empty."""
    root = config.data_root
    if is_uri(root):
        return  # remote data (gs://...) is read by ExampleGen; class names must be configured
    if not os.path.isdir(root):
        what = "is a file, not a folder" if os.path.exists(root) else "does not exist"
        raise ConfigError(f"data.root: {root} {what} (expected <root>/train/<class>/*.png)")
    wildcards = data_layout.glob_characters(root)
    if wildcards:
        raise ConfigError(f"data.root: {root} holds {' '.join(wildcards)}, which TFX's file "
                          f"patterns read as wildcards, so ExampleGen would find no image there: "
                          f"rename the folder, or link it under a plain name (ln -s '{root}' "
                          f"/some/plain_name) and set data.root to the link")
    if config.data.schema_path and not os.path.isfile(abs_path(config.data.schema_path)):
        raise ConfigError(f"data.schema_path: {abs_path(config.data.schema_path)} does not exist "
                          f"(expected a schema.pbtxt)")
    layout = config.split_layout
    if has_span(config.data.train_pattern):
        problems = data_layout.span_folder_problems(root, config.data.train_pattern)
        if problems:
            raise ConfigError("data.train_pattern: " + "; ".join(problems))
    span = newest_span(config)
    empty, looked = [], []
    for pattern in sorted(set(layout.patterns.values())):
        concrete = pattern_for_span(pattern, span) if span is not None else pattern
        looked.append(repr(concrete))
        empty += empty_class_folders(root, concrete)
    # with {SPAN}: every span a retrain's window reads (older ones are backfilled from disk)
    window = [None] if span is None else data_layout.span_window(
        spans_on_disk(root, config.data.train_pattern), config.retrain.num_spans)
    broken = sorted({p for pattern in layout.patterns.values() for s in window
                     for p in data_layout.broken_links(
                         root, pattern_for_span(pattern, s) if s is not None else pattern)})
    if broken:  # ExampleGen's driver would fail on them with a NotFoundError naming no file
        raise ConfigError(f"data.root: broken symbolic link(s) {broken[:10]}"
                          f"{' ...' if len(broken) > 10 else ''} under {root}: the file each "
                          f"points to does not exist; remove the link(s) or restore the target(s)")
    if empty:  # every one at once: no second attempt to find the next
        raise ConfigError(f"data.root: empty class folder(s) {sorted(set(empty))} (no image "
                          f"files match {' or '.join(looked)} in them): a class needs images "
                          f"in every split; add images or remove the folder")
    train_like = pattern_for_span(config.data.train_pattern, span) if span is not None \
        else config.data.train_pattern
    if len(config.data.class_names) < 2:
        hint = ""
        flat = data_layout.flat_class_folders(root)  # patterns the user set: not switched
        if not config.data.class_names and flat and not layout.hashed:
            hint = (f"; its folders {flat} hold the images directly (no train/ folder): move "
                    f"them into train/<class>/ with a held-out eval/<class>/, or split them by "
                    f"path hash into train/validation/test with --set 'data.train_pattern=*/*' "
                    f"--set data.eval_pattern=")
        from modules.image_files import is_hidden_name
        inner = [e for e in os.listdir(root) if os.path.isdir(os.path.join(root, e))
                 and not is_hidden_name(e)]
        if (not hint and len(inner) == 1 and not layout.hashed
                and os.path.isdir(os.path.join(root, inner[0], "train"))):
            # an unzipped archive's wrapper folder (my_images.zip -> my_images/my_images/train)
            hint = (f"; its one folder {inner[0]!r} holds a train/ folder: set data.root="
                    f"{os.path.join(root, inner[0])}")
        cased = sorted(e for e in os.listdir(root) if os.path.isdir(os.path.join(root, e))
                       and e.lower() in SPLIT_FOLDERS and e not in SPLIT_FOLDERS)
        if cased and not hint:
            hint = ("; folder names are case-sensitive: rename "
                    + ", ".join(f"{e}/ to {e.lower()}/" for e in cased)
                    + " (or set the data.*_pattern keys to these names)")
        eval_like = (pattern_for_span(config.data.eval_pattern, span) if span is not None
                     else config.data.eval_pattern)
        held_out = data_layout.discover_class_names(root, eval_like) if eval_like else []
        trained = data_layout.discover_class_names(root, train_like)
        lost = [c for c in held_out if c not in trained]
        if lost and not hint:  # helper-62: a class's train/ folder deleted, eval/ kept
            hint = (f"; {eval_like!r} has class folder(s) {lost} that {train_like!r} lacks: "
                    f"give each its training images")
        raise ConfigError(f"data.root: {root} has {len(config.data.class_names)} class folder(s) "
                          f"under {train_like!r}; need at least 2 "
                          f"(found: {config.data.class_names}){hint}")
    files = data_layout.files_by_split(root, layout, span)
    for a, b, shared in data_layout.overlapping_roles(files):
        raise ConfigError(
            f"data.train_pattern / data.eval_pattern / data.test_pattern: the {a} and {b} "
            f"splits share {len(shared)} file(s) (e.g. {shared[0]}): {layout.description}; "
            f"every image needs one role, or the held-out figures come from images that "
            f"shaped the model: point the patterns at different folders")
    try:
        data_layout.check_classes(files, list(config.data.class_names), layout)
    except data_layout.LayoutError as e:
        where = "" if span is None else \
            f"span {span} ({pattern_for_span(config.data.train_pattern, span)}): "
        raise ConfigError(f"data.class_names / data.root: {where}{e}") from None
    if not check_files:
        return
    errors, _ = data_layout.undecodable_formats(files, config.data.max_quarantine_fraction,
                                                config.split_layout, config.data_root,
                                                config.data.max_image_pixels)
    if errors:
        raise ConfigError("data.root: " + "; ".join(errors))
