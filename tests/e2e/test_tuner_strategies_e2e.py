"""End to end: the Tuner's Hyperband, Bayesian and random strategies through the real pipeline.

The real LocalDagRunner (real MLMD, real Beam) over the shared tiny tree (`e2e_tree`), stopped
after the Trainer (a partial run: the Evaluator and ExportPusher add nothing about the Tuner and
are the `runs` fixture's business). Three runs on one output root: the later ones reuse the
first's upstream outputs from TFX's cache, so only the Tuner and the Trainer execute again:

1. `tuner.strategy=hyperband`, 2 learning rates, `max_epochs` 2, `factor` 2: bracket 1 trains
   both for 1 epoch and resumes the better from its checkpoint for epoch 2; bracket 0 trains
   both for 2 epochs (5 trials, 6 epochs);
2. `tuner.strategy=bayesian` on 2 x 2 combinations, 3 trials, 2 of them random initial points:
   the third is chosen by the Gaussian process among the 2 untried;
3. `tuner.strategy=random`, 2 of the 2 x 2 combinations.

(`grid` is what every other end-to-end run resolves `auto` to: one combination, one trial.)

Each run's assertions read the Tuner's real outputs (the trials table in `tuner_results`,
`best_hyperparameters`) and what the Trainer made of them (the artifact it consumed, in MLMD,
and the hyperparameters in its training_summary.json).
"""
import json
import os
from typing import Any, Dict

import pytest
from ml_metadata.proto import metadata_store_pb2

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

UPSTREAM = ["ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform"]
STRATEGIES = {
    "hyperband": ["tuner.strategy=hyperband", "tuner.learning_rate=[0.001,0.01]",
                  "tuner.batch_size=[16]", "tuner.max_epochs=2", "tuner.factor=2"],
    "bayesian": ["tuner.strategy=bayesian", "tuner.learning_rate=[0.001,0.01]",
                 "tuner.batch_size=[16,32]", "tuner.max_trials=3",
                 "tuner.num_initial_points=2"],
    "random": ["tuner.strategy=random", "tuner.learning_rate=[0.001,0.01]",
               "tuner.batch_size=[16,32]", "tuner.max_trials=2"],
}


def _executions(store, pipeline_name, node):
    """The node's MLMD executions, oldest first."""
    ctx = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node}")
    return sorted(store.get_executions_by_context(ctx.id), key=lambda e: e.id) if ctx else []


def _artifacts(store, execution, event_type) -> Dict[str, Any]:
    """{artifact type name: artifact} of the execution's events of `event_type`."""
    events = [e for e in store.get_events_by_execution_ids([execution.id])
              if e.type == event_type]
    artifacts = store.get_artifacts_by_id([e.artifact_id for e in events])
    types = {t.id: t.name for t in store.get_artifact_types_by_id(
        list({a.type_id for a in artifacts}))}
    return {types[a.type_id]: a for a in artifacts}


def _run_to_trainer(config) -> None:
    """One LocalDagRunner run of the pipeline's nodes up to the Trainer (without TFX's
    per-component sdist, as `python -m pipeline run`)."""
    from tfx.orchestration import pipeline as pipeline_py
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.beam_dependencies import skip_tfx_package_for_in_process_beam
    from pipeline.pipeline import create_pipeline
    skip_tfx_package_for_in_process_beam()
    LocalDagRunner().run(
        create_pipeline(config), run_options=pipeline_py.RunOptions(to_nodes=["Trainer"]))


@pytest.fixture(scope="module")
def strategy_runs(e2e_tree, fast_run_overrides, tmp_path_factory):
    """{strategy: its run's facts}: the Tuner's and the Trainer's new executions, the Tuner's
    trials rows and best hyperparameters, the Trainer's input artifact and training summary."""
    from pipeline.config import load_config
    from pipeline.mlmd import open_store
    out = tmp_path_factory.mktemp("tuner_strategies")
    base = [o for o in fast_run_overrides if not o.startswith("tuner.")] + [
        "tuner.epochs=1", "trainer.epochs=1", "trainer.pruning.enabled=false",
        "trainer.fine_tune.unfreeze_blocks=0"]
    facts, seen = {}, {node: 0 for node in ["Tuner", "Trainer", *UPSTREAM]}
    for name, overrides in STRATEGIES.items():
        config = load_config(overrides=[f"data.root={e2e_tree}", f"output.root={out}", *base,
                                        *overrides])
        assert config.tuner.strategy == name
        _run_to_trainer(config)
        store = open_store(config.metadata_path)
        by_node = {node: _executions(store, config.pipeline_name, node) for node in seen}
        new = {node: by_node[node][seen[node]:] for node in seen}
        seen = {node: len(by_node[node]) for node in seen}
        (tuner,), (trainer,) = new["Tuner"], new["Trainer"]
        tuner_out = _artifacts(store, tuner, metadata_store_pb2.Event.OUTPUT)
        with open(os.path.join(tuner_out["TunerResults"].uri, "trials.json"), encoding="utf-8") as f:
            rows = json.load(f)
        with open(os.path.join(tuner_out["HyperParameters"].uri,
                               "best_hyperparameters.txt"), encoding="utf-8") as f:
            best = json.load(f)["values"]
        trainer_in = _artifacts(store, trainer, metadata_store_pb2.Event.INPUT)
        trainer_out = _artifacts(store, trainer, metadata_store_pb2.Event.OUTPUT)
        with open(os.path.join(trainer_out["Model"].uri, "training_summary.json"), encoding="utf-8") as f:
            summary = json.load(f)
        facts[name] = {"config": config, "new": new, "tuner": tuner, "trainer": trainer,
                       "tuner_out": tuner_out, "rows": rows, "best": best,
                       "trainer_in": trainer_in, "summary": summary}
    return facts


def _tuned(values: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_the_tuner_and_trainer_ran_and_only_they_reran(strategy_runs, name):
    run = strategy_runs[name]
    complete = metadata_store_pb2.Execution.COMPLETE
    assert run["tuner"].last_known_state == complete
    assert run["trainer"].last_known_state == complete
    assert os.path.isfile(os.path.join(run["tuner_out"]["TunerResults"].uri, "trials.png"))
    if name != list(STRATEGIES)[0]:  # a later run: the upstream nodes came from the cache
        for node in UPSTREAM:
            (execution,) = run["new"][node]
            assert execution.last_known_state == metadata_store_pb2.Execution.CACHED, node


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_the_trainer_trains_with_the_tuners_best_hyperparameters(strategy_runs, name):
    """The HyperParameters artifact the Trainer consumed is this run's Tuner output; its values
    are those of a trial with the best score, and the Trainer trained with them (Hyperband's
    tuner/* bookkeeping dropped)."""
    run = strategy_runs[name]
    consumed = run["trainer_in"]["HyperParameters"]
    assert consumed.id == run["tuner_out"]["HyperParameters"].id
    best_score = max(r["mean"] for r in run["rows"])
    assert _tuned(run["best"]) in [r["hyperparameters"] for r in run["rows"]
                                   if r["mean"] == best_score]
    hp = run["summary"]["hyperparameters"]
    assert hp.pop("source") == "tuner"
    assert hp == _tuned(run["best"])


def test_hyperband_trials_train_their_epochs_and_one_resumes(strategy_runs):
    """The trials table of a real pipeline run: each trial trained exactly its `tuner/epochs`
    budget from its `tuner/initial_epoch`, and the promoted trial resumed at epoch 1 from the
    checkpoint of the bracket's better first-round trial."""
    run = strategy_runs["hyperband"]
    rows = run["rows"]
    assert [(r["epochs"], r["initial_epoch"]) for r in rows] == [(1, 0), (1, 0), (1, 1),
                                                                  (2, 0), (2, 0)]
    assert all(r["status"] == "COMPLETED" and r["mean"] is not None for r in rows)
    assert all(not any(k.startswith("tuner/") for k in r["hyperparameters"]) for r in rows)
    (resumed,) = [r for r in rows if r["resumed_from"] is not None]
    assert resumed["initial_epoch"] == 1
    first_round = rows[:2]
    (past,) = [r for r in first_round if r["trial_id"] == resumed["resumed_from"]]
    assert past["hyperparameters"] == resumed["hyperparameters"]
    assert past["mean"] == max(r["mean"] for r in first_round)
    # both learning rates in each bracket's first round
    assert {r["hyperparameters"]["learning_rate"] for r in first_round} == {0.001, 0.01}
    assert {r["hyperparameters"]["learning_rate"] for r in rows[3:]} == {0.001, 0.01}
    # best_hyperparameters.txt keeps the best trial's bookkeeping (the Trainer drops it)
    best = run["best"]
    assert (best["tuner/epochs"], best["tuner/initial_epoch"]) in {(1, 0), (2, 1), (2, 0)}
    if "tuner/trial_id" in best:  # the best was the resumed trial
        assert best["tuner/trial_id"] == resumed["resumed_from"]


@pytest.mark.parametrize("name,trials", [("bayesian", 3), ("random", 2)])
def test_trials_are_distinct_full_length_and_fresh(strategy_runs, name, trials):
    """max_trials distinct combinations of the 2 x 2 space, each trained tuner.epochs from
    scratch: no budget, no resumption."""
    run = strategy_runs[name]
    rows = run["rows"]
    assert len(rows) == trials == run["config"].tuner.max_trials
    combos = [(r["hyperparameters"]["learning_rate"], r["hyperparameters"]["batch_size"])
              for r in rows]
    assert len(set(combos)) == trials, combos
    assert set(combos) <= {(lr, b) for lr in (0.001, 0.01) for b in (16, 32)}
    assert all(r["status"] == "COMPLETED" for r in rows)
    assert [(r["epochs"], r["initial_epoch"], r["resumed_from"]) for r in rows] == \
        [(1, 0, None)] * trials
    assert not any(k.startswith("tuner/") for k in run["best"])
