"""Who left: every ended follower span, with how precisely we know when, and what preceded it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import from_db, to_db
from .filters import Filters
from .store import Store

LAST_POSTS = 3
POST_LOOKBACK_DAYS = 14


@dataclass(frozen=True)
class PostRef:
    external_id: str
    kind: str
    created_at: datetime
    text: str


@dataclass(frozen=True)
class Departure:
    account: str
    platform: str
    person_id: int
    external_id: str
    handle: str | None  # as it was when they left
    display_name: str | None
    kind: str  # unfollowed, unsubscribed, deleted, suspended, blocked, unknown
    left_earliest: datetime
    left_latest: datetime
    exact: bool  # an event time rather than a window between two observations
    followed_since: datetime  # latest possible start of the span
    followed_before_tracking: bool  # start unknown: already there when tracking began
    tenure_days: float  # at least this long: latest possible start to earliest possible end
    campaign: str | None
    reason: str | None
    last_posts: list[PostRef] = field(default_factory=list)


def _filters(
    filters: Filters | None,
    account: str | None,
    since: datetime | None,
    until: datetime | None,
    channel: str | None,
) -> Filters:
    """*filters*, with any keyword argument given beside it in place of its field."""
    base = filters or Filters()
    return Filters(
        account=account if account is not None else base.account,
        channel=channel if channel is not None else base.channel,
        since=since if since is not None else base.since,
        until=until if until is not None else base.until,
    )


def departures_where(store: Store, filters: Filters) -> tuple[list[str], list[Any]]:
    """The conditions on ``departures s JOIN accounts a`` that *filters* set (the user's
    own accounts only): the one rule of which departures a filter keeps. ``since``
    keeps the departures that may have happened at or after it, ``until`` those that may
    have happened before it."""
    where = ["a.role = 'own'"]
    params: list[Any] = []
    if filters.account is not None:
        where.append("a.account_id = ?")
        params.append(store.account(filters.account).account_id)
    if filters.since is not None:
        where.append("s.end_latest >= ?")
        params.append(to_db(filters.since))
    if filters.until is not None:
        where.append("s.left_earliest < ?")
        params.append(to_db(filters.until))
    if filters.channel is not None:
        where.append("a.platform = ?")
        params.append(filters.channel)
    return where, params


def who_left(
    store: Store,
    filters: Filters | None = None,
    *,
    account: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    until: datetime | None = None,
    channel: str | None = None,
) -> list[Departure]:
    """Departures under *filters* (the keyword arguments, when given, set single fields of
    it), newest first: ``since`` keeps those that may have happened at or after it,
    ``until`` those that may have happened before it; ``limit`` None or 0 means all."""
    where, params = departures_where(store, _filters(filters, account, since, until, channel))
    limit_sql = "" if not limit else f"LIMIT {int(limit)}"
    rows = store.con.execute(
        f"""
        WITH d AS (
            SELECT s.*, a.name AS account, a.platform FROM departures s
            JOIN accounts a USING (account_id)
            WHERE {" AND ".join(where)}
            ORDER BY s.end_latest DESC, s.span_id DESC {limit_sql}
        ),
        names AS (
            SELECT d.span_id,
                   arg_max(n.handle, n.seen_at) FILTER (WHERE n.seen_at <= d.end_latest) AS h,
                   arg_min(n.handle, n.seen_at) AS h0,
                   arg_max(n.display_name, n.seen_at)
                       FILTER (WHERE n.seen_at <= d.end_latest) AS dn,
                   arg_min(n.display_name, n.seen_at) AS dn0
            FROM d JOIN person_names n USING (person_id)
            GROUP BY d.span_id
        ),
        lp AS (
            SELECT d.span_id, list(struct_pack(
                       id := p.external_id, kind := p.kind, at := p.created_at,
                       text := coalesce(p.text, ''))
                   ORDER BY p.created_at DESC) AS posts
            FROM d JOIN posts p ON p.account_id = d.account_id
             AND p.created_at <= d.end_latest
             AND p.created_at >= d.end_latest - INTERVAL {POST_LOOKBACK_DAYS} DAY
            GROUP BY d.span_id
        )
        SELECT d.account, d.platform, d.person_id, pe.external_id,
               coalesce(names.h, names.h0), coalesce(names.dn, names.dn0), d.end_kind,
               d.left_earliest, d.end_latest, d.end_exact,
               d.start_latest, d.start_earliest IS NULL AND NOT d.start_exact,
               date_diff('second', d.start_latest, d.left_earliest) / 86400.0,
               coalesce(cp.text, d.end_campaign), d.end_reason, lp.posts
        FROM d
        JOIN people pe ON pe.person_id = d.person_id
        LEFT JOIN names USING (span_id)
        LEFT JOIN lp USING (span_id)
        LEFT JOIN posts cp ON cp.account_id = d.account_id AND cp.external_id = d.end_campaign
        ORDER BY d.end_latest DESC, d.span_id DESC
        """,
        params,
    ).fetchall()
    return [_departure(r) for r in rows]


@dataclass(frozen=True)
class LeftSummary:
    """How many left under the same filters as :func:`who_left`, by kind, and the reasons
    unsubscribers gave themselves (Mailchimp's reason fields), most given first."""

    total: int
    by_kind: dict[str, int]
    stated: int  # departures with a reason of their own
    reasons: list[tuple[str, int]]


def left_summary(
    store: Store,
    filters: Filters | None = None,
    *,
    account: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: str | None = None,
) -> LeftSummary:
    """Counts for everything :func:`who_left` would list without a limit."""
    where, params = departures_where(store, _filters(filters, account, since, until, channel))
    sql = f"FROM departures s JOIN accounts a USING (account_id) WHERE {' AND '.join(where)}"
    kinds = store.con.execute(
        f"SELECT s.end_kind, count(*) {sql} GROUP BY ALL ORDER BY 2 DESC, 1", params
    ).fetchall()
    reasons = store.con.execute(
        f"SELECT s.end_reason, count(*) {sql} AND s.end_reason IS NOT NULL "
        "AND s.end_kind = 'unsubscribed' GROUP BY ALL ORDER BY 2 DESC, 1",
        params,
    ).fetchall()
    by_kind = {str(k): int(n) for k, n in kinds}
    return LeftSummary(
        total=sum(by_kind.values()),
        by_kind=by_kind,
        stated=sum(int(n) for _, n in reasons),
        reasons=[(str(r), int(n)) for r, n in reasons],
    )


def _departure(r: tuple[Any, ...]) -> Departure:
    posts = [
        PostRef(p["id"], p["kind"], _t(p["at"]), p["text"]) for p in (r[15] or [])[:LAST_POSTS]
    ]
    return Departure(
        account=r[0],
        platform=r[1],
        person_id=int(r[2]),
        external_id=r[3],
        handle=r[4],
        display_name=r[5],
        kind=r[6],
        left_earliest=_t(r[7]),
        left_latest=_t(r[8]),
        exact=bool(r[9]),
        followed_since=_t(r[10]),
        followed_before_tracking=bool(r[11]),
        tenure_days=max(0.0, float(r[12])),
        campaign=r[13],
        reason=r[14],
        last_posts=posts,
    )


def _t(value: datetime) -> datetime:
    out = from_db(value)
    assert out is not None
    return out
