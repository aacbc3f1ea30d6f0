"""Retention curves: resolution where the survival chart looks, and a bounded size."""

from __future__ import annotations

import numpy as np
import pytest

from breakup.why.retention import DETAIL_DAYS, MAX_POINTS, _curve


def _email_cohort(seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """~3,500 days of opt-ins (an email list's export), a whole day apiece."""
    rng = np.random.default_rng(seed)
    n = 4000
    dur = np.round(rng.exponential(900.0, n)).clip(1, 3500)
    ended = dur < 3500
    return np.zeros(n), dur, ended, np.ones(n)


def test_every_step_of_the_charted_years_is_a_point() -> None:
    entry, dur, ended, w = _email_cohort()
    c = _curve("all", entry, dur, ended, w)
    assert c is not None
    days = [d for d, _ in c.points]
    assert days == sorted(days) and days[0] == 0.0 and c.points[0][1] == 1.0
    assert days[-1] == pytest.approx(float(dur.max()))
    # Every day with a departure in the charted range is a point, at its exact survival.
    steps = sorted({float(d) for d, e in zip(dur, ended, strict=True) if e and d <= DETAIL_DAYS})
    assert set(steps) <= set(days)
    at = dict(c.points)
    n_at_risk = len(dur)
    s = 1.0
    for d in sorted(set(dur.tolist())):
        if d > DETAIL_DAYS:
            break
        gone = float(((dur == d) & ended).sum())
        s *= 1 - gone / n_at_risk
        n_at_risk -= int((dur == d).sum())
        if gone:
            assert at[d] == pytest.approx(s, rel=1e-9)
    # The first year is no longer one step a month.
    early = [d for d in days if d <= 365]
    assert max(np.diff(early)) <= 3
    # Still small: at most MAX_POINTS points a curve.
    assert len(c.points) <= MAX_POINTS


def test_a_short_curve_keeps_its_steps() -> None:
    dur = np.array([1.0, 2.0, 2.0, 5.0, 9.0, 9.0, 12.0, 20.0, 20.0, 20.0, 30.0])
    ended = np.array([True, True, False, True, True, True, False, True, False, False, False])
    c = _curve("few", np.zeros(len(dur)), dur, ended, np.ones(len(dur)))
    assert c is not None
    days = [d for d, _ in c.points]
    assert {1.0, 2.0, 5.0, 9.0, 20.0} <= set(days) and days[-1] == 30.0


def test_times_finer_than_days_stay_within_the_budget() -> None:
    rng = np.random.default_rng(4)
    dur = rng.exponential(900.0, 6000).clip(0.01, 3500)
    c = _curve("fine", np.zeros(len(dur)), dur, dur < 3500, np.ones(len(dur)))
    assert c is not None and len(c.points) <= MAX_POINTS
    early = [d for d, _ in c.points if d <= 365]
    assert len(early) > 200 and max(np.diff(early)) < 10
