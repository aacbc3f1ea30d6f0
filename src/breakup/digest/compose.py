"""What a daily digest says: who left that day, how, and the post most likely to blame
with its confidence — from the why analysis when this breakup has it.

A departure belongs to the day its end was seen (``left_latest``), so each one is in
exactly one daily digest. The likely post is, among the posts in the departure's window
(widened by the analysis' window before it), the one the why analysis found most in
excess over normal churn: a named break-up post first, else the largest lower bound. An
unsubscribe that names its campaign is blamed on that campaign, which is ground truth.
Without the why analysis the digest names the last post before the departure and says
that no statistics back it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from ..analyses import Unavailable
from ..left import Departure, who_left
from ..store import Store
from ..why import words
from ..why.attribution import Attribution, PostAttribution

if TYPE_CHECKING:
    from ..why.report import WhyReport

MAX_ITEMS = 25


@dataclass(frozen=True)
class LikelyPost:
    text: str
    created_at: datetime
    confidence: str  # in words, with the interval when there is one
    named: bool  # a break-up post the analysis names (or the campaign an unsubscribe named)


@dataclass(frozen=True)
class DigestItem:
    account: str
    who: str
    kind: str
    left_earliest: datetime
    left_latest: datetime
    exact: bool
    post: LikelyPost | None


@dataclass(frozen=True)
class Digest:
    period: date
    account: str | None
    generated_at: datetime
    items: list[DigestItem] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def title(self) -> str:
        n = len(self.items)
        whom = f" from {self.account}" if self.account else ""
        return f"breakup: {n} left{whom} on {self.period.isoformat()}"


def period_bounds(period: date) -> tuple[datetime, datetime]:
    start = datetime.combine(period, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _who(d: Departure) -> str:
    if d.handle:
        return d.handle + (f" ({d.display_name})" if d.display_name else "")
    if d.display_name:
        return d.display_name
    return "(hashed address)" if d.external_id.startswith("h:") else d.external_id


def _attributions(why: WhyReport | Attribution | Unavailable | None) -> Attribution | None:
    """The attribution of a why report, or an ``Attribution`` itself (what the digest
    computes: :func:`breakup.why.attribution_only`)."""
    if why is None or isinstance(why, Unavailable):
        return None
    return why if isinstance(why, Attribution) else why.attribution


def _likely(d: Departure, posts: list[PostAttribution], window_h: float) -> LikelyPost | None:
    """The post whose response window the departure falls in, with the verdict on it in
    words: a break-up post's cost and how sure we are, or that none stands out."""
    if d.campaign:
        return LikelyPost(d.campaign, d.left_latest, "named by the unsubscribe itself", True)

    def covers(p: PostAttribution) -> bool:
        start = p.window_start or p.created_at
        end = p.window_end or p.created_at + timedelta(hours=window_h)
        return bool(p.account == d.account and p.created_at <= d.left_latest
                    and start <= d.left_latest and d.left_earliest <= end)  # fmt: skip

    candidates = [p for p in posts if covers(p)]
    if candidates:
        best = max(candidates, key=lambda p: (p.break_up, p.significant, p.adjusted_ci_low,
                                              p.rate_ratio))  # fmt: skip
        if best.break_up or best.significant:
            confidence = f"{'break-up post' if best.break_up else 'not one post'}: " \
                + words.post_sentence(best, d.platform)  # fmt: skip
        else:
            confidence = "no post before it stands out from normal churn"
        return LikelyPost(best.text, best.created_at, confidence, bool(best.break_up))
    if d.last_posts:
        last = d.last_posts[0]
        return LikelyPost(last.text, last.created_at, "last post before; no statistics", False)
    return None


def day_departures(store: Store, period: date, account: str | None = None) -> list[Departure]:
    """Who left on *period* (a UTC day): each departure in the day its end was seen."""
    start, end = period_bounds(period)
    return [d for d in who_left(store, account=account, since=start) if d.left_latest < end]


def needs_attribution(left: list[Departure]) -> bool:
    """Whether the digest of *left* shows any post the why analysis judges: not when
    nobody left, nor when every unsubscribe named its campaign."""
    return any(not d.campaign for d in left)


def compose(
    store: Store,
    period: date,
    *,
    account: str | None = None,
    why: WhyReport | Attribution | Unavailable | None = None,
    left: list[Departure] | None = None,
) -> Digest:
    """The digest of *period* (a UTC day). *why* is a ``breakup.why`` result, if any:
    :func:`~breakup.why.attribution_only` is all it reads. *left*: the day's departures
    when the caller already has them (:func:`day_departures`)."""
    if left is None:
        left = day_departures(store, period, account)
    att = _attributions(why)
    posts, window_h = (att.posts, att.window_hours) if att is not None else ([], 0.0)
    items = [
        DigestItem(
            account=d.account,
            who=_who(d),
            kind=d.kind,
            left_earliest=d.left_earliest,
            left_latest=d.left_latest,
            exact=d.exact,
            post=_likely(d, posts, window_h),
        )
        for d in left
    ]
    return Digest(
        period=period,
        account=account,
        generated_at=store.clock(),
        items=items,
        kinds=dict(sorted(Counter(i.kind for i in items).items())),
    )
