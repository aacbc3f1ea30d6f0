"""Promotions, found in the data: an offer post (a discount code or a percentage off) after
which significantly more people joined in the next 72 hours than on a usual day (Poisson
against the median daily joins, Bonferroni over the account's offer posts). Shared by the
one-time-offer diagnosis and the retention cohorts, so both mean the same joiners."""

from __future__ import annotations

import re

import numpy as np
from scipy import stats as sstats

from ..store import Store
from .baseline import window_sums
from .data import F, PostRows, Series, time_to_hours
from .features import OFFER

OFFER_HOURS = 72.0
ALPHA = 0.05


def joins_per_hour(store: Store, s: Series) -> F:
    """People who started following per hour of *s*'s grid (known starts only)."""
    joins = store.con.execute(
        """
        SELECT floor(epoch(start_latest) / 3600)::BIGINT AS h, count(*)::DOUBLE AS c
        FROM spans WHERE account_id = ? AND direction = 'followers'
          AND start_earliest IS NOT NULL AND epoch(start_latest) / 3600 >= ?
        GROUP BY 1
        """,
        [s.account.account_id, s.h0],
    ).fetchnumpy()
    out: F = np.bincount(
        np.clip(joins["h"].astype(np.int64) - s.h0, 0, s.hours - 1), joins["c"], minlength=s.hours
    ).astype(np.float64)
    return out


def promotions(store: Store, s: Series, rows: PostRows) -> F | None:
    """Start of each promotion (hours from *s*'s grid start); None if the account has no
    offer posts or too few joiners to tell."""
    hourly = joins_per_hour(store, s)
    offer = re.compile(OFFER, re.IGNORECASE)
    pos = np.array(
        [
            time_to_hours(t) - s.h0
            for t, k, x in zip(rows.created_at, rows.kind, rows.text, strict=True)
            if k != "reply" and offer.search(x)
        ],
        dtype=np.float64,
    )
    pos = pos[(pos >= 0) & (pos < s.hours - OFFER_HOURS)]
    if not len(pos) or hourly.sum() < 20:
        return None
    got = window_sums(hourly, pos, OFFER_HOURS)
    days = s.hours // 24
    usual = float(np.median(hourly[: days * 24].reshape(-1, 24).sum(1))) if days else 0.0
    expected = max(usual, 0.5) * OFFER_HOURS / 24.0
    p = sstats.poisson.sf(np.ceil(got) - 1, expected)
    out: F = pos[p < ALPHA / len(pos)]
    return out
