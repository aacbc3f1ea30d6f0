"""Listening: who wrote to the account and was never answered, and whether answering
keeps people.

A reply or mention is *answered* when one of the account's own posts has ``reply_to``
equal to the interaction's ``ref`` (the id of the person's own post, which live trackers
and the simulator record). Interactions without a ``ref`` cannot be judged and are left
out (counted in ``unjudged``).

Retention compares people who wrote at least once (and were following then): those
answered at least once against those never answered. Each person is followed from their
first reply or mention to the end of that span (or *as_of*); a departure of their own
choice (unfollowed, unsubscribed, unknown — not a deleted or suspended account) is an
event. Result: departures per 1,000 follower-days per group and the rate ratio with a 95%
Wald interval on the log scale. It is an association, not an experiment: who gets answered
is not random.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..store import Store
from ._common import (
    LEFT_KINDS_SQL,
    account_ids_sql,
    as_of,
    db_time,
    latest_handle_sql,
    own_accounts,
    rate_ratio,
    utc,
)


@dataclass(frozen=True)
class Unanswered:
    account: str
    person_id: int
    external_id: str
    handle: str | None
    kind: str  # reply or mention
    at: datetime
    ref: str  # their post
    post: str | None  # the account's post they replied to
    still_follows: bool
    post_text: str | None = None  # its text, when the store has the post


@dataclass(frozen=True)
class GroupRetention:
    people: int
    departures: int
    follower_days: float
    per_1000_days: float


@dataclass(frozen=True)
class Listening:
    as_of: datetime
    accounts: list[str]
    asked: int  # replies and mentions with a ref
    answered: int
    unjudged: int  # replies and mentions without a ref
    answer_rate: float
    answered_people: GroupRetention
    unanswered_people: GroupRetention
    rate_ratio: float  # departure rate of never-answered / answered people
    rate_ratio_low: float
    rate_ratio_high: float
    oldest_unanswered: list[Unanswered] = field(default_factory=list)


def _base_sql(ids: str) -> str:
    return f"""
        SELECT i.account_id, i.person_id, i.kind, i.occurred_at, i.ref, i.post_external_id,
               EXISTS (SELECT 1 FROM posts p WHERE p.account_id = i.account_id
                       AND p.reply_to = i.ref AND p.created_at <= $as_of) AS answered,
               (SELECT min(p.created_at) FROM posts p WHERE p.account_id = i.account_id
                       AND p.reply_to = i.ref) AS answered_at
        FROM interactions i
        WHERE i.account_id IN {ids} AND i.kind IN ('reply', 'mention')
          AND i.occurred_at <= $as_of AND i.ref IS NOT NULL
    """


def unanswered(
    store: Store,
    account: str | None = None,
    *,
    at: datetime | None = None,
    limit: int | None = 50,
    newest_first: bool = False,
) -> list[Unanswered]:
    """Replies and mentions nobody answered, oldest first (or newest first)."""
    accts = own_accounts(store, account)
    order = "DESC" if newest_first else ""
    lim = "" if limit is None else f"LIMIT {int(limit)}"
    rows = store.con.execute(
        f"""
        WITH q AS ({_base_sql(account_ids_sql(accts))}),
        names AS ({latest_handle_sql("$as_of")})
        SELECT a.name, q.person_id, p.external_id, n.handle, q.kind, q.occurred_at, q.ref,
               q.post_external_id,
               EXISTS (SELECT 1 FROM spans s WHERE s.account_id = q.account_id
                       AND s.person_id = q.person_id AND s.direction = 'followers'
                       AND s.start_latest <= $as_of
                       AND (s.end_latest IS NULL OR s.end_earliest > $as_of)),
               (SELECT any_value(o.text) FROM posts o WHERE o.account_id = q.account_id
                       AND o.external_id = q.post_external_id)
        FROM q JOIN accounts a USING (account_id) JOIN people p USING (person_id)
        LEFT JOIN names n USING (person_id)
        WHERE NOT q.answered
        ORDER BY q.occurred_at {order}, q.person_id {lim}
        """,
        {"as_of": db_time(as_of(store, at))},
    ).fetchall()
    return [_unanswered(r) for r in rows]


def _unanswered(r: tuple[Any, ...]) -> Unanswered:
    at = utc(r[5])
    assert at is not None
    return Unanswered(r[0], int(r[1]), r[2], r[3], r[4], at, r[6], r[7], bool(r[8]), r[9])


def listening(
    store: Store,
    account: str | None = None,
    *,
    at: datetime | None = None,
    limit: int | None = 20,
) -> Listening:
    """Answer rate, oldest unanswered, and retention of answered vs never-answered people."""
    accts = own_accounts(store, account)
    ids = account_ids_sql(accts)
    now = db_time(as_of(store, at))
    params = {"as_of": now}
    counts = store.con.execute(
        f"""
        SELECT count(*) FILTER (WHERE ref IS NOT NULL),
               count(*) FILTER (WHERE ref IS NOT NULL AND EXISTS (
                   SELECT 1 FROM posts p WHERE p.account_id = i.account_id
                   AND p.reply_to = i.ref AND p.created_at <= $as_of)),
               count(*) FILTER (WHERE ref IS NULL)
        FROM interactions i
        WHERE i.account_id IN {ids} AND i.kind IN ('reply', 'mention')
          AND i.occurred_at <= $as_of
        """,
        params,
    ).fetchall()[0]
    groups = store.con.execute(
        f"""
        WITH q AS ({_base_sql(ids)}),
        per AS (   -- per person and account: first time they wrote, and ever answered
            SELECT account_id, person_id, min(occurred_at) AS first_at,
                   bool_or(answered) AS answered
            FROM q GROUP BY ALL
        ),
        follow AS (   -- the span they were in when they first wrote
            SELECT per.*, s.end_earliest, s.end_latest, s.end_kind
            FROM per JOIN spans s
              ON s.account_id = per.account_id AND s.person_id = per.person_id
             AND s.direction = 'followers' AND s.start_latest <= per.first_at
             AND (s.end_latest IS NULL OR s.end_latest > per.first_at)
        ),
        t AS (
            SELECT answered,
                   s_end IS NOT NULL AND s_end <= $as_of AND end_kind IN {LEFT_KINDS_SQL}
                       AS left_,
                   date_diff('second', first_at, least(coalesce(s_end, $as_of), $as_of))
                       / 86400.0 AS days
            FROM (SELECT *, end_earliest + (end_latest - end_earliest) / 2 AS s_end FROM follow)
        )
        SELECT answered, count(*), count(*) FILTER (WHERE left_), sum(greatest(days, 0))
        FROM t GROUP BY answered
        """,
        params,
    ).fetchall()
    by = {bool(r[0]): (int(r[1]), int(r[2]), float(r[3] or 0.0)) for r in groups}
    yes, no = by.get(True, (0, 0, 0.0)), by.get(False, (0, 0, 0.0))
    ratio, low, high = rate_ratio(no[1], no[2], yes[1], yes[2])
    asked, answered_n = int(counts[0]), int(counts[1])
    return Listening(
        as_of=utc(now) or store.clock(),
        accounts=[a.name for a in accts],
        asked=asked,
        answered=answered_n,
        unjudged=int(counts[2]),
        answer_rate=round(answered_n / asked, 4) if asked else 0.0,
        answered_people=_group(yes),
        unanswered_people=_group(no),
        rate_ratio=round(ratio, 3),
        rate_ratio_low=round(low, 3),
        rate_ratio_high=round(high, 3),
        oldest_unanswered=unanswered(store, account, at=at, limit=limit),
    )


def _group(g: tuple[int, int, float]) -> GroupRetention:
    people, left, days = g
    return GroupRetention(
        people, left, round(days, 1), round(1000 * left / days, 3) if days else 0.0
    )
