"""Set-based queries the report needs beyond status and who_left: followers per day, posts
with the departures seen after each, and the drill-downs (a post, a person)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from ..clock import from_db, to_db
from ..errors import InvalidInput
from ..filters import Filters
from ..left import Departure, departures_where, who_left
from ..store import Account, Store
from .model import DayPoint, NameSeen, PersonHistory, PostDetail, PostRow, Series, SpanRow


def select_accounts(store: Store, filters: Filters) -> list[Account]:
    """The user's own accounts the filters cover (peers are context, not reported on)."""
    chosen = [store.account(filters.account)] if filters.account else store.accounts(role="own")
    return [a for a in chosen if filters.channel is None or a.platform == filters.channel]


DEPARTURES_KEPT = 250  # the report shows 50, the dashboard 200


def recent_departures(
    store: Store, accounts: list[Account], filters: Filters, keep: int = DEPARTURES_KEPT
) -> tuple[list[Departure], int]:
    """The latest *keep* departures of *accounts* under *filters* (newest first, as
    :func:`who_left` lists them), and how many there are."""
    if not accounts:
        return [], 0
    rows: list[Departure] = []
    for account in accounts:
        rows += who_left(store, replace(filters, account=account.name), limit=keep)
    rows.sort(key=lambda d: d.left_latest, reverse=True)
    where, params = departures_where(store, filters)
    total = store.scalar(
        "SELECT count(*) FROM departures s JOIN accounts a USING (account_id) "
        f"WHERE list_contains(?, a.account_id) AND {' AND '.join(where)}",
        [_ids(accounts), *params],
    )
    return rows[:keep], int(total)


def _ids(accounts: list[Account]) -> list[int]:
    return [a.account_id for a in accounts] or [-1]


def followers_series(
    store: Store, accounts: list[Account], filters: Filters, today: date
) -> list[Series]:
    """Per account and day: followers at the end of the day, gained and lost that day."""
    rows = store.con.execute(
        """
        WITH ev AS (
            SELECT account_id, CAST(start_latest AS DATE) AS day, 1 AS delta,
                   CASE WHEN start_earliest IS NOT NULL OR start_exact THEN 1 ELSE 0 END AS g,
                   0 AS l
            FROM spans WHERE direction = 'followers' AND list_contains(?, account_id)
            UNION ALL
            SELECT account_id, CAST(end_latest AS DATE), -1, 0, 1
            FROM spans WHERE direction = 'followers' AND end_latest IS NOT NULL
              AND list_contains(?, account_id)
        ),
        daily AS (
            SELECT account_id, day, sum(delta) AS d, sum(g) AS g, sum(l) AS l
            FROM ev GROUP BY account_id, day
        ),
        grid AS (
            SELECT account_id,
                   unnest(generate_series(min(day), greatest(max(day), ?::DATE),
                                          INTERVAL 1 DAY))::DATE AS day
            FROM daily GROUP BY account_id
        ),
        run AS (
            SELECT grid.account_id, grid.day,
                   sum(coalesce(daily.d, 0)) OVER (
                       PARTITION BY grid.account_id ORDER BY grid.day) AS followers,
                   coalesce(daily.g, 0) AS g, coalesce(daily.l, 0) AS l
            FROM grid LEFT JOIN daily USING (account_id, day)
        ),
        tracked AS (  -- the chart starts when tracking did (at most a year back)
            SELECT a.account_id, greatest(
                CAST(coalesce((SELECT min(observed_at) FROM observations o
                               WHERE o.account_id = a.account_id),
                              (SELECT min(occurred_at) FROM events e
                               WHERE e.account_id = a.account_id)) AS DATE),
                ?::DATE - INTERVAL 365 DAY)::DATE AS first_day
            FROM accounts a
        )
        SELECT account_id, day, followers::BIGINT, g::BIGINT, l::BIGINT
        FROM run LEFT JOIN tracked USING (account_id)
        WHERE day >= coalesce(first_day, day)
          AND (?::DATE IS NULL OR day >= ?::DATE) AND (?::DATE IS NULL OR day <= ?::DATE)
        ORDER BY account_id, day
        """,
        [
            _ids(accounts),
            _ids(accounts),
            today,
            today,
            *[_day(filters.since)] * 2,
            *[_day(filters.until)] * 2,
        ],
    ).fetchall()
    points: dict[int, list[DayPoint]] = {a.account_id: [] for a in accounts}
    for aid, day, followers, gained, lost in rows:
        points[aid].append(DayPoint(day, int(followers), int(gained), int(lost)))
    return [Series(a.name, a.platform, points[a.account_id]) for a in accounts]


def _day(t: datetime | None) -> date | None:
    return None if t is None else t.date()


# Each departure counts for the campaign its unsubscribe named, else for the last post
# before it was seen (an as-of join: no pairwise comparison of posts and departures).
# {departed}: the conditions on the departures (``s``) that count, e.g. before --until.
_ATTRIBUTED = """
p AS (
    SELECT p.*, a.name AS account, a.platform
    FROM posts p JOIN accounts a USING (account_id)
    WHERE list_contains(?, p.account_id)
),
d AS (
    SELECT s.span_id, s.account_id, s.end_latest, s.end_campaign
    FROM departures s
    WHERE list_contains(?, s.account_id) {departed}
),
attributed AS (
    SELECT d.span_id, coalesce(cp.post_id, ap.post_id) AS post_id
    FROM d
    LEFT JOIN p cp ON cp.account_id = d.account_id AND cp.kind = 'campaign'
     AND cp.external_id = d.end_campaign
    ASOF LEFT JOIN p ap ON ap.account_id = d.account_id AND d.end_latest >= ap.created_at
)
"""

_POSTS_SQL = (
    "WITH "
    + _ATTRIBUTED
    + """,
hits AS (SELECT post_id, count(*) AS n FROM attributed GROUP BY post_id),
m AS (
    SELECT post_id, map(list(metric ORDER BY metric), list(v ORDER BY metric)) AS metrics
    FROM (SELECT post_id, metric, arg_max(value, observed_at) AS v
          FROM post_metrics GROUP BY post_id, metric)
    GROUP BY post_id
)
SELECT p.post_id, p.account, p.platform, p.external_id, p.kind, p.created_at,
       coalesce(p.text, ''), p.url, coalesce(hits.n, 0), m.metrics
FROM p LEFT JOIN hits USING (post_id) LEFT JOIN m USING (post_id)
WHERE {where}
ORDER BY p.created_at DESC, p.post_id DESC
"""
)


def posts_with_departures(
    store: Store, accounts: list[Account], filters: Filters, post_id: int | None = None
) -> list[PostRow]:
    """Posts in the period, newest first, each with the departures seen after it (and
    before the period's end)."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if filters.since is not None:
        where.append("p.created_at >= ?")
        params.append(to_db(filters.since))
    if filters.until is not None:
        where.append("p.created_at <= ?")
        params.append(to_db(filters.until))
    if post_id is not None:
        where.append("p.post_id = ?")
        params.append(post_id)
    # Departures after the period do not count against its posts.
    departed, before = (
        ("", []) if filters.until is None else ("AND s.left_earliest < ?", [to_db(filters.until)])
    )
    rows = store.con.execute(
        _POSTS_SQL.format(where=" AND ".join(where), departed=departed),
        [_ids(accounts), _ids(accounts), *before, *params],
    ).fetchall()
    return [_post(r) for r in rows]


def _post(r: tuple[Any, ...]) -> PostRow:
    created = from_db(r[5])
    assert created is not None
    return PostRow(
        post_id=int(r[0]),
        account=r[1],
        platform=r[2],
        external_id=r[3],
        kind=r[4],
        created_at=created,
        text=r[6],
        url=r[7],
        left_after=int(r[8]),
        metrics={str(k): int(v) for k, v in (r[9] or {}).items()},
    )


def post_detail(store: Store, post_id: int) -> PostDetail:
    """A post and the people who left after it (by the same rule as ``left_after``)."""
    account_id = store.scalar("SELECT account_id FROM posts WHERE post_id = ?", [post_id])
    if account_id is None:
        raise InvalidInput(f"no post with id {post_id}")
    accounts = [a for a in store.accounts() if a.account_id == account_id]
    post = posts_with_departures(store, accounts, Filters(), post_id=post_id)[0]
    ids = [account_id]
    span_ids = [
        int(r[0])
        for r in store.con.execute(
            "WITH "
            + _ATTRIBUTED.format(departed="")
            + "SELECT span_id FROM attributed WHERE post_id = ?",
            [ids, ids, post_id],
        ).fetchall()
    ]
    left = _departures_by_span(store, accounts[0].name, post, span_ids)
    return PostDetail(post, left)


def _departures_by_span(
    store: Store, account: str, post: PostRow, span_ids: list[int]
) -> list[Departure]:
    if not span_ids:
        return []
    # who_left is the one definition of a departure; keep the rows of these spans.
    ended = {
        (int(r[0]), from_db(r[1]))
        for r in store.con.execute(
            "SELECT person_id, end_latest FROM spans WHERE list_contains(?, span_id)",
            [span_ids],
        ).fetchall()
    }
    rows = who_left(store, account=account, since=post.created_at)
    return [d for d in rows if (d.person_id, d.left_latest) in ended]


def person_history(store: Store, person_id: int) -> PersonHistory:
    """Everything the store knows about one person, oldest first."""
    row = store.con.execute(
        "SELECT platform, external_id FROM people WHERE person_id = ?", [person_id]
    ).fetchall()
    if not row:
        raise InvalidInput(f"no person with id {person_id}")
    names = [
        NameSeen(_t(r[0]), r[1], r[2])
        for r in store.con.execute(
            "SELECT seen_at, handle, display_name FROM person_names WHERE person_id = ? "
            "ORDER BY seen_at, handle",
            [person_id],
        ).fetchall()
    ]
    spans = [
        SpanRow(r[0], r[1], _t(r[2]), bool(r[3]), from_db(r[4]), r[5], r[6])
        for r in store.con.execute(
            """
            SELECT a.name, s.direction, s.start_latest,
                   s.start_earliest IS NULL AND NOT s.start_exact, s.end_latest, s.end_kind,
                   s.end_exact
            FROM spans s JOIN accounts a USING (account_id)
            WHERE s.person_id = ? ORDER BY s.start_latest, s.span_id
            """,
            [person_id],
        ).fetchall()
    ]
    interactions = dict(
        store.con.execute(
            "SELECT kind, count(*)::BIGINT FROM interactions WHERE person_id = ? "
            "GROUP BY kind ORDER BY kind",
            [person_id],
        ).fetchall()
    )
    checks = [
        (_t(r[0]), str(r[1]))
        for r in store.con.execute(
            "SELECT checked_at, state FROM checks WHERE person_id = ? ORDER BY checked_at",
            [person_id],
        ).fetchall()
    ]
    counts = {str(k): int(v) for k, v in interactions.items()}
    return PersonHistory(person_id, row[0][0], row[0][1], names, spans, counts, checks)


def _t(value: datetime) -> datetime:
    out = from_db(value)
    assert out is not None
    return out
