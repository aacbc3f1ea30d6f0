"""Keep the fans: who your best fans are, who is about to leave, who to thank and answer,
and which followers are dead weight.

Every entry point takes an open :class:`~breakup.store.Store` and returns typed dataclasses
(render them with :mod:`breakup.serialize` or a report). Names are stable:

=============================  =============================================================
``top_fans(store, account=None, top=20)``   people ranked by decayed, weighted engagement
                                            across channels, with evidence (:class:`TopFan`)
``at_risk(store, account=None, top=20)``    P(leave within 30 days) per follower from a
                                            logistic model of past departures, with
                                            reasons and the backtest (:class:`AtRisk`)
``backtest(store, account=None)``           the model's later-window AUC, Brier score and
                                            reliability bins (:class:`Backtest`)
``issue_codes(store, prefix, person_ids)``  unique, unguessable reward codes, one per
                                            person per prefix (:class:`RewardCode`)
``codes(store, prefix=None)``               the codes issued so far
``write_codes_csv(rows, path)``             CSV for a shop or mail tool, formula-safe
``hygiene(store, account=None)``            dead weight, real audience, follow-backs and
                                            mutuals per account (:class:`Hygiene`)
``unanswered(store, account=None)``         replies and mentions never answered, oldest
                                            first (:class:`Unanswered`)
``listening(store, account=None)``          answer rate and retention of answered vs
                                            never-answered people (:class:`Listening`)
``deal_seekers(store, account=None)``       promotion joiners and how fast they left vs
                                            other cohorts (:class:`DealSeekers`)
``link_people(store, a, b)``                record that two people are one human
``links(store)``                            the user's links and the hints applied
=============================  =============================================================

One module per concept: :mod:`.ranking`, :mod:`.links`, :mod:`.risk`, :mod:`.codes`,
:mod:`.hygiene`, :mod:`.listening`, :mod:`.dealseekers`.
"""

from __future__ import annotations

from .codes import RewardCode, codes, issue_codes, write_codes_csv
from .dealseekers import Cohort, DealSeekers, PromoCohort, deal_seekers
from .hygiene import Flagged, Hygiene, PersonLine, hygiene
from .links import Link, PersonRef, find_person, link_people, links, unlink_people
from .listening import GroupRetention, Listening, Unanswered, listening, unanswered
from .ranking import HALF_LIFE_DAYS, WEIGHTS, Evidence, Member, TopFan, top_fans
from .risk import AtRisk, AtRiskFan, Backtest, Coefficient, ReliabilityBin, at_risk, backtest

__all__ = [
    "HALF_LIFE_DAYS",
    "WEIGHTS",
    "AtRisk",
    "AtRiskFan",
    "Backtest",
    "Coefficient",
    "Cohort",
    "DealSeekers",
    "Evidence",
    "Flagged",
    "GroupRetention",
    "Hygiene",
    "Link",
    "Listening",
    "Member",
    "PersonLine",
    "PersonRef",
    "PromoCohort",
    "ReliabilityBin",
    "RewardCode",
    "TopFan",
    "Unanswered",
    "at_risk",
    "backtest",
    "codes",
    "deal_seekers",
    "find_person",
    "hygiene",
    "issue_codes",
    "link_people",
    "links",
    "listening",
    "top_fans",
    "unanswered",
    "unlink_people",
    "write_codes_csv",
]
