"""``simulate``: a brand's year across channels, with the truth of what was planted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models import Batch
from . import content
from .audience import BOT, DELETED, INACTIVE, LEFT, SUSPENDED, Audience, Fans, Spans
from .channel import datetimes
from .email import EmailOut, EmailSpec, simulate_email
from .observe import SocialSeen, observe_email, observe_social
from .params import SimParams
from .social import SocialOut, SocialSpec, simulate_social
from .truth import (
    AccountTruth,
    BreakUpPost,
    Cause,
    Fan,
    NameChange,
    Promotion,
    TrueSpan,
    Truth,
    Window,
)
from .world import World, make_world

PEERS = (
    "rivalroasters.bsky.social",
    "beanandleaf.bsky.social",
    "cupcraft.bsky.social",
    "dailygrind.bsky.social",
    "brewhouse.bsky.social",
)


@dataclass
class Simulation:
    """A simulated year: per account (store name) its batches in time order, and the truth."""

    params: SimParams
    truth: Truth
    batches: dict[str, list[Batch]]

    def accounts(self) -> dict[str, str]:
        """Short key (bsky, mastodon, email, peer1 ...) -> account name in the store."""
        return {a.key: a.name for a in self.truth.accounts.values()}


def simulate(params: SimParams) -> Simulation:
    """Simulate *params*' year. Pure: no store, no clock, no network; same seed, same result."""
    streams = np.random.SeedSequence(params.seed).spawn(16)
    rng = [np.random.default_rng(s) for s in streams]
    world = make_world(params, rng[0])
    ids = content.dids(rng[1], 1 + params.peer_count)
    specs = [
        SocialSpec(
            key="bsky",
            platform="bsky",
            role="own",
            identity=ids[0],
            handle="brand.bsky.social",
            name="bsky:brand.bsky.social",
            size=params.bsky_followers,
            posts_per_day=2.5,
            burst_prob=0.07,
            base_churn=0.0007,
            join_rate=0.0012,
            breakups_per_year=5,
            firehose=True,
            following=True,
        ),
        SocialSpec(
            key="mastodon",
            platform="mastodon",
            role="own",
            identity=str(109_000_000_000_000_000 + int(rng[1].integers(10**15))),
            handle="@brand@mastodon.example",
            name="mastodon:@brand@mastodon.example",
            size=params.mastodon_followers,
            posts_per_day=1.5,
            burst_prob=0.05,
            base_churn=0.0006,
            join_rate=0.001,
            breakups_per_year=3,
        ),
    ]
    for i in range(params.peer_count):
        handle = PEERS[i]
        specs.append(
            SocialSpec(
                key=f"peer{i + 1}",
                platform="bsky",
                role="peer",
                identity=ids[1 + i],
                handle=handle,
                name=f"bsky:{handle}",
                size=params.peer_followers,
                posts_per_day=2.0,
                burst_prob=0.05,
                base_churn=0.0007,
                join_rate=0.0011,
                conversations=False,
                fans=False,
            )
        )
    email_spec = EmailSpec(
        key="email",
        identity=content.hex_id(rng[1]),
        handle="news@brand.example",
        name="email:news@brand.example",
        size=params.email_subscribers,
        join_rate=0.0012,
        breakups_per_year=3,
    )
    steps = {"bsky": params.bsky_batch_days, "mastodon": params.mastodon_batch_days}
    truth = Truth(
        scenario=params.scenario,
        seed=params.seed,
        start=world.start,
        end=params.end,
        effects=sorted(world.effects),
    )
    batches: dict[str, list[Batch]] = {}
    socials: list[tuple[SocialOut, SocialSeen]] = []
    outs = [simulate_social(world, spec, rng[2 + j]) for j, spec in enumerate(specs)]
    truth.same_people = _same_people(outs)
    for j, (spec, out) in enumerate(zip(specs, outs, strict=True)):
        step = steps.get(spec.key, params.peer_batch_days)
        batches[spec.name], seen = observe_social(out, world, rng[8 + j], step)
        socials.append((out, seen))
        _social_truth(truth, world, out, seen)
    mail = simulate_email(world, email_spec, rng[6])
    batches[email_spec.name] = observe_email(mail, world, params.email_batch_days)
    _email_truth(truth, world, mail)
    _brand_level(truth, world, socials, mail)
    return Simulation(params, truth, batches)


def _same_people(outs: list[SocialOut], pairs: int = 2) -> list[dict[str, str]]:
    """A few top fans follow on Bluesky and Mastodon as one human, provably: their Bluesky
    handle is their own domain and their Mastodon account lives on a server of that domain
    (what breakup's verified-handle hint links). Only names change here, no random draw,
    so the rest of the simulation is as it was."""
    own = {o.spec.platform: o for o in outs if o.spec.own}
    if "bsky" not in own or "mastodon" not in own:
        return []
    b_out, m_out = own["bsky"], own["mastodon"]
    steady = [
        (int(b), int(m))
        for b, m in zip(b_out.fans.top.tolist(), m_out.fans.top.tolist(), strict=False)
        if not np.isfinite(b_out.people.change_at[b]) and not np.isfinite(m_out.people.change_at[m])
    ]
    out = []
    for b, m in steady[:pairs]:
        slug = str(b_out.people.handle[b]).split(".")[0]
        domain = f"{slug}.example"
        b_out.people.handle[b] = b_out.people.new_handle[b] = domain
        ext = f"{slug}@{domain}"
        m_out.people.ext[m] = ext
        m_out.people.handle[m] = m_out.people.new_handle[m] = f"@{ext}"
        m_out.people.name[m] = m_out.people.new_name[m] = b_out.people.name[b]
        out.append({b_out.spec.name: str(b_out.people.ext[b]), m_out.spec.name: ext})
    return out


def _social_truth(truth: Truth, world: World, out: SocialOut, seen: SocialSeen) -> None:
    spec = out.spec
    acct = _account(
        world,
        spec.key,
        spec.name,
        spec.platform,
        spec.role,
        spec.identity,
        spec.handle,
        out.people,
        out.spans,
        "unfollowed",
    )
    _fix_cause_posts(acct, out.spans, seen.post_ids)
    acct.snapshot_every_hours = float(seen.snapshot_hours[1] - seen.snapshot_hours[0])
    acct.partial_snapshots = [world.at(t) for t in seen.partial]
    acct.firehose_outages = [
        Window(world.at(a), world.at(b), "firehose outage") for a, b in seen.outages
    ]
    acct.post_content = {ext: p.content for ext, p in zip(seen.post_ids, out.posts, strict=True)}
    if spec.own:
        acct.cadence_threshold = out.cadence_threshold
        acct.cadence_unit = "posts and reposts per UTC day (replies excluded)"
        acct.cadence_slope = out.cadence_slope
        acct.answer_rate = out.answer_rate
        acct.reply_multiplier = out.reply_ratio
        acct.brand_replied_to = [str(out.people.ext[p]) for p in out.replied_to]
    truth.accounts[spec.name] = acct
    for i, mult, reason in out.breakups:
        at = world.at(out.posts[i].at)
        truth.break_up_posts.append(
            BreakUpPost(spec.name, seen.post_ids[i], at, reason, mult, 48.0)
        )
    _fans(truth, world, spec.name, out.people, out.fans)
    people = out.people
    for p in out.name_changes.tolist():
        if spec.platform == "bsky":
            field, old, new = "handle", people.handle[p], people.new_handle[p]
        else:
            field, old, new = "display_name", people.name[p], people.new_name[p]
        at = world.at(float(people.change_at[p]))
        truth.name_changes.append(NameChange(spec.name, str(people.ext[p]), at, field, old, new))


def _email_truth(truth: Truth, world: World, mail: EmailOut) -> None:
    spec = mail.spec
    acct = _account(
        world,
        spec.key,
        spec.name,
        "email",
        "own",
        spec.identity,
        spec.handle,
        mail.people,
        mail.spans,
        "unsubscribed",
    )
    _fix_cause_posts(acct, mail.spans, [c.ext for c in mail.campaigns])
    acct.cadence_threshold = mail.cadence_threshold
    acct.cadence_unit = "campaigns in the 7 days up to and including a send"
    acct.cadence_slope = mail.cadence_slope
    acct.post_content = {c.ext: c.content for c in mail.campaigns}
    truth.accounts[spec.name] = acct
    for i, mult, reason in mail.breakups:
        c = mail.campaigns[i]
        truth.break_up_posts.append(
            BreakUpPost(spec.name, c.ext, world.at(c.at), reason, mult, 48.0)
        )
    _fans(truth, world, spec.name, mail.people, mail.fans)


def _account(
    world: World,
    key: str,
    name: str,
    platform: str,
    role: str,
    identity: str,
    handle: str,
    people: Audience,
    spans: Spans,
    left_kind: str,
) -> AccountTruth:
    kinds = {LEFT: left_kind, DELETED: "deleted", SUSPENDED: "suspended"}
    order = np.lexsort((spans.start, spans.person))
    starts = datetimes(world, spans.start[order])
    ends = datetimes(world, np.where(np.isfinite(spans.end), spans.end, 0.0)[order])
    out = AccountTruth(key, name, platform, role, identity, handle)
    out.bot_like = sorted(str(x) for x in people.ext[people.kind == BOT])
    out.inactive = sorted(str(x) for x in people.ext[people.kind == INACTIVE])
    for j, s in enumerate(order.tolist()):
        done = bool(np.isfinite(spans.end[s]))
        out.spans.append(
            TrueSpan(
                person=str(people.ext[spans.person[s]]),
                start=starts[j],
                end=ends[j] if done else None,
                end_kind=kinds[int(spans.kind[s])] if done else None,
                cause=spans.cause[s] if done else None,
            )
        )
    return out


def _fix_cause_posts(acct: AccountTruth, spans: Spans, post_ids: list[str]) -> None:
    order = np.lexsort((spans.start, spans.person))
    for j, s in enumerate(order.tolist()):
        i = int(spans.cause_post[s])
        if i >= 0:
            acct.spans[j].cause_post = post_ids[i]


def _fans(truth: Truth, world: World, name: str, people: Audience, fans: Fans) -> None:
    for p in fans.top.tolist():
        truth.top_fans.append(Fan(name, str(people.ext[p]), "top"))
    for p, left in zip(fans.at_risk_left.tolist(), fans.left_at.tolist(), strict=True):
        truth.at_risk_fans.append(
            Fan(
                name,
                str(people.ext[p]),
                "at_risk",
                world.at(float(people.decline_start[p])),
                world.at(left),
            )
        )
    for p in fans.at_risk_staying.tolist():
        truth.at_risk_fans.append(
            Fan(name, str(people.ext[p]), "at_risk", world.at(float(people.decline_start[p])), None)
        )


def _brand_level(
    truth: Truth, world: World, socials: list[tuple[SocialOut, SocialSeen]], mail: EmailOut
) -> None:
    effects = world.effects
    ids = {s.spec.name: seen.post_ids for s, seen in socials}
    own = [s for s, _ in socials if s.spec.own]
    names = [s.spec.name for s in own] + [mail.spec.name]
    for j, p in enumerate(world.promos):
        promo = Promotion(
            p.code, world.at(p.start), world.at(p.end), leave_fast="one_time_offer" in effects
        )
        for s in own:
            promo.posts[s.spec.name] = ids[s.spec.name][s.promo_posts[j]]
            promo.joiners[s.spec.name] = [str(x) for x in s.people.ext[s.promo_joiners[j]]]
        if j in mail.promo_campaigns:
            promo.posts[mail.spec.name] = mail.campaigns[mail.promo_campaigns[j]].ext
        promo.joiners[mail.spec.name] = [str(x) for x in mail.people.ext[mail.promo_joiners[j]]]
        truth.promotions.append(promo)
    truth.market_windows = [
        Window(world.at(w.start), world.at(w.end), "marketplace", w.multiplier)
        for w in world.market
    ]
    truth.bot_purges = [Window(world.at(t), world.at(t + 8.0), "bot_purge") for t in world.purges]
    if world.cleanup is not None:
        a, b = world.cleanup
        truth.bot_purges.append(Window(world.at(a), world.at(b), "inactive_cleanup"))
    causes = truth.causes
    if "break_up_posts" in effects:
        causes.append(
            Cause(
                "break_up_posts",
                names,
                "promotional or repetitive posts multiply churn for 48 h",
                {"posts": float(len(truth.break_up_posts))},
            )
        )
    if "too_frequent" in effects:
        causes.append(
            Cause(
                "too_frequent",
                names,
                "churn rises linearly with posts above the cadence threshold",
                {"slope_social": own[0].cadence_slope, "slope_email": mail.cadence_slope},
            )
        )
    if "dialogue" in effects:
        causes.append(
            Cause(
                "monologue",
                [s.spec.name for s in own],
                "most mentions and replies go unanswered; answered followers churn less",
                {"answer_rate": own[0].answer_rate, "reply_multiplier": own[0].reply_ratio},
            )
        )
    if "one_time_offer" in effects:
        causes.append(
            Cause(
                "one_time_offer",
                names,
                "promotion joiners mostly leave within days of the offer ending",
                {"share_leaving": 0.7, "mean_days_after": 6.0},
            )
        )
    if "marketplace" in effects:
        causes.append(
            Cause(
                "marketplace",
                [s.spec.name for s, _ in socials],
                "every account on the platform loses followers in the windows",
                {"windows": float(len(world.market))},
            )
        )
    if "bot_purge" in effects:
        causes.append(
            Cause(
                "users",
                [s.spec.name for s, _ in socials] + [mail.spec.name],
                "platform purges of bot-like accounts and clean-ups of inactive "
                "ones; fake sign-ups bounce",
                {"purges": float(len(world.purges))},
            )
        )
    if "at_risk_fans" in effects:
        causes.append(
            Cause(
                "at_risk_fans",
                names,
                "engaged fans whose engagement fades for weeks before they leave",
                {"fans": float(len(truth.at_risk_fans))},
            )
        )
