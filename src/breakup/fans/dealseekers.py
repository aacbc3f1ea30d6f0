"""Deal-seekers: followers gained around a promotional post, and how fast they left.

A post (or email campaign) is *promotional* when its text offers a discount
(:data:`PROMO_REGEX`: "20% off", "with code", "code SPRING25", coupon, flash sale, "buy 2,
get 1 free"). Its cohort is the people whose follow began (exactly, or at the latest
possible time) within :data:`WINDOW_HOURS` after it; a joiner counts for the latest such
post. Every other follow that began during tracking (with a known start) is the comparison
cohort.

For each cohort: how many left of their own choice (unfollowed, unsubscribed, unknown)
within :data:`HORIZON_DAYS` of joining, with a 95% Wilson interval; the median days to
leave among those who left; and the difference between promotion joiners and the others
with Newcombe's interval. Only joiners observable for the whole horizon (joined at least
*horizon* days before *as_of*) are counted.
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
    diff_ci,
    own_accounts,
    utc,
    wilson,
)

PROMO_REGEX = (
    r"(?i:\b\d{1,2} ?% ?off\b|\b(?:promo|discount|coupon|use|with) code\b|\bflash sale\b"
    r"|\bcoupon\b|\bbuy \d+,? get \d+ free\b)|\b(?i:code):? [A-Z0-9]{4,}\b"
)
WINDOW_HOURS = 72
HORIZON_DAYS = 30


@dataclass(frozen=True)
class Cohort:
    label: str
    joined: int
    left: int  # within the horizon, of their own choice
    share_left: float
    share_low: float
    share_high: float
    median_days_to_leave: float | None


@dataclass(frozen=True)
class PromoCohort:
    account: str
    post: str
    at: datetime
    text: str
    cohort: Cohort


@dataclass(frozen=True)
class DealSeekers:
    as_of: datetime
    accounts: list[str]
    window_hours: int
    horizon_days: int
    promotions: list[PromoCohort] = field(default_factory=list)
    promo_joiners: Cohort | None = None
    other_joiners: Cohort | None = None
    difference: float | None = None  # share left: promo joiners - others
    difference_low: float | None = None
    difference_high: float | None = None


def deal_seekers(
    store: Store,
    account: str | None = None,
    *,
    at: datetime | None = None,
    window_hours: int = WINDOW_HOURS,
    horizon_days: int = HORIZON_DAYS,
) -> DealSeekers:
    accts = own_accounts(store, account)
    ids = account_ids_sql(accts)
    now = as_of(store, at)
    rows = store.con.execute(
        f"""
        WITH promo AS (
            SELECT account_id, external_id, created_at, text FROM posts
            WHERE account_id IN {ids} AND kind IN ('post', 'quote', 'campaign')
              AND regexp_matches(coalesce(text, ''), $re) AND created_at <= $as_of
        ),
        joins AS (
            SELECT s.account_id, s.person_id, s.start_latest AS joined_at,
                   CASE WHEN s.end_latest IS NOT NULL AND s.end_kind IN {LEFT_KINDS_SQL}
                        THEN date_diff('second', s.start_latest,
                                       s.end_earliest + (s.end_latest - s.end_earliest) / 2)
                             / 86400.0 END AS days_to_leave
            FROM spans s
            WHERE s.account_id IN {ids} AND s.direction = 'followers'
              AND s.start_earliest IS NOT NULL
              AND s.start_latest <= $as_of - to_days($horizon::INTEGER)
        ),
        tagged AS (
            SELECT j.*, arg_max(p.external_id, p.created_at) AS post  -- the latest offer before
            FROM joins j LEFT JOIN promo p
              ON p.account_id = j.account_id AND j.joined_at >= p.created_at
             AND j.joined_at < p.created_at + to_hours($window::INTEGER)
            GROUP BY ALL
        )
        SELECT t.post IS NOT NULL AS promo, t.account_id, t.post, count(*) AS joined,
               count(*) FILTER (WHERE days_to_leave <= $horizon) AS left_,
               median(days_to_leave) FILTER (WHERE days_to_leave <= $horizon) AS median_days
        FROM tagged t
        GROUP BY GROUPING SETS ((promo), (promo, t.account_id, t.post))
        ORDER BY promo, t.account_id NULLS FIRST, t.post
        """,
        {
            "as_of": db_time(now),
            "re": PROMO_REGEX,
            "horizon": int(horizon_days),
            "window": int(window_hours),
        },
    ).fetchall()
    names = {a.account_id: a.name for a in accts}
    posts = {
        (int(r[0]), str(r[1])): (r[2], r[3])
        for r in store.con.execute(
            f"SELECT account_id, external_id, created_at, text FROM posts WHERE account_id IN {ids}"
            " AND regexp_matches(coalesce(text, ''), ?)",
            [PROMO_REGEX],
        ).fetchall()
    }
    out = DealSeekers(utc(db_time(now)) or now, [a.name for a in accts], window_hours, horizon_days)
    promo_all: Cohort | None = None
    other: Cohort | None = None
    for r in rows:
        is_promo, acct_id, post = bool(r[0]), r[1], r[2]
        if acct_id is None:  # a total row
            c = _cohort("promotion joiners" if is_promo else "other joiners", r)
            if is_promo:
                promo_all = c
            else:
                other = c
        elif is_promo and post is not None:
            created, text = posts[(int(acct_id), str(post))]
            when = utc(created)
            assert when is not None
            out.promotions.append(
                PromoCohort(names[int(acct_id)], post, when, _snip(text), _cohort(post, r))
            )
    # Promotions nobody joined after (or too recent to judge) are listed with 0 joiners.
    listed = {(p.account, p.post) for p in out.promotions}
    for (acct_id, post), (created, text) in posts.items():
        when = utc(created)
        name = names[acct_id]
        if when is not None and when <= now and (name, post) not in listed:
            empty = _cohort(post, (None, None, None, 0, 0, None))
            out.promotions.append(PromoCohort(name, post, when, _snip(text), empty))
    out.promotions.sort(key=lambda p: (p.at, p.account))
    d = low = high = None
    if promo_all and other:
        dd, ll, hh = diff_ci(promo_all.left, promo_all.joined, other.left, other.joined)
        d, low, high = round(dd, 4), round(ll, 4), round(hh, 4)
    return DealSeekers(
        out.as_of,
        out.accounts,
        window_hours,
        horizon_days,
        out.promotions,
        promo_all,
        other,
        d,
        low,
        high,
    )


def _cohort(label: str, r: tuple[Any, ...]) -> Cohort:
    n, k = int(r[3]), int(r[4])
    lo, hi = wilson(k, n)
    return Cohort(
        label,
        n,
        k,
        round(k / n, 4) if n else 0.0,
        round(lo, 4),
        round(hi, 4),
        None if r[5] is None else round(float(r[5]), 1),
    )


def _snip(text: str | None, width: int = 80) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
