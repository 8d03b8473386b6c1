"""The pipeline config's schema: the pipeline-only sections as dataclasses, composed with the
module configs (modules/configs.py), and the profiles' defaults. No checks here (load.py,
validate.py)."""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from modules.configs import ExportConfig, ModelConfig, TrainerConfig, TunerConfig
from pipeline import data_layout

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILES = ("quick", "full", "compression")


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
class EvaluatorConfig:
    """TFMA gates on the held-out test split: absolute lower bounds and the allowed drop against
    the latest blessed model of the same classes (components/tfma_gates.py)."""
    accuracy_lower_bound: float = 0.70
    auc_lower_bound: float = 0.80          # binary AUC; 3+ classes: macro one-vs-rest AUC
    min_class_recall: float = 0.50         # every class's recall (binary: recall and specificity)
    # A class's own recall bound instead of min_class_recall, e.g. {defect: 0.9} for a rare class
    # that must be caught (names as in data.class_names).
    class_recall: Dict[str, float] = field(default_factory=dict)
    max_accuracy_drop: float = 0.01        # candidate may be at most this much worse than baseline
    # With a baseline, TFMA's jackknife 95 % interval of every metric and of candidate - baseline
    # (components/change_interval): the change gate's line says whether the test images can tell
    # a pass from a failure. Costs Evaluator time (docs/configuration.md); decides nothing.
    change_interval: bool = True


@dataclass
class OutputConfig:
    # pipeline_root, metadata.sqlite, logs/ and serving/ live here. '' : outputs/<data set>, the
    # data root's folder name, so two data sets never share MLMD, caches or serving dirs (a second
    # folder of the same name gets outputs/<name>-<hash>: pipeline/config/output_owner.py).
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
class MachineConfig:
    """A Vertex AI Training worker pool (pipeline/vertex_training.py). machine_type '' : not sent
    to Vertex AI Training (the step runs in its pipeline container, as locally)."""
    machine_type: str = ""                 # e.g. n1-standard-8, g2-standard-8, a2-highgpu-1g
    accelerator_type: str = ""             # as Vertex spells it: NVIDIA_TESLA_T4, NVIDIA_L4, ...
    accelerator_count: int = 0             # per replica; 0 with accelerator_type ''
    replica_count: int = 1                 # trainer: > 1 is multi-worker (chief + workers)


@dataclass
class VertexTrainingConfig:
    """Trainer and Tuner on Vertex AI Training (TFX's google_cloud_ai_platform Trainer / Tuner,
    the pipeline image), compiled for Vertex only; locally nothing changes."""
    trainer: MachineConfig = field(default_factory=MachineConfig)
    tuner: MachineConfig = field(default_factory=MachineConfig)  # per trial (replica_count 1)


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
    training: VertexTrainingConfig = field(default_factory=VertexTrainingConfig)


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
        return abs_path(self.data.root)

    @property
    def schema_path(self) -> str:
        return abs_path(self.data.schema_path) if self.data.schema_path else ""

    @property
    def output_root(self) -> str:
        if self.output.root:
            return abs_path(self.output.root)
        from pipeline.config.output_owner import default_output_root
        return default_output_root(self.default_output_base, self.data_root, str(REPO_ROOT))

    @property
    def default_output_base(self) -> str:
        """outputs/<the data root's folder name>: the default output root unless another data
        set's outputs are there (pipeline/config/output_owner.py)."""
        return abs_path(os.path.join("outputs", data_set_name(self.data.root)))

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
        return abs_path(self.output.serving_dir) if self.output.serving_dir else os.path.join(
            self.output_root, "serving")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def deep_merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    """`base` with `over`'s keys replacing its own, nested dicts merged key by key (new dicts;
    neither argument is changed)."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# CPU, minutes. Every value was chosen on validation or development data by a rule written
# before its runs; the rules, figures and commands are in docs/results.md ("Against a plain Keras
# script" and "Choosing the pruning defaults"). In short: no augmentation at 32x32 (it cost 3-5
# points); learning rates 3e-4 / 1e-3 / 3e-3 for the Tuner; pruning of all 13 conv layers and the
# head to 50 % from the first step, blocks 1-4 pruned once and frozen while block 5 and the head
# recover on block4_pool's cached outputs (`retrain_blocks: 1`) for up to 4 epochs at 3e-5, the
# best validation epoch kept; when that ends more than 2 validation points below the dense
# model, the fine-tune is redone retraining blocks 3-5 (`fallback_retrain_blocks: 3`) and the
# better on validation is kept.
_QUICK: Dict[str, Any] = {
    "tuner": {"strategy": "auto", "learning_rate": [0.0003, 0.001, 0.003],
              "batch_size": [32]},
    "trainer": {"epochs": 10, "early_stopping_patience": 2,
                "augmentation": {"enabled": False},
                "fine_tune": {"epochs_per_step": 5, "patience": 2},
                "pruning": {"fine_tune_epochs": 4, "layers": "all", "retrain_blocks": 1,
                            "learning_rate": 3e-5, "fallback_margin": 0.02,
                            "fallback_retrain_blocks": 3}},
}

# Profile defaults: only the differences from the dataclass defaults above.
PROFILE_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "quick": _QUICK,
    # The seed's settings (GPU / cloud): 224x224, a 9-trial grid x 3 epochs x 3-fold CV, 10
    # epochs with the seven augmentations, constant 0.5 pruning over 3 epochs.
    "full": {
        "model": {"image_size": 224},
        "tuner": {"max_trials": 9, "epochs": 3, "strategy": "auto", "cv_folds": 3},
        "trainer": {"epochs": 10, "early_stopping_patience": 3,
                    "pruning": {"fine_tune_epochs": 3}},
    },
    # The quick profile plus the compression chain benchmarks/compression.py recommends (issue
    # #14, chosen on validation images by a rule fixed before the run; docs/results.md
    # #compression): L1 filter pruning (a quarter of the filters of blocks 1-2, half of blocks
    # 3-5), then magnitude pruning of all 13 conv + 2 dense layers to 80 % (PolynomialDecay
    # 0.3 -> 0.8 over 2/3 of the fine-tune; magnitude score for every layer, as benchmarked:
    # activation_aware was not), each fine-tune at the benchmark's 1e-4; int8 TFLite
    # by post-training quantization. Clustering and PQAT/PCQAT stay off: they did not pass the
    # rule (their rows in docs/results.md).
    "compression": deep_merge(_QUICK, {
        "trainer": {"structured_pruning": {"enabled": True, "fine_tune_epochs": 2,
                                           "learning_rate": 1e-4,
                                           "fractions": {"block1": 0.25, "block2": 0.25,
                                                         "block3": 0.5, "block4": 0.5,
                                                         "block5": 0.5}},
                    "pruning": {"schedule": "polynomial",
                                "initial_sparsity": 0.3, "target_sparsity": 0.8,
                                "ramp_fraction": 0.67, "fine_tune_epochs": 4,
                                "learning_rate": 1e-4, "score": "magnitude",
                                "retrain_blocks": 5,  # as benchmarked
                                "fallback_margin": None}},  # (only acts below 5)
    }),
}


def data_set_name(root: str) -> str:
    """The data root's folder name (`data/fashion_binary` -> `fashion_binary`): the default
    output root is outputs/<it>."""
    name = os.path.basename(os.path.normpath(root.rstrip("/")))
    if name in ("", ".", ".."):  # '/', '.', '..': never outputs/ itself or the project
        return "data"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def abs_path(path: str) -> str:
    """`path` made absolute against the project root (URIs such as gs:// are kept as they are)."""
    if data_layout.is_uri(path):
        return path
    p = Path(os.path.expanduser(path))
    return str(p if p.is_absolute() else (REPO_ROOT / p))


