"""What followers' profiles show: activity and bot signals for dead-weight triage.

Each person the brand deals with is profiled in the first profile sweep (every
:data:`SWEEP_DAYS`) after they are first seen, and again at the end of the year if still
around, as a live tracker looking profiles up in bulk would see them. By kind:

* regular — an account a year or more old, posting a few times a week, last post recent;
* inactive — no posts at all, or none for months (their last post 4–24 months old);
* bot — created days before following, posting dozens of times a day, following thousands,
  followed by few; the platform's own bot flag set on half of them on Mastodon (where
  accounts declare it) and a tenth on Bluesky (a self-applied "bot" label).

Profiles are drawn from their own random stream, so adding them changed nothing else the
simulator planted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..models import Profile
from .audience import BOT, INACTIVE
from .channel import datetimes, persons
from .world import DAY, F, I, Rng, World

if TYPE_CHECKING:
    from .channel import Channel
    from .social import SocialOut

_BOT_FLAG_SHARE = {"mastodon": 0.5, "bsky": 0.1}
SWEEP_DAYS = 28


def observe_profiles(
    ch: Channel, world: World, out: SocialOut, rng: Rng, following: I | None = None
) -> None:
    """Add a profile of everyone followed by or following the account to *ch*."""
    people, spans = out.people, out.spans
    n = len(people)
    # Per-person traits, drawn for everyone (one vectorised pass, independent of who is seen).
    kind = people.kind
    first = np.full(n, np.inf)
    np.minimum.at(first, spans.person, np.maximum(spans.start, 0.0))
    if following is not None and len(following):
        first[following] = 0.0
    age_days = np.where(kind == BOT, rng.uniform(1.0, 30.0, n), 30.0 + rng.exponential(700.0, n))
    base = np.where(np.isfinite(first), first, 0.0)
    created = np.where(kind == BOT, base, np.minimum(base, 0.0)) - age_days * DAY
    rate = np.select(
        [kind == BOT, kind == INACTIVE],
        [rng.uniform(20.0, 80.0, n), np.zeros(n)],
        rng.lognormal(-0.7, 1.0, n),  # posts per day
    )
    silent = (kind == INACTIVE) & (rng.random(n) < 0.5)  # never posted at all
    quiet_since = rng.uniform(120.0, 720.0, n) * DAY  # inactive: months since the last post
    old_posts = np.where(silent, 0, rng.integers(1, 60, n))
    fans = rng.lognormal(4.0, 1.3, n).astype(np.int64)
    follows = rng.lognormal(5.0, 0.9, n).astype(np.int64)
    fans = np.where(kind == BOT, rng.integers(0, 25, n), fans)
    follows = np.where(kind == BOT, rng.integers(2000, 7500, n), follows)
    flagged = (kind == BOT) & (rng.random(n) < _BOT_FLAG_SHARE.get(out.spec.platform, 0.0))
    gap = rng.exponential(2.0, n) * DAY  # regular and bots: time since their latest post

    seen = np.flatnonzero(np.isfinite(first))
    end_alive = np.unique(spans.person[spans.alive(world.hours - 1e-6)])
    if following is not None and len(following):
        end_alive = np.union1d(end_alive, following[people.gone_at[following] > world.hours])
    idx: I = np.concatenate([seen, end_alive])
    # Profiles are refreshed in sweeps every SWEEP_DAYS (a tracker looks people up in bulk,
    # not on every poll): one save in four carries them, which keeps the demo fast.
    sweep = SWEEP_DAYS * DAY
    swept = np.minimum(np.ceil(first[seen] / sweep) * sweep, world.hours)
    at: F = np.concatenate([ch.fetch_time(swept), np.full(len(end_alive), world.hours)])
    at = np.minimum(at, world.hours)
    life = np.maximum(at - created[idx], 0.0) / DAY
    k = kind[idx]
    inactive = k == INACTIVE
    posts = np.where(inactive, old_posts[idx], np.round(rate[idx] * life)).astype(np.int64)
    last = np.where(inactive, at - quiet_since[idx], at - np.minimum(gap[idx], life * DAY))
    last = np.maximum(last, created[idx])
    no_last = posts == 0
    who = persons(people, idx, at)
    rows = [
        Profile(
            person=p,
            observed_at=w,
            posts_count=int(pc),
            followers_count=int(fc),
            following_count=int(fo),
            created_at=c,
            last_post_at=None if nl else lp,
            bot=bool(b) if out.spec.platform == "mastodon" or b else None,
        )
        for p, w, pc, fc, fo, c, lp, nl, b in zip(
            who,
            datetimes(world, at),
            posts.tolist(),
            fans[idx].tolist(),
            follows[idx].tolist(),
            datetimes(world, created[idx]),
            datetimes(world, last),
            no_last.tolist(),
            flagged[idx].tolist(),
            strict=True,
        )
    ]
    ch.add("profiles", at, rows)
