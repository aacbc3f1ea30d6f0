"""Conversations and engagement: who replies, mentions, likes and reposts, and when.

Engagement is drawn in proportion to each follower's propensity (heavy-tailed; bots and
inactive accounts never engage), from the followers present when a post goes out; at-risk
fans' propensity fades before they leave.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..models import PostKind
from . import content
from .audience import Audience, Spans, sample_weighted
from .world import DAY, F, I, Rng, World

ENGAGE_PER_WEIGHT = 0.006  # expected engagements per post per unit of propensity
CONTENT_APPEAL = {
    "info": 1.3,
    "chat": 1.1,
    "promo": 0.7,
    "offer": 0.9,
    "repeat": 0.5,
    "repost": 0.6,
}


@dataclass
class SimPost:
    at: float
    kind: PostKind
    content: str
    text: str
    answers: int = -1  # brand replies: index of the conversation (talk) answered
    ext: str = ""
    url: str | None = None
    metrics: dict[str, int] = field(default_factory=dict)


@dataclass
class Interactions:
    person: I
    kind: list[str]  # InteractionKind values
    at: F
    post: I  # index into SocialOut.posts, -1 for a mention


def conversations(
    world: World,
    rng: Rng,
    people: Audience,
    spans: Spans,
    posts: list[SimPost],
    answer_rate: float,
) -> tuple[Interactions, list[SimPost], list[tuple[int, float]]]:
    """Followers reply to posts and mention the brand; the brand answers some of them."""
    who: list[int] = []
    kinds: list[str] = []
    when: list[float] = []
    post: list[int] = []
    for i, p in enumerate(posts):
        if p.kind != PostKind.POST:
            continue
        alive = spans.alive(p.at)
        w = people.weight(spans.person[alive], p.at)
        k = int(rng.poisson(float(w.sum()) * ENGAGE_PER_WEIGHT * 0.05 * CONTENT_APPEAL[p.content]))
        for s in sample_weighted(rng, alive, w, k):
            t = p.at + 0.05 + float(rng.exponential(3.0))
            if t < min(spans.end[s], world.hours):
                who.append(int(spans.person[s]))
                kinds.append("reply")
                when.append(t)
                post.append(i)
    for d in range(world.days):
        mid = d * DAY + 12.0
        alive = spans.alive(mid)
        w = people.weight(spans.person[alive], mid)
        for s in sample_weighted(rng, alive, w, int(rng.poisson(float(w.sum()) * 0.0003))):
            t = d * DAY + float(rng.uniform(0.0, DAY))
            if spans.start[s] < t < min(spans.end[s], world.hours):
                who.append(int(spans.person[s]))
                kinds.append("mention")
                when.append(t)
                post.append(-1)
    order = np.argsort(np.array(when), kind="stable")
    talk = Interactions(
        np.array(who, dtype=np.int64)[order],
        [kinds[j] for j in order],
        np.array(when)[order],
        np.array(post, dtype=np.int64)[order],
    )
    replies: list[SimPost] = []
    answered: list[tuple[int, float]] = []
    for j in range(len(order)):
        if rng.random() >= answer_rate:
            continue  # left unanswered: "monologue instead of dialogue"
        t = float(talk.at[j]) + 0.1 + float(rng.exponential(2.0))
        if t >= world.hours:
            continue
        person = int(talk.person[j])
        handle = str(people.handles_at(np.array([person]), t)[0]).lstrip("@")
        text = content.reply_text(rng, handle)
        replies.append(SimPost(t, PostKind.REPLY, "reply", text, answers=j))
        answered.append((person, t))
    replies.sort(key=lambda p: p.at)
    return talk, replies, answered


def engagement(
    world: World,
    platform: str,
    rng: Rng,
    people: Audience,
    spans: Spans,
    posts: list[SimPost],
) -> Interactions:
    """Likes, reposts and quotes from followers, in proportion to their propensity."""
    kinds = ("like", "repost", "quote") if platform == "bsky" else ("like", "repost")
    probs = [0.8, 0.15, 0.05] if platform == "bsky" else [0.8, 0.2]
    who: list[I] = []
    what: list[I] = []
    when: list[F] = []
    post: list[I] = []
    for i, p in enumerate(posts):
        alive = spans.alive(p.at)
        w = people.weight(spans.person[alive], p.at)
        k = int(rng.poisson(float(w.sum()) * ENGAGE_PER_WEIGHT * CONTENT_APPEAL[p.content]))
        chosen = sample_weighted(rng, alive, w, k)
        t = p.at + 0.02 + rng.exponential(5.0, len(chosen))
        keep = t < np.minimum(spans.end[chosen], world.hours)
        chosen = chosen[keep]
        who.append(spans.person[chosen])
        what.append(rng.choice(len(kinds), size=len(chosen), p=probs))
        when.append(t[keep])
        post.append(np.full(len(chosen), i, dtype=np.int64))
    if not who:
        return Interactions(np.zeros(0, dtype=np.int64), [], np.zeros(0), np.zeros(0, np.int64))
    codes = np.concatenate(what)
    return Interactions(
        np.concatenate(who),
        [kinds[c] for c in codes],
        np.concatenate(when),
        np.concatenate(post),
    )
