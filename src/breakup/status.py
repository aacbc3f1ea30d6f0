"""Per-account status: followers now, gained and lost per period, freshness of the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

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


def account_status(
    store: Store, *, account: str | None = None, weeks: int = 12
) -> list[AccountStatus]:
    """Status of one account, or of every account (own and peers)."""
    accounts = [store.account(account)] if account else store.accounts()
    now = store.clock()
    out = []
    for acct in accounts:
        aid = acct.account_id
        counts = dict(
            store.con.execute(
                "SELECT direction, count(*) FROM spans WHERE account_id = ? "
                "AND end_latest IS NULL GROUP BY direction",
                [aid],
            ).fetchall()
        )
        last = store.scalar(
            """
            SELECT max(t) FROM (
                SELECT max(observed_at) AS t FROM observations WHERE account_id = ?
                UNION ALL SELECT max(occurred_at) FROM events WHERE account_id = ?
                UNION ALL SELECT max(created_at) FROM posts WHERE account_id = ?)
            """,
            [aid, aid, aid],
        )
        periods = [_period(store, aid, name, now - timedelta(days=days)) for name, days in PERIODS]
        out.append(
            AccountStatus(
                account=acct.name,
                platform=acct.platform,
                role=acct.role,
                followers=int(counts.get("followers", 0)),
                following=int(counts.get("following", 0)),
                last_observation=from_db(last),
                imports=int(
                    store.scalar("SELECT count(*) FROM imports WHERE account_id = ?", [aid])
                ),
                periods=periods,
                weekly=_weekly(store, aid, now, weeks),
            )
        )
    return out


def _period(store: Store, account_id: int, name: str, since: datetime) -> Period:
    params: list[Any] = [account_id, to_db(since)]
    gained = store.scalar(
        "SELECT count(*) FROM spans WHERE account_id = ? AND direction = 'followers' "
        "AND start_latest >= ? AND (start_earliest IS NOT NULL OR start_exact)",
        params,
    )
    kinds = dict(
        store.con.execute(
            "SELECT end_kind, count(*) FROM spans WHERE account_id = ? "
            "AND direction = 'followers' AND end_latest >= ? GROUP BY end_kind ORDER BY 1",
            params,
        ).fetchall()
    )
    return Period(name, since, int(gained), int(sum(kinds.values())), kinds)


def _weekly(
    store: Store, account_id: int, now: datetime, weeks: int
) -> list[tuple[datetime, int, int]]:
    start = to_db(now - timedelta(weeks=weeks))
    rows = store.con.execute(
        """
        WITH w AS (
            SELECT date_trunc('week', start_latest) AS wk, 1 AS g, 0 AS l FROM spans
            WHERE account_id = ? AND direction = 'followers' AND start_latest >= ?
              AND (start_earliest IS NOT NULL OR start_exact)
            UNION ALL
            SELECT date_trunc('week', end_latest), 0, 1 FROM spans
            WHERE account_id = ? AND direction = 'followers' AND end_latest >= ?
        )
        SELECT wk, sum(g)::BIGINT, sum(l)::BIGINT FROM w GROUP BY wk ORDER BY wk
        """,
        [account_id, start, account_id, start],
    ).fetchall()
    return [(from_db(r[0]) or now, int(r[1]), int(r[2])) for r in rows]
