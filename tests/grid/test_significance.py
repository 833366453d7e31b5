"""grid/significance.py against naive references: the t interval from its formula, the paired t test from the t
statistic, Wilcoxon's exact p by enumerating every sign pattern, and Holm's step-down rule."""

import itertools
import math
import statistics

import pytest
from scipy import stats

from grid.significance import PairedTest, holm, paired_test, t_half_width


def test_the_t_interval_is_the_t_quantile_times_the_standard_error():
    values = [0.61, 0.64, 0.58, 0.66]
    want = stats.t.ppf(0.975, 3) * statistics.stdev(values) / math.sqrt(4)
    assert t_half_width(values) == pytest.approx(want)
    assert t_half_width([1.0, 2.0, 3.0]) == pytest.approx(4.302652729911275 / math.sqrt(3))
    assert t_half_width([0.5]) is None


def naive_wilcoxon_p(diffs):
    """Exact two-sided p of the signed-rank statistic: all 2^n sign patterns of the ranks (no ties, no zeros)."""
    ranks = {d: r + 1 for r, d in enumerate(sorted(diffs, key=abs))}
    observed = sum(ranks[d] for d in diffs if d > 0)
    sums = [
        sum(r for r, s in zip(ranks.values(), signs) if s) for signs in itertools.product((0, 1), repeat=len(diffs))
    ]
    low = sum(t <= observed for t in sums) / len(sums)
    high = sum(t >= observed for t in sums) / len(sums)
    return min(1.0, 2 * min(low, high))


def test_paired_tests_match_their_definitions():
    method = [0.71, 0.65, 0.80, 0.62, 0.77, 0.69]
    baseline = [0.66, 0.66, 0.71, 0.60, 0.70, 0.61]
    t = paired_test(method, baseline)
    diffs = [a - b for a, b in zip(method, baseline)]
    mean, sd = statistics.fmean(diffs), statistics.stdev(diffs)
    statistic = mean / (sd / math.sqrt(len(diffs)))
    assert t.n == 6 and t.mean_diff == pytest.approx(mean)
    assert t.half_width == pytest.approx(stats.t.ppf(0.975, 5) * sd / math.sqrt(6))
    assert t.p_t == pytest.approx(2 * stats.t.sf(abs(statistic), 5))
    assert t.p_wilcoxon == pytest.approx(naive_wilcoxon_p(diffs))


def test_identical_differences_are_certain_and_no_difference_is_not_significant():
    same = paired_test([0.7, 0.8, 0.9], [0.6, 0.7, 0.8])
    assert same.p_t == 0.0 and same.significant and same.mean_diff == pytest.approx(0.1)
    none = paired_test([0.7, 0.8], [0.7, 0.8])
    assert none.p_t == 1.0 and none.p_wilcoxon == 1.0 and not none.significant
    one = paired_test([0.7], [0.6])
    assert one.n == 1 and one.p_t is None and not one.significant
    with pytest.raises(ValueError, match="align"):
        paired_test([0.1, 0.2], [0.1])


def test_holm_multiplies_by_the_remaining_count_and_keeps_the_order_monotone():
    tests = [PairedTest(5, 0.1, 0.01, p, None) for p in (0.01, 0.04, 0.03)]
    adjusted = [t.p_adjusted for t in holm(tests)]
    assert adjusted == pytest.approx([0.03, 0.06, 0.06])
    assert [t.significant for t in holm(tests)] == [True, False, False]
    assert holm([PairedTest(1, 0.1, None, None, None)])[0].p_adjusted is None
