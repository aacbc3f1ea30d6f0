"""Per-account status: followers now (or at a time), gained and lost per period,
freshness of the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .clock import from_db, to_db
from .filters import Filters
from .store import Store

PERIODS = (("7d", 7), ("30d", 30), ("365d", 365))


@dataclass(frozen=True)
class Period:
    name: str
    since: datetime
    gained: int  # spans that began in the period (not those there before tracking)
    lost: int
    lost_by_kind: dict[str, int]


@dataclass(frozen=True)
class AccountStatus:
    account: str
    platform: str
    role: str
    followers: int
    following: int
    last_observation: datetime | None
    imports: int
    periods: list[Period] = field(default_factory=list)
    weekly: list[tuple[datetime, int, int]] = field(default_factory=list)  # week, gained, lost
    # How much follower history there is: departures can only be seen between two snapshots
    # of followers, or from follow/unfollow events.
    first_observation: datetime | None = None  # earliest follower snapshot or event
    snapshots: int = 0  # follower snapshots that can be diffed
    events: int = 0  # follower events (follows, unfollows, unsubscribes …)


def account_status(
    store: Store,
    filters: Filters | None = None,
    *,
    account: str | None = None,
    weeks: int = 12,
) -> list[AccountStatus]:
    """Status of the accounts *filters* cover (``account`` beside it sets that field),
    own and peers.

    ``channel`` keeps the accounts of that platform. ``until`` (when earlier than now)
    is the status as it was then: followers at that time (started before it and not
    left before it, by :func:`breakup.left.who_left`'s rule), the periods and weeks up to
    it, the data seen by then. ``since`` cuts the periods and weeks: nothing before it
    counts. Imports are counted whatever their time.

    Set-based: a fixed number of grouped queries however many accounts there are.
    """
    f = filters or Filters()
    name = account if account is not None else f.account
    accounts = [store.account(name)] if name else store.accounts()
    if f.channel is not None:
        accounts = [a for a in accounts if a.platform == f.channel]
    if not accounts:
        return []
    ids = [a.account_id for a in accounts]
    now = store.clock()
    until = f.until if f.until is not None and f.until < now else None
    as_of = until or now
    con = store.con
    if until is None:  # the open spans: what tracking holds now
        open_sql = "end_latest IS NULL"
        open_params: list[object] = []
    else:
        open_sql = (
            "start_latest < $2 AND (end_latest IS NULL OR coalesce(end_earliest, end_latest) >= $2)"
        )
        open_params = [to_db(until)]
    counts: dict[tuple[int, str], int] = {
        (int(r[0]), str(r[1])): int(r[2])
        for r in con.execute(
            "SELECT account_id, direction, count(*) FROM spans "
            f"WHERE list_contains($1, account_id) AND {open_sql} GROUP BY ALL",
            [ids, *open_params],
        ).fetchall()
    }
    seen = "" if until is None else "WHERE {t} <= $2"
    last = dict(
        con.execute(
            f"""
            SELECT account_id, max(t) FROM (
                SELECT account_id, max(observed_at) AS t FROM observations
                {seen.format(t="observed_at")} GROUP BY ALL
                UNION ALL SELECT account_id, max(occurred_at) FROM events
                {seen.format(t="occurred_at")} GROUP BY ALL
                UNION ALL SELECT account_id, max(created_at) FROM posts
                {seen.format(t="created_at")} GROUP BY ALL)
            WHERE list_contains($1, account_id) GROUP BY ALL
            """,
            [ids, *open_params],
        ).fetchall()
    )
    imports = dict(
        con.execute(
            "SELECT account_id, count(*) FROM imports WHERE list_contains(?, account_id) "
            "GROUP BY ALL",
            [ids],
        ).fetchall()
    )
    also = "" if until is None else "AND {t} <= $2"
    history = {
        int(r[0]): (from_db(r[1]), int(r[2]), int(r[3]))
        for r in con.execute(
            f"""
            SELECT account_id, min(t), sum(snap)::BIGINT, sum(ev)::BIGINT FROM (
                SELECT account_id, min(observed_at) AS t, count(*) AS snap, 0 AS ev
                FROM observations WHERE direction = 'followers' AND diffable
                {also.format(t="observed_at")} GROUP BY ALL
                UNION ALL
                SELECT account_id, min(occurred_at), 0, count(*)
                FROM events WHERE direction = 'followers'
                {also.format(t="occurred_at")} GROUP BY ALL)
            WHERE list_contains($1, account_id) GROUP BY ALL
            """,
            [ids, *open_params],
        ).fetchall()
    }
    periods = _periods(store, ids, as_of, f.since, until)
    weekly = _weekly(store, ids, as_of, weeks, f.since, until)
    return [
        AccountStatus(
            account=acct.name,
            platform=acct.platform,
            role=acct.role,
            followers=counts.get((acct.account_id, "followers"), 0),
            following=counts.get((acct.account_id, "following"), 0),
            last_observation=from_db(last.get(acct.account_id)),
            imports=int(imports.get(acct.account_id, 0)),
            periods=periods[acct.account_id],
            weekly=weekly.get(acct.account_id, []),
            first_observation=history.get(acct.account_id, (None, 0, 0))[0],
            snapshots=history.get(acct.account_id, (None, 0, 0))[1],
            events=history.get(acct.account_id, (None, 0, 0))[2],
        )
        for acct in accounts
    ]


def _periods(
    store: Store,
    ids: list[int],
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[int, list[Period]]:
    """Gained and lost in the periods back from *now* (from *since* on, when it is later),
    before *until*: a departure counts where :func:`breakup.left.who_left` lists it."""
    starts = [now - timedelta(days=days) for _, days in PERIODS]
    if since is not None:
        starts = [max(t, since) for t in starts]
    sinces = [to_db(t) for t in starts]
    n = len(PERIODS)
    in_period = ", ".join(f"count(*) FILTER (WHERE t >= ${i + 2})" for i in range(n))
    before = (
        ["", ""]
        if until is None
        else [
            f"AND start_latest < ${n + 2}",
            f"AND left_earliest < ${n + 2}",
        ]
    )
    until_params = [] if until is None else [to_db(until)]
    gained = {
        int(r[0]): [int(x) for x in r[1:]]
        for r in store.con.execute(
            f"""
            SELECT account_id, {in_period} FROM (
                SELECT account_id, start_latest AS t FROM spans
                WHERE list_contains($1, account_id) AND direction = 'followers'
                  AND (start_earliest IS NOT NULL OR start_exact) {before[0]})
            GROUP BY account_id
            """,
            [ids, *sinces, *until_params],
        ).fetchall()
    }
    lost: dict[int, list[dict[str, int]]] = {}
    for r in store.con.execute(
        f"""
        SELECT account_id, end_kind, {in_period} FROM (
            SELECT account_id, end_kind, end_latest AS t FROM departures
            WHERE list_contains($1, account_id)
              AND end_latest >= least({", ".join(f"${i + 2}" for i in range(n))}) {before[1]})
        GROUP BY ALL ORDER BY end_kind
        """,
        [ids, *sinces, *until_params],
    ).fetchall():
        per = lost.setdefault(int(r[0]), [{} for _ in PERIODS])
        for i, k in enumerate(r[2:]):
            if k:
                per[i][str(r[1])] = int(k)
    out: dict[int, list[Period]] = {}
    for aid in ids:
        g = gained.get(aid, [0] * n)
        kinds = lost.get(aid, [{} for _ in PERIODS])
        out[aid] = [
            Period(name, starts[i], g[i], sum(kinds[i].values()), kinds[i])
            for i, (name, _) in enumerate(PERIODS)
        ]
    return out


def _weekly(
    store: Store,
    ids: list[int],
    now: datetime,
    weeks: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[int, list[tuple[datetime, int, int]]]:
    first = now - timedelta(weeks=weeks)
    start = to_db(first if since is None else max(first, since))
    before = (
        ["", ""]
        if until is None
        else [
            "AND start_latest < $3",
            "AND left_earliest < $3",
        ]
    )
    rows = store.con.execute(
        f"""
        WITH w AS (
            SELECT account_id, date_trunc('week', start_latest) AS wk, 1 AS g, 0 AS l
            FROM spans
            WHERE list_contains($1, account_id) AND direction = 'followers'
              AND start_latest >= $2 AND (start_earliest IS NOT NULL OR start_exact)
              {before[0]}
            UNION ALL
            SELECT account_id, date_trunc('week', end_latest), 0, 1 FROM departures
            WHERE list_contains($1, account_id) AND end_latest >= $2 {before[1]}
        )
        SELECT account_id, wk, sum(g)::BIGINT, sum(l)::BIGINT FROM w
        GROUP BY ALL ORDER BY account_id, wk
        """,
        [ids, start] + ([] if until is None else [to_db(until)]),
    ).fetchall()
    out: dict[int, list[tuple[datetime, int, int]]] = {}
    for aid, wk, gained, lost in rows:
        out.setdefault(int(aid), []).append((from_db(wk) or now, int(gained), int(lost)))
    return out
