"""Confidence intervals and paired tests for the report: how sure a mean over seeds is, and whether a method beats
its baseline on the same cells.

Ours: the t interval over seeds (few seeds, unknown spread: a normal interval would be too narrow at n = 3), and for
a comparison both the paired t test and the Wilcoxon signed-rank test (no normality assumed), with Holm's correction
over the report's comparisons, since a report makes many of them at once.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

LEVEL = 0.95
ALPHA = 0.05


def t_half_width(values: Sequence[float], level: float = LEVEL) -> float | None:
    """Half-width of the two-sided t confidence interval of the mean; None below 2 values."""
    from scipy import stats

    n = len(values)
    if n < 2:
        return None
    return float(stats.t.ppf(0.5 + level / 2, n - 1)) * statistics.stdev(values) / math.sqrt(n)


@dataclass(frozen=True)
class PairedTest:
    """A method against its baseline on n paired cells (same dataset, shots and seed): the mean of the differences
    (method - baseline) with its t interval, the paired t test's p, Wilcoxon's p, and the Holm-adjusted p that
    decides `significant` (set by `holm`; the raw p until then).

    A single pair (one seed) has no t test; a paired bootstrap over its test queries (`grid.bootstrap`) gives the
    difference's `interval` and `p_bootstrap` instead, over `queries` queries."""

    n: int
    mean_diff: float
    half_width: float | None
    p_t: float | None
    p_wilcoxon: float | None
    p_adjusted: float | None = None
    interval: tuple[float, float] | None = None
    p_bootstrap: float | None = None
    queries: int = 0

    @property
    def p(self) -> float | None:
        """The raw p this comparison is judged by: the t test's, or the bootstrap's for a single pair."""
        return self.p_t if self.p_t is not None else self.p_bootstrap

    @property
    def significant(self) -> bool:
        p = self.p_adjusted if self.p_adjusted is not None else self.p
        return p is not None and p < ALPHA


def paired_test(method: Sequence[float], baseline: Sequence[float]) -> PairedTest:
    """Two-sided paired tests of `method` against `baseline` (aligned lists). Differences that are all equal (to
    rounding) have no spread: t's p is then 0 for a nonzero difference and 1 for none (scipy would return nan, or a
    p from rounding noise)."""
    from scipy import stats

    if len(method) != len(baseline):
        raise ValueError(f"paired values must align: {len(method)} vs {len(baseline)}")
    diffs = [float(a) - float(b) for a, b in zip(method, baseline)]
    n = len(diffs)
    if n == 0:
        return PairedTest(0, math.nan, None, None, None)
    mean = statistics.fmean(diffs)
    if n < 2:
        return PairedTest(n, mean, None, None, None)
    if statistics.stdev(diffs) <= 1e-12 * max(1.0, abs(mean)):
        p_t = 0.0 if mean != 0.0 else 1.0
    else:
        p_t = float(stats.ttest_rel(method, baseline).pvalue)
    nonzero = [d for d in diffs if abs(d) > 1e-12]
    p_w = float(stats.wilcoxon(nonzero).pvalue) if nonzero else 1.0
    return PairedTest(n, mean, t_half_width(diffs), p_t, p_w)


def holm(tests: Sequence[PairedTest]) -> list[PairedTest]:
    """Holm's step-down adjustment of the p values (`PairedTest.p`) over a family of comparisons (order kept)."""
    order = sorted((i for i, t in enumerate(tests) if t.p is not None), key=lambda i: tests[i].p)
    adjusted: dict[int, float] = {}
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * tests[i].p))
        adjusted[i] = running
    return [replace(t, p_adjusted=adjusted.get(i)) for i, t in enumerate(tests)]
