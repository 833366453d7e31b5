"""What runs next: one Ray Tune searcher hands out the trials of every cell of a space, grid and searched alike.

The whole space is one Tuner (ours; one Tuner per searched cell, one after another, kept 10% of a 16-slot cluster
busy). On every free slot the searcher walks the cells in schedule order (`schedule_order`) and starts the next
trial of the first cell that may start one: a grid cell's only trial, or the next Optuna suggestion of a searched
cell that is below its own `search.max_concurrent`. Each searched cell has its own Optuna study, so a sampler only
ever sees its own cell's trials.

A cell's MLflow parent run is opened when its first trial is handed out and closed, holding its best finished
trial, when its last trial ends: results appear cell by cell while the grid runs, and a 5,000-cell space starts
trials at once instead of creating 5,000 runs first.

`--resume` starts from MLflow, the record every trial writes as it ends, not from Tune's periodic experiment
snapshot (which can predate the last trials before a crash, and needs storage every node shares): a finished
cell is skipped; in an unfinished one, finished trials count and join the cell's Optuna study, so the search goes
on from the trials it had; trials that were cut off or failed run again in their own MLflow run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial
from ray.tune.search import Searcher

from grid.importance import (
    SLICE_ARTIFACT,
    importance_metrics,
    param_importances,
    slice_figure,
    slice_points,
    sliced_params,
)
from grid.naming import trial_label
from grid.space import Cell, Distribution, Search, applies_to
from grid.tracking import GridTracking

log = logging.getLogger(__name__)


def schedule_order(cells: Sequence[Cell]) -> list[Cell]:
    """Seed by seed, then shot count by shot count (each in the order the space first lists it), every study and
    dataset of that (seed, shots) together (ours). A complete one-seed table of every method and dataset is in MLflow
    after about 1/len(seeds) of the run, its first shot-count row first; later seeds tighten its error bars."""
    seeds = list(dict.fromkeys(c.constants["seed"] for c in cells))
    shots = list(dict.fromkeys(c.constants["shots"] for c in cells))
    rank = {id(c): i for i, c in enumerate(cells)}
    return sorted(
        cells,
        key=lambda c: (seeds.index(c.constants["seed"]), shots.index(c.constants["shots"]), c.study_index, rank[id(c)]),
    )


def make_sampler(search: Search) -> optuna.samplers.BaseSampler:
    """TPE by default (Optuna 5: multivariate and constant-liar on, which suits parallel trials)."""
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=search.seed)
    if search.sampler == "gp":
        return optuna.samplers.GPSampler(seed=search.seed)
    return optuna.samplers.TPESampler(seed=search.seed)


def optuna_distributions(cell: Cell) -> dict[str, BaseDistribution]:
    """The cell's searched parameters (those of its own method) as Optuna distributions."""
    out: dict[str, BaseDistribution] = {}
    for key, dist in cell.study.searched.items():
        if applies_to(key, cell.method):
            out[key] = _optuna_distribution(dist)
    return out


def _optuna_distribution(dist: Distribution) -> BaseDistribution:
    if dist.kind == "uniform":
        return FloatDistribution(*dist.args)
    if dist.kind == "loguniform":
        return FloatDistribution(*dist.args, log=True)
    if dist.kind == "randint":
        return IntDistribution(*dist.args)
    return CategoricalDistribution(list(dist.args))


def parse_param(dist: BaseDistribution, text: str) -> Any:
    """A searched value back from its MLflow param string (MLflow stores params as text)."""
    if isinstance(dist, FloatDistribution):
        return float(text)
    if isinstance(dist, IntDistribution):
        return int(text)
    for choice in dist.choices:
        if ("null" if choice is None else str(choice)) == text:
            return choice
    raise ValueError(f"{text!r} is none of the choices {dist.choices}")


@dataclass
class CellState:
    """What the searcher knows of one cell."""

    parent_run_id: str | None = None
    launched: int = 0  # trials handed out (or adopted from MLflow), at most the cell's budget
    live: dict[str, dict[str, Any]] = field(default_factory=dict)  # trial id -> its searched values
    reruns: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (MLflow run id, values) to run again
    finished: dict[str, tuple[str, float | None]] = field(default_factory=dict)  # trial id -> (run id, its metric)
    failed: set[str] = field(default_factory=set)
    steps: dict[str, dict[int, float]] = field(default_factory=dict)  # live trial id -> {epoch: metric}
    history: list[dict[str, Any]] = field(default_factory=list)  # the Optuna trials told so far, in order
    closed: bool = False


class CellSearcher(Searcher):
    """One Tune searcher for all cells of a space (see the module docstring). Tune wraps it in a ConcurrencyLimiter
    when `--max-concurrent` is given; the per-cell limits are its own."""

    def __init__(self, cells: Sequence[Cell], tracking: GridTracking, resume: bool = False):
        super().__init__()
        self._cells = schedule_order(cells)
        self._by_id = {c.id: c for c in self._cells}
        self._tracking = tracking
        self._states: dict[str, CellState] = {}
        self._cell_of: dict[str, str] = {}  # trial id -> cell id
        self._first_open = 0  # every cell before this index has handed out all its trials
        self._studies: dict[str, tuple[optuna.Study, dict[str, optuna.Trial]]] = {}
        self._needs_reconcile = resume

    # ------------------------------------------------------------------------------------------- Tune's interface

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # every cell has its own metric and mode

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._needs_reconcile:
            self._reconcile()
        while self._first_open < len(self._cells) and self._exhausted(self._cells[self._first_open]):
            self._first_open += 1
        if self._first_open == len(self._cells):
            return Searcher.FINISHED
        for i in range(self._first_open, len(self._cells)):
            cell = self._cells[i]
            if self._exhausted(cell):
                continue
            state = self._state(cell)
            cap = cell.study.search.max_concurrent if cell.study.search else None
            if cap is not None and len(state.live) >= cap:
                continue
            return self._launch(cell, state, trial_id)
        return None  # every cell with trials left is at its own concurrency limit: wait for a trial to end

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        cell = self._cell(trial_id)
        if cell is None or cell.study.search is None or cell.metric not in result or "epoch" not in result:
            return
        trial = self._study(cell)[1].get(trial_id)
        steps = self._state(cell).steps.setdefault(trial_id, {})
        step = int(result["epoch"])
        if trial is not None and step not in steps:  # a retried trial reports its epochs again
            steps[step] = float(result[cell.metric])
            trial.report(steps[step], step)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        cell = self._cell(trial_id)
        if cell is None or trial_id not in self._state(cell).live:  # unknown, or told twice
            return
        state = self._state(cell)
        result = result or {}
        params = state.live.pop(trial_id)
        if error:
            state.failed.add(trial_id)
            self._tell(cell, trial_id, params, TrialState.FAIL, None)
        elif "mlflow_run_id" not in result:  # stopped by the cell's scheduler: no test metrics
            self._tracking.mark_stopped_early(state.parent_run_id, trial_id, cell.study.scheduler.type)
            last = state.steps.get(trial_id, {})
            self._tell(cell, trial_id, params, TrialState.PRUNED, last[max(last)] if last else None)
        else:
            value = result.get(cell.metric)
            state.finished[trial_id] = (result["mlflow_run_id"], value)
            self._tell(cell, trial_id, params, TrialState.COMPLETE if value is not None else TrialState.FAIL, value)
        state.steps.pop(trial_id, None)
        if state.launched >= cell.num_trials and not state.live:
            self._close(cell, state)

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: `--resume` rebuilds from MLflow (see the module docstring)."""

    # ----------------------------------------------------------------------------------------------- bookkeeping

    def _state(self, cell: Cell) -> CellState:
        state = self._states.get(cell.id)
        if state is None:
            state = self._states[cell.id] = CellState()
        return state

    def _exhausted(self, cell: Cell) -> bool:
        state = self._states.get(cell.id)
        return state is not None and (state.closed or state.launched >= cell.num_trials)

    def _cell(self, trial_id: str) -> Cell | None:
        cell_id = self._cell_of.get(trial_id)
        return self._by_id.get(cell_id) if cell_id is not None else None

    def _launch(self, cell: Cell, state: CellState, trial_id: str) -> dict[str, Any]:
        if state.parent_run_id is None:
            state.parent_run_id = self._tracking.open_parent(cell)
        rerun_of, params = state.reruns.pop(0) if state.reruns else (None, {})
        if cell.study.search is not None:
            study, asked = self._study(cell)
            if rerun_of is not None:
                study.enqueue_trial(params)  # the cut-off trial's own values, asked again
            trial = study.ask(optuna_distributions(cell))
            asked[trial_id] = trial
            params = dict(trial.params)
        state.launched += 1
        state.live[trial_id] = params
        self._cell_of[trial_id] = cell.id
        index = state.launched if cell.study.search is not None else None
        grid = {
            "grid.cell": cell.id,
            "grid.parent_run_id": state.parent_run_id,
            "grid.metric": cell.metric,
            "grid.study": cell.study_index,
            "grid.rerun_of": rerun_of,
            "grid.run_name": trial_label(cell.label or cell.id, index, params),
        }
        return {**cell.point, **params, **grid}  # the trial adds the rest of its constants (grid.trials)

    def _close(self, cell: Cell, state: CellState) -> None:
        """The cell's last trial ended: its parent run gets the best finished trial (never a stopped one). Among equal
        values the earliest trial wins, as in Optuna's best_trial: small validation sets often tie."""
        pick = max if cell.mode == "max" else min
        scored = [(value, run_id) for run_id, value in state.finished.values() if value is not None]
        best = pick(scored, key=lambda s: s[0]) if scored else None  # max/min keep the first of equals
        run = self._tracking.get_run(best[1]) if best else None  # its metrics as the trial logged them
        if cell.study.search is not None:
            self._log_importances(cell, state)
        self._tracking.close_parent(
            state.parent_run_id,
            run,
            errors=len(state.failed),
            trials=state.launched,
            searched=list(optuna_distributions(cell)),
        )
        if cell.study.search is not None:
            self._tracking.log_search_history(state.parent_run_id, state.history)
        state.closed = True
        self._studies.pop(cell.id, None)
        shown = f"best {cell.metric}={best[0]:.4f}" if best else "no finished trial"
        print(
            f"[grid] cell done: {cell.id}  {shown} ({state.launched} trial(s), {len(state.failed)} failed)", flush=True
        )

    def _log_importances(self, cell: Cell, state: CellState) -> None:
        """The fANOVA importances of the cell's study and its slice plot, on its parent (grid/importance.py). They
        only describe the search: if they fail, the cell and the grid go on without them."""
        try:
            study = self._study(cell)[0]
            importances = param_importances(study)
            points = slice_points(study)
            params = sliced_params(optuna_distributions(cell))
            figure = slice_figure({cell.id: points}, params, cell.metric, importances) if points else None
            self._tracking.log_importances(state.parent_run_id, importance_metrics(importances), figure, SLICE_ARTIFACT)
        except Exception:  # whatever it is: the importances describe the search, they are no result of it
            log.warning("[grid] no parameter importances for cell %s", cell.id, exc_info=True)

    # ---------------------------------------------------------------------------------------------------- Optuna

    def _study(self, cell: Cell) -> tuple[optuna.Study, dict[str, optuna.Trial]]:
        """The cell's Optuna study, created at its first trial; on resume, first filled with the trials of the earlier
        attempt (its history, adopted from MLflow), so the sampler continues from them."""
        if cell.id not in self._studies:
            state = self._state(cell)
            search = cell.study.search
            study = optuna.create_study(
                direction="maximize" if search.mode == "max" else "minimize", sampler=make_sampler(search)
            )
            dists = optuna_distributions(cell)
            for row in state.history:
                study.add_trial(
                    create_trial(
                        params=row["params"],
                        distributions=dists,
                        value=row["value"],
                        state=TrialState[row["state"]],
                        intermediate_values=row.get("intermediate") or None,
                    )
                )
            asked = {}
            for trial_id, params in state.live.items():
                study.enqueue_trial(params)
                asked[trial_id] = study.ask(dists)
                for step, value in sorted(state.steps.get(trial_id, {}).items()):
                    asked[trial_id].report(value, step)
            self._studies[cell.id] = (study, asked)
        return self._studies[cell.id]

    def _tell(self, cell: Cell, trial_id: str, params: dict | None, state: TrialState, value: float | None) -> None:
        if cell.study.search is None:
            return
        study, asked = self._study(cell)
        trial = asked.pop(trial_id, None)
        if state == TrialState.FAIL:
            value = None
        if trial is not None:
            study.tell(trial, value if state != TrialState.PRUNED else None, state=state)
            params = trial.params
        elif params is None:  # a trial that ended before (a resumed errored trial): a new entry in the study
            return
        else:
            study.add_trial(
                create_trial(params=params, distributions=optuna_distributions(cell), value=value, state=state)
            )
        steps = self._state(cell).steps.get(trial_id) or {}
        self._state(cell).history.append(
            {
                "number": len(self._state(cell).history),
                "trial_id": trial_id,
                "params": dict(params),
                "state": state.name,
                "value": value,
                "intermediate": dict(steps),
            }
        )

    # ---------------------------------------------------------------------------------------------------- resume

    def _reconcile(self) -> None:
        """On `--resume`, take up each cell where MLflow says it is (see the module docstring)."""
        self._needs_reconcile = False
        parents = self._tracking.parents_by_cell()
        children = self._tracking.trials_by_parent()
        for cell in self._cells:
            run = parents.get(cell.id)
            if run is None:
                continue
            state = self._state(cell)
            state.parent_run_id = run.info.run_id
            if run.info.status == "FINISHED":
                state.closed = True
                continue
            self._tracking.reopen_parent(run.info.run_id)
            for child in children.get(run.info.run_id, []):
                if state.launched >= cell.num_trials:
                    break
                self._adopt(cell, state, child)
            if state.launched >= cell.num_trials and not state.live:
                self._close(cell, state)

    def _adopt(self, cell: Cell, state: CellState, run: Any) -> None:
        """One trial run of the earlier attempt: finished or stopped early, it counts as it ended; cut off (still
        RUNNING) or FAILED, it runs again in the same MLflow run."""
        dists = optuna_distributions(cell)
        params = {k: parse_param(d, run.data.params[k]) for k, d in dists.items() if k in run.data.params}
        status, tags = run.info.status, run.data.tags
        if status not in ("FINISHED", "KILLED") or (status == "KILLED" and "grid.stopped_by" not in tags):
            state.reruns.append((run.info.run_id, params))
            return
        trial_id = tags.get("grid.trial_id", run.info.run_id)
        state.launched += 1
        self._cell_of[trial_id] = cell.id
        value = run.data.metrics.get(cell.metric)
        if status == "KILLED":
            self._tell(cell, trial_id, params, TrialState.PRUNED, value)
        else:
            state.finished[trial_id] = (run.info.run_id, value)
            self._tell(cell, trial_id, params, TrialState.COMPLETE if value is not None else TrialState.FAIL, value)
