"""How a real user would have seen the simulated year: the Batches their sources return.

* Bluesky: exact follow/unfollow events (Jetstream) except during a firehose outage,
  Jetstream account events for deleted or taken-down followers, a complete follower
  snapshot every day (one of them a failed, partial page run) and a weekly snapshot of
  the accounts the brand follows;
* Mastodon: exact follow notifications, but follower snapshots only weekly, so departures
  are known to a week-long window;
* email: opt-ins, unsubscribes naming their campaign, cleaned (bounced) addresses;
* every departed social account is re-checked a day after it is seen gone.

Names in events and interactions are as the source shows them when it is read (the end of
the batch); snapshots carry the names seen at their own time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..models import (
    AccountState,
    Batch,
    Check,
    Direction,
    Event,
    EventKind,
    FollowRecord,
    Interaction,
    InteractionKind,
    Person,
    Post,
    PostKind,
)
from . import content
from .audience import DELETED, LEFT, SUSPENDED, Audience
from .channel import Channel, _us, datetimes, persons, snapshot, unix_us
from .email import EmailOut
from .engage import SimPost
from .profiles import observe_profiles
from .social import SocialOut
from .world import DAY, F, Rng, World

# -- social -----------------------------------------------------------------------------


@dataclass
class SocialSeen:
    """What observing a social account produced, beyond the batches."""

    snapshot_hours: F
    partial: list[float]
    outages: list[tuple[float, float]]
    post_ids: list[str]  # external id per top-level post index
    answered_ids: list[str]  # follower posts the brand answered (by talk index)


def observe_social(
    out: SocialOut, world: World, rng: Rng, step_days: int
) -> tuple[list[Batch], SocialSeen]:
    spec = out.spec
    ch = Channel(world, spec.key, spec.platform, spec.identity, spec.handle, step_days)
    people, spans = out.people, out.spans
    hours = world.hours
    bsky = spec.platform == "bsky"
    every = 1 if bsky else 7
    snaps = np.unique(np.append(np.arange(0, world.days + 1, every) * DAY, hours))
    snaps = snaps[snaps <= hours]

    # A failed page run: stored as partial, must never become a mass unfollow.
    partial: list[float] = []
    if spec.own and bsky:
        quiet = [
            d
            for d in range(int(0.3 * world.days), int(0.6 * world.days))
            if not _near_removals(world, d * DAY)
        ]
        partial = [float(quiet[int(rng.integers(len(quiet)))]) * DAY] if quiet else []
    outages: list[tuple[float, float]] = []
    if spec.firehose:
        a = float(rng.uniform(0.2, 0.8)) * hours
        outages = [(a, a + float(rng.uniform(6.0, 10.0)))]

    complete = np.array([t for t in snaps if t not in partial])
    for t in snaps.tolist():
        alive = spans.alive(t)
        who = spans.person[alive]
        reported = len(who) + int(rng.integers(0, 4))  # counters include hidden accounts
        is_partial = t in partial
        if is_partial:
            who = who[rng.random(len(who)) < 0.7]
        # A peer is tracked for its counts and overlaps only: its followers' names are not
        # the user's business, and not keeping them keeps the demo fast.
        snap = snapshot(
            people,
            who,
            t,
            world.at(t),
            complete=not is_partial,
            reported=reported,
            names=spec.own,
        )
        ch.add("snapshots", np.array([t]), [snap])

    def visible(t: F) -> np.ndarray:
        ok = np.ones(len(t), dtype=bool)
        for a, b in outages:
            ok &= (t < a) | (t >= b)
        return ok

    if spec.firehose or not bsky:
        # Jetstream carries DIDs only; Mastodon's follow notifications carry the account.
        joined = np.flatnonzero((spans.start > 0) & visible(spans.start))
        t = spans.start[joined]
        if bsky:
            follows = [
                Event(Person(str(people.ext[p])), EventKind.FOLLOW, w, ref=_rkey(world, p, s))
                for p, s, w in zip(spans.person[joined], t, datetimes(world, t), strict=True)
            ]
            # The firehose names the follow record, so later deletes can be resolved.
            records = [FollowRecord(e.person, e.ref or "", e.at) for e in follows]
            ch.add("follow_records", t, records)
        else:
            who_p = persons(people, spans.person[joined], ch.fetch_time(t))
            follows = [
                Event(p, EventKind.FOLLOW, w)
                for p, w in zip(who_p, datetimes(world, t), strict=True)
            ]
        ch.add("events", t, follows)
    exact_end = np.zeros(len(spans), dtype=bool)
    if spec.firehose:
        left = np.flatnonzero((spans.kind == LEFT) & visible(np.minimum(spans.end, hours)))
        exact_end[left] = True
        t = spans.end[left]
        unfollows = [
            Event(Person(str(people.ext[p])), EventKind.UNFOLLOW, w, ref=_rkey(world, p, s))
            for p, s, w in zip(
                spans.person[left], spans.start[left], datetimes(world, t), strict=True
            )
        ]
        ch.add("events", t, unfollows)
        gone = np.flatnonzero((spans.kind >= DELETED) & visible(np.minimum(spans.end, hours)))
        t = spans.end[gone]
        states = [_gone_state(rng, int(k), bsky) for k in spans.kind[gone]]
        ch.add(
            "checks",
            t,
            [
                Check(
                    Person(str(people.ext[p])),
                    w,
                    st,
                    None,
                    f"jetstream account event: active=false status={_status(st)}",
                    exact=True,
                )
                for p, w, st in zip(spans.person[gone], datetimes(world, t), states, strict=True)
            ],
        )
    _rechecks(ch, world, rng, people, spans, complete, exact_end, bsky)

    post_ids = _posts(ch, world, out)
    answered = _talk(ch, world, out, post_ids)
    _likes(ch, world, out, post_ids)
    if spec.following:
        _following(ch, world, out)
    if spec.own:
        # Its own stream: profiles leave every other draw of the simulation as it was.
        stream = np.random.default_rng([world.params.seed, 0x9F0F11E5, *spec.key.encode()])
        followed = np.array([p for p, _ in out.following], dtype=np.int64)
        observe_profiles(ch, world, out, stream, followed)
    seen = SocialSeen(snaps, partial, outages, post_ids, answered)
    return ch.batches(), seen


def _rkey(world: World, person: int, start: float) -> str:
    """The follower's follow record key: a TID of when they followed."""
    return content.tid(unix_us(world, float(start)), int(person) & 0x3FF)


def _near_removals(world: World, t: float) -> bool:
    times = list(world.purges) + ([world.cleanup[0], world.cleanup[1]] if world.cleanup else [])
    return any(abs(t - x) < 3 * DAY for x in times)


def _gone_state(rng: Rng, kind: int, bsky: bool) -> AccountState:
    if kind == SUSPENDED:
        return AccountState.SUSPENDED
    if bsky and rng.random() < 0.3:
        return AccountState.DEACTIVATED
    return AccountState.DELETED


def _status(state: AccountState) -> str:
    return {"suspended": "takendown", "deactivated": "deactivated"}.get(state.value, "deleted")


def _rechecks(
    ch: Channel,
    world: World,
    rng: Rng,
    people: Audience,
    spans: Any,
    complete: F,
    exact_end: np.ndarray,
    bsky: bool,
) -> None:
    """Re-check every departed account a day after it was seen gone."""
    ended = np.flatnonzero(np.isfinite(spans.end))
    end = spans.end[ended]
    nxt = np.searchsorted(_us(complete), _us(end), side="left")
    seen = np.where(exact_end[ended], end, complete[np.minimum(nxt, len(complete) - 1)])
    at = seen + DAY + rng.uniform(0.0, 3.0, len(ended))
    keep = at <= world.hours
    ended, at = ended[keep], at[keep]
    checks = []
    for s, when in zip(ended.tolist(), datetimes(world, at), strict=True):
        person = Person(str(people.ext[spans.person[s]]))
        kind = int(spans.kind[s])
        if kind == LEFT:
            checks.append(Check(person, when, AccountState.ACTIVE, False, "no longer follows"))
        else:
            state = _gone_state(rng, kind, bsky)
            checks.append(Check(person, when, state, None, f"profile lookup: {state.value}"))
    ch.add("checks", at, checks)


def _post_id(world: World, out: SocialOut, p: SimPost, seq: int) -> tuple[str, str | None]:
    spec = out.spec
    us = unix_us(world, p.at)
    if spec.platform == "bsky":
        rkey = content.tid(us, out.clock_id)
        if p.kind == PostKind.REPOST:
            return f"at://{spec.identity}/app.bsky.feed.repost/{rkey}", None
        handle = spec.handle
        return (
            f"at://{spec.identity}/app.bsky.feed.post/{rkey}",
            f"https://bsky.app/profile/{handle}/post/{rkey}",
        )
    sid = content.snowflake(us, seq)
    user, host = spec.handle.lstrip("@").split("@")
    return sid, f"https://{host}/@{user}/{sid}"


def _follower_post(world: World, out: SocialOut, person: int, at: float, seq: int) -> str:
    ext = str(out.people.ext[person])
    us = unix_us(world, at)
    if out.spec.platform == "bsky":
        return f"at://{ext}/app.bsky.feed.post/{content.tid(us, person & 0x3FF)}"
    user, host = ext.split("@")
    return f"https://{host}/@{user}/{content.snowflake(us, seq)}"


def _posts(ch: Channel, world: World, out: SocialOut) -> list[str]:
    counts: dict[int, dict[str, int]] = {}
    for i, kind in zip(out.likes.post.tolist(), out.likes.kind, strict=True):
        key = {"like": "likes", "repost": "reposts", "quote": "quotes"}[kind]
        counts.setdefault(i, {}).setdefault(key, 0)
        counts[i][key] += 1
    for i, kind in zip(out.talk.post.tolist(), out.talk.kind, strict=True):
        if kind == "reply":
            counts.setdefault(i, {}).setdefault("replies", 0)
            counts[i]["replies"] += 1
    ids = []
    rows = []
    for i, p in enumerate(out.posts):
        ext, url = _post_id(world, out, p, i)
        ids.append(ext)
        metrics = {k: v + v // 4 for k, v in counts.get(i, {}).items()}  # + non-followers
        rows.append(Post(ext, world.at(p.at), p.kind, p.text, url, None, metrics))
    ch.add("posts", np.array([p.at for p in out.posts]), rows)
    return ids


def _talk(ch: Channel, world: World, out: SocialOut, post_ids: list[str]) -> list[str]:
    talk = out.talk
    refs = [
        _follower_post(world, out, int(p), float(t), j)
        for j, (p, t) in enumerate(zip(talk.person, talk.at, strict=True))
    ]
    who = persons(out.people, talk.person, ch.fetch_time(talk.at))
    kinds = {"reply": InteractionKind.REPLY, "mention": InteractionKind.MENTION}
    # Each reply or mention is the person's own post (its id is the interaction's ref); the
    # brand's answers point at it with reply_to, so answered and unanswered can be told apart.
    rows = [
        Interaction(p, kinds[k], w, post_ids[i] if i >= 0 else None, ref)
        for p, k, w, i, ref in zip(
            who, talk.kind, datetimes(world, talk.at), talk.post.tolist(), refs, strict=True
        )
    ]
    ch.add("interactions", talk.at, rows)
    replies = []
    answered = []
    for n, r in enumerate(out.replies):
        ext, url = _post_id(world, out, r, len(out.posts) + n)
        answered.append(refs[r.answers])
        replies.append(Post(ext, world.at(r.at), PostKind.REPLY, r.text, url, refs[r.answers]))
    ch.add("posts", np.array([r.at for r in out.replies]), replies)
    return answered


def _likes(ch: Channel, world: World, out: SocialOut, post_ids: list[str]) -> None:
    likes = out.likes
    who = persons(out.people, likes.person, ch.fetch_time(likes.at))
    rows = [
        Interaction(p, InteractionKind(k), w, post_ids[i])
        for p, k, w, i in zip(
            who, likes.kind, datetimes(world, likes.at), likes.post.tolist(), strict=True
        )
    ]
    ch.add("interactions", likes.at, rows)


def _following(ch: Channel, world: World, out: SocialOut) -> None:
    """Weekly snapshots of who the brand follows; accounts that vanished drop out."""
    who = np.array([p for p, _ in out.following], dtype=np.int64)
    since = np.array([s for _, s in out.following])
    for t in np.unique(np.append(np.arange(0, world.days + 1, 7) * DAY, world.hours)).tolist():
        idx = who[(since <= t) & (out.people.gone_at[who] > t)]
        snap = snapshot(out.people, np.sort(idx), t, world.at(t), Direction.FOLLOWING)
        ch.add("snapshots", np.array([t]), [snap])


# -- email ------------------------------------------------------------------------------


def observe_email(out: EmailOut, world: World, step_days: int) -> list[Batch]:
    spec = out.spec
    ch = Channel(world, spec.key, "email", spec.identity, spec.handle, step_days, True)
    people, spans = out.people, out.spans
    who = persons(people, spans.person, spans.start)
    ch.add(
        "events",
        spans.start,
        [
            Event(p, EventKind.FOLLOW, w)
            for p, w in zip(who, datetimes(world, spans.start), strict=True)
        ],
    )
    ended = np.flatnonzero(np.isfinite(spans.end))
    t = spans.end[ended]
    events = []
    for s, w in zip(ended.tolist(), datetimes(world, t), strict=True):
        kind = EventKind.UNSUBSCRIBE if spans.kind[s] == LEFT else EventKind.CLEANED
        campaign = out.campaigns[int(out.end_campaign[s])].ext
        events.append(
            Event(who[s], kind, w, campaign=campaign, reason=out.end_reason[s], ref=campaign)
        )
    ch.add("events", t, events)
    stats: dict[int, dict[str, int]] = {}
    for i in range(len(out.campaigns)):
        sent = len(spans.alive(out.campaigns[i].at))
        stats[i] = {"recipients": sent, "opens": 0, "clicks": 0, "unsubscribes": 0}
    for i, what in zip(out.opens.post.tolist(), out.opens.kind, strict=True):
        stats[i][what + "s"] += 1
    for s in ended.tolist():
        if spans.kind[s] == LEFT:
            stats[int(out.end_campaign[s])]["unsubscribes"] += 1
    posts = [
        Post(
            c.ext,
            world.at(c.at),
            PostKind.CAMPAIGN,
            c.text,
            f"https://us1.campaign-archive.example/?id={c.ext}",
            None,
            stats[i],
        )
        for i, c in enumerate(out.campaigns)
    ]
    ch.add("posts", np.array([c.at for c in out.campaigns]), posts)
    opens = out.opens
    readers = persons(people, opens.person, opens.at)
    kinds = {"open": InteractionKind.OPEN, "click": InteractionKind.CLICK}
    ch.add(
        "interactions",
        opens.at,
        [
            Interaction(p, kinds[k], w, out.campaigns[i].ext)
            for p, k, w, i in zip(
                readers, opens.kind, datetimes(world, opens.at), opens.post.tolist(), strict=True
            )
        ],
    )
    return ch.batches()
