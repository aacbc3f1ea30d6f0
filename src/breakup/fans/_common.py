"""Shared pieces of the fans analyses: which accounts, as of when, who is one person."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ..clock import from_db, to_db, to_utc
from ..models import VOLUNTARY_ENDS_SQL
from ..store import Account, Store

# Endings that are a person's own choice (one definition, shared with why).
LEFT_KINDS_SQL = VOLUNTARY_ENDS_SQL


def own_accounts(store: Store, account: str | None) -> list[Account]:
    """The named account, else every account of the user's own (not peers)."""
    if account is not None:
        return [store.account(account)]
    return store.accounts(role="own")


def account_ids_sql(accounts: list[Account]) -> str:
    """A SQL list literal of account ids (integers only: safe to inline)."""
    ids = [int(a.account_id) for a in accounts] or [-1]
    return "(" + ", ".join(str(i) for i in ids) + ")"


def as_of(store: Store, at: datetime | None) -> datetime:
    return to_utc(at) if at is not None else store.clock()


def db_time(at: datetime) -> datetime:
    out = to_db(at)
    assert out is not None
    return out


def utc(value: Any) -> datetime | None:
    return from_db(value) if isinstance(value, datetime) else None


def latest_handle_sql(as_of_param: str = "?") -> str:
    """person_id -> the handle (and display name) last seen up to the given time."""
    return f"""
        SELECT person_id, arg_max(handle, seen_at) AS handle,
               arg_max(display_name, seen_at) AS display_name
        FROM person_names WHERE seen_at <= {as_of_param} GROUP BY person_id
    """


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (95% by default); (0, 1) when n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, mid - half), min(1.0, mid + half)


def rate_ratio(a: int, ta: float, b: int, tb: float, z: float = 1.96) -> tuple[float, float, float]:
    """Rate ratio (a/ta)/(b/tb) with a Wald interval on the log scale (0.5 added to empty
    counts). Returns (ratio, low, high); nan when an exposure is zero."""
    if ta <= 0 or tb <= 0:
        return math.nan, math.nan, math.nan
    aa, bb = (a, b) if a and b else (a + 0.5, b + 0.5)
    ratio = (aa / ta) / (bb / tb)
    se = math.sqrt(1 / aa + 1 / bb)
    return ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se)


def diff_ci(k1: int, n1: int, k2: int, n2: int, z: float = 1.96) -> tuple[float, float, float]:
    """Difference of two proportions k1/n1 - k2/n2 with Newcombe's hybrid Wilson interval."""
    if n1 <= 0 or n2 <= 0:
        return math.nan, math.nan, math.nan
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, low, high
