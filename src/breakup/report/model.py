"""What a report holds: the filters it was built for and the analysis results it shows.

Every output (terminal, HTML file, dashboard, digest, export) renders these objects; none
of them queries the store on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from ..analyses import Section, Unavailable
from ..filters import Filters
from ..left import Departure, LeftSummary
from ..status import AccountStatus

if TYPE_CHECKING:
    from ..why.attribution import PostAttribution
    from ..why.report import WhyReport


@dataclass(frozen=True)
class DayPoint:
    day: date
    followers: int  # open follower spans at the end of the day
    gained: int  # spans that began that day (not those there before tracking)
    lost: int  # spans whose end was seen that day


@dataclass(frozen=True)
class Series:
    """Followers over time of one account, one point per day."""

    account: str
    platform: str
    points: list[DayPoint] = field(default_factory=list)


@dataclass(frozen=True)
class PostRow:
    """A post (or reply, repost, email campaign) with the departures seen after it.

    ``left_after`` counts departures for which this was the last post before the
    departure was seen (Qwitter's rule), or whose unsubscribe named this campaign.
    ``score`` is the why analysis' verdict on the post when that analysis is installed.
    """

    post_id: int
    account: str
    platform: str
    external_id: str
    kind: str
    created_at: datetime
    text: str
    url: str | None
    left_after: int
    metrics: dict[str, int] = field(default_factory=dict)
    score: PostAttribution | None = None


@dataclass(frozen=True)
class NameSeen:
    seen_at: datetime
    handle: str | None
    display_name: str | None


@dataclass(frozen=True)
class SpanRow:
    account: str
    direction: str
    started: datetime
    before_tracking: bool
    ended: datetime | None
    end_kind: str | None
    exact: bool | None


@dataclass(frozen=True)
class PersonHistory:
    """One person across every account: names as seen, spans, engagement, re-checks."""

    person_id: int
    platform: str
    external_id: str
    names: list[NameSeen]
    spans: list[SpanRow]
    interactions: dict[str, int]
    checks: list[tuple[datetime, str]]


@dataclass(frozen=True)
class PostDetail:
    post: PostRow
    left: list[Departure]


@dataclass(frozen=True)
class Report:
    """Everything one report shows. ``why`` and ``fans`` are the results of those analyses
    (none without analyses); ``sections`` every registered analysis (:mod:`breakup.analyses`)
    as the blocks each output renders."""

    generated_at: datetime
    filters: Filters
    accounts: list[str]
    status: list[AccountStatus]
    series: list[Series]
    departures: list[Departure]
    posts: list[PostRow]
    departures_total: int = 0  # departures in the period; ``departures`` keeps the latest
    left: LeftSummary | None = None  # the period's departures by kind, and stated reasons
    why: WhyReport | Unavailable | None = None
    fans: dict[str, object] = field(default_factory=dict)  # each fans analysis' result
    sections: list[Section] = field(default_factory=list)  # every analysis, as blocks

    @property
    def top_posts(self) -> list[PostRow]:
        """Posts most departures followed, most first (the break-up post candidates)."""
        ranked = [p for p in self.posts if p.left_after > 0]
        return sorted(ranked, key=lambda p: (-p.left_after, p.created_at))[:10]
