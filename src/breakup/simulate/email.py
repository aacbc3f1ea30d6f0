"""An email list's year: weekly campaigns, promotions, a too-frequent blitz, opt-ins,
unsubscribes (always from a campaign, as Mailchimp reports them) and cleaned addresses.

Each campaign gives every subscriber one chance to leave: a baseline unsubscribe rate of
about 0.25% per campaign (Mailchimp's all-industry benchmark), multiplied for planted
break-up campaigns and when more campaigns than the cadence threshold went out in a week.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import content
from .audience import (
    BOT,
    DELETED,
    LEFT,
    OPEN,
    Audience,
    Fans,
    Spans,
    objects,
    person_kinds,
    plant_fans,
    propensity,
)
from .engage import Interactions
from .world import DAY, F, I, Rng, World, pick_days

UNSUB_PER_CAMPAIGN = 0.0025
UNSUB_RATIO = np.array([1.0, 0.5, 0.0])  # regular, inactive, bot
CLEAN_PER_CAMPAIGN = np.array([0.0004, 0.002, 0.6])  # bots are fake addresses: they bounce
REASONS = {
    "baseline": ("I no longer want to receive these emails", None, "Other: not relevant anymore"),
    "too_frequent": ("Other: too many emails", "I no longer want to receive these emails"),
    "break_up_post": ("The emails are spam and should be reported", "Other: only sales"),
    "one_time_offer": ("Other: only signed up for the discount",),
    "at_risk_fan": ("I no longer want to receive these emails",),
}


@dataclass
class EmailSpec:
    key: str
    identity: str
    handle: str
    name: str
    size: int
    join_rate: float  # steady opt-ins per initial subscriber per day
    breakups_per_year: float
    fans: bool = True


@dataclass
class Campaign:
    at: float
    content: str  # info, promo (member sale), blitz, offer, last_chance
    text: str
    ext: str
    multiplier: float = 1.0
    cadence_excess: float = 0.0


@dataclass
class EmailOut:
    spec: EmailSpec
    people: Audience
    spans: Spans
    end_campaign: I  # per span: campaign the unsubscribe / bounce came from, -1 if open
    end_reason: list[str | None]
    campaigns: list[Campaign]
    opens: Interactions  # post = campaign index
    fans: Fans
    breakups: list[tuple[int, float, str]]
    promo_campaigns: dict[int, int]
    promo_joiners: dict[int, I]
    blitz: tuple[float, float]
    cadence_threshold: float
    cadence_slope: float


def simulate_email(world: World, spec: EmailSpec, rng: Rng) -> EmailOut:
    effects = world.effects
    hours = world.hours
    campaigns, promo_campaigns, blitz = _schedule(world, rng)
    at = np.array([c.at for c in campaigns])
    threshold, slope = 2.0, (1.0 if "too_frequent" in effects else 0.0)
    for c in campaigns:
        recent = int(((at > c.at - 7 * DAY) & (at <= c.at)).sum())
        c.cadence_excess = slope * max(0.0, recent - threshold)
    breakups: list[tuple[int, float, str]] = []
    if "break_up_posts" in effects:
        breakups = _choose_breakups(world, rng, campaigns, blitz)
        for i, mult, _ in breakups:
            campaigns[i].multiplier = mult

    people, start, offer_of, promo_joiners = _population(world, spec, rng)
    n = len(people)
    initial = np.flatnonzero(start < 0)
    leave_at = at[(at > 0.35 * hours) & (at < 0.9 * hours)]
    fans = plant_fans(
        rng,
        people,
        initial,
        hours,
        spec.fans,
        "at_risk_fans" in effects,
        leave_at,
        share=world.params.at_risk_share,
        strength=world.params.at_risk_strength,
    )
    planted = np.zeros(n, dtype=bool)
    planted[np.concatenate([fans.top, fans.at_risk_left, fans.at_risk_staying])] = True
    forced = np.full(n, np.inf)
    forced[fans.at_risk_left] = fans.left_at

    # Growing span table: re-subscribers get a new span when they come back.
    s_person = list(range(n))
    s_start = list(start)
    s_end = [np.inf] * n
    s_kind = [OPEN] * n
    s_cause: list[str | None] = [None] * n
    s_campaign = [-1] * n
    s_reason: list[str | None] = [None] * n
    joined_before = np.searchsorted(at, start, side="right")
    offer = "one_time_offer" in effects
    for ci, c in enumerate(campaigns):
        nxt = campaigns[ci + 1].at if ci + 1 < len(campaigns) else hours
        st = np.array(s_start)
        en = np.array(s_end)
        alive = np.flatnonzero((st <= c.at) & (en > c.at))
        who = np.array(s_person, dtype=np.int64)[alive]
        kind = people.kind[who]
        p_clean = np.where(planted[who], 0.0, CLEAN_PER_CAMPAIGN[kind])
        since = ci + 1 - joined_before[who]  # campaigns received since joining
        p_offer = np.where(offer & (offer_of[who] >= 0) & (since <= 3) & ~planted[who], 0.3, 0.0)
        base = UNSUB_PER_CAMPAIGN * UNSUB_RATIO[kind] * ~planted[who]
        parts = np.array([1.0, c.multiplier - 1.0, c.cadence_excess])
        p_unsub = base * parts.sum()
        u = rng.random(len(who))
        clean = u < p_clean
        via_offer = ~clean & (u < p_clean + p_offer)
        unsub = ~clean & ~via_offer & (u < p_clean + p_offer + p_unsub)
        at_risk = forced[who] == c.at
        cap = max(0.05, nxt - c.at - 0.05)
        for j in np.flatnonzero(clean | via_offer | unsub | at_risk):
            span = int(alive[j])
            person = int(who[j])
            if clean[j]:
                s_end[span] = c.at + float(rng.uniform(0.02, 0.5))
                s_kind[span] = DELETED
                s_cause[span] = "account_deleted"
                s_reason[span] = "hard bounce"
            else:
                s_end[span] = c.at + min(float(rng.exponential(10.0)), cap)
                s_kind[span] = LEFT
                if at_risk[j]:
                    cause = "at_risk_fan"
                elif via_offer[j]:
                    cause = "one_time_offer"
                else:
                    comp = int(rng.choice(3, p=parts / parts.sum()))
                    cause = ("baseline", "break_up_post", "too_frequent")[comp]
                s_cause[span] = cause
                options = REASONS[cause]
                s_reason[span] = options[int(rng.integers(len(options)))]
                if not at_risk[j] and rng.random() < 0.04:
                    back = s_end[span] + float(rng.uniform(10.0, 90.0)) * DAY
                    if back < hours - DAY:
                        s_person.append(person)
                        s_start.append(back)
                        s_end.append(np.inf)
                        s_kind.append(OPEN)
                        s_cause.append(None)
                        s_campaign.append(-1)
                        s_reason.append(None)
            s_campaign[span] = ci
            if at_risk[j]:
                forced[person] = s_end[span]
    fans.left_at = forced[fans.at_risk_left]
    end = np.array(s_end)
    ended = np.isfinite(end)
    spans = Spans(
        np.array(s_person, dtype=np.int64),
        np.array(s_start),
        end,
        np.array(s_kind, dtype=np.int64),
        objects(s_cause),
        np.where(
            np.array([c == "break_up_post" for c in s_cause]),
            np.array(s_campaign, dtype=np.int64),
            -1,
        ),
    )
    assert not np.any(ended & (spans.kind == OPEN))
    opens = _opens(world, rng, people, spans, campaigns, fans.top)
    return EmailOut(
        spec=spec,
        people=people,
        spans=spans,
        end_campaign=np.array(s_campaign, dtype=np.int64),
        end_reason=s_reason,
        campaigns=campaigns,
        opens=opens,
        fans=fans,
        breakups=breakups,
        promo_campaigns=promo_campaigns,
        promo_joiners=promo_joiners,
        blitz=blitz,
        cadence_threshold=threshold,
        cadence_slope=slope,
    )


def _schedule(world: World, rng: Rng) -> tuple[list[Campaign], dict[int, int], tuple[float, float]]:
    """A weekly newsletter, a monthly member sale, promotion mails and a three-week blitz."""
    days = world.days
    weekday = int(rng.integers(0, 7))
    plan: list[tuple[float, str]] = []
    for k, d in enumerate(range(1 + weekday, days, 7)):
        plan.append((d * DAY + 15.0, "promo" if k % 4 == 2 else "info"))
    avoid = [p.start / DAY for p in world.promos]
    b = pick_days(rng, 1, 0.3 * days, 0.8 * days - 21, 12, avoid)
    b0 = float(np.floor(b[0])) if b else float(np.floor(0.5 * days))
    for week in range(3):
        for extra in (2, 4):
            plan.append(((b0 + 7 * week + extra) * DAY + 10.0, "blitz"))
    promo_at: list[float] = []
    for p in world.promos:
        promo_at.append(p.start + 0.25)
        plan.append((p.start + 0.25, "offer"))
        plan.append((p.end - 8.0, "last_chance"))
    plan = [(t, c) for t, c in plan if 0 < t < world.hours]
    plan.sort()
    campaigns: list[Campaign] = []
    for t, kind in plan:
        jitter = float(rng.uniform(0.0, 0.3))
        promo = next((p for p in world.promos if p.start <= t <= p.end), None)
        code, pct = (promo.code, promo.pct) if promo else ("MEMBER15", 15)
        text = content.campaign_text(rng, "info" if kind == "info" else "promo", code, pct)
        campaigns.append(Campaign(t + jitter, kind, text, content.hex_id(rng)))
    promo_campaigns = {
        j: next(i for i, c in enumerate(campaigns) if c.content == "offer" and c.at >= p.start)
        for j, p in enumerate(world.promos)
        if p.start + 0.25 < world.hours
    }
    return campaigns, promo_campaigns, (b0 * DAY, (b0 + 21) * DAY)


def _choose_breakups(
    world: World, rng: Rng, campaigns: list[Campaign], blitz: tuple[float, float]
) -> list[tuple[int, float, str]]:
    """Member-sale campaigns away from the blitz and promotions, weeks apart."""
    want = world.scaled(3)
    chosen: list[tuple[int, float, str]] = []
    for i in rng.permutation(len(campaigns)):
        c = campaigns[int(i)]
        if len(chosen) == want:
            break
        if c.content != "promo" or blitz[0] - 10 * DAY <= c.at <= blitz[1] + 10 * DAY:
            continue
        if world.busy(c.at, 10) or any(
            abs(campaigns[j].at - c.at) < 21 * DAY for j, _, _ in chosen
        ):
            continue
        chosen.append((int(i), round(float(rng.uniform(4.0, 7.0)), 1), "promotional"))
    return sorted(chosen)


def _population(world: World, spec: EmailSpec, rng: Rng) -> tuple[Audience, F, I, dict[int, I]]:
    """Subscribers at the start (opted in earlier), steady opt-ins, promotion sign-ups and,
    in "users", a wave of fake sign-ups."""
    n0 = spec.size
    start = [-(1.0 + rng.exponential(400.0, n0)) * DAY]
    kinds = [person_kinds(rng, n0, 0.2, 0.01)]
    offer = [np.full(n0, -1, dtype=np.int64)]
    joins = rng.poisson(n0 * spec.join_rate, world.days)
    total = int(joins.sum())
    start.append(np.repeat(np.arange(world.days), joins) * DAY + rng.uniform(0, DAY, total))
    kinds.append(person_kinds(rng, total, 0.2, 0.01))
    offer.append(np.full(total, -1, dtype=np.int64))
    count = n0 + total
    promo_joiners: dict[int, I] = {}
    for j, p in enumerate(world.promos):
        k = round(n0 * float(rng.uniform(0.04, 0.06)))
        start.append(p.start + np.minimum(rng.exponential(12.0, k), p.end - p.start - 0.01))
        kinds.append(person_kinds(rng, k, 0.1, 0.0))
        offer.append(np.full(k, j, dtype=np.int64))
        promo_joiners[j] = np.arange(count, count + k)
        count += k
    if world.params.scenario == "users" and "bot_purge" in world.effects:
        k = round(n0 * 0.08)
        d = float(rng.uniform(0.2, 0.7)) * world.hours
        start.append(d + rng.uniform(0, 3 * DAY, k))
        kinds.append(np.full(k, BOT, dtype=np.int64))
        offer.append(np.full(k, -1, dtype=np.int64))
    kind = np.concatenate(kinds)
    n = len(kind)
    names, slugs = content.people_names(rng, n)
    bots = content.bot_slugs(rng, n)
    dom = rng.integers(0, len(content.MAIL_DOMAINS), n)
    address = []
    seen: set[str] = set()
    for i in range(n):
        local = bots[i] if kind[i] == BOT else slugs[i]
        addr = f"{local}@{content.MAIL_DOMAINS[dom[i]]}"
        if addr in seen:
            addr = f"{local}.{i}@{content.MAIL_DOMAINS[dom[i]]}"
        seen.add(addr)
        address.append(addr)
    shown = [None if kind[i] == BOT else names[i] for i in range(n)]
    people = Audience(
        objects(address), objects([None] * n), objects(shown), kind, propensity(rng, kind)
    )
    return people, np.concatenate(start), np.concatenate(offer), promo_joiners


def _opens(
    world: World, rng: Rng, people: Audience, spans: Spans, campaigns: list[Campaign], top: I
) -> Interactions:
    """Opens and clicks: likelier for engaged subscribers, fading for at-risk fans."""
    is_top = np.zeros(len(people), dtype=bool)
    is_top[top] = True
    who: list[I] = []
    kinds: list[str] = []
    when: list[F] = []
    post: list[I] = []
    for ci, c in enumerate(campaigns):
        alive = spans.alive(c.at)
        person = spans.person[alive]
        w = people.weight(person, c.at)
        p_open = np.where(w > 0, np.clip(0.05 + 0.55 * w / (w + 1.0), 0, 0.9), 0.0)
        p_open = np.where(is_top[person], 0.95, p_open)
        opened = rng.random(len(person)) < p_open
        t_open = c.at + 0.01 + rng.exponential(5.0, len(person))
        opened &= t_open < np.minimum(spans.end[alive], world.hours)
        p_click = np.where(is_top[person], 0.6, 0.1 + 0.4 * w / (w + 3.0))
        clicked = opened & (rng.random(len(person)) < p_click)
        t_click = t_open + rng.exponential(0.2, len(person))
        clicked &= t_click < np.minimum(spans.end[alive], world.hours)
        for mask, times, kind in ((opened, t_open, "open"), (clicked, t_click, "click")):
            who.append(person[mask])
            when.append(times[mask])
            kinds += [kind] * int(mask.sum())
            post.append(np.full(int(mask.sum()), ci, dtype=np.int64))
    if not who:
        return Interactions(np.zeros(0, dtype=np.int64), [], np.zeros(0), np.zeros(0, np.int64))
    return Interactions(np.concatenate(who), kinds, np.concatenate(when), np.concatenate(post))
