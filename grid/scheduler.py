"""Early stopping within a cell, never across cells, in the one Tuner that runs a whole space.

A cell's ASHA brackets compare its own trials only (same dataset, shots and seed): a shared ASHA would stop a
Pascal Sentence trial because a Wikipedia trial scored higher. Each cell with `scheduler: {type: asha}` gets its own
`ASHAScheduler`, created when its first trial is added; every other trial runs first-in first-out. The scheduler also
gives each trial its own study's `max_failures` (one Tuner has one FailureConfig).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from grid.space import Study


class PerCellScheduler(FIFOScheduler):
    """FIFO across cells; ASHA within each cell that asks for it. Trials name their cell and study in their config
    (`grid.cell`, `grid.study`, `grid.metric`)."""

    def __init__(self, studies: Sequence[Study]):
        super().__init__()
        self._studies = list(studies)
        self._asha: dict[str, ASHAScheduler] = {}  # cell id -> its brackets
        self._asha_of: dict[str, ASHAScheduler] = {}  # trial id -> its cell's brackets

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        study = self._studies[trial.config["grid.study"]]
        trial.max_failures = study.max_failures
        if study.scheduler.type != "asha":
            return
        cell = trial.config["grid.cell"]
        asha = self._asha.get(cell)
        if asha is None:
            s = study.scheduler
            asha = self._asha[cell] = ASHAScheduler(
                metric=trial.config["grid.metric"],
                mode=study.search.mode,
                grace_period=s.grace_period,
                reduction_factor=s.reduction_factor,
                max_t=s.max_t,
            )
        asha.on_trial_add(tune_controller, trial)
        self._asha_of[trial.trial_id] = asha

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        asha = self._asha_of.get(trial.trial_id)
        return asha.on_trial_result(tune_controller, trial, result) if asha else TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        asha = self._asha_of.pop(trial.trial_id, None)
        if asha is not None:
            asha.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        asha = self._asha_of.pop(trial.trial_id, None)
        if asha is not None:
            asha.on_trial_remove(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        # Tune calls this before a retry too, then adds the trial again (to a bracket of its cell's ASHA).
        self.on_trial_remove(tune_controller, trial)
