"""The headline of the HTML report and the dashboard: four cards on the first screen that
answer the user's questions before any table — how many follow now and how that changed,
who left lately, the top break-up post, the top cause.

A function of a built :class:`~breakup.report.model.Report` only (nothing is queried or
computed twice). The why result is read through its typed fields (:mod:`breakup.why`).
Where the data is too short to say anything, a card says what is missing instead of an
all-clear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..analyses import Unavailable
from ..left import Departure
from .model import Report

if TYPE_CHECKING:
    from ..why.report import WhyReport

CHANGE_DAYS = 30
RECENT_DAYS = 7
ACCOUNT_LINES = 4


@dataclass(frozen=True)
class Card:
    """One headline figure: a title, the figure (or phrase) and one sentence under it."""

    key: str  # element id suffix: followers, left, post, cause
    title: str
    value: str
    detail: str
    href: str | None = None  # where the page says more
    lines: list[str] = field(default_factory=list)  # small print, one line each
    tone: str = ""  # "bad" (losses), "good", or ""
    post_id: int | None = None  # the post the card names (the dashboard links to it)


def _signed(n: int) -> str:
    return f"+{n:,}" if n > 0 else ("±0" if n == 0 else f"−{-n:,}")


def _snippet(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


_URL = re.compile(r"https?://\S+")


def _first_line(text: str, width: int) -> str:
    """A post's first non-empty line — its headline — without links, shortened."""
    lines = [line for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else text
    bare = " ".join(_URL.sub(" ", first).split()).rstrip(" →:-–—")
    return _snippet(bare or first, width)


def _day(t: datetime) -> str:
    return f"{t:%Y-%m-%d}"


def _tracked_days(report: Report) -> int | None:
    days = [p.day for s in report.series for p in s.points]
    if not days:
        return None
    return (max(days) - min(days)).days


def _period(report: Report, name: str) -> tuple[int, int]:
    gained = lost = 0
    for s in report.status:
        for p in s.periods:
            if p.name == name:
                gained += p.gained
                lost += p.lost
    return gained, lost


def followers_card(report: Report) -> Card:
    total = sum(s.followers for s in report.status)
    email = any(s.platform in ("email", "substack", "buttondown") for s in report.status)
    title = "Followers and subscribers now" if email else "Followers now"
    lines = [f"{s.account}: {s.followers:,}" for s in report.status[:ACCOUNT_LINES]]
    if len(report.status) > ACCOUNT_LINES:
        lines.append(f"and {len(report.status) - ACCOUNT_LINES} more accounts")
    if len(report.status) == 1:
        lines = []
    if not report.status:
        return Card("followers", title, "—", "No account matches: import one first.", None)
    gained, lost = _period(report, f"{CHANGE_DAYS}d")
    tracked = _tracked_days(report)
    if tracked == 0:
        when = "on the first day tracked"
    elif tracked is not None and tracked < CHANGE_DAYS:
        when = f"in the {tracked} day{'s' if tracked != 1 else ''} tracked so far"
    else:
        when = f"in the last {CHANGE_DAYS} days"
    net = gained - lost
    detail = f"{_signed(net)} {when} ({gained:,} joined, {lost:,} left)"
    tone = "bad" if net < 0 else ("good" if net > 0 else "")
    return Card("followers", title, f"{total:,}", detail, "#status", lines, tone)


def _who(d: Departure) -> str:
    if d.handle:
        return d.handle
    if d.external_id.startswith("h:"):
        return "a hashed address"
    return d.external_id


def left_card(report: Report) -> Card:
    since = report.filters.since
    if since is not None:
        title = f"Left since {_day(since)}"
        count = report.departures_total
    else:
        title = f"Left in the last {RECENT_DAYS} days"
        count = _period(report, f"{RECENT_DAYS}d")[1]
    latest = report.departures[0] if report.departures else None
    one_snapshot = bool(report.status) and all(s.imports <= 1 for s in report.status)
    if count == 0 and latest is None and one_snapshot:
        detail = "Only one snapshot so far: import a later one to see who left."
        return Card("left", title, "—", detail, "#departures")
    if latest is not None:
        detail = f"Latest: {_who(latest)} ({latest.kind}, {_day(latest.left_latest)})"
    else:
        detail = "Nobody has left yet."
    if count == 0 and latest is not None:
        detail = f"Nobody in this period. {detail}"
    lines = []
    if since is None and count:
        kinds: dict[str, int] = {}
        for s in report.status:
            for p in s.periods:
                if p.name == f"{RECENT_DAYS}d":
                    for kind, n in p.lost_by_kind.items():
                        kinds[kind] = kinds.get(kind, 0) + n
        ranked = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
        lines = [" · ".join(f"{n:,} {kind}" for kind, n in ranked if n)]
    seen = [s.last_observation for s in report.status if s.last_observation is not None]
    if seen:  # how fresh "lately" is: the newest data any account has
        lines.append(f"last checked {max(seen):%Y-%m-%d %H:%M} UTC")
    tone = "bad" if count else ""
    return Card("left", title, f"{count:,}", detail, "#departures", lines, tone)


def _why(report: Report) -> WhyReport | str:
    """The why result, or why there is none (for the cards)."""
    if report.why is None:
        return "The why analysis was not run for this view."
    if isinstance(report.why, Unavailable):
        return f"No statistics: {report.why.message}"
    return report.why


def _break_up_card(report: Report, why: WhyReport) -> Card:
    """The top break-up post as the why analysis names it (its largest estimated cost), in
    the analysis' words."""
    from ..why import words

    title = "Top break-up post"
    att = why.attribution
    named = [p for p in att.posts if p.break_up]
    if not named:
        return Card("post", title, "none stands out", words.bottom_line(att), "#why")
    top = max(named, key=lambda p: p.excess)
    platform = {s.account: s.platform for s in report.status}.get(top.account, "bsky")
    said = f"{words.cost(top, platform)}; {words.chance(top.p_adjusted)}"
    detail = f"{top.account}, {_day(top.created_at)}: {said}"
    lines = [f"{len(named)} break-up posts in all"] if len(named) > 1 else []
    ids = {(p.account, p.external_id): p.post_id for p in report.posts}
    post_id = ids.get((top.account, top.post))
    value = _first_line(top.text, 90)
    return Card("post", title, value, detail, "#why", lines, "bad", post_id)


def post_card(report: Report) -> Card:
    title = "Top break-up post"
    why = _why(report)
    if not isinstance(why, str):
        return _break_up_card(report, why)
    if report.top_posts:
        top_post = report.top_posts[0]
        detail = (
            f"{top_post.account}, {_day(top_post.created_at)}: {top_post.left_after:,} "
            "left after it, before the next post."
        )
        title = "Post most departures followed"
        value = _first_line(top_post.text, 90)
        return Card("post", title, value, detail, "#posts", [why], "", top_post.post_id)
    return Card("post", title, "—", "No departure followed a post. " + why, "#posts")


def cause_card(report: Report) -> Card:
    from ..why import words

    title = "Top cause"
    why = _why(report)
    if isinstance(why, str):
        return Card("cause", title, "—", why, None)
    findings = list(why.diagnosis.findings)
    top = max(findings, key=lambda f: f.ci_low) if findings else None
    if top is None:
        detail = "No cause stands out from normal churn with enough certainty."
        return Card("cause", title, "no clear cause", detail, "#why")
    label = words.cause(top.cause)
    others = sorted({f.cause for f in findings} - {top.cause})
    lines = ["also: " + ", ".join(words.cause(c) for c in others)] if others else []
    return Card("cause", title, label, f"{top.account}: {top.statement}", "#why", lines, "bad")


def headline(report: Report) -> list[Card]:
    """The four headline cards, in reading order."""
    return [followers_card(report), left_card(report), post_card(report), cause_card(report)]
