"""Assemble a report: every analysis run once, for one set of filters."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..analyses import Unavailable
from ..filters import Filters
from ..left import left_summary
from ..status import account_status
from ..store import Store
from .analyses import fans_results, why_result, why_section
from .model import PostRow, Report
from .queries import (
    followers_series,
    posts_with_departures,
    recent_departures,
    select_accounts,
)
from .sections import post_attributions

if TYPE_CHECKING:
    from ..why.report import WhyReport


def build_report(
    store: Store, filters: Filters | None = None, *, with_analyses: bool = True
) -> Report:
    """The report for *filters* as of ``store.clock()``.

    ``with_analyses=False`` leaves out the why and fans analyses (the slow part on big
    stores) — for the dashboard's drill-down pages and digests.
    """
    filters = filters or Filters()
    why = why_result(store, filters) if with_analyses else None
    others = fans_results(store, filters) if with_analyses else []
    sections = ([why_section(why)] if why is not None else []) + others
    now = store.clock()
    accounts = select_accounts(store, filters)
    names = {a.name for a in accounts}
    status = [s for s in account_status(store, filters) if s.account in names]
    departures, total = recent_departures(store, accounts, filters)
    return Report(
        generated_at=now,
        filters=filters,
        accounts=sorted(names),
        status=status,
        series=followers_series(store, accounts, filters, (filters.until or now).date()),
        departures=departures,
        departures_total=total,
        left=left_summary(
            store,
            account=filters.account,
            since=filters.since,
            until=filters.until,
            channel=filters.channel,
        ),
        posts=_scored(posts_with_departures(store, accounts, filters), why),
        why=why,
        fans={s.name: s.result for s in others},
        sections=sections,
    )


def _scored(posts: list[PostRow], why: WhyReport | Unavailable | None) -> list[PostRow]:
    """Posts with the why analysis' verdict on each (``score``), where it has one."""
    scores = post_attributions(why)
    if not scores:
        return posts
    return [replace(p, score=scores.get((p.account, p.external_id))) for p in posts]
