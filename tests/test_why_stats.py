"""The why analyses' statistical building blocks, against textbook answers."""

from __future__ import annotations

import numpy as np
from scipy import stats

from breakup.why.baseline import window_sums
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
        # The integral of the step function, by a fine subdivision of the window.
        t = p + (np.arange(48_000) + 0.5) * 48.0 / 48_000
        inside = t < len(values)
        brute = float(values[np.floor(t[inside]).astype(int)].sum()) * 48.0 / 48_000
        assert abs(got - brute) < 1e-2


def test_negative_binomial_tail_matches_scipy_and_poisson_at_zero() -> None:
    from breakup.why.stats import nb_upper_p

    for o, e, inv in [(3, 2.0, 0.5), (10, 4.0, 0.2), (25, 6.0, 1.0), (1, 0.3, 2.0)]:
        k = 1 / inv
        want = stats.nbinom.sf(o - 1, k, k / (k + e))
        assert float(nb_upper_p(float(o), e, inv)) == np_approx(want)
        assert float(nb_upper_p(float(o), e, 0.0)) == np_approx(stats.poisson.sf(o - 1, e))
    # Far in the tail, where blame is decided, the negative binomial is the more cautious.
    assert float(nb_upper_p(25.0, 6.0, 0.2)) > 100 * float(upper_p(25.0, 6.0))


def test_em_recovers_a_planted_response_and_the_kernel_integrates_to_one() -> None:
    """Poisson counts on a 5-minute grid: baseline 2 per hour on 1,000 followers, plus
    40 departures after a post at hour 10 with an exponential delay of mean 30 min."""
    from scipy import sparse

    from breakup.why.pointprocess import Grid, Kernel, Model, design, kernel_matrix

    rng = np.random.default_rng(3)
    hours, per = 48, 12
    n = hours * per
    kern = Kernel(0.5)
    base = np.full(n, 2.0 / per)
    grid0 = Grid(0.0, 1 / per, np.full(n, 1000 / per), np.repeat(np.arange(hours), per),
                 np.arange(n), np.arange(n), np.zeros(n), True)  # fmt: skip
    k = kernel_matrix(grid0, np.array([10.0]), kern)
    assert abs(k.sum() - 1.0) < 1e-3
    y = rng.poisson(base + 40 * k.toarray().ravel()).astype(np.float64)
    grid = Grid(0.0, 1 / per, np.full(n, 1000 / per), np.repeat(np.arange(hours), per),
                np.arange(n), np.arange(n), y, True)  # fmt: skip
    model = Model(grid, design(0, hours, np.full(hours, 1000.0), resolution=0.0))
    fit = model.fit(model.start(sparse.csr_matrix(k)))
    assert 25 < fit.beta[0] < 55
    hourly = fit.mu.reshape(hours, per).sum(axis=1)
    assert np.all(np.abs(hourly - 2.0) < 1.0)
