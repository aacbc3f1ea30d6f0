"""Per-account status: followers now, gained and lost per period, freshness of the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .clock import from_db, to_db
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
    store: Store, *, account: str | None = None, weeks: int = 12
) -> list[AccountStatus]:
    """Status of one account, or of every account (own and peers).

    Set-based: a fixed number of grouped queries however many accounts there are.
    """
    accounts = [store.account(account)] if account else store.accounts()
    if not accounts:
        return []
    ids = [a.account_id for a in accounts]
    now = store.clock()
    con = store.con
    counts: dict[tuple[int, str], int] = {
        (int(r[0]), str(r[1])): int(r[2])
        for r in con.execute(
            "SELECT account_id, direction, count(*) FROM spans "
            "WHERE list_contains(?, account_id) AND end_latest IS NULL GROUP BY ALL",
            [ids],
        ).fetchall()
    }
    last = dict(
        con.execute(
            """
            SELECT account_id, max(t) FROM (
                SELECT account_id, max(observed_at) AS t FROM observations GROUP BY ALL
                UNION ALL SELECT account_id, max(occurred_at) FROM events GROUP BY ALL
                UNION ALL SELECT account_id, max(created_at) FROM posts GROUP BY ALL)
            WHERE list_contains(?, account_id) GROUP BY ALL
            """,
            [ids],
        ).fetchall()
    )
    imports = dict(
        con.execute(
            "SELECT account_id, count(*) FROM imports WHERE list_contains(?, account_id) "
            "GROUP BY ALL",
            [ids],
        ).fetchall()
    )
    history = {
        int(r[0]): (from_db(r[1]), int(r[2]), int(r[3]))
        for r in con.execute(
            """
            SELECT account_id, min(t), sum(snap)::BIGINT, sum(ev)::BIGINT FROM (
                SELECT account_id, min(observed_at) AS t, count(*) AS snap, 0 AS ev
                FROM observations WHERE direction = 'followers' AND diffable GROUP BY ALL
                UNION ALL
                SELECT account_id, min(occurred_at), 0, count(*)
                FROM events WHERE direction = 'followers' GROUP BY ALL)
            WHERE list_contains(?, account_id) GROUP BY ALL
            """,
            [ids],
        ).fetchall()
    }
    periods = _periods(store, ids, now)
    weekly = _weekly(store, ids, now, weeks)
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


def _periods(store: Store, ids: list[int], now: datetime) -> dict[int, list[Period]]:
    sinces = [to_db(now - timedelta(days=days)) for _, days in PERIODS]
    in_period = ", ".join(f"count(*) FILTER (WHERE t >= ${i + 2})" for i in range(len(PERIODS)))
    gained = {
        int(r[0]): [int(x) for x in r[1:]]
        for r in store.con.execute(
            f"""
            SELECT account_id, {in_period} FROM (
                SELECT account_id, start_latest AS t FROM spans
                WHERE list_contains($1, account_id) AND direction = 'followers'
                  AND (start_earliest IS NOT NULL OR start_exact))
            GROUP BY account_id
            """,
            [ids, *sinces],
        ).fetchall()
    }
    lost: dict[int, list[dict[str, int]]] = {}
    for r in store.con.execute(
        f"""
        SELECT account_id, end_kind, {in_period} FROM (
            SELECT account_id, end_kind, end_latest AS t FROM spans
            WHERE list_contains($1, account_id) AND direction = 'followers'
              AND end_latest >= least({", ".join(f"${i + 2}" for i in range(len(PERIODS)))}))
        GROUP BY ALL ORDER BY end_kind
        """,
        [ids, *sinces],
    ).fetchall():
        per = lost.setdefault(int(r[0]), [{} for _ in PERIODS])
        for i, n in enumerate(r[2:]):
            if n:
                per[i][str(r[1])] = int(n)
    out: dict[int, list[Period]] = {}
    for aid in ids:
        g = gained.get(aid, [0] * len(PERIODS))
        kinds = lost.get(aid, [{} for _ in PERIODS])
        out[aid] = [
            Period(name, now - timedelta(days=days), g[i], sum(kinds[i].values()), kinds[i])
            for i, (name, days) in enumerate(PERIODS)
        ]
    return out


def _weekly(
    store: Store, ids: list[int], now: datetime, weeks: int
) -> dict[int, list[tuple[datetime, int, int]]]:
    start = to_db(now - timedelta(weeks=weeks))
    rows = store.con.execute(
        """
        WITH w AS (
            SELECT account_id, date_trunc('week', start_latest) AS wk, 1 AS g, 0 AS l
            FROM spans
            WHERE list_contains($1, account_id) AND direction = 'followers'
              AND start_latest >= $2 AND (start_earliest IS NOT NULL OR start_exact)
            UNION ALL
            SELECT account_id, date_trunc('week', end_latest), 0, 1 FROM spans
            WHERE list_contains($1, account_id) AND direction = 'followers'
              AND end_latest >= $2
        )
        SELECT account_id, wk, sum(g)::BIGINT, sum(l)::BIGINT FROM w
        GROUP BY ALL ORDER BY account_id, wk
        """,
        [ids, start],
    ).fetchall()
    out: dict[int, list[tuple[datetime, int, int]]] = {}
    for aid, wk, gained, lost in rows:
        out.setdefault(int(aid), []).append((from_db(wk) or now, int(gained), int(lost)))
    return out
