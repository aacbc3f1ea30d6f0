"""The few statistical tools the why analyses share, each with its uncertainty.

* Poisson counts against an expectation: one-sided upper-tail p-value and the exact
  (Garwood) interval of the rate ratio; both accept fractional counts (departures spread
  over snapshot windows), through the gamma form of the Poisson tail.
* Two Poisson rates: rate ratio with the exact conditional (Clopper-Pearson) interval.
* A proportion: Wilson interval.
* A Poisson GLM with a log exposure offset (statsmodels), with its Pearson dispersion.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special, stats

F = npt.NDArray[np.float64]

Z95 = 1.959963984540054


def upper_p(observed: F | float, expected: F | float) -> F:
    """P(X >= observed) for X ~ Poisson(expected); continuous in *observed*."""
    o = np.asarray(observed, dtype=np.float64)
    e = np.maximum(np.asarray(expected, dtype=np.float64), 1e-12)
    with np.errstate(invalid="ignore"):
        p = np.where(o > 0, special.gammainc(np.maximum(o, 1e-12), e), 1.0)
    out: F = np.clip(p, 0.0, 1.0)
    return out


def ratio_interval(observed: F | float, expected: F | float, level: float = 0.95) -> tuple[F, F]:
    """Exact (Garwood) interval of observed/expected treating *expected* as known."""
    o = np.asarray(observed, dtype=np.float64)
    e = np.maximum(np.asarray(expected, dtype=np.float64), 1e-12)
    a = 1.0 - level
    lo = np.where(o > 0, stats.chi2.ppf(a / 2, 2 * np.maximum(o, 1e-12)) / 2, 0.0) / e
    hi = stats.chi2.ppf(1 - a / 2, 2 * o + 2) / 2 / e
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def lower_bound(observed: F | float, expected: F | float, alpha: F | float) -> F:
    """One-sided lower confidence bound of observed/expected at level 1 - alpha: it
    exceeds 1 exactly when ``upper_p(observed, expected) < alpha``."""
    o = np.asarray(observed, dtype=np.float64)
    e = np.maximum(np.asarray(expected, dtype=np.float64), 1e-12)
    out = np.where(o > 0, stats.chi2.ppf(alpha, 2 * np.maximum(o, 1e-12)) / 2, 0.0) / e
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class RateRatio:
    """Rate of a group against a reference group, with a 95% interval and a two-sided p."""

    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    events: float  # in the group
    exposure: float  # in the group (person-days or recipients)
    ref_events: float
    ref_exposure: float


def rate_ratio(events: float, exposure: float, ref_events: float, ref_exposure: float) -> RateRatio:
    """Exact conditional comparison of two Poisson rates (binomial given the total)."""
    o1, o0 = round(events), round(ref_events)
    n = o1 + o0
    share = exposure / (exposure + ref_exposure) if exposure + ref_exposure > 0 else 0.5
    odds = ref_exposure / exposure if exposure > 0 else np.inf
    if n == 0 or exposure <= 0 or ref_exposure <= 0:
        return RateRatio(float("nan"), 0.0, float("inf"), 1.0, events, exposure, ref_events,
                         ref_exposure)  # fmt: skip
    lo_p = stats.beta.ppf(0.025, o1, n - o1 + 1) if o1 > 0 else 0.0
    hi_p = stats.beta.ppf(0.975, o1 + 1, n - o1) if o1 < n else 1.0
    p = float(stats.binomtest(o1, n, share).pvalue)

    def to_ratio(q: float) -> float:
        return float("inf") if q >= 1 else float(q / (1 - q) * odds)

    ratio = (events / exposure) / (ref_events / ref_exposure) if ref_events > 0 else float("inf")
    return RateRatio(
        float(ratio), to_ratio(lo_p), to_ratio(hi_p), p, events, exposure, ref_events, ref_exposure
    )


def wilson(k: float, n: float) -> tuple[float, float]:
    """95% Wilson interval of the proportion k/n."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


@dataclass
class Fit:
    params: F
    cov: F
    mu: F  # fitted means
    dispersion: float  # Pearson chi2 / residual df, at least 1


def poisson_glm(y: F, x: F, exposure: F) -> Fit:
    """Poisson GLM of *y* on *x* with log(*exposure*) offset. *y* may be fractional."""
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    start = np.zeros(x.shape[1])
    start[0] = np.log(max(float(y.sum()), 0.5) / float(exposure.sum()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GLM(y, x, family=families.Poisson(), offset=np.log(exposure))
        # Newton from the overall rate: a handful of Hessian steps on a small matrix.
        res = model.fit(method="newton", start_params=start, maxiter=100, disp=0)
        if not res.mle_retvals.get("converged", False):
            res = model.fit(method="irls", maxiter=100)
    mu = np.asarray(res.fittedvalues, dtype=np.float64)
    return Fit(
        np.asarray(res.params, dtype=np.float64),
        np.asarray(res.cov_params(), dtype=np.float64),
        mu,
        robust_dispersion(y, mu, x.shape[1]),
    )


def robust_dispersion(observed: F, expected: F, params: int, trim: float = 0.01) -> float:
    """Pearson dispersion (at least 1) of counts against their expectation, leaving out
    the units so far above it that the dispersion itself cannot explain them (one-sided
    p < *trim* at the current dispersion), iterated to a fixed point.

    Without the trimming, a handful of real break-up posts would inflate the dispersion
    and hide themselves; under pure Poisson churn the trimming removes 1% of units and
    about 6% of the Pearson statistic (then the floor of 1 applies).
    """
    ok = expected > 0
    o, e = observed[ok], expected[ok]
    phi = 1.0
    for _ in range(10):
        keep = upper_p(o / phi, e / phi) >= trim
        df = int(keep.sum()) - min(params, int(keep.sum()) // 2)
        if df <= 0:
            return phi
        new = max(1.0, float(np.sum((o[keep] - e[keep]) ** 2 / e[keep])) / df)
        if abs(new - phi) < 1e-3:
            return new
        phi = new
    return phi


def nb_upper_p(observed: F | float, expected: F | float, inv_size: float) -> F:
    """P(X >= observed) for X negative binomial with mean *expected* and variance
    expected·(1 + expected·inv_size) (Poisson when *inv_size* is 0); continuous in
    *observed* through the incomplete beta form of the tail."""
    if inv_size <= 0:
        return upper_p(observed, expected)
    o = np.asarray(observed, dtype=np.float64)
    e = np.maximum(np.asarray(expected, dtype=np.float64), 1e-12)
    k = 1.0 / inv_size
    with np.errstate(invalid="ignore"):
        p = np.where(o > 0, special.betainc(np.maximum(o, 1e-12), k, e / (e + k)), 1.0)
    out: F = np.clip(p, 0.0, 1.0)
    return out


def cautious_overdispersion(
    observed: F, expected: F, params: int, trim: float = 0.001
) -> float:
    """1/size of a negative binomial whose variance e·(1 + e/size) makes the trimmed
    Pearson statistic of the blocks equal the lower quartile of χ² on their degrees of
    freedom (0: Poisson is enough). Overdispersion from days of higher churn grows with
    the expectation, as in the negative binomial, and its tail is heavier than a scaled
    Poisson's: a busy window on a bad day is not blamed on the post in it. Cautious (a
    lower quartile rather than the degrees of freedom): with a day of history there are a
    dozen blocks, and the plain estimate would often come out below the truth."""
    ok = expected > 0
    o, e = observed[ok], expected[ok]
    inv = 0.0
    for _ in range(10):
        keep = nb_upper_p(o, e, inv) >= trim
        df = int(keep.sum()) - min(params, int(keep.sum()) // 2)
        if df <= 0:
            return inv
        target = float(stats.chi2.ppf(0.25, df))
        ok_o, ok_e = o[keep], e[keep]

        def pearson(x: float, ok_o: F = ok_o, ok_e: F = ok_e) -> float:
            return float(np.sum((ok_o - ok_e) ** 2 / (ok_e * (1.0 + ok_e * x))))

        if pearson(0.0) <= target:
            new = 0.0
        else:
            lo, hi = 0.0, 1.0
            while pearson(hi) > target and hi < 1e6:
                hi *= 4.0
            for _ in range(60):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if pearson(mid) > target else (lo, mid)
            new = hi
        if abs(new - inv) <= 1e-4 * (1.0 + inv):
            return new
        inv = new
    return inv


def excess_ratio(observed: F, expected: F) -> F:
    """Poisson likelihood ratio of counts above their expectation (0 at or below it): the
    strength of an excess, which breaks ties among p-values that underflow to 0."""
    o = observed
    e = np.maximum(expected, 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = 2 * (np.where(o > 0, o * np.log(o / e), 0.0) - (o - e))
    out: F = np.where(o > e, lr, 0.0)
    return out
