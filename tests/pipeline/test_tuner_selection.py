"""Which Tuner the pipeline uses: TrialsTuner locally (sequential trials), TFX's Vertex Tuner with
TuneArgs(num_parallel_trials) when compiled for Vertex with `tuner.parallel_trials > 1`. Hermetic:
components are constructed and compiled to KFP v2 JSON, nothing runs, no cloud credentials."""
import json

import pytest

from pipeline.config import load_config

VERTEX = ["vertex.pipeline_root=gs://bkt/tfx", "vertex.default_image=registry/tfx-image:1",
          "vertex.project=my-project", "vertex.region=europe-west4"]


def _tuner(overrides, kubeflow):
    from pipeline.pipeline import create_components
    config = load_config(overrides=overrides)
    comps = create_components(config, "/app/weights/w.h5", "imagenet", kubeflow=kubeflow)
    (tuner,) = [c for c in comps if c.id == "Tuner"]
    return tuner


def test_vertex_with_parallel_trials_uses_the_vertex_tuner():
    from google.protobuf import json_format
    from tfx import v1 as tfx
    from tfx.proto import tuner_pb2

    gcp = tfx.extensions.google_cloud_ai_platform
    tuner = _tuner(VERTEX + ["tuner.parallel_trials=3"], kubeflow=True)
    assert type(tuner) is gcp.Tuner
    tune_args = tuner.exec_properties["tune_args"]  # stored as the proto's JSON
    assert json_format.Parse(tune_args, tuner_pb2.TuneArgs()).num_parallel_trials == 3
    custom = tuner.exec_properties["custom_config"]
    if isinstance(custom, str):
        custom = json.loads(custom)
    pool = custom[gcp.experimental.TUNING_ARGS_KEY]["job_spec"]["worker_pool_specs"][0]
    assert pool["container_spec"]["image_uri"] == "registry/tfx-image:1"
    assert custom[gcp.experimental.TUNING_ARGS_KEY]["project"] == "my-project"
    assert custom[gcp.ENABLE_VERTEX_KEY] is True
    assert custom[gcp.VERTEX_REGION_KEY] == "europe-west4"


@pytest.mark.parametrize("overrides,kubeflow", [
    (["tuner.parallel_trials=3"], False),   # locally trials always run one after another
    (VERTEX, True),                          # Vertex, but no parallel trials asked for
])
def test_otherwise_the_local_trials_tuner(overrides, kubeflow):
    from components.trials_tuner import TrialsTuner
    tuner = _tuner(overrides, kubeflow)
    assert type(tuner) is TrialsTuner
    assert not tuner.exec_properties.get("tune_args")


def test_compiled_vertex_spec_names_the_vertex_tuner(tmp_path):
    from pipeline.kubeflow_v2_runner import compile_pipeline
    config = load_config(overrides=VERTEX + ["tuner.parallel_trials=4"])
    job = compile_pipeline(config, str(tmp_path / "job.json"))
    spec = job.get("pipelineSpec", job)
    executors = spec["deploymentSpec"]["executors"]
    (tuner_exec,) = [v for k, v in executors.items() if k.startswith("Tuner")]
    text = json.dumps(tuner_exec)
    assert "google_cloud_ai_platform.tuner.executor.Executor" in text
    params = json.dumps(spec["root"]["dag"]["tasks"]["Tuner"])
    assert '\\"num_parallel_trials\\": 4' in params or '"num_parallel_trials": 4' in params


@pytest.mark.parametrize("override,message", [
    ("tuner.batch_size=[]", "tuner.batch_size: the search space is empty"),
    ("tuner.head_units=[]", "tuner.head_units: the search space is empty"),
    ("tuner.momentum=[0.9]", "unknown config key tuner.momentum"),
    ("tuner.batch_size=[16.5]", "tuner.batch_size[0]: expected int, got float"),
    ("tuner.learning_rate=0.01", "tuner.learning_rate: expected a list of float"),
    ("tuner.dropout=[0.2, 1.0]", "tuner.dropout: values must be in [0, 1)"),
    ("tuner.unfreeze_blocks=[0, 6]", "tuner.unfreeze_blocks: values must be in 0..5"),
    ("tuner.learning_rate=[0.01, 0.01]", "tuner.learning_rate: duplicate values"),
    ("tuner.parallel_trials=0", "tuner.parallel_trials: expected >= 1"),
])
def test_bad_search_space_is_a_config_error(override, message):
    from pipeline.config import ConfigError
    with pytest.raises(ConfigError) as e:
        load_config(overrides=[override])
    assert message in str(e.value)


def test_optional_dimensions_reach_the_tuner_and_trainer_config():
    from modules.configs import RunConfig
    from pipeline.pipeline import module_config
    config = load_config(overrides=["tuner.head_units=[16, 64]", "tuner.unfreeze_blocks=[0, 2]",
                                    "tuner.learning_rate=[0.001, 0.01]"])
    custom = RunConfig.from_dict(module_config(config, None, "none"))  # through JSON types
    assert custom.tuner.search_space() == {"learning_rate": [0.001, 0.01],
                                           "batch_size": config.tuner.batch_size,
                                           "head_units": [16, 64], "unfreeze_blocks": [0, 2]}
    assert custom.trainer.fine_tune == config.trainer.fine_tune


@pytest.mark.parametrize("overrides,message", [
    (["tuner.strategy=hyperband", "tuner.cv_folds=3"],
     "tuner.cv_folds: 3 with strategy hyperband"),
    (["profile=full", "tuner.strategy=hyperband"],  # the full profile cross-validates
     "tuner.cv_folds: 3 with strategy hyperband"),
    (["tuner.strategy=bayesian", "tuner.max_epochs=9"],
     "tuner.max_epochs: an option of strategy hyperband only (tuner.strategy is bayesian)"),
    (["tuner.strategy=grid", "tuner.num_initial_points=2"],
     "tuner.num_initial_points: an option of strategy bayesian only"),
    (["tuner.alpha=0.001"], "tuner.alpha: an option of strategy bayesian only (tuner.strategy "
                            "is random)"),
    (["tuner.strategy=bayesian", "tuner.max_trials=9"],  # quick profile: 3 x 1 combinations
     "tuner.num_initial_points: 6 initial random points (keras-tuner's default: 3 per tuned "
     "dimension) leave none of the 3 trials"),
    (["tuner.strategy=bayesian", "tuner.max_trials=9", "tuner.num_initial_points=0"],
     "tuner.num_initial_points: expected >= 1"),
    (["tuner.strategy=bayesian", "tuner.max_trials=9", "tuner.beta=-1"],
     "tuner.beta: expected >= 0"),
    (["tuner.strategy=hyperband", "tuner.factor=1"], "tuner.factor: expected >= 2"),
    (["tuner.strategy=hyperband", "tuner.max_epochs=2"],
     "tuner.max_epochs: 2 < tuner.factor 3"),
    (["tuner.strategy=hyperband", "tuner.epochs=3", "tuner.max_epochs=3",
      "tuner.unfreeze_blocks=[0, 2]"], "so no trial would reach it"),
    (["tuner.strategy=hyperband", "tuner.max_epochs=nine"], "tuner.max_epochs: expected int"),
])
def test_nonsense_strategy_combinations_are_config_errors(overrides, message):
    from pipeline.config import ConfigError
    with pytest.raises(ConfigError) as e:
        load_config(overrides=overrides)
    assert message in str(e.value)


@pytest.mark.parametrize("overrides,options", [
    (["tuner.strategy=bayesian", "tuner.max_trials=5", "tuner.num_initial_points=2",
      "tuner.alpha=0.001", "tuner.beta=1", "tuner.batch_size=[16, 32, 64]"],
     {"num_initial_points": 2, "alpha": 0.001, "beta": 1}),
    (["tuner.strategy=bayesian", "tuner.max_trials=9", "tuner.batch_size=[16, 32, 64]"],
     {}),  # keras-tuner's default: 3 x 2 dimensions = 6 initial points < 9 trials
    (["tuner.strategy=hyperband", "tuner.max_epochs=4", "tuner.factor=2",
      "tuner.hyperband_iterations=2", "tuner.unfreeze_blocks=[0, 2]"],
     {"max_epochs": 4, "factor": 2, "hyperband_iterations": 2}),
])
def test_strategy_options_reach_the_tuner(overrides, options, tmp_path):
    from modules import tuning
    from modules.configs import RunConfig
    from pipeline.pipeline import module_config
    config = load_config(overrides=overrides)
    custom = RunConfig.from_dict(module_config(config, None, "none"))  # through JSON types
    assert custom.tuner.strategy_options() == options
    tuner = tuning.make_tuner(custom, str(tmp_path))
    oracle = tuner.oracle
    if custom.tuner.strategy == "bayesian":
        assert (oracle.num_initial_points, oracle.max_trials) == (
            options.get("num_initial_points"), min(custom.tuner.max_trials, 9))
        assert oracle.beta == options.get("beta", 2.6) and oracle.seed == custom.tuner.seed
        assert oracle.alpha == options.get("alpha", 1e-4)
    else:
        assert (oracle.max_epochs, oracle.factor, oracle.hyperband_iterations) == (4, 2, 2)
        assert oracle.max_trials == oracle.schedule_trials()


@pytest.mark.parametrize("overrides,expected", [
    ([], "random"),                    # quick: 3 combinations, 2 trials
    (["profile=full"], "grid"),        # full: 9 combinations, 9 trials
    (["tuner.max_trials=3"], "grid"),  # the budget covers the space
    (["tuner.batch_size=[16, 32, 64]", "tuner.head_units=[64, 256]", "tuner.dropout=[0.2, 0.5]",
      "tuner.max_trials=18"], "random"),  # 36 combinations, 18 trials
    (["tuner.batch_size=[16, 32, 64]", "tuner.head_units=[64, 256]", "tuner.dropout=[0.2, 0.5]",
      "tuner.max_trials=36"], "grid"),
    (["tuner.strategy=hyperband"], "hyperband"),  # a named strategy is kept
    (["profile=full", "tuner.strategy=random"], "random"),
])
def test_auto_strategy_resolves_by_space_size_and_budget(overrides, expected):
    """`tuner.strategy: auto` (both profiles' default) is resolved when the config is loaded,
    by the rule benchmarks/tuning.py measured (docs/results.md): grid when max_trials covers
    every combination, else random."""
    from modules import tuner_strategies
    config = load_config(overrides=overrides)
    assert config.tuner.strategy == expected
    assert config.tuner.strategy in tuner_strategies.STRATEGIES


def test_profiles_default_to_auto():
    from pipeline.config.schema import PROFILE_DEFAULTS
    assert {p: d["tuner"]["strategy"] for p, d in PROFILE_DEFAULTS.items()} == {
        "quick": "auto", "full": "auto", "compression": "auto"}
