"""Two runs of a space, cell by cell: `python grid/report.py --compare EXP_A EXP_B`.

For example two commits of the code, two backbones or two text generators, each run into its own experiment. Cells
match by their id without the seed (the id names the grid point, so a changed default still matches its cell);
seeds pair across the two. Each matched cell gets both means with their 95% t intervals, the difference B - A with
its interval and a paired t test over the shared seeds, Holm-corrected over the table; an overall row per method
pairs every shared (cell, seed). Cells in one experiment only are listed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from grid.report import PRIMARY_METRIC, CellResult, ExperimentResults, Table, summarize
from grid.significance import ALPHA, LEVEL, holm, paired_test

_SEED = re.compile(r"/seed=\d+")


def cell_group(cell: CellResult) -> str:
    """The cell's id without its seed: what the two experiments' cells are matched by."""
    return _SEED.sub("", cell.cell)


def _by_group(cells: Sequence[CellResult], method: str, metric: str) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for c in cells:
        if c.method == method and metric in c.metrics:
            out.setdefault(cell_group(c), {})[c.seed] = c.metrics[metric]
    return out


def comparison_tables(a: ExperimentResults, b: ExperimentResults) -> list[Table]:
    """One table per method that both experiments ran: matched cells, then the method's overall row."""
    tables = []
    for method, metric in PRIMARY_METRIC.items():
        left, right = _by_group(a.cells, method, metric), _by_group(b.cells, method, metric)
        shared = [g for g in left if g in right]
        if not shared:
            continue
        scale, digits = (100.0, 2) if method == "coder" else (1.0, 3)
        tests = []
        for g in shared:
            seeds = sorted(set(left[g]) & set(right[g]))
            tests.append(paired_test([right[g][s] for s in seeds], [left[g][s] for s in seeds]))
        rows = []
        for g, t in zip(shared, holm(tests)):
            diff = f"{t.mean_diff * scale:+.{digits}f}" if t.n else "no shared seed"
            if t.half_width is not None:
                diff += f" ± {t.half_width * scale:.{digits}f}"
            p = "—" if t.p_t is None else f"{t.p_t:.2g}"
            verdict = "yes" if t.significant else "no" if t.p_t is not None else f"untested ({t.n} shared seed)"
            rows.append(
                [
                    g,
                    summarize(list(left[g].values())).format(scale, digits),
                    summarize(list(right[g].values())).format(scale, digits),
                    diff,
                    p,
                    "—" if t.p_adjusted is None else f"{t.p_adjusted:.2g}",
                    verdict,
                ]
            )
        pairs = [(right[g][s], left[g][s]) for g in shared for s in sorted(set(left[g]) & set(right[g]))]
        overall = paired_test([r for r, _ in pairs], [lft for _, lft in pairs])
        rows.append(
            [
                f"all {len(shared)} matched cells",
                "",
                "",
                f"{overall.mean_diff * scale:+.{digits}f}"
                + (f" ± {overall.half_width * scale:.{digits}f}" if overall.half_width is not None else ""),
                "—" if overall.p_t is None else f"{overall.p_t:.2g}",
                "",
                "yes" if overall.significant else "no" if overall.p_t is not None else "untested",
            ]
        )
        notes = [
            f"{metric}{' (%)' if scale == 100.0 else ''}: mean ± std ({LEVEL:.0%} CI, n = seeds) per experiment; the "
            f"difference is B - A over the seeds both ran, with its {LEVEL:.0%} t interval and the paired t test's "
            f"two-sided p; Holm's correction runs over the cell rows; significant means p < {ALPHA}. The last row "
            "pairs every shared (cell, seed) of the method."
        ]
        only_a, only_b = sorted(set(left) - set(right)), sorted(set(right) - set(left))
        if only_a:
            notes.append(f"Only in A ({len(only_a)}): {', '.join(only_a)}")
        if only_b:
            notes.append(f"Only in B ({len(only_b)}): {', '.join(only_b)}")
        name = {"flexclip": "FLEX-CLIP", "coder": "CODER"}[method]
        tables.append(
            Table(
                f"{name}: {b.experiment} (B) against {a.experiment} (A), {metric}",
                ["cell", "A", "B", "B - A", "p (t)", "p (Holm)", "significant"],
                rows,
                notes,
            )
        )
    return tables


def render_comparison(a: ExperimentResults, b: ExperimentResults, tables: Sequence[Table]) -> str:
    lines = [
        f"# Comparison: {b.experiment} (B) against {a.experiment} (A)",
        "",
        f"A: MLflow experiment `{a.experiment}` at `{a.uri}`, {len(a.cells)} finished cells. "
        f"B: `{b.experiment}` at `{b.uri}`, {len(b.cells)} finished cells.",
        "",
    ]
    if a.simulated or b.simulated:
        lines += ["Runs on the embedded simulated world (tag data=simulated) take part: not the papers' numbers.", ""]
    if not tables:
        lines.append("The two experiments share no cell of any method: nothing to compare.")
    return "\n".join(lines + [t.markdown() for t in tables])


def write_comparison(a: ExperimentResults, b: ExperimentResults, out: Path) -> Path:
    """Write `out`/compare.md; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "compare.md"
    path.write_text(render_comparison(a, b, comparison_tables(a, b)), encoding="utf-8")
    return path
