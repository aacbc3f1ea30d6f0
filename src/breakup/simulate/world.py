"""The brand-wide calendar and the hazard machinery every channel shares.

Time inside the simulator is float hours since the start of the simulated year; it becomes
integer microseconds (and datetimes) only when observations are written, so truth and
observations agree to the microsecond.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from .params import SimParams

F = npt.NDArray[np.float64]
I = npt.NDArray[np.int64]  # noqa: E741
B = npt.NDArray[np.bool_]
Rng = np.random.Generator

HOUR_US = 3_600_000_000
DAY = 24.0


def to_us(hours: F) -> I:
    return np.round(hours * HOUR_US).astype(np.int64)


@dataclass
class Promo:
    start: float
    end: float
    code: str
    pct: int


@dataclass
class Market:
    start: float
    end: float
    multiplier: float


@dataclass
class World:
    """What every channel of the brand shares: the calendar and the planted effects."""

    params: SimParams
    start: datetime
    hours: float
    effects: frozenset[str]
    promos: list[Promo] = field(default_factory=list)
    market: list[Market] = field(default_factory=list)
    purges: list[float] = field(default_factory=list)  # bot purge times
    cleanup: tuple[float, float] | None = None  # inactive-account clean-up window

    @property
    def days(self) -> int:
        return self.params.days

    def at(self, hours: float) -> datetime:
        return self.start + timedelta(microseconds=round(hours * HOUR_US))

    def scaled(self, per_year: float) -> int:
        """How many of something that happens *per_year* times in a year fit this run."""
        return max(1, round(per_year * self.days / 365))

    def busy(self, t: float, margin_days: float) -> bool:
        """Whether *t* is near a promotion or market window (keeps planted causes apart)."""
        m = margin_days * DAY
        spans = [(p.start, p.end) for p in self.promos] + [(w.start, w.end) for w in self.market]
        return any(a - m <= t <= b + m for a, b in spans)


def pick_days(
    rng: Rng, n: int, lo: float, hi: float, gap: float, avoid: list[float]
) -> list[float]:
    """Up to *n* day numbers in [lo, hi) at least *gap* days from each other and *avoid*."""
    chosen: list[float] = []
    for _ in range(200 * n):
        if len(chosen) == n or hi <= lo:
            break
        d = float(rng.uniform(lo, hi))
        if all(abs(d - c) >= gap for c in chosen + avoid):
            chosen.append(d)
    return sorted(chosen)


def make_world(params: SimParams, rng: Rng) -> World:
    effects = params.effects()
    world = World(params, params.start, params.days * DAY, effects)
    days = params.days
    codes = ("FLASH30", "SPRING25", "SUMMER20", "AUTUMN25", "WINTER30", "HOLIDAY35")
    starts = pick_days(rng, world.scaled(4), 7, days - 12, 25, [])
    for i, d in enumerate(starts):
        start = np.floor(d) * DAY + 14.0
        length = 48.0 if rng.random() < 0.6 else 72.0
        code = codes[i % len(codes)]
        world.promos.append(Promo(start, start + length, code, int(code[-2:])))
    if "marketplace" in effects:
        avoid = [p.start / DAY for p in world.promos]
        # Strong enough that the market, not the brand, explains most excess churn.
        for d in pick_days(rng, world.scaled(4), 10, days - 10, 25, avoid):
            start = np.floor(d) * DAY + float(rng.uniform(0, 12))
            length = float(rng.uniform(3, 5)) * DAY
            world.market.append(Market(start, start + length, round(float(rng.uniform(4, 7)), 2)))
    if "bot_purge" in effects:
        purge_days = pick_days(rng, world.scaled(2), 10, days - 10, 30, [])
        world.purges = [np.floor(d) * DAY + float(rng.uniform(2, 20)) for d in purge_days]
        cd = pick_days(rng, 1, 20, days - 20, 10, purge_days)
        if cd:
            c0 = np.floor(cd[0]) * DAY
            world.cleanup = (c0, c0 + 5 * DAY)
    return world


class Hazard:
    """A piecewise-constant hazard on the hourly grid, with its integral and inverse."""

    def __init__(self, rate: F) -> None:
        self.rate = rate
        self.n = len(rate)
        self.cum = np.concatenate([[0.0], np.cumsum(rate)])

    def at(self, x: F) -> F:
        """Cumulative hazard from the start to each time in *x* (hours)."""
        x = np.clip(x, 0.0, float(self.n))
        i = np.minimum(np.floor(x).astype(np.int64), self.n - 1)
        out: F = self.cum[i] + (x - i) * self.rate[i]
        return out

    def inverse(self, target: F) -> F:
        """First time the cumulative hazard reaches *target*; inf beyond the horizon."""
        i = np.searchsorted(self.cum, target, side="right") - 1
        never = (i >= self.n) | ~np.isfinite(target)
        i = np.clip(i, 0, self.n - 1)
        safe = np.where(never, 0.0, target)
        x = i + (safe - self.cum[i]) / self.rate[i]
        out: F = np.where(never, np.inf, x)
        return out


def first_time(hazard: Hazard, since: F, exposure: F, ratio: F) -> F:
    """When a person first accumulates *exposure* (Exp(1) draws) at *ratio* × hazard."""
    with np.errstate(divide="ignore", invalid="ignore"):
        target = hazard.at(np.maximum(since, 0.0)) + np.where(ratio > 0, exposure / ratio, np.inf)
    return hazard.inverse(target)


def constant_time(rng: Rng, since: F, per_day: F) -> F:
    """Time of the first event of a constant-rate process (per day) from *since*."""
    with np.errstate(divide="ignore"):
        wait = np.where(per_day > 0, rng.exponential(1.0, len(since)) / per_day * DAY, np.inf)
    out: F = np.maximum(since, 0.0) + wait
    return out


def fragile_time(rng: Rng, since: F, ratio: F, peak_per_day: float, tau_days: float) -> F:
    """Departures from the fragility of new ties: hazard peak·exp(-tenure/tau).

    Short ties break more often (Kwak et al. 2011); the cumulative hazard is closed-form,
    so the first time is solved exactly.
    """
    lam = peak_per_day / DAY
    tau = tau_days * DAY
    x0 = np.maximum(since, 0.0)
    e = rng.exponential(1.0, len(since))
    with np.errstate(divide="ignore", invalid="ignore"):
        rhs = np.exp(-(x0 - since) / tau) - np.where(ratio > 0, e / ratio, np.inf) / (lam * tau)
        t = since - tau * np.log(np.where(rhs > 0, rhs, 1.0))
    out: F = np.where(rhs > 0, t, np.inf)
    return out
