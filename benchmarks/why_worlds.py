"""Simulated audiences for validating ``breakup why``, written through ``save_batch``.

A world is a Bluesky-like account with followers who leave at a baseline rate (constant,
or overdispersed: a gamma-distributed level per day and departures in clusters), posts at
a cadence with jitter, some posts that cause extra departures after a delay drawn from a
distribution the model does not assume (uniform, lognormal, gamma with a dead time,
exponential), and outside bursts tied to no post. Departures are observed either with
exact times (unfollow events, as the Jetstream stream saves them) or only as missing from
the next follower snapshot (every 1 h, 6 h or week).

The truth is kept: which departures each planted post caused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from breakup.ingest import save_batch
from breakup.models import Batch, Direction, Event, EventKind, Person, Post, Snapshot, members_table
from breakup.store import Store

T0 = datetime(2025, 3, 3, tzinfo=UTC)
DELAYS = ("uniform", "lognormal", "deadtime", "exponential")


@dataclass
class Effect:
    post: int  # index into the posts
    size: int  # departures it causes
    delay_hours: float  # mean delay
    shape: str = "uniform"


@dataclass
class World:
    hours: float
    followers: int = 5000
    rate_per_hour: float = 1.5  # baseline departures per hour
    overdispersed: bool = False
    post_every_hours: float = 3.0
    effects: list[Effect] = field(default_factory=list)
    bursts: list[tuple[float, int, float]] = field(default_factory=list)  # (at h, size, width h)
    snapshot_hours: float | None = None  # None: exact times
    seed: int = 0


@dataclass
class Truth:
    posts: list[str]  # external ids in time order
    post_hours: np.ndarray
    caused: dict[str, int]  # planted post -> departures it caused
    burst_hours: list[tuple[float, float]]  # outside bursts: start, end


def _delays(rng: np.random.Generator, n: int, mean: float, shape: str) -> np.ndarray:
    if shape == "uniform":
        return rng.uniform(0, 2 * mean, n)
    if shape == "lognormal":  # median at 60% of the mean, long right tail
        sigma = 1.0
        return rng.lognormal(np.log(mean) - sigma**2 / 2, sigma, n)
    if shape == "deadtime":  # nobody in the first third of the mean, then gamma(2)
        return mean / 3 + rng.gamma(2.0, mean / 3, n)
    return rng.exponential(mean, n)


def simulate(world: World) -> tuple[np.ndarray, np.ndarray, Truth]:
    """Departure times (hours, ∞ if the follower stays) for the initial followers, post
    times, and the truth."""
    rng = np.random.default_rng(world.seed)
    h = world.hours
    gaps = world.post_every_hours * rng.uniform(0.5, 1.5, int(h / world.post_every_hours) + 2)
    post_at = np.cumsum(gaps) - gaps[0] * rng.uniform(0.2, 0.9)
    post_at = post_at[(post_at > 0) & (post_at < h - 0.01)]
    n = world.followers
    leave = np.full(n, np.inf)
    stay = list(rng.permutation(n))

    def take(k: int) -> list[int]:
        k = min(k, len(stay))
        out = [stay.pop() for _ in range(k)]
        return out

    # Baseline departures: a Poisson process (overdispersed: daily gamma level, clusters).
    times: list[float] = []
    day = 0.0
    while day < h:
        level = rng.gamma(2.0, 0.5) if world.overdispersed else 1.0
        span = min(24.0, h - day)
        k = rng.poisson(world.rate_per_hour * span * level / (1.5 if world.overdispersed else 1))
        if world.overdispersed:  # in clusters of 1-3 within ten minutes
            while k > 0:
                t = day + rng.uniform(0, span)
                c = min(k, int(rng.integers(1, 4)))
                times += list(t + rng.uniform(0, 1 / 6, c))
                k -= c
        else:
            times += list(day + rng.uniform(0, span, k))
        day += 24.0
    for t, who in zip(times, take(len(times)), strict=False):
        leave[who] = t
    truth = Truth([f"p{i}" for i in range(len(post_at))], post_at, {}, [])
    for eff in world.effects:
        if eff.post >= len(post_at):
            continue
        d = post_at[eff.post] + _delays(rng, eff.size, eff.delay_hours, eff.shape)
        d = d[d < h]
        who = take(len(d))
        leave[who] = d[: len(who)]
        truth.caused[truth.posts[eff.post]] = len(who)
    for at, size, width in world.bursts:
        d = at + rng.uniform(0, width, size)
        d = d[d < h]
        who = take(len(d))
        leave[who] = d[: len(who)]
        truth.burst_hours.append((at, at + width))
    return leave, post_at, truth


def save_world(store: Store, world: World, name: str = "bsky:brand.example") -> Truth:
    """Write *world* through ``save_batch``: a first snapshot with the posts, then unfollow
    events with exact times (as the stream saves them), or later snapshots."""
    leave, post_at, truth = simulate(world)
    ids = np.array([f"did:plc:f{i:07d}" for i in range(len(leave))])

    def at(hours: float) -> datetime:
        return T0 + timedelta(hours=float(hours))

    posts = [Post(truth.posts[i], at(t), text=f"post {i}") for i, t in enumerate(post_at)]
    first = Batch(source="validate", platform="bsky", source_ref=f"{name}-start",
                  account_identity=f"did:plc:{name}", account_handle=name.split(":", 1)[1],
                  observed_at=T0,
                  snapshots=[Snapshot(Direction.FOLLOWERS, T0, members_table(list(ids)))],
                  posts=posts)  # fmt: skip
    save_batch(store, first, account=name)
    if world.snapshot_hours is None:
        gone = np.flatnonzero(np.isfinite(leave))
        events = [Event(Person(str(ids[i])), EventKind.UNFOLLOW, at(leave[i])) for i in gone]
        batch = Batch(source="validate", platform="bsky", source_ref=f"{name}-events",
                      account_identity=f"did:plc:{name}", events=events)  # fmt: skip
        save_batch(store, batch, account=name)
        return truth
    step = world.snapshot_hours
    t = step
    while t <= world.hours + 1e-9:
        members = ids[~(leave <= t)]
        batch = Batch(source="validate", platform="bsky", source_ref=f"{name}-{t:.3f}",
                      account_identity=f"did:plc:{name}", observed_at=at(t),
                      snapshots=[Snapshot(Direction.FOLLOWERS, at(t),
                                          members_table(list(members)))])  # fmt: skip
        save_batch(store, batch, account=name)
        t += step
    return truth


__all__ = ["DELAYS", "T0", "Effect", "Truth", "World", "save_world", "simulate"]
