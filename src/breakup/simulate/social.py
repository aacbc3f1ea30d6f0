"""A social account's year: posts, followers joining and leaving, conversations, likes.

Departures are competing risks, each person's first one wins:

* the account's churn hazard — a baseline, plus the excess planted in the 48 h after
  break-up posts (decaying: most come in the first hours), on and after days with more
  posts than the cadence threshold, and in marketplace windows — scaled per person (bots
  and inactive accounts rarely unfollow, followed-back followers 2.5× less, Kwak et al.
  2011) and cut once the brand replied to them (Kwak et al. 2012);
* the fragility of new ties; one-time-offer joiners leaving after the promotion;
* account deletion and suspension (bot purges, inactive clean-ups in "users");
* a planted date for at-risk fans.

Account-level hazards live on an hourly grid and are inverted in one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import PostKind
from . import content
from .audience import (
    BOT,
    DELETED,
    INACTIVE,
    LEFT,
    OPEN,
    REGULAR,
    SUSPENDED,
    Audience,
    Fans,
    Spans,
    apply_name_changes,
    objects,
    person_kinds,
    pick,
    plant_fans,
    propensity,
    refollows,
)
from .engage import Interactions, SimPost, conversations, engagement
from .world import DAY, F, Hazard, I, Rng, World, constant_time, first_time, fragile_time

# Per-day rates of accounts going away, by person kind (regular, inactive, bot).
DELETE_PER_DAY = np.array([0.00004, 0.0003, 0.0004])
SUSPEND_PER_DAY = np.array([0.000003, 0.00001, 0.0012])
UNFOLLOW_RATIO = np.array([1.0, 0.35, 0.25])
MUTUAL_RATIO = 0.4
REPLY_RATIO = 0.3
# Candidate columns of the competing risks.
C_CHURN, C_FRAGILE, C_OFFER, C_DELETE, C_SUSPEND, C_FORCED, C_PURGE, C_CLEANUP = range(8)


RESPONSE_HOURS = 4.0  # mean delay of a break-up post's departures


@dataclass
class SocialSpec:
    key: str
    platform: str  # "bsky" or "mastodon"
    role: str  # "own" or "peer"
    identity: str
    handle: str
    name: str
    size: int
    posts_per_day: float
    burst_prob: float
    base_churn: float  # per follower per day
    join_rate: float  # steady joins per initial follower per day
    breakups_per_year: float = 0.0
    firehose: bool = False  # exact follow/unfollow events (Jetstream)
    conversations: bool = True
    following: bool = False  # track the account's own following list
    fans: bool = True

    @property
    def own(self) -> bool:
        return self.role == "own"


@dataclass
class SocialOut:
    spec: SocialSpec
    people: Audience
    spans: Spans
    posts: list[SimPost]  # time order, top-level posts and reposts
    replies: list[SimPost]  # the brand's replies, time order
    likes: Interactions  # likes, reposts, quotes
    talk: Interactions  # replies and mentions: conversations the brand may answer
    fans: Fans
    breakups: list[tuple[int, float, str]]  # (post index, multiplier, reason)
    promo_posts: dict[int, int]  # promotion index -> post index
    promo_joiners: dict[int, I]
    name_changes: I
    replied_to: I  # people the brand answered
    answer_rate: float
    cadence_threshold: float
    cadence_slope: float
    reply_ratio: float
    following: list[tuple[int, float]]  # (person, followed since); since < 0: before start
    clock_id: int  # atproto TID clock id of the brand's records


def simulate_social(world: World, spec: SocialSpec, rng: Rng) -> SocialOut:
    hours = world.hours
    effects = world.effects if spec.own else frozenset(world.effects & {"marketplace"})
    posts, promo_posts = _schedule(world, spec, rng)
    churn = _churn(world, spec, rng, posts, effects)
    hazard = churn.hazard

    people, start, offer_of, promo_joiners = _population(world, spec, rng)
    n = len(people)
    initial = np.flatnonzero(start < 0)
    fans = plant_fans(
        rng,
        people,
        initial,
        hours,
        spec.fans,
        spec.own and "at_risk_fans" in effects,
        share=world.params.at_risk_share,
        strength=world.params.at_risk_strength,
    )
    mutual = np.zeros(n, dtype=bool)
    if spec.following:
        regular = initial[people.kind[initial] == REGULAR]
        mutual[pick(rng, regular, round(len(initial) * 0.05))] = True
        mutual[fans.top] = True
    ratio = UNFOLLOW_RATIO[people.kind] * np.where(mutual, MUTUAL_RATIO, 1.0)

    cand = np.full((n, 8), np.inf)
    cand[:, C_CHURN] = first_time(hazard, start, rng.exponential(1.0, n), ratio)
    cand[:, C_FRAGILE] = fragile_time(rng, start, ratio, 3 * spec.base_churn, 45.0)
    cand[:, C_DELETE] = constant_time(rng, start, DELETE_PER_DAY[people.kind])
    cand[:, C_SUSPEND] = constant_time(rng, start, SUSPEND_PER_DAY[people.kind])
    if "one_time_offer" in effects:
        leaves = (offer_of >= 0) & (rng.random(n) < 0.7)
        ends = np.array([p.end for p in world.promos] + [0.0])[offer_of]
        cand[:, C_OFFER] = np.where(leaves, ends + rng.exponential(6 * DAY, n), np.inf)
    planted = np.concatenate([fans.top, fans.at_risk_left, fans.at_risk_staying])
    cand[planted] = np.inf
    cand[fans.at_risk_left, C_FORCED] = fans.left_at
    _removals(world, rng, people, start, cand)

    replied_to = np.zeros(0, dtype=np.int64)
    answered: list[tuple[int, float]] = []
    answer_rate = 0.2 if "dialogue" in effects else 0.5
    replies: list[SimPost] = []
    first = _spans(start, cand, hours)
    talk = Interactions(np.zeros(0, dtype=np.int64), [], np.zeros(0), np.zeros(0, dtype=np.int64))
    if spec.conversations:
        talk, replies, answered = conversations(world, rng, people, first, posts, answer_rate)
        replied_to = np.unique(np.array([p for p, _ in answered], dtype=np.int64))
        if "dialogue" in effects and answered:
            _protect(hazard, cand, answered)
    first = _spans(start, cand, hours)
    _label(first, cand, churn, rng)
    people.gone_at = np.where(first.kind >= DELETED, first.end, np.inf)

    back, back_start = refollows(
        rng,
        first,
        (first.kind == LEFT)
        & np.isin(
            first.cause,
            ["baseline", "break_up_post", "too_frequent", "marketplace", "one_time_offer"],
        ),
        hours,
        0.06,
    )
    again = first_time(hazard, back_start, rng.exponential(1.0, len(back)), ratio[back])
    again = np.where(again < hours, again, np.inf)
    second = Spans(
        back,
        back_start,
        again,
        np.where(np.isfinite(again), LEFT, OPEN).astype(np.int64),
        objects([None] * len(back)),
        np.full(len(back), -1, dtype=np.int64),
    )
    _label_churn(second, np.isfinite(second.end), churn, rng)
    spans = first.concat(second)

    changes = np.zeros(0, dtype=np.int64)
    if spec.own:  # peers' snapshots carry no names, so a change there could not be seen
        changes = apply_name_changes(rng, people, spans, hours, spec.platform, 0.012)
    likes = engagement(world, spec.platform, rng, people, spans, posts)
    following: list[tuple[int, float]] = []
    if spec.following:
        following = _following(rng, spec, people, mutual, answered)
    return SocialOut(
        spec=spec,
        people=people,
        spans=spans,
        posts=posts,
        replies=replies,
        likes=likes,
        talk=talk,
        fans=fans,
        breakups=churn.breakups,
        promo_posts=promo_posts,
        promo_joiners=promo_joiners,
        name_changes=changes,
        replied_to=replied_to,
        answer_rate=answer_rate,
        cadence_threshold=churn.threshold,
        cadence_slope=churn.slope,
        reply_ratio=REPLY_RATIO if "dialogue" in effects else 1.0,
        following=following,
        clock_id=int(rng.integers(0, 1024)),
    )


# -- posting ----------------------------------------------------------------------------


def _schedule(world: World, spec: SocialSpec, rng: Rng) -> tuple[list[SimPost], dict[int, int]]:
    """Daily posts around office hours, with bursts of many posts on some days."""
    days = world.days
    count = rng.poisson(spec.posts_per_day, days)
    burst = rng.random(days) < spec.burst_prob
    count[burst] = 6 + rng.poisson(4.0, int(burst.sum()))
    posts: list[SimPost] = []
    for d in range(days):
        k = int(count[d])
        if k == 0:
            continue
        if burst[d]:
            at = d * DAY + rng.uniform(11, 16) + np.cumsum(rng.exponential(0.4, k))
        else:
            at = d * DAY + np.clip(rng.normal(16.0, 3.5, k), 6.0, 23.9)
        for t in np.minimum(at, d * DAY + 23.99):
            if rng.random() < 0.2:
                posts.append(
                    SimPost(float(t), PostKind.REPOST, "repost", content.post_text(rng, "repost"))
                )
                continue
            kind = content.CONTENT_KINDS[int(rng.choice(4, p=[0.45, 0.25, 0.15, 0.15]))]
            posts.append(SimPost(float(t), PostKind.POST, kind, content.post_text(rng, kind)))
    for p in world.promos:
        t = p.start + float(rng.uniform(0.0, 0.5))
        text = content.post_text(rng, "offer", p.code, p.pct)
        posts.append(SimPost(t, PostKind.POST, "offer", text))
    posts.sort(key=lambda p: p.at)
    promo_posts = {
        j: next(i for i, q in enumerate(posts) if q.content == "offer" and q.at >= p.start)
        for j, p in enumerate(world.promos)
    }
    return posts, promo_posts


@dataclass
class Churn:
    """The account's unfollow hazard and the parts it is made of (hourly, as excess over 1)."""

    hazard: Hazard
    post_ex: F  # planted break-up posts
    cadence: F  # posting bursts above the threshold
    market: F  # marketplace windows
    culprit: I  # per hour: the break-up post responsible, -1 if none
    breakups: list[tuple[int, float, str]]
    threshold: float
    slope: float


def _churn(
    world: World, spec: SocialSpec, rng: Rng, posts: list[SimPost], effects: frozenset[str]
) -> Churn:
    nh = int(world.hours)
    times = np.array([p.at for p in posts])
    daily = np.bincount((times // DAY).astype(np.int64), minlength=world.days)[: world.days]
    # Too frequent: dose-response above a threshold, on the burst day and the next.
    threshold = float(max(4, round(spec.posts_per_day * 2)))
    slope = 0.5 if "too_frequent" in effects else 0.0
    cadence = np.zeros(nh)
    burst_days = np.flatnonzero(daily > threshold)
    for d in burst_days:
        cadence[int(d * DAY) : int(d * DAY + 48)] += slope * (daily[d] - threshold)
    post_ex = np.zeros(nh)
    culprit = np.full(nh, -1, dtype=np.int64)
    breakups: list[tuple[int, float, str]] = []
    if "break_up_posts" in effects:
        breakups = _choose_breakups(world, spec, rng, posts, burst_days)
        # Most of a bad post's departures come in its first hours: the excess decays
        # (mean delay 4 h) over 48 h, with as many departures as a flat ×mult would give.
        decay = np.exp(-np.arange(48) / RESPONSE_HOURS)
        decay *= 48 / decay.sum()
        for i, mult, _ in breakups:
            h0 = int(posts[i].at) + 1
            span = post_ex[h0 : h0 + 48]
            span += (mult - 1.0) * decay[: len(span)]
            culprit[h0 : h0 + 48] = i
    market = np.zeros(nh)
    for w in world.market:
        market[int(w.start) : int(w.end)] += w.multiplier - 1.0
    hazard = Hazard(spec.base_churn / DAY * (1.0 + post_ex + cadence + market))
    return Churn(hazard, post_ex, cadence, market, culprit, breakups, threshold, slope)


def _choose_breakups(
    world: World, spec: SocialSpec, rng: Rng, posts: list[SimPost], burst_days: I
) -> list[tuple[int, float, str]]:
    """Promotional or repetitive posts, kept apart from bursts, promotions and each other."""
    want = world.scaled(spec.breakups_per_year)
    chosen: list[tuple[int, float, str]] = []
    for i in rng.permutation(len(posts)):
        p = posts[int(i)]
        day = p.at / DAY
        if len(chosen) == want:
            break
        if p.content not in ("promo", "repeat") or not 5 * DAY <= p.at <= world.hours - 3 * DAY:
            continue
        if len(burst_days) and np.min(np.abs(burst_days - np.floor(day))) <= 2:
            continue
        if world.busy(p.at, 4) or any(abs(posts[j].at - p.at) < 5 * DAY for j, _, _ in chosen):
            continue
        reason = "promotional" if p.content == "promo" else "repetitive"
        chosen.append((int(i), round(float(rng.uniform(3.0, 6.0)), 1), reason))
    return sorted(chosen)


# -- people -----------------------------------------------------------------------------


def _population(world: World, spec: SocialSpec, rng: Rng) -> tuple[Audience, F, I, dict[int, I]]:
    """Followers at the start, a steady trickle of joiners, and spikes during promotions."""
    users = world.params.scenario == "users"
    inactive, bots = (0.25, 0.12) if users else (0.15, 0.05)
    n0 = spec.size
    start = [-(1.0 + rng.exponential(450.0, n0)) * DAY]
    kinds = [person_kinds(rng, n0, inactive, bots)]
    offer = [np.full(n0, -1, dtype=np.int64)]
    joins = rng.poisson(n0 * spec.join_rate, world.days)
    total = int(joins.sum())
    day = np.repeat(np.arange(world.days), joins)
    start.append(day * DAY + rng.uniform(0.0, DAY, total))
    kinds.append(person_kinds(rng, total, inactive, bots + 0.03))
    offer.append(np.full(total, -1, dtype=np.int64))
    promo_joiners: dict[int, I] = {}
    count = n0 + total
    for j, p in enumerate(world.promos):
        k = round(n0 * float(rng.uniform(0.025, 0.04)))
        start.append(p.start + np.minimum(rng.exponential(14.0, k), p.end - p.start - 0.01))
        kinds.append(person_kinds(rng, k, 0.1, 0.05))
        offer.append(np.full(k, j, dtype=np.int64))
        promo_joiners[j] = np.arange(count, count + k)
        count += k
    starts = np.concatenate(start)
    kind = np.concatenate(kinds)
    people = _people(rng, spec, kind)
    return people, starts, np.concatenate(offer), promo_joiners


def _people(rng: Rng, spec: SocialSpec, kind: I) -> Audience:
    n = len(kind)
    names, slugs = content.people_names(rng, n)
    bots = content.bot_slugs(rng, n)
    is_bot = kind == BOT
    slug = [b if is_bot[i] else s for i, (s, b) in enumerate(zip(slugs, bots, strict=True))]
    shown: list[str | None] = [
        None if is_bot[i] or (kind[i] == INACTIVE and i % 2) else nm for i, nm in enumerate(names)
    ]
    if spec.platform == "bsky":
        ext = content.dids(rng, n)
        handle = [f"{s}.bsky.social" for s in slug]
    else:
        inst = rng.integers(0, len(content.INSTANCES), n)
        ext = [f"{s}@{content.INSTANCES[k]}" for s, k in zip(slug, inst, strict=True)]
        handle = [f"@{e}" for e in ext]
    return Audience(objects(ext), objects(handle), objects(shown), kind, propensity(rng, kind))


def _removals(world: World, rng: Rng, people: Audience, start: F, cand: F) -> None:
    """The platform removes accounts: bot purges and inactive clean-ups ("users")."""
    end = cand.min(axis=1)
    for t in world.purges:
        hit = (people.kind == BOT) & (start <= t) & (end > t) & (rng.random(len(start)) < 0.6)
        cand[hit, C_PURGE] = t + rng.uniform(0.0, 8.0, int(hit.sum()))
    if world.cleanup is not None:
        a, b = world.cleanup
        hit = (people.kind == INACTIVE) & (start <= a) & (end > a)
        hit &= rng.random(len(start)) < 0.4
        cand[hit, C_CLEANUP] = rng.uniform(a, b, int(hit.sum()))


def _spans(start: F, cand: F, hours: float) -> Spans:
    n = len(start)
    which = cand.argmin(axis=1)
    end = cand[np.arange(n), which]
    ended = end < hours
    kind = np.select(
        [~ended, np.isin(which, [C_DELETE, C_CLEANUP]), np.isin(which, [C_SUSPEND, C_PURGE])],
        [OPEN, DELETED, SUSPENDED],
        LEFT,
    )
    cause = np.empty(n, dtype=object)
    names = {
        C_FRAGILE: "baseline",
        C_OFFER: "one_time_offer",
        C_DELETE: "account_deleted",
        C_SUSPEND: "account_suspended",
        C_FORCED: "at_risk_fan",
        C_PURGE: "bot_purge",
        C_CLEANUP: "inactive_cleanup",
    }
    for col, label in names.items():
        cause[ended & (which == col)] = label
    return Spans(
        np.arange(n, dtype=np.int64),
        start,
        np.where(ended, end, np.inf),
        kind.astype(np.int64),
        cause,
        np.full(n, -1, dtype=np.int64),
    )


def _label(spans: Spans, cand: F, churn: Churn, rng: Rng) -> None:
    mask = (spans.kind == LEFT) & (cand.argmin(axis=1) == C_CHURN)
    _label_churn(spans, mask, churn, rng)


def _label_churn(spans: Spans, mask: np.ndarray, churn: Churn, rng: Rng) -> None:
    """Name the component of the churn hazard a departure came from, in proportion to it."""
    idx = np.flatnonzero(mask)
    h = np.minimum(spans.end[idx].astype(np.int64), len(churn.post_ex) - 1)
    parts = np.stack(
        [np.ones(len(idx)), churn.post_ex[h], churn.cadence[h], churn.market[h]], axis=1
    )
    cum = np.cumsum(parts, axis=1)
    u = rng.random(len(idx)) * cum[:, -1]
    comp = (u[:, None] >= cum).sum(axis=1)
    labels = np.array(["baseline", "break_up_post", "too_frequent", "marketplace"], dtype=object)
    spans.cause[idx] = labels[comp]
    spans.cause_post[idx] = np.where(comp == 1, churn.culprit[h], -1)


def _protect(hazard: Hazard, cand: F, answered: list[tuple[int, float]]) -> None:
    """Once the brand replied to someone, their churn hazard drops to REPLY_RATIO of it."""
    first: dict[int, float] = {}
    for person, t in answered:
        first[person] = min(t, first.get(person, np.inf))
    who = np.array(list(first), dtype=np.int64)
    q = np.array([first[p] for p in who])
    t = cand[who, C_CHURN]
    later = np.isfinite(t) & (t > q)
    hq = hazard.at(q)
    target = hq + (hazard.at(np.where(later, t, q)) - hq) / REPLY_RATIO
    cand[who, C_CHURN] = np.where(later, hazard.inverse(target), t)


def _following(
    rng: Rng,
    spec: SocialSpec,
    people: Audience,
    mutual: np.ndarray,
    answered: list[tuple[int, float]],
) -> list[tuple[int, float]]:
    """Who the brand follows: some followers, peer brands that don't follow back, and
    people it answered (sometimes followed back on the spot)."""
    extra = 40
    kind = np.zeros(extra, dtype=np.int64)
    others = _people(rng, spec, kind)
    others.prop[:] = 0.0
    base = len(people)
    people.extend(others)
    out = [(int(i), -1.0) for i in np.flatnonzero(mutual)]
    out += [(base + i, -1.0) for i in range(extra)]
    seen = {p for p, _ in out}
    for person, t in answered:
        if person not in seen and rng.random() < 0.3:
            out.append((person, t + float(rng.uniform(0.0, 2.0))))
            seen.add(person)
    return out
