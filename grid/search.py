"""Optuna over the searched parameters of one cell, through Ray Tune's OptunaSearch.

`suggest` is the define-by-run space: module-level so Tune can pickle the searcher into its experiment checkpoint
(a closure or a function from __main__ breaks `--resume`; shared/research/ecosystem.md §1.4), bound per cell with
functools.partial. A fresh searcher per cell: grid_search and OptunaSearch cannot share one param_space.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import optuna
from ray.tune.search.optuna import OptunaSearch

from grid.space import Cell, Distribution, Search, applies_to


def suggest(trial: optuna.Trial, params: Mapping[str, Distribution], constants: Mapping[str, Any]) -> dict[str, Any]:
    """Suggest every searched parameter; return the cell's constants, which Tune merges into the trial config."""
    for key, dist in params.items():
        if dist.kind == "uniform":
            trial.suggest_float(key, *dist.args)
        elif dist.kind == "loguniform":
            trial.suggest_float(key, *dist.args, log=True)
        elif dist.kind == "randint":
            trial.suggest_int(key, *dist.args)
        else:
            trial.suggest_categorical(key, list(dist.args))
    return dict(constants)


def make_sampler(search: Search) -> optuna.samplers.BaseSampler:
    """TPE by default (Optuna 5: multivariate and constant-liar on, which suits parallel trials)."""
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=search.seed)
    if search.sampler == "gp":
        return optuna.samplers.GPSampler(seed=search.seed)
    return optuna.samplers.TPESampler(seed=search.seed)


def make_searcher(cell: Cell, constants: Mapping[str, Any]) -> OptunaSearch:
    params = {k: d for k, d in cell.study.searched.items() if applies_to(k, cell.method)}
    return OptunaSearch(
        space=functools.partial(suggest, params=params, constants=dict(constants)),
        metric=cell.metric,
        mode=cell.mode,
        sampler=make_sampler(cell.study.search),
    )
