"""An account's normal churn on the hourly grid, as the peers' comparison and the triage
read it (break-up posts have their own model: :mod:`.pointprocess`).

Departures per hour ~ Poisson(followers × 1 h × exp(β·x)), where x holds the day of the
week, the hour of the day (six four-hour blocks, UTC), a piecewise-linear trend with a knot
every 30 days, and the account's posting bursts. Fitted with statsmodels' GLM (IRLS);
hours without followers are left out.

``window_sums`` gives, for many windows at once, the observed and expected departures in
[t, t + W) from cumulative sums — no loop over posts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import I64, F, Series
from .stats import Fit, poisson_glm, robust_dispersion

KNOT_DAYS = 30
BLOCK_HOURS = 4


def design(h0: int, n: int) -> F:
    """Columns: intercept, 6 weekday dummies, 5 hour-block dummies, 30-day block dummies
    (a last block shorter than 15 days joins the one before)."""
    hours = np.arange(h0, h0 + n, dtype=np.int64)
    # 1970-01-01 was a Thursday: weekday 0 = Monday.
    weekday = ((hours // 24) + 3) % 7
    block = (hours % 24) // BLOCK_HOURS
    cols = [np.ones(n)]
    cols += [(weekday == d).astype(np.float64) for d in range(1, 7)]
    cols += [(block == b).astype(np.float64) for b in range(1, 24 // BLOCK_HOURS)]
    period = np.arange(n, dtype=np.int64) // (24 * KNOT_DAYS)
    last = int(period[-1]) if n else 0
    if last > 0 and n - last * 24 * KNOT_DAYS < 24 * KNOT_DAYS // 2:
        period[period == last] = last - 1
    cols += [(period == k).astype(np.float64) for k in range(1, int(period.max(initial=0)) + 1)]
    x = np.stack(cols, axis=1)
    # Drop columns that are constant zero (a short period may lack a weekday).
    keep = (np.abs(x).sum(axis=0) > 0) | (np.arange(x.shape[1]) == 0)
    out: F = x[:, keep]
    return out


BURST_QUANTILE = 0.95


def load_columns(series: Series) -> F:
    """What the account and its audience bring to normal churn, beyond any single post:

    * bursts — posts in the preceding 24 hours, and in the 24 hours before those, beyond the
      account's own 95th percentile of that count (two hinge columns, each one slope). Only
      the busiest 5% of hours have a dose, so an ordinary busy moment cannot absorb the
      excess of a post in it, while a real burst's excess is not blamed on its single posts
      (the diagnosis reports the dose-response);
    * the share of followers who joined in the last two weeks (new ties are fragile;
      promotion joiners leave fast).
    """
    hours = np.arange(series.hours, dtype=np.float64)
    last_day = window_sums(series.posting, hours - 23.0, 24.0)
    day_before = window_sums(series.posting, hours - 47.0, 24.0)
    seen = series.followers > 0
    q = float(np.quantile(last_day[seen], BURST_QUANTILE)) if seen.any() else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(seen, series.recent / series.followers, 0.0)
    return np.stack([np.maximum(0.0, last_day - q), np.maximum(0.0, day_before - q), share], axis=1)


def window_sums(values: F, pos: F, width: float) -> F:
    """Sum of hourly *values* over [pos, pos + width) for each position, fractional bins
    weighted by their overlap."""
    n = len(values)
    cum = np.concatenate([[0.0], np.cumsum(values)])

    def upto(x: F) -> F:  # integral of the step function from 0 to x
        x = np.clip(x, 0.0, float(n))
        i = np.minimum(np.floor(x).astype(np.int64), n - 1) if n else np.zeros_like(x, np.int64)
        out: F = cum[i] + (x - i) * values[i] if n else np.zeros_like(x)
        return out

    out: F = upto(pos + width) - upto(pos)
    return out


@dataclass
class HourlyModel:
    """A fitted baseline of one series; ``mu`` is on the full grid (0 where unused)."""

    series: Series
    rows: I64
    x: F
    fit: Fit
    mu: F

    @property
    def dispersion(self) -> float:
        return self.fit.dispersion


def fit_hourly(series: Series, y: F, extra: list[F] | None = None) -> HourlyModel | None:
    """Fit the baseline of *y* (hourly departures of *series*), with *extra* columns (full
    grid length) for windows already explained. None if there is nothing to fit."""
    rows = np.flatnonzero(series.followers > 0).astype(np.int64)
    if len(rows) < 48 or y[rows].sum() <= 0:
        return None
    x = np.concatenate([design(series.h0, series.hours), load_columns(series)], axis=1)[rows]
    if extra:
        x = np.concatenate([x, np.stack([c[rows] for c in extra], axis=1)], axis=1)
    # A block without followers would make the fit diverge: drop empty columns.
    keep = (np.abs(x).sum(axis=0) > 0) | (np.arange(x.shape[1]) == 0)
    x = x[:, keep]
    fit = poisson_glm(y[rows], x, series.followers[rows])
    mu = np.zeros(series.hours)
    mu[rows] = fit.mu
    # Daily dispersion: hourly counts are too sparse to show overdispersion.
    day = rows // 24
    fit.dispersion = robust_dispersion(
        np.bincount(day, y[rows]).astype(np.float64),
        np.bincount(day, fit.mu).astype(np.float64),
        x.shape[1],
    )
    return HourlyModel(series, rows, x, fit, mu)
