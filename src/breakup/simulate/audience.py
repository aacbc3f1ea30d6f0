"""People and their true relationship spans, shared by the social and email channels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .world import B, F, I, Rng

Strs = npt.NDArray[np.object_]

# Person kinds: bot-like and inactive accounts are the "users" side of seed 002's triage.
REGULAR, INACTIVE, BOT = 0, 1, 2
# How a span ended (0: still open at the end of the year).
OPEN, LEFT, DELETED, SUSPENDED = 0, 1, 2, 3


def objects(values: Sequence[str | None]) -> Strs:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


@dataclass
class Audience:
    """Everyone an account ever dealt with; index = person number within the account."""

    ext: Strs  # platform id
    handle: Strs
    name: Strs
    kind: I
    prop: F  # engagement propensity
    new_handle: Strs = field(init=False)
    new_name: Strs = field(init=False)
    change_at: F = field(init=False)  # when handle/name changed (inf: never)
    decline_start: F = field(init=False)  # at-risk fans: engagement fades from here ...
    decline_end: F = field(init=False)  # ... to almost nothing here
    gone_at: F = field(init=False)  # the account itself was deleted or suspended

    def __post_init__(self) -> None:
        n = len(self.ext)
        self.new_handle = self.handle.copy()
        self.new_name = self.name.copy()
        self.change_at = np.full(n, np.inf)
        self.decline_start = np.full(n, np.inf)
        self.decline_end = np.full(n, np.inf)
        self.gone_at = np.full(n, np.inf)

    def __len__(self) -> int:
        return len(self.ext)

    def extend(self, other: Audience) -> None:
        for name in [
            "ext",
            "handle",
            "name",
            "kind",
            "prop",
            "new_handle",
            "new_name",
            "change_at",
            "decline_start",
            "decline_end",
            "gone_at",
        ]:
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))

    def handles_at(self, idx: I, t: float) -> Strs:
        out: Strs = np.where(self.change_at[idx] <= t, self.new_handle[idx], self.handle[idx])
        return out

    def names_at(self, idx: I, t: float) -> Strs:
        out: Strs = np.where(self.change_at[idx] <= t, self.new_name[idx], self.name[idx])
        return out

    def weight(self, idx: I, t: float) -> F:
        """Engagement propensity at time *t*; at-risk fans fade linearly to 3%."""
        ds = self.decline_start[idx]
        de = self.decline_end[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(np.isfinite(ds), np.clip((t - ds) / (de - ds), 0.0, 1.0), 0.0)
        out: F = self.prop[idx] * (1.0 - 0.97 * frac)
        return out


@dataclass
class Spans:
    person: I
    start: F
    end: F  # inf: still open at the end of the year
    kind: I  # OPEN / LEFT / DELETED / SUSPENDED
    cause: Strs
    cause_post: I  # index of the break-up post responsible, -1 if none

    def __len__(self) -> int:
        return len(self.person)

    def alive(self, t: float) -> I:
        """Span indices open at time *t*."""
        out: I = np.flatnonzero((self.start <= t) & (self.end > t))
        return out

    def concat(self, other: Spans) -> Spans:
        return Spans(
            np.concatenate([self.person, other.person]),
            np.concatenate([self.start, other.start]),
            np.concatenate([self.end, other.end]),
            np.concatenate([self.kind, other.kind]),
            np.concatenate([self.cause, other.cause]),
            np.concatenate([self.cause_post, other.cause_post]),
        )


def person_kinds(rng: Rng, n: int, inactive: float, bots: float) -> I:
    out: I = rng.choice(3, size=n, p=[1.0 - inactive - bots, inactive, bots]).astype(np.int64)
    return out


def propensity(rng: Rng, kind: I) -> F:
    """Heavy-tailed engagement: most followers rarely engage, a few often; bots never."""
    prop = rng.lognormal(-0.3, 1.2, len(kind))
    out: F = np.where(kind == REGULAR, prop, 0.0)
    return out


def pick(rng: Rng, pool: I, k: int) -> I:
    if len(pool) == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    out: I = np.sort(rng.choice(pool, size=min(k, len(pool)), replace=False))
    return out


def sample_weighted(rng: Rng, idx: I, w: F, k: int) -> I:
    """*k* draws (with replacement, then de-duplicated) from *idx* in proportion to *w*."""
    total = float(w.sum())
    if k <= 0 or total <= 0:
        return np.zeros(0, dtype=np.int64)
    out: I = np.unique(idx[rng.choice(len(idx), size=k, p=w / total)])
    return out


@dataclass
class Fans:
    top: I = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    at_risk_left: I = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    at_risk_staying: I = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    left_at: F = field(default_factory=lambda: np.zeros(0))  # for at_risk_left


def plant_fans(
    rng: Rng,
    people: Audience,
    initial: I,
    hours: float,
    top: bool,
    at_risk: bool,
    leave_times: F | None = None,
    share: float = 0.002,
    strength: tuple[float, float] = (8.0, 14.0),
) -> Fans:
    """Top fans engage a lot and stay; at-risk fans fade for weeks, then (some) leave.

    ``leave_times`` lets a channel choose when at-risk fans may leave (email: after sends).
    ``share`` of the initial followers are at-risk fans that leave (as many fade and stay),
    with engagement propensity drawn from ``strength``.
    """
    fans = Fans()
    n = len(initial)
    pool = initial[people.kind[initial] == REGULAR]
    if top:
        fans.top = pick(rng, pool, max(3, round(n * 0.004)))
        people.prop[fans.top] = rng.uniform(25.0, 50.0, len(fans.top))
        pool = np.setdiff1d(pool, fans.top)
    if at_risk:
        k = max(2, round(n * share))
        chosen = pick(rng, pool, 2 * k)
        order = rng.permutation(len(chosen))
        fans.at_risk_left = np.sort(chosen[order[:k]])
        fans.at_risk_staying = np.sort(chosen[order[k:]])
        people.prop[chosen] = rng.uniform(strength[0], strength[1], len(chosen))
        if leave_times is None:
            left = rng.uniform(0.35 * hours, 0.9 * hours, len(fans.at_risk_left))
        else:
            left = rng.choice(leave_times, size=len(fans.at_risk_left))
        fans.left_at = left
        ds = left - rng.uniform(35.0, 56.0, len(left)) * 24.0
        people.decline_start[fans.at_risk_left] = ds
        people.decline_end[fans.at_risk_left] = left
        st = fans.at_risk_staying
        people.decline_start[st] = hours - rng.uniform(30.0, 45.0, len(st)) * 24.0
        people.decline_end[st] = hours + 20.0 * 24.0
    return fans


def apply_name_changes(
    rng: Rng, people: Audience, spans: Spans, hours: float, platform: str, share: float
) -> I:
    """Some people change their handle (Bluesky) or display name (Mastodon) mid-year.

    Only people who follow for more than a week on both sides of the change are picked, so
    a snapshot (weekly on Mastodon) shows both the old and the new name.
    """
    n = len(people)
    c = rng.uniform(0.05 * hours, 0.9 * hours, n)
    covered = np.zeros(n, dtype=bool)
    ok = (spans.start < c[spans.person] - 8 * 24.0) & (spans.end > c[spans.person] + 8 * 24.0)
    covered[spans.person[ok]] = True
    pool = np.flatnonzero(covered & (people.kind == REGULAR))
    chosen = pick(rng, pool, max(1, round(len(np.unique(spans.person)) * share)))
    for i in chosen:
        people.change_at[i] = c[i]
        if platform == "bsky":
            slug = str(people.handle[i]).split(".")[0]
            people.new_handle[i] = f"{slug}.com" if rng.random() < 0.5 else f"{slug}x.bsky.social"
        else:
            people.new_name[i] = f"{people.name[i]} ☕"
    return chosen


def refollows(rng: Rng, spans: Spans, eligible: B, hours: float, share: float) -> tuple[I, F]:
    """People who left and come back after 10-90 days: persons and their new start times."""
    idx = np.flatnonzero(eligible & (rng.random(len(spans)) < share))
    start = spans.end[idx] + rng.uniform(10.0, 90.0, len(idx)) * 24.0
    keep = start < hours - 24.0
    return spans.person[idx[keep]], start[keep]
