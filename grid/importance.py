"""Which searched parameters mattered in a searched cell: fANOVA importances of its Optuna study, and slice plots.

fANOVA (Optuna's FanovaImportanceEvaluator, fixed seed, so a rerun gives the same numbers) over the COMPLETE trials
only: a pruned trial's value comes from fewer epochs and a failed one has none. With fewer than 2 complete trials, no
searched parameter that varied, or one objective value for all, there is nothing to attribute: no importances.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from matplotlib.figure import Figure  # Figure.savefig renders with Agg; no pyplot global state
from matplotlib.ticker import NullFormatter
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.importance import FanovaImportanceEvaluator, get_param_importances
from optuna.trial import FrozenTrial, TrialState, create_trial

FANOVA_SEED = 0
METRIC_PREFIX = "importance/"  # a searched cell's parent run holds `importance/<param>` per searched parameter
SLICE_ARTIFACT = "search/slice.png"  # ... and its slice plot


@dataclass(frozen=True)
class SlicePoint:
    """One complete trial: its searched values and the objective (the cell's search metric) it reached."""

    values: Mapping[str, Any]
    objective: float


def complete_trials(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]


def varied_params(trials: Sequence[FrozenTrial]) -> list[str]:
    """The parameters every trial has that took more than one value among them."""
    if not trials:
        return []
    shared = set.intersection(*(set(t.params) for t in trials))
    return sorted(k for k in shared if len({repr(t.params[k]) for t in trials}) > 1)


def param_importances(study: optuna.Study) -> dict[str, float]:
    """{param: its share of the objective's variance} over the study's complete trials (summing to 1), largest
    first; {} when there is nothing to attribute (see the module docstring)."""
    trials = complete_trials(study)
    params = varied_params(trials)
    if len(trials) < 2 or not params or len({t.value for t in trials}) < 2:
        return {}
    evaluator = FanovaImportanceEvaluator(seed=FANOVA_SEED)
    importances = get_param_importances(study, evaluator=evaluator, params=params)
    return {k: float(v) for k, v in importances.items()}


def importances_from_points(
    points: Sequence[SlicePoint], distributions: Mapping[str, BaseDistribution]
) -> dict[str, float]:
    """`param_importances` of the trials (searched values, objective) as a study of complete trials."""
    study = optuna.create_study()
    for point in points:
        params = {k: v for k, v in point.values.items() if k in distributions}
        dists = {k: distributions[k] for k in params}
        study.add_trial(create_trial(params=params, distributions=dists, value=point.objective))
    return param_importances(study)


def metric_name(param: str) -> str:
    """`importance/<param>`, with any character an MLflow metric name may not hold replaced by `_`."""
    return METRIC_PREFIX + re.sub(r"[^A-Za-z0-9_\-./: ]", "_", param)


def importance_metrics(importances: Mapping[str, float]) -> dict[str, float]:
    return {metric_name(k): v for k, v in importances.items()}


def slice_points(study: optuna.Study) -> list[SlicePoint]:
    return [SlicePoint(dict(t.params), float(t.value)) for t in complete_trials(study)]


@dataclass(frozen=True)
class SlicedParam:
    """One searched parameter of a slice plot: its x axis is log-scaled for a log distribution, and spans the
    searched range (when numeric) so the plot shows where in it the trials landed."""

    name: str
    log: bool = False
    bounds: tuple[float, float] | None = None


def sliced_params(distributions: Mapping[str, BaseDistribution]) -> list[SlicedParam]:
    out = []
    for name, dist in distributions.items():
        numeric = isinstance(dist, (FloatDistribution, IntDistribution))
        log = numeric and dist.log
        out.append(SlicedParam(name, log, (dist.low, dist.high) if numeric else None))
    return out


def slice_figure(
    series: Mapping[str, Sequence[SlicePoint]],
    params: Sequence[SlicedParam],
    objective: str,
    importances: Mapping[str, float] | None = None,
) -> Figure:
    """One subplot per searched parameter: the objective against the parameter's value, one dot per complete
    trial, one colour per series (a cell). `importances`, if given, go into the subplot titles."""
    ncols = max(len(params), 1)
    fig = Figure(figsize=(5.0 * ncols, 3.8), layout="constrained")
    for i, param in enumerate(params):
        ax = fig.add_subplot(1, ncols, i + 1)
        for j, (label, points) in enumerate(series.items()):
            shown = [p for p in points if param.name in p.values]
            xs = [_plottable(p.values[param.name]) for p in shown]
            ax.scatter(xs, [p.objective for p in shown], s=22, color=f"C{j % 10}", label=label)
        if param.log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        if param.bounds is not None:
            ax.set_xlim(*param.bounds)
        xlabel = param.name + (" (log scale)" if param.log else "")
        ax.set(title=_title(param.name, importances), xlabel=xlabel, ylabel=objective)
        ax.grid(alpha=0.3)
        if i == 0 and len(series) > 1:
            ax.legend(fontsize=7)
    return fig


def _title(param: str, importances: Mapping[str, float] | None) -> str:
    if importances is None or param not in importances:
        return param
    return f"{param} (importance {importances[param]:.2f})"


def _plottable(value: Any) -> Any:
    """Numbers as they are; a categorical choice (string, None, bool) as its text, on a categorical axis."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return "null" if value is None else str(value)
