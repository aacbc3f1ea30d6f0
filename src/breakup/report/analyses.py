"""The report's analyses: every one registered in :mod:`breakup.analyses`, run once for
the report's filters. An analysis that declines (too little data, say) or fails gives its
message in place of its section; it never sinks the report, whose other sections are the
user's data as observed."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..analyses import Section, Unavailable, analyses
from ..analyses.why import WHY
from ..filters import Filters
from ..store import Store
from .sections import Verdicts, verdicts_of

if TYPE_CHECKING:
    from ..why.report import WhyReport

__all__ = ["Unavailable", "fans_results", "post_verdicts", "why_result", "why_section"]


def why_result(store: Store, filters: Filters) -> WhyReport | Unavailable:
    """The why analysis for the filters (account, channel, since)."""
    return WHY.attempt(store, filters)


def why_section(result: WhyReport | Unavailable) -> Section:
    return Section(WHY.name, WHY.title, result, WHY.render(result))


def fans_results(store: Store, filters: Filters) -> list[Section]:
    """Every other registered analysis (the fans ones) for the filters, in reading order."""
    return [a.section(store, filters) for a in analyses() if a.name != WHY.name]


def post_verdicts(store: Store) -> Verdicts:
    """The why analysis' verdict on every post of the whole store, by (account, external
    id): what a post's page shows, computed alone — only the analysis' break-up posts step
    (:func:`breakup.why.attribution_only`), not the whole analysis nor the report. The
    same figures as the whole-store report's (``posts[].score``); none when the analysis
    declines or fails (as the report: it never sinks the page)."""
    from ..why.report import attribution_only

    try:
        attribution = attribution_only(store)
    except Exception:
        logging.getLogger(__name__).debug("no post verdicts", exc_info=True)
        return {}
    return verdicts_of(attribution)
