"""keras-tuner's Bayesian and Hyperband oracles, completed for the Tuner's finite Choice spaces
(modules/tuner_strategies.py builds them; modules/tuning.py runs their trials).

- `CompleteBayesianOracle`: keras-tuner's `BayesianOptimizationOracle` (its seeded Gaussian
  process, alpha, beta and initial random points) never repeating a combination. keras-tuner
  maximises the upper confidence bound over a continuous relaxation and rounds it to a
  combination, which in a 9-combination space proposes a tried one again and again; here the
  bound is evaluated on every untried combination and the best is taken (exact in a finite space).
  The initial points are drawn, seeded, among the untried combinations.
- `CompleteHyperbandOracle`: keras-tuner's `HyperbandOracle` whose brackets never hold a
  combination twice and never ask for more first-round trials than the space has (keras-tuner
  draws at random against every combination tried in any bracket and stops the search after 20
  repeats: in a 9-combination space the second bracket never started). Its `max_trials` is the
  exact number of trials its brackets run (TFX's result writer needs an integer).
"""
from __future__ import annotations

import itertools
import random
from typing import Any, Dict, List, Tuple

import keras_tuner
import numpy as np

RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING
STOPPED = keras_tuner.engine.trial.TrialStatus.STOPPED


def combinations(hyperparameters) -> List[Dict[str, Any]]:
    """Every combination of a space of Choice entries, in grid order."""
    names = [hp.name for hp in hyperparameters.space]
    return [dict(zip(names, combo))
            for combo in itertools.product(*[hp.values for hp in hyperparameters.space])]


def _key(values: Dict[str, Any]) -> Tuple:
    """A combination's identity: its tuned values, without Hyperband's `tuner/*` entries."""
    return tuple(sorted((k, v) for k, v in values.items() if not k.startswith("tuner/")))


class CompleteBayesianOracle(keras_tuner.oracles.BayesianOptimizationOracle):
    """Bayesian optimization over the untried combinations (see the module docstring)."""

    def populate_space(self, trial_id):
        tried = {_key(t.hyperparameters.values) for t in self.trials.values()}
        untried = [v for v in combinations(self.hyperparameters) if _key(v) not in tried]
        if not untried:
            return {"status": STOPPED, "values": None}
        completed = [t for t in self.trials.values() if t.status == "COMPLETED"]
        initial = self.num_initial_points or max(3 * len(self.hyperparameters.space), 3)
        if len(completed) < initial:
            rng = random.Random(f"{self.seed}-{len(self.trials)}")
            return {"status": RUNNING, "values": rng.choice(untried)}
        x, y = self._vectorize_trials()
        self.gpr.fit(np.nan_to_num(x, posinf=0, neginf=0), np.nan_to_num(y, posinf=0, neginf=0))
        space = self._nonfixed_space()
        candidates = np.array([[hp.value_to_prob(v[hp.name]) for hp in space] for v in untried])
        mu, sigma = self.gpr.predict(candidates, return_std=True)
        # keras-tuner's acquisition: scores are negated when maximising, lower is better
        best = int(np.argmin(np.asarray(mu).ravel() - self.beta * np.asarray(sigma).ravel()))
        return {"status": RUNNING, "values": untried[best]}


class CompleteHyperbandOracle(keras_tuner.oracles.HyperbandOracle):
    """Hyperband whose brackets fit the space (see the module docstring)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.max_trials = self.schedule_trials()

    def _get_size(self, bracket_num, round_num):
        return min(super()._get_size(bracket_num, round_num),
                   len(combinations(self.hyperparameters)))

    def schedule_trials(self) -> int:
        """Trials the whole search runs: every round of every bracket, per iteration."""
        brackets = self._get_num_brackets()
        per_iteration = sum(self._get_size(b, r) for b in range(brackets) for r in range(b + 1))
        return int(per_iteration * self.hyperband_iterations)

    def schedule_epochs(self) -> int:
        """Epochs the whole search trains (a promoted trial resumes: only its new epochs)."""
        total = 0
        for b in range(self._get_num_brackets()):
            for r in range(b + 1):
                previous = self._get_epochs(b, r - 1) if r else 0
                total += self._get_size(b, r) * (self._get_epochs(b, r) - previous)
        return int(total * self.hyperband_iterations)

    def _random_trial(self, trial_id, bracket):
        first_round = bracket["rounds"][0]
        used = {_key(self.trials[info["id"]].hyperparameters.values) for info in first_round
                if info["id"] in self.trials}
        untried = [v for v in combinations(self.hyperparameters) if _key(v) not in used]
        if not untried:  # cannot happen: first rounds are capped at the space's size
            return {"status": STOPPED}
        values = dict(random.Random(f"{self.seed}-{len(self.trials)}").choice(untried))
        values.update({"tuner/epochs": self._get_epochs(bracket["bracket_num"], 0),
                       "tuner/initial_epoch": 0, "tuner/bracket": self._current_bracket,
                       "tuner/round": 0})
        first_round.append({"past_id": None, "id": trial_id})
        return {"status": RUNNING, "values": values}
