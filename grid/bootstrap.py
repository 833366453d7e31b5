"""Intervals for a single seed: a bootstrap over test queries (ours; with one seed, seeds give no interval).

Each finished trial keeps the per-query values behind its test metrics (each query's AP, or whether each image was
classified right) as the artifact PER_QUERY_ARTIFACT. Resampling the test queries with replacement, B times, gives
the percentile interval of a metric; resampling the same queries for two trials on the same test set (same dataset
and seed) gives the interval of their difference and a two-sided bootstrap p-value: the paired bootstrap.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from grid.reuse import REUSED_FROM_TAG

PER_QUERY_ARTIFACT = "per_query.npz"
RESAMPLES = 2000  # our choice: percentile bounds at 95% move by well under 0.1 point between seeds of the bootstrap
_BLOCK = 100  # resamples drawn at once: bounds memory at _BLOCK x queries indices


def load_per_query(client: Any, run: Any) -> dict[str, np.ndarray]:
    """A finished trial's per-query values, {test metric: array}; a reused trial's come from the run it reused.
    Empty when the run kept none (an older run, or a method that keeps none)."""
    source = run.data.tags.get(REUSED_FROM_TAG) or run.info.run_id
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per cell drowns the output
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(source, PER_QUERY_ARTIFACT, tmp)
        except Exception:  # MLflow raises its own errors, OSError or a store's, for an artifact that is not there
            return {}
        with np.load(path) as data:
            return {name.replace("__", "/"): data[name] for name in data.files}


def _parts(metric: str) -> tuple[str, ...]:
    """The per-query arrays a test metric is made of: test/map_avg averages the i2t and t2i mAPs."""
    return ("test/map_i2t", "test/map_t2i") if metric == "test/map_avg" else (metric,)


def metric_of(per_query: Mapping[str, np.ndarray], metric: str, rows: np.ndarray | None = None) -> np.ndarray:
    """`metric` from per-query values, for each row of query indices `rows` [B, N] (None: all queries once, [1]).
    test/map_avg is the mean of the i2t and t2i mAPs, whose queries are the same test pairs' images and texts."""
    values = [np.asarray(per_query[p], dtype=np.float64) for p in _parts(metric)]
    picked = [v[None, :] if rows is None else v[rows] for v in values]
    with np.errstate(invalid="ignore"):  # a resample of only NaN (no relevant item) queries: NaN, dropped below
        return np.mean([np.nanmean(p, axis=1) for p in picked], axis=0)


def has_metric(per_query: Mapping[str, np.ndarray], metric: str) -> bool:
    return all(p in per_query for p in _parts(metric))


def _resamples(n: int, resamples: int, seed: int):
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, _BLOCK):
        yield rng.integers(0, n, size=(min(_BLOCK, resamples - start), n))


def _queries(per_query: Mapping[str, np.ndarray], metric: str) -> int:
    return len(per_query[_parts(metric)[0]])


def bootstrap_interval(
    per_query: Mapping[str, np.ndarray], metric: str, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """The 95% percentile interval of `metric` over `resamples` resamples of the test queries."""
    n = _queries(per_query, metric)
    draws = np.concatenate([metric_of(per_query, metric, rows) for rows in _resamples(n, resamples, seed)])
    lo, hi = np.nanpercentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


@dataclass(frozen=True)
class PairedBootstrap:
    """`metric` of trial A minus trial B on the same test queries: the difference, its 95% percentile interval, and
    the two-sided bootstrap p-value (twice the share of resampled differences on the other side of zero)."""

    diff: float
    low: float
    high: float
    p: float
    queries: int


def paired_bootstrap(
    a: Mapping[str, np.ndarray],
    b: Mapping[str, np.ndarray],
    metric: str,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedBootstrap | None:
    """The paired bootstrap of A - B, or None when they were not tested on the same number of queries."""
    n = _queries(a, metric)
    if n == 0 or _queries(b, metric) != n:
        return None
    diff = float(metric_of(a, metric)[0] - metric_of(b, metric)[0])
    draws = np.concatenate(
        [metric_of(a, metric, rows) - metric_of(b, metric, rows) for rows in _resamples(n, resamples, seed)]
    )
    draws = draws[~np.isnan(draws)]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    p = min(1.0, 2 * min(float(np.mean(draws <= 0)), float(np.mean(draws >= 0))))
    return PairedBootstrap(diff, float(lo), float(hi), p, n)
