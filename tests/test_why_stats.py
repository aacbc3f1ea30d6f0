"""The why analyses' statistical building blocks, against textbook answers."""

from __future__ import annotations

import numpy as np
from scipy import stats

from breakup.why.baseline import window_sums, window_weights
from breakup.why.data import spread
from breakup.why.stats import lower_bound, rate_ratio, ratio_interval, upper_p, wilson


def test_upper_p_is_the_poisson_tail_for_whole_counts() -> None:
    for o, e in [(0, 2.0), (1, 0.5), (5, 2.0), (20, 6.4), (3, 9.0)]:
        assert upper_p(float(o), e) == np_approx(stats.poisson.sf(o - 1, e))


def np_approx(x: float) -> object:
    import pytest

    return pytest.approx(x, rel=1e-9, abs=1e-12)


def test_lower_bound_exceeds_one_exactly_when_p_is_below_alpha() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        o = float(rng.integers(0, 40)) + float(rng.random())
        e = float(rng.uniform(0.5, 20))
        a = float(rng.choice([0.05, 0.001, 1e-5]))
        assert (lower_bound(o, e, a) > 1) == (upper_p(o, e) < a)


def test_garwood_interval_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(2)
    e, ratio = 4.0, 2.5
    obs = rng.poisson(e * ratio, 4000).astype(float)
    lo, hi = ratio_interval(obs, np.full(len(obs), e))
    coverage = float(np.mean((lo <= ratio) & (ratio <= hi)))
    assert 0.94 <= coverage <= 0.99  # exact intervals are conservative


def test_rate_ratio_and_wilson() -> None:
    rr = rate_ratio(40, 100.0, 10, 100.0)
    assert rr.ratio == 4.0 and rr.ci_low > 1.9 and rr.ci_high < 9 and rr.p_value < 1e-4
    same = rate_ratio(10, 50.0, 20, 100.0)
    assert same.ci_low < 1 < same.ci_high
    lo, hi = wilson(20, 100)
    assert lo < 0.2 < hi and lo > 0.12 and hi < 0.3


def test_spread_keeps_every_departure_and_its_window() -> None:
    out = spread(np.array([1.5, 3.0, 10.25]), np.array([4.5, 3.0, 10.75]),
                 np.array([6.0, 2.0, 1.0]), 20)  # fmt: skip
    assert out.sum() == np_approx(9.0)
    assert out[1] == np_approx(1.0) and out[2] == np_approx(2.0)  # 6 over 3 hours
    assert out[3] == np_approx(2.0 + 2.0) and out[4] == np_approx(1.0)
    assert out[10] == np_approx(1.0) and out[5:10].sum() == 0


def test_window_sums_match_weights() -> None:
    rng = np.random.default_rng(3)
    values = rng.random(200)
    pos = np.array([0.0, 3.7, 150.2, 190.9])
    sums = window_sums(values, pos, 48.0)
    for p, got in zip(pos, sums, strict=True):
        bins, w = window_weights(float(p), 48.0, len(values))
        assert got == np_approx(float(np.sum(values[bins] * w)))
