"""The bootstrap over test queries against a naive reference: intervals cover the metric, shrink with more queries,
and a paired difference is significant exactly when one trial is better on the same queries."""

import numpy as np
import pytest

from grid.bootstrap import bootstrap_interval, has_metric, metric_of, paired_bootstrap


def _hits(n: int, acc: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < acc


def test_metric_of_all_queries_is_the_plain_mean_and_map_avg_averages_both_directions():
    aps = {"test/map_i2t": np.array([1.0, 0.5, np.nan]), "test/map_t2i": np.array([0.25, 0.25, 0.25])}
    assert metric_of(aps, "test/map_i2t")[0] == pytest.approx(0.75)  # NaN: a query with no relevant item
    assert metric_of(aps, "test/map_avg")[0] == pytest.approx((0.75 + 0.25) / 2)
    assert has_metric(aps, "test/map_avg") and not has_metric(aps, "test/top1")


def test_interval_covers_the_metric_and_matches_a_naive_loop():
    hits = {"test/top1": _hits(400, 0.7, 0)}
    lo, hi = bootstrap_interval(hits, "test/top1", resamples=1000, seed=3)
    rng = np.random.default_rng(3)  # the naive reference: one resample at a time, same draws
    naive = [hits["test/top1"][rng.integers(0, 400, size=400)].mean() for _ in range(1000)]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(naive, [2.5, 97.5])))
    assert lo < hits["test/top1"].mean() < hi


def test_interval_narrows_with_more_queries():
    small = bootstrap_interval({"test/top1": _hits(100, 0.7, 1)}, "test/top1", resamples=500)
    large = bootstrap_interval({"test/top1": _hits(10000, 0.7, 1)}, "test/top1", resamples=500)
    assert large[1] - large[0] < (small[1] - small[0]) / 4


def test_paired_bootstrap_flags_a_real_gain_and_not_noise():
    base = _hits(2000, 0.6, 2)
    better = base.copy()
    better[np.flatnonzero(~base)[:100]] = True  # 100 more images right, none lost: +5 points
    gain = paired_bootstrap({"test/top1": better}, {"test/top1": base}, "test/top1", resamples=1000)
    assert gain.diff == pytest.approx(0.05) and gain.low > 0 and gain.p < 0.01 and gain.queries == 2000
    same = paired_bootstrap({"test/top1": base}, {"test/top1": base[::-1].copy()}, "test/top1", resamples=1000)
    assert same.low <= 0 <= same.high and same.p > 0.05


def test_paired_bootstrap_needs_the_same_test_queries():
    assert paired_bootstrap({"test/top1": _hits(10, 0.5, 0)}, {"test/top1": _hits(11, 0.5, 0)}, "test/top1") is None
