"""The analyses' sections of a report, and what the report's other parts read from the
why result (each post's verdict, the survival curves).

The blocks themselves come from each analysis (:mod:`breakup.analyses`): the terminal
(``breakup why``, ``breakup fans``), the HTML report and the dashboard render the same
ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..analyses import Unavailable
from ..analyses.blocks import Block
from ..analyses.why import WHY
from .model import Report

if TYPE_CHECKING:
    from ..why.attribution import Attribution, PostAttribution
    from ..why.report import WhyReport


def why_blocks(why: WhyReport | Unavailable) -> list[Block]:
    return WHY.render(why)


Verdicts = dict[tuple[str, str], "PostAttribution"]
"""The why analysis' verdict on each post it tested, by (account, external id)."""


def verdicts_of(attribution: Attribution) -> Verdicts:
    return {(p.account, p.post): p for p in attribution.posts}


def post_attributions(why: WhyReport | Unavailable | None) -> Verdicts:
    """The why analysis' per-post result by (account, external id), or none."""
    if why is None or isinstance(why, Unavailable):
        return {}
    return verdicts_of(why.attribution)


def survival_curves(
    why: WhyReport | Unavailable | None,
) -> list[tuple[str, list[tuple[float, float]]]]:
    """(cohort, [(day, survival) …]) of each retention curve, or none."""
    if why is None or isinstance(why, Unavailable):
        return []
    return [(c.cohort, [(float(d), float(s)) for d, s in c.points]) for c in why.retention.curves]


def analysis_sections(report: Report) -> list[tuple[str, str, list[Block]]]:
    """(id, title, blocks) of every analysis section the report has, in reading order."""
    return [(s.name, s.title, s.blocks) for s in report.sections]
