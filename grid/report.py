"""Tables and plots in the papers' layout, read from a grid's MLflow experiment.

    python grid/report.py --experiment embedded          # writes reports/embedded/{report.md,report.html,*.png}
    python grid/report.py --compare EXP_A EXP_B          # cell by cell, B against A (grid/compare.py)

One parent run = one cell = one result: the final metrics of its best trial (tag `best_run_id`), which the driver
copies onto the parent. Seeds are a grid axis, so a table entry is the mean ± sample std over the parents that
differ only in seed. Tables: FLEX-CLIP test mAP@all (i2t, t2i, avg) by dataset and shots, one table per setting (variant
and any other grid param that varies); CODER test top-1 by dataset, variant, text set, rerank and shots. Plots:
the test metric vs shots per method and dataset, the test metric vs seconds per trial per method, CODER accuracy vs
texts per class where `coder.max_texts_per_type` varies, and every Optuna trial's searched values vs its search
metric. The plots are also logged on the parent runs they show, under `report/` (a rerun overwrites them). Runs
tagged data=simulated put "SIMULATED DATA" in the header and on every plot.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import re
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python grid/report.py`: grid/ is sys.path[0]; make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matplotlib.figure import Figure  # noqa: E402  (Figure.savefig renders with Agg; no pyplot global state)
from matplotlib.ticker import NullFormatter  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID  # noqa: E402

from flexcoder import ConfigError, TrialConfig  # noqa: E402
from flexcoder.data.registry import get_dataset  # noqa: E402
from grid.bootstrap import bootstrap_interval, has_metric, load_per_query, paired_bootstrap  # noqa: E402
from grid.importance import METRIC_PREFIX, SlicedParam, SlicePoint, slice_figure  # noqa: E402
from grid.naming import llm_label  # noqa: E402
from grid.significance import ALPHA, LEVEL, PairedTest, holm, paired_test, t_half_width  # noqa: E402
from grid.tracking import default_tracking_uri, normalise_uri, search_all_runs  # noqa: E402

SIMULATED_HEADER = "SIMULATED DATA — not the papers' numbers"
ARTIFACT_DIR = "report"

PUBLISHED: dict[tuple[str, str, str, int], dict[str, float]] = {}
"""The papers' published test numbers, keyed (method, variant, dataset, shots) -> {metric: value}, e.g.
("flexclip", "full", "wikipedia", 5) -> {"test/map_i2t": ..., "test/map_t2i": ..., "test/map_avg": ...}.
Empty: neither paper's result tables could be retrieved (docs/methods.md §3), so real-data rows
show "missing". Add an entry only with the paper table it comes from; never estimate one."""

_AXES = ("method", "dataset", "shots", "seed", "data_root")  # what a cell is indexed by, not part of its setting
_SEARCHED = "searched"
_NOT_USED = "—"
# A variant that ignores the rest of its method's section: those keys show as "—" instead of their defaults.
_IGNORES_SECTION = {
    ("flexclip.variant", "raw_clip"): "flexclip.",
    ("coder.variant", "clip_prompt"): "coder.",
    ("coder.variant", "tip_adapter"): "coder.",
}
_METRIC_LABELS = {"test/map_i2t": "image→text", "test/map_t2i": "text→image", "test/map_avg": "average"}


@dataclass(frozen=True)
class CellResult:
    """One finished parent run.

    Attributes:
        setting: the cell's own config besides the axes (method, dataset, shots, seed), as MLflow strings, with the
            method's defaults filled in; a searched key reads "searched", a key its variant ignores reads "—".
        metrics: the best trial's final metrics, as logged on the parent.
    """

    run_id: str
    cell: str
    method: str
    dataset: str
    shots: int
    seed: int
    simulated: bool
    setting: Mapping[str, str]
    searched: Mapping[str, dict]
    metric: str
    metrics: Mapping[str, float]
    best_run_id: str = ""
    per_query: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialPoint:
    """One Optuna trial of a searched cell: its searched values and the search metric it reached."""

    parent_run_id: str
    values: Mapping[str, float]
    metric_value: float
    stopped_early: bool


@dataclass
class ExperimentResults:
    experiment: str
    uri: str
    cells: list[CellResult]
    failed_cells: list[str]
    trials: list[TrialPoint]

    @property
    def simulated(self) -> bool:
        return any(c.simulated for c in self.cells)


@dataclass(frozen=True)
class Summary:
    """mean ± sample standard deviation over n seeds, and the half-width of the mean's 95% t interval (std and
    interval are None for a single seed). A single seed may carry `bootstrap`: the 95% interval of its metric over
    resampled test queries (`grid.bootstrap`)."""

    mean: float
    std: float | None
    n: int
    half_width: float | None = None
    bootstrap: tuple[float, float] | None = None

    def format(self, scale: float = 1.0, digits: int = 3) -> str:
        if self.std is None and self.bootstrap is not None:
            lo, hi = (v * scale for v in self.bootstrap)
            return f"{self.mean * scale:.{digits}f} (95% CI {lo:.{digits}f}–{hi:.{digits}f} by bootstrap, n={self.n})"
        if self.std is None:
            return f"{self.mean * scale:.{digits}f} (n={self.n})"
        ci = f"95% CI ±{self.half_width * scale:.{digits}f}, " if self.half_width is not None else ""
        return f"{self.mean * scale:.{digits}f} ± {self.std * scale:.{digits}f} ({ci}n={self.n})"


def summarize(values: Sequence[float]) -> Summary:
    values = [float(v) for v in values]
    if len(values) < 2:
        return Summary(statistics.fmean(values), None, len(values))
    return Summary(statistics.fmean(values), statistics.stdev(values), len(values), t_half_width(values))


def summarize_cells(cells: Sequence[CellResult], metric: str) -> Summary:
    """`summarize` over the cells' seeds; a single seed that kept its per-query values gets the bootstrap interval."""
    summary = summarize([c.metrics[metric] for c in cells])
    if len(cells) == 1 and has_metric(cells[0].per_query, metric):
        summary = Summary(summary.mean, None, 1, bootstrap=bootstrap_interval(cells[0].per_query, metric))
    return summary


def _text(s: str) -> str:
    """HTML-escaped text content (quotes stay readable; attributes use html.escape's default)."""
    return html.escape(s, quote=False)


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        out = [
            f"### {self.title}",
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join("---" for _ in self.columns) + "|",
        ]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in self.rows]
        out += [""] + [f"_{n}_" for n in self.notes]
        return "\n".join(out).rstrip() + "\n"

    def html(self) -> str:
        head = "".join(f"<th>{_text(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{_text(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        notes = "".join(f"<p class='note'>{_text(n)}</p>" for n in self.notes)
        return f"<h3>{_text(self.title)}</h3><table><tr>{head}</tr>{body}</table>{notes}"


@dataclass(frozen=True)
class Plot:
    """A PNG written into the report folder, and the parent runs whose results it shows."""

    filename: str
    title: str
    run_ids: tuple[str, ...]


# --------------------------------------------------------------------------------------------------- reading MLflow

NEWEST_FIRST = ["attributes.start_time DESC"]


def _defaults(method: str, dataset: str) -> dict[str, str]:
    try:
        flat = TrialConfig.from_flat({"method": method, "dataset": dataset}).own_flat()
    except (ConfigError, KeyError, ValueError):
        return {}
    return {k: "null" if v is None else str(v) for k, v in flat.items()}


def _setting(params: Mapping[str, str], searched: Iterable[str], method: str, dataset: str) -> dict[str, str]:
    setting = {**_defaults(method, dataset), **params}
    for key in searched:
        setting[key] = _SEARCHED
    for (key, value), prefix in _IGNORES_SECTION.items():
        if setting.get(key) == value:
            setting.update({k: _NOT_USED for k in setting if k.startswith(prefix) and k != key})
    return {k: v for k, v in setting.items() if k not in _AXES}


def load_results(client: MlflowClient, experiment: str) -> ExperimentResults:
    """The latest parent run of every cell (a grid rerun without --resume adds new parents; the newest wins), and
    every trial of the searched cells among them. Unfinished or failed parents are listed, not tabulated."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise LookupError(f"no MLflow experiment named {experiment!r} at {client.tracking_uri}")
    latest: dict[tuple, Any] = {}
    for run in search_all_runs(client, exp.experiment_id, "tags.`grid.role` = 'cell'", NEWEST_FIRST):
        # Keyed by the cell id and the params: two studies' cells may share an id (the id names grid-listed
        # params only), but never their params.
        latest.setdefault((run.data.tags["grid.cell"], tuple(sorted(run.data.params.items()))), run)
    cells, failed = [], []
    for (cell_id, _), run in sorted(latest.items()):
        tags, params = run.data.tags, run.data.params
        if run.info.status != "FINISHED" or "best_run_id" not in tags:
            failed.append(cell_id)
            continue
        searched = {k[len("search.") :]: json.loads(v) for k, v in params.items() if k.startswith("search.")}
        own = {k: v for k, v in params.items() if not k.startswith("search.")}
        cells.append(
            CellResult(
                run_id=run.info.run_id,
                cell=cell_id,
                method=tags["method"],
                dataset=tags["dataset"],
                shots=int(tags["shots"]),
                seed=int(tags["seed"]),
                simulated=tags.get("data") == "simulated",
                setting=_setting(own, searched, tags["method"], tags["dataset"]),
                searched=searched,
                metric=tags.get("grid.metric", ""),
                metrics=dict(run.data.metrics),
                best_run_id=tags["best_run_id"],
            )
        )
    cells = _with_single_seed_per_query(client, cells)
    searched_cells = {c.run_id: c for c in cells if c.searched}
    trials = []
    if searched_cells:
        for run in search_all_runs(client, exp.experiment_id, "tags.`grid.role` = 'trial'", NEWEST_FIRST):
            parent = searched_cells.get(run.data.tags.get(MLFLOW_PARENT_RUN_ID, ""))
            if parent is None or parent.metric not in run.data.metrics:
                continue
            values = {k: float(run.data.params[k]) for k in parent.searched if _is_float(run.data.params.get(k))}
            trials.append(
                TrialPoint(
                    parent.run_id, values, run.data.metrics[parent.metric], bool(run.data.tags.get("grid.stopped_by"))
                )
            )
    return ExperimentResults(experiment, client.tracking_uri, cells, failed, trials)


def _single_seed_key(cell: CellResult) -> tuple:
    return cell.method, cell.dataset, cell.shots, tuple(sorted(cell.setting.items()))


def _with_single_seed_per_query(client: MlflowClient, cells: list[CellResult]) -> list[CellResult]:
    """The cells whose setting ran with one seed only, with their best trial's per-query values (for the bootstrap
    over test queries); cells with several seeds get their intervals from the seeds and download nothing."""
    seeds: dict[tuple, int] = {}
    for c in cells:
        seeds[_single_seed_key(c)] = seeds.get(_single_seed_key(c), 0) + 1
    out = []
    for c in cells:
        if seeds[_single_seed_key(c)] == 1:
            c = replace(c, per_query=load_per_query(client, client.get_run(c.best_run_id)))
        out.append(c)
    return out


def _is_float(value: str | None) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
        return True
    except (TypeError, ValueError):
        return False


# ------------------------------------------------------------------------------------------------------------ tables


def varying_keys(cells: Sequence[CellResult]) -> list[str]:
    """Setting keys whose value differs between cells that use them (the keys a table or a legend must name)."""
    keys = sorted({k for c in cells for k in c.setting})
    return [k for k in keys if len({c.setting.get(k) for c in cells} - {_NOT_USED}) > 1]


def setting_label(setting: Mapping[str, str], keys: Sequence[str], method: str) -> str:
    first = sorted(keys, key=lambda k: not k.endswith(".variant"))  # the variant leads the label
    parts = [
        f"{k.removeprefix(method + '.')}={setting.get(k)}" for k in first if setting.get(k) not in (None, _NOT_USED)
    ]
    return ", ".join(parts) or "default settings"


def _group(cells: Iterable[CellResult], keys: Sequence[str]) -> dict[tuple, list[CellResult]]:
    return _group_by(cells, lambda c: tuple(c.setting.get(k) for k in keys))


def _dataset_order(cells: Iterable[CellResult]) -> list[str]:
    return list(dict.fromkeys(c.dataset for c in cells))


def _published(
    method: str,
    variant: str,
    dataset: str,
    shots: int,
    metrics: Sequence[str],
    simulated: bool,
    scale: float,
    digits: int,
) -> str:
    if simulated:
        return "n/a (simulated data)"
    known = PUBLISHED.get((method, variant, dataset, shots))
    if not known or not all(m in known for m in metrics):
        return "missing"
    return " / ".join(f"{known[m] * scale:.{digits}f}" for m in metrics)


def flexclip_tables(cells: Sequence[CellResult]) -> list[Table]:
    """One table per setting (variant x any other varying key): rows dataset x shots, test mAP i2t / t2i / avg."""
    cells = [c for c in cells if c.method == "flexclip"]
    keys = varying_keys(cells)
    metrics = list(_METRIC_LABELS)
    tables = []
    for group in _group(cells, keys).values():
        rows = []
        for dataset in _dataset_order(group):
            for shots in sorted({c.shots for c in group if c.dataset == dataset}):
                seeds = [c for c in group if c.dataset == dataset and c.shots == shots]
                row = [dataset, str(shots)]
                for m in metrics:
                    have = [c for c in seeds if m in c.metrics]
                    row.append(summarize_cells(have, m).format() if have else "missing")
                row.append(
                    _published(
                        "flexclip",
                        seeds[0].setting.get("flexclip.variant", ""),
                        dataset,
                        shots,
                        metrics,
                        all(c.simulated for c in seeds),
                        1.0,
                        3,
                    )
                )
                rows.append(row)
        title = f"FLEX-CLIP, {setting_label(group[0].setting, keys, 'flexclip')}: test mAP@all"
        columns = ["dataset", "shots", *(f"{_METRIC_LABELS[m]} mAP" for m in metrics), "paper (i2t / t2i / avg)"]
        tables.append(Table(title, columns, rows, ["mean ± sample std over seeds (n = seeds)."]))
    return tables


def coder_table(cells: Sequence[CellResult]) -> Table | None:
    """Rows dataset x variant x text set x rerank (x any other varying key), one column per shots value: test
    top-1 accuracy in %."""
    cells = [c for c in cells if c.method == "coder"]
    if not cells:
        return None
    named = ["coder.variant", "coder.text_set", "coder.rerank"]
    varying = varying_keys(cells)
    # The text generator's settings are one column, the LLM (template, or the model's name), when any of them varies.
    by_llm = any(k.startswith("coder.textgen.") for k in varying)
    others = [k for k in varying if k not in named and not k.startswith("coder.textgen.")]
    shots = sorted({c.shots for c in cells})
    rows = []
    for dataset in _dataset_order(cells):
        here = [c for c in cells if c.dataset == dataset]
        for key, group in _group_by(here, lambda c: (*(c.setting.get(k) for k in named + others), _llm(c))).items():
            key = key if by_llm else key[:-1]
            row = [dataset, *(v if v is not None else "" for v in key)]
            for s in shots:
                have = [c for c in group if c.shots == s and "test/top1" in c.metrics]
                row.append(summarize_cells(have, "test/top1").format(scale=100.0, digits=2) if have else "")
            simulated = all(c.simulated for c in group)
            row.append(
                "n/a (simulated data)"
                if simulated
                else "; ".join(
                    f"{s}-shot: " + _published("coder", key[0] or "", dataset, s, ["test/top1"], False, 100.0, 2)
                    for s in sorted({c.shots for c in group})
                )
            )
            rows.append(row)
    columns = [
        "dataset",
        "variant",
        "text set",
        "rerank",
        *(k.removeprefix("coder.") for k in others),
        *(["LLM"] if by_llm else []),
        *(f"{s}-shot top-1 %" for s in shots),
        "paper",
    ]
    return Table(
        "CODER: test top-1 accuracy (%)",
        columns,
        rows,
        ["mean ± sample std over seeds (n = seeds); an empty entry is a setting not run at that shot count."],
    )


def _llm(cell: CellResult) -> str:
    if cell.setting.get("coder.variant") != "coder":
        return ""  # the CLIP baselines read no generated text
    return llm_label(cell.setting.get("coder.textgen.backend"), cell.setting.get("coder.textgen.model"))


# Each method's baseline, by shots: what its other settings are compared against on the same cells.
BASELINES = {
    ("flexclip", False): ("flexclip.variant", "raw_clip"),
    ("flexclip", True): ("flexclip.variant", "raw_clip"),
    ("coder", False): ("coder.variant", "clip_prompt"),  # zero-shot: the CLIP prompt ensemble
    ("coder", True): ("coder.variant", "tip_adapter"),  # few-shot: Tip-Adapter, the cache of raw CLIP features
}
PRIMARY_METRIC = {"flexclip": "test/map_avg", "coder": "test/top1"}


def _pair_key(cell: CellResult) -> tuple:
    """What a setting and its baseline share: the dataset, shots, seed and every setting outside the method's own
    section (backbone, noise, precision, ...)."""
    shared = tuple(sorted((k, v) for k, v in cell.setting.items() if not k.startswith(cell.method + ".")))
    return cell.dataset, cell.shots, cell.seed, shared


def paired_comparisons(cells: Sequence[CellResult]) -> Table | None:
    """Every setting of a method against its baseline (BASELINES) at each shot count, paired on the cells both ran
    (same dataset, shots, seed, backbone and noise): the mean difference of the test metric with its 95% t interval, the
    paired t test, Wilcoxon's signed-rank test, and Holm's correction over all rows."""
    rows, tests = [], []
    for method, metric in PRIMARY_METRIC.items():
        mine = [c for c in cells if c.method == method and metric in c.metrics]
        keys = varying_keys(mine)
        scale = 100.0 if method == "coder" else 1.0
        for shots in sorted({c.shots for c in mine}):
            key, base_value = BASELINES[(method, shots > 0)]
            here = [c for c in mine if c.shots == shots]
            bases = _group_by((c for c in here if c.setting.get(key) == base_value), _pair_key)
            base = {k: group[0] for k, group in bases.items() if len(group) == 1}
            for group in _group(here, keys).values():
                variant = group[0].setting.get(key)
                if variant == base_value or (method, variant) == ("coder", "tip_adapter") and shots == 0:
                    continue  # the baseline itself; Tip-Adapter with no shots is the prompt ensemble
                paired = [(c, base[_pair_key(c)]) for c in group if _pair_key(c) in base]
                test = _paired(paired, metric)
                if test is None:
                    continue
                tests.append(test)
                label = setting_label(group[0].setting, keys, method)
                rows.append([method, label, f"{key.split('.')[-1]}={base_value}", str(shots), scale])
    if not rows:
        return None
    out = []
    for (method, label, versus, shots, scale), t in zip(rows, holm(tests)):
        out.append([method, label, versus, shots, *_test_cells(t, scale), "yes" if t.significant else "no"])
    return Table(
        "Paired comparisons with each method's baseline (test metric: FLEX-CLIP average mAP, CODER top-1 %)",
        [
            "method",
            "setting",
            "baseline",
            "shots",
            "pairs",
            "mean difference",
            "p (t)",
            "p (Wilcoxon)",
            "p (Holm)",
            f"significant (Holm, α={ALPHA})",
        ],
        out,
        [
            f"pairs: cells both ran (same dataset, shots, seed, backbone and noise), over datasets and seeds. Mean "
            f"difference = setting - baseline with its {LEVEL:.0%} t interval. A single pair (one seed) is tested "
            "by a paired bootstrap over its test queries instead: the difference's percentile interval [low, high] "
            "and the bootstrap's p. p values are two-sided; Holm's correction runs over every row of this table.",
        ],
    )


def _paired(paired: Sequence[tuple[CellResult, CellResult]], metric: str) -> PairedTest | None:
    """The paired test of (setting, baseline) cells: over seeds and datasets with two pairs or more; for a single
    pair, the paired bootstrap over its test queries when both kept their per-query values; else none."""
    if len(paired) >= 2:
        return paired_test([a.metrics[metric] for a, _ in paired], [b.metrics[metric] for _, b in paired])
    if len(paired) == 1:
        a, b = paired[0]
        if has_metric(a.per_query, metric) and has_metric(b.per_query, metric):
            boot = paired_bootstrap(a.per_query, b.per_query, metric)
            if boot is not None:
                interval = (boot.low, boot.high)
                return PairedTest(1, boot.diff, None, None, None, None, interval, boot.p, boot.queries)
    return None


def _test_cells(t: PairedTest, scale: float) -> list[str]:
    digits = 2 if scale == 100.0 else 3
    ci = f" ± {t.half_width * scale:.{digits}f}" if t.half_width is not None else ""
    if t.interval is not None:
        ci = f" [{t.interval[0] * scale:+.{digits}f}, {t.interval[1] * scale:+.{digits}f}]"

    def p(value: float | None) -> str:
        return "—" if value is None else f"{value:.2g}" if value >= 1e-4 else "<1e-4"

    pairs = f"1 ({t.queries} queries, bootstrap)" if t.p_bootstrap is not None else str(t.n)
    p_main = p(t.p_t) if t.p_bootstrap is None else f"{p(t.p_bootstrap)} (bootstrap)"
    return [pairs, f"{t.mean_diff * scale:+.{digits}f}{ci}", p_main, p(t.p_wilcoxon), p(t.p_adjusted)]


# ------------------------------------------------------------------------------------------------------------- plots


def _new_figure(ncols: int = 1, simulated: bool = False) -> tuple[Figure, list]:
    fig = Figure(figsize=(5.5 * ncols, 4.0), layout="constrained")
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    if simulated:
        _mark_simulated(fig)
    return fig, axes


def _mark_simulated(fig: Figure) -> None:
    """A suptitle, so the constrained layout keeps room for it."""
    fig.suptitle("simulated data", x=0.99, ha="right", color="crimson", fontsize=9, fontweight="bold")


def plot_vs_shots(cells: Sequence[CellResult], out: Path) -> list[Plot]:
    """Per method and dataset: the test metric (FLEX-CLIP average mAP, CODER top-1 %) vs shots, one line per
    setting, error bars = std over seeds."""
    plots = []
    for method, metric, scale, ylabel in (
        ("flexclip", "test/map_avg", 1.0, "test mAP@all (average)"),
        ("coder", "test/top1", 100.0, "test top-1 accuracy (%)"),
    ):
        mine = [c for c in cells if c.method == method and metric in c.metrics]
        keys = varying_keys(mine)
        for dataset in _dataset_order(mine):
            here = [c for c in mine if c.dataset == dataset]
            fig, (ax,) = _new_figure(simulated=any(c.simulated for c in here))
            for group in _group(here, keys).values():
                shots = sorted({c.shots for c in group})
                stats = [summarize([c.metrics[metric] for c in group if c.shots == s]) for s in shots]
                ax.errorbar(
                    shots,
                    [s.mean * scale for s in stats],
                    yerr=[(s.std or 0.0) * scale for s in stats],
                    marker="o",
                    capsize=3,
                    label=setting_label(group[0].setting, keys, method),
                )
            name = {"flexclip": "FLEX-CLIP", "coder": "CODER"}[method]
            ax.set(title=f"{name} on {dataset}", xlabel="shots per class", ylabel=ylabel)
            ax.set_xticks(sorted({c.shots for c in here}))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            filename = _safe(f"{method}_{dataset}_vs_shots.png")
            fig.savefig(out / filename, dpi=110)
            plots.append(Plot(filename, f"{name} on {dataset}: {ylabel} vs shots", tuple(c.run_id for c in here)))
    return plots


def plot_vs_texts(cells: Sequence[CellResult], out: Path) -> Plot | None:
    """CODER top-1 vs texts per class, when `coder.max_texts_per_type` varies. x = rows of the text bank per class
    (the trial's textgen/texts over the dataset's classes), or the cap itself when that metric is absent."""
    mine = [
        c
        for c in cells
        if c.method == "coder"
        and "test/top1" in c.metrics
        and c.setting.get("coder.max_texts_per_type") not in (None, _NOT_USED)
    ]
    if len({c.setting["coder.max_texts_per_type"] for c in mine}) < 2:
        return None
    fig, (ax,) = _new_figure(simulated=any(c.simulated for c in mine))
    keys = [k for k in varying_keys(mine) if k != "coder.max_texts_per_type"]
    for (dataset, shots), group in _group_by(mine, lambda c: (c.dataset, c.shots)).items():
        for sub in _group(group, keys).values():
            points = sorted({_texts_per_class(c) for c in sub})
            stats = [summarize([c.metrics["test/top1"] for c in sub if _texts_per_class(c) == x]) for x in points]
            label = f"{dataset}, {shots}-shot, {setting_label(sub[0].setting, keys, 'coder')}"
            ax.errorbar(
                points,
                [s.mean * 100 for s in stats],
                yerr=[(s.std or 0.0) * 100 for s in stats],
                marker="o",
                capsize=3,
                label=label,
            )
    ax.set(title="CODER: accuracy vs texts per class", xlabel="texts per class", ylabel="test top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(out / "coder_vs_texts_per_class.png", dpi=110)
    return Plot("coder_vs_texts_per_class.png", "CODER: test top-1 vs texts per class", tuple(c.run_id for c in mine))


def plot_vs_cost(cells: Sequence[CellResult], out: Path) -> list[Plot]:
    """Per method: the test metric against what a trial cost in wall seconds (`cost/trial_s`, log scale), one line
    per setting through its shot counts, each point the mean over datasets and seeds."""
    plots = []
    for method, metric in PRIMARY_METRIC.items():
        mine = [c for c in cells if c.method == method and metric in c.metrics and "cost/trial_s" in c.metrics]
        if not mine:
            continue
        scale = 100.0 if method == "coder" else 1.0
        keys = varying_keys(mine)
        fig, (ax,) = _new_figure(simulated=any(c.simulated for c in mine))
        for group in _group(mine, keys).values():
            shots = sorted({c.shots for c in group})
            xs = [statistics.fmean(c.metrics["cost/trial_s"] for c in group if c.shots == s) for s in shots]
            ys = [statistics.fmean(c.metrics[metric] * scale for c in group if c.shots == s) for s in shots]
            ax.plot(xs, ys, marker="o", label=setting_label(group[0].setting, keys, method))
            for x, y, s in zip(xs, ys, shots):
                ax.annotate(f"{s}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6)
        name = {"flexclip": "FLEX-CLIP", "coder": "CODER"}[method]
        ylabel = "test top-1 accuracy (%)" if method == "coder" else "test mAP@all (average)"
        ax.set(title=f"{name}: accuracy vs cost (labels: shots)", xlabel="seconds per trial", ylabel=ylabel)
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        filename = f"{method}_vs_cost.png"
        fig.savefig(out / filename, dpi=110)
        plots.append(Plot(filename, f"{name}: {metric} vs seconds per trial", tuple(c.run_id for c in mine)))
    return plots


def _texts_per_class(cell: CellResult) -> float:
    texts = cell.metrics.get("textgen/texts")
    if texts is None:
        return float(cell.setting["coder.max_texts_per_type"])
    return texts / get_dataset(cell.dataset).num_classes


def _group_by(cells: Iterable[CellResult], key) -> dict[Any, list[CellResult]]:
    groups: dict[Any, list[CellResult]] = {}
    for c in cells:
        groups.setdefault(key(c), []).append(c)
    return groups


def plot_search(results: ExperimentResults, out: Path) -> Plot | None:
    """Every trial of the searched cells: each searched numeric value (log x for loguniform) vs the search metric,
    one colour per cell; hollow markers are trials a scheduler stopped early (their metric is from fewer epochs)."""
    by_run = {c.run_id: c for c in results.cells}
    keys = sorted({k for t in results.trials for k in t.values})
    if not keys:
        return None
    fig, axes = _new_figure(len(keys), simulated=any(by_run[t.parent_run_id].simulated for t in results.trials))
    parents = list(dict.fromkeys(t.parent_run_id for t in results.trials))
    colours = [f"C{i % 10}" for i in range(len(parents))]
    for ax, key in zip(axes, keys):
        for parent, colour in zip(parents, colours):
            cell = by_run[parent]
            for stopped in (False, True):
                pts = [
                    t
                    for t in results.trials
                    if t.parent_run_id == parent and t.stopped_early == stopped and key in t.values
                ]
                if not pts:
                    continue
                label = f"{cell.method}/{cell.dataset}/{cell.shots}-shot/seed {cell.seed}" if not stopped else None
                ax.scatter(
                    [t.values[key] for t in pts],
                    [t.metric_value for t in pts],
                    s=22,
                    label=label,
                    facecolors="none" if stopped else colour,
                    edgecolors=colour,
                )
        dists = [by_run[p].searched[key] for p in parents if key in by_run[p].searched]
        log = all("loguniform" in d for d in dists)
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        bounds = [b for d in dists for kind, b in d.items() if kind in ("uniform", "loguniform", "randint")]
        if bounds:  # the whole searched range, so the plot shows where in it the trials landed
            ax.set_xlim(min(b[0] for b in bounds), max(b[1] for b in bounds))
        metric = ", ".join(sorted({by_run[p].metric for p in parents}))
        ax.set(title=key, xlabel=f"{key} ({'log scale' if log else 'linear'})", ylabel=metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.savefig(out / "search_sensitivity.png", dpi=110)
    return Plot(
        "search_sensitivity.png",
        "Every Optuna trial of the searched cells: searched value vs the search "
        "metric (hollow markers: trials stopped early by the scheduler)",
        tuple(parents),
    )


def importance_table(results: ExperimentResults) -> Table | None:
    """Every searched cell whose parent holds `importance/*` metrics (grid/importance.py): one row per cell, one
    column per searched parameter, fANOVA's share of the search metric's variance."""
    cells = [c for c in results.cells if any(k.startswith(METRIC_PREFIX) for k in c.metrics)]
    if not cells:
        return None
    params = sorted({k.removeprefix(METRIC_PREFIX) for c in cells for k in c.metrics if k.startswith(METRIC_PREFIX)})
    rows = []
    for c in cells:
        complete = sum(1 for t in results.trials if t.parent_run_id == c.run_id and not t.stopped_early)
        values = [c.metrics.get(METRIC_PREFIX + p) for p in params]
        rows.append([c.cell, c.metric, str(complete), *(_NOT_USED if v is None else f"{v:.2f}" for v in values)])
    return Table(
        "Parameter importances (fANOVA)",
        ["cell", "search metric", "complete trials", *params],
        rows,
        [
            "Optuna's fANOVA (fixed seed) over each searched cell's complete trials: the share of the search "
            "metric's variance each searched parameter explains (a row sums to 1); trials stopped early do not "
            f"count. {_NOT_USED}: not searched in that cell, or it did not vary there. A searched cell without a row "
            "had fewer than 2 complete trials, or nothing that varied.",
        ],
    )


def plot_slices(results: ExperimentResults, out: Path) -> list[Plot]:
    """Per method and dataset with searched cells: each searched value vs the search metric, one dot per complete
    trial (stopped ones left out), one colour per cell; with one cell, its importances in the titles."""
    by_run = {c.run_id: c for c in results.cells}
    complete = [t for t in results.trials if not t.stopped_early]
    cells = [by_run[p] for p in dict.fromkeys(t.parent_run_id for t in complete)]
    plots = []
    for (method, dataset), group in _group_by(cells, lambda c: (c.method, c.dataset)).items():
        params = sorted({k for t in complete if t.parent_run_id in {c.run_id for c in group} for k in t.values})
        series = {_slice_label(c, group): _slice_points(c, complete) for c in group}
        importances = _importances(group[0]) if len(group) == 1 else None
        metric = ", ".join(sorted({c.metric for c in group}))
        fig = slice_figure(series, [_sliced(k, group) for k in params], metric, importances)
        if any(c.simulated for c in group):
            _mark_simulated(fig)
        filename = _safe(f"search_slice_{method}_{dataset}.png")
        fig.savefig(out / filename, dpi=110)
        name = {"flexclip": "FLEX-CLIP", "coder": "CODER"}.get(method, method)
        title = f"{name} on {dataset}: each complete Optuna trial's searched values vs {metric} (slice plot)"
        plots.append(Plot(filename, title, tuple(c.run_id for c in group)))
    return plots


def _sliced(key: str, cells: Sequence[CellResult]) -> SlicedParam:
    """A searched key's axis over the cells that searched it: log when all searched it log-uniformly, spanning the
    union of their ranges."""
    dists = [c.searched[key] for c in cells if key in c.searched]
    bounds = [b for d in dists for kind, b in d.items() if kind in ("uniform", "loguniform", "randint")]
    span = (min(b[0] for b in bounds), max(b[1] for b in bounds)) if bounds else None
    return SlicedParam(key, bool(dists) and all("loguniform" in d for d in dists), span)


def _slice_label(cell: CellResult, group: Sequence[CellResult]) -> str:
    keys = [k for k in varying_keys(group) if k not in cell.searched]
    setting = f", {setting_label(cell.setting, keys, cell.method)}" if keys else ""
    return f"{cell.shots}-shot, seed {cell.seed}{setting}"


def _slice_points(cell: CellResult, trials: Iterable[TrialPoint]) -> list[SlicePoint]:
    return [SlicePoint(t.values, t.metric_value) for t in trials if t.parent_run_id == cell.run_id]


def _importances(cell: CellResult) -> dict[str, float]:
    return {k.removeprefix(METRIC_PREFIX): v for k, v in cell.metrics.items() if k.startswith(METRIC_PREFIX)}


# ------------------------------------------------------------------------------------------------------ the report


def default_out(experiment: str) -> Path:
    return Path("reports") / _safe(experiment)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name)


@dataclass
class Report:
    results: ExperimentResults
    tables: list[Table]
    plots: list[Plot]
    notes: list[str]


def build_report(uri: str | None, experiment: str, out: str | Path | None = None, log_artifacts: bool = True) -> Path:
    """Write report.md, report.html and the PNGs into `out` (default reports/<experiment>/); log the PNGs on the
    parent runs they show unless `log_artifacts` is False. Returns the folder."""
    client = MlflowClient(normalise_uri(uri or default_tracking_uri()))
    results = load_results(client, experiment)
    out = Path(out) if out is not None else default_out(experiment)
    out.mkdir(parents=True, exist_ok=True)
    report = _assemble(results, out)
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    (out / "report.html").write_text(render_html(report, out), encoding="utf-8")
    if log_artifacts:
        for plot in report.plots:
            for run_id in dict.fromkeys(plot.run_ids):
                client.log_artifact(run_id, str(out / plot.filename), ARTIFACT_DIR)
    return out


def _assemble(results: ExperimentResults, out: Path) -> Report:
    tables = flexclip_tables(results.cells)
    coder = coder_table(results.cells)
    tables += [coder] if coder else []
    comparisons = paired_comparisons(results.cells)
    tables += [comparisons] if comparisons else []
    importances = importance_table(results)
    tables += [importances] if importances else []
    plots = plot_vs_shots(results.cells, out) + plot_vs_cost(results.cells, out)
    notes = []
    texts = plot_vs_texts(results.cells, out)
    if texts:
        plots.append(texts)
    elif any(c.method == "coder" for c in results.cells):
        notes.append(
            "Accuracy vs texts per class: not plotted, coder.max_texts_per_type does not vary in this grid "
            "(list it in a space's params, e.g. [1, 2, 4, 0], to plot it)."
        )
    search = plot_search(results, out)
    if search:
        plots.append(search)
        plots += plot_slices(results, out)
    else:
        notes.append("Loss-weight sensitivity: no cell of this grid was searched by Optuna.")
    return Report(results, tables, plots, notes)


def _preamble(results: ExperimentResults) -> list[str]:
    lines = [
        f"MLflow experiment `{results.experiment}` at `{results.uri}`: {len(results.cells)} finished cells"
        + (
            f", {len(results.failed_cells)} failed or unfinished (left out: {', '.join(results.failed_cells)})"
            if results.failed_cells
            else ""
        )
        + "."
    ]
    lines.append(
        "Each entry is one cell per seed (the best trial of the cell, tag best_run_id); mean ± sample std "
        "over seeds, with the 95% t interval of the mean and n. Paper numbers sit beside ours for real data only; "
        '"missing" means the paper\'s table was not available (docs/methods.md §3).'
    )
    return lines


def render_markdown(report: Report) -> str:
    r = report.results
    out = [f"# Report: {r.experiment}", ""]
    if r.simulated:
        out += [
            f"**{SIMULATED_HEADER}.** These runs use the embedded simulated CLIP world (tag data=simulated): "
            "they show how the methods compare in a controlled world.",
            "",
        ]
    out += [line + "\n" for line in _preamble(r)]
    out += ["## Tables", ""] + [t.markdown() for t in report.tables]
    out += ["## Plots", ""] + [f"![{p.title}]({p.filename})\n\n_{p.title}_\n" for p in report.plots]
    out += [f"_{n}_\n" for n in report.notes]
    return "\n".join(out)


_CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #bbb;padding:3px 8px;"
    "font-size:13px;text-align:left}th{background:#eee}.simulated{background:#fde2e2;color:#a00;padding:.6em;"
    "font-weight:bold;border:2px solid #a00}.note{color:#555;font-size:13px}img{max-width:100%}"
)


def render_html(report: Report, out: Path) -> str:
    """Self-contained: the PNGs are embedded as data URIs."""
    r = report.results
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Report: {_text(r.experiment)}</title>"
        f"<style>{_CSS}</style></head><body><h1>Report: {_text(r.experiment)}</h1>"
    ]
    if r.simulated:
        parts.append(f"<p class='simulated'>{_text(SIMULATED_HEADER)}</p>")
    parts += [f"<p>{_text(line)}</p>" for line in _preamble(r)]
    parts += ["<h2>Tables</h2>"] + [t.html() for t in report.tables]
    parts.append("<h2>Plots</h2>")
    for p in report.plots:
        data = base64.b64encode((out / p.filename).read_bytes()).decode("ascii")
        parts.append(
            f"<figure><img alt='{html.escape(p.title)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{_text(p.title)}</figcaption></figure>"
        )
    parts += [f"<p class='note'>{_text(n)}</p>" for n in report.notes]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="grid/report.py", description="Write paper-layout tables and plots of a grid's MLflow experiment."
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--experiment", help="MLflow experiment = the search space's name")
    what.add_argument(
        "--compare",
        nargs=2,
        metavar=("EXP_A", "EXP_B"),
        help="compare two experiments cell by cell (B against A) into reports/compare-A-vs-B/compare.md",
    )
    p.add_argument("--mlflow-uri", default=None, help="tracking URI (default: sqlite:///<absolute cwd>/mlflow.db)")
    p.add_argument(
        "--out", default=None, help="output folder (default: reports/<experiment>/ or reports/compare-A-vs-B/)"
    )
    p.add_argument("--no-log-artifacts", action="store_true", help="do not log the plots on the parent runs")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        return _compare(args)
    try:
        out = build_report(args.mlflow_uri, args.experiment, args.out, log_artifacts=not args.no_log_artifacts)
    except LookupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"[report] {out / 'report.md'} and {out / 'report.html'}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from grid.compare import write_comparison

    client = MlflowClient(normalise_uri(args.mlflow_uri or default_tracking_uri()))
    try:
        a, b = (load_results(client, name) for name in args.compare)
    except LookupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else default_out(f"compare-{args.compare[0]}-vs-{args.compare[1]}")
    print(f"[report] {write_comparison(a, b, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
