"""Why they left: break-up posts, the survey's diagnosis, seed 002's triage, retention.

One entry point, ``analyze(store, account=None, since=None) -> WhyReport``; every result
is a frozen dataclass of plain fields (JSON through :mod:`breakup.serialize`). These names
are stable for renderers (terminal, HTML report, dashboard):

``WhyReport`` (:mod:`.report`)
    generated_at, accounts, peers, since, attribution, diagnosis, triage, retention,
    seconds, notes, until (the store as it stood then: :mod:`.asof`).
``Attribution`` / ``PostAttribution`` / ``AccountAttribution`` / ``OutsideBurst``
    (:mod:`.attribution`, on the point process of :mod:`.pointprocess` and :mod:`.timeline`)
    Per post: observed and expected departures in its response window, the excess it
    caused with a 95% interval, rate ratio with its exact interval, one-sided p, Holm p,
    BH q, ``break_up`` (named only when the Holm step passes and nothing else explains it
    as well: ``ambiguous_with``), peers' rate ratio in the same window. Per account its
    status (``insufficient_history`` says what is needed) and response time; outside
    bursts no post explains. ``Attribution.posts`` is most extreme first.
    :mod:`.words` says it all in a manager's words.
``Diagnosis`` with ``CauseTest``, ``Finding``, ``Frequency``/``DoseLevel``, ``FeatureEffect``,
    ``Dialogue``, ``OfferJoiners`` (:mod:`.diagnosis`)
    Too frequent (dose-response, cadence threshold), boring/needy/repetitive content,
    monologue, one-time-offer joiners. ``findings`` holds only effects whose interval
    excludes no effect; the other lists carry every estimate; ``tests`` (``CauseTest``)
    answers every cause for every account: found, no sign of it, or not tested and why.
``Triage`` / ``TriageAccount`` (:mod:`.triage`)
    ``verdict`` is internal, marketplace, users or none, with excess departures per side.
``Retention`` with ``Curve``, ``ChannelChurn``, ``CoxResult`` (:mod:`.retention`)
    Kaplan-Meier curves by cohort (left-truncated), median lifetime, churn per channel
    against benchmarks, a sampled time-varying Cox model of posting rate.

Modules: ``data`` (hourly series from SQL), ``baseline`` (the hourly churn model the
triage and peers use), ``pointprocess`` / ``timeline`` / ``campaigns`` (attribution's
models), ``stats``,
``features`` (content features in SQL), ``promotions``, ``peers`` (marking peer accounts),
``render`` (rich tables).
"""

from __future__ import annotations

from .attribution import AccountAttribution, Attribution, OutsideBurst, PostAttribution
from .diagnosis import (
    CauseTest,
    Diagnosis,
    Dialogue,
    DoseLevel,
    FeatureEffect,
    Finding,
    Frequency,
    OfferJoiners,
)
from .peers import add_peer, list_peers
from .report import WhyReport, analyze, attribution_only
from .retention import ChannelChurn, CoxResult, Curve, Retention
from .triage import Triage, TriageAccount

__all__ = [
    "AccountAttribution",
    "Attribution",
    "CauseTest",
    "ChannelChurn",
    "CoxResult",
    "Curve",
    "Diagnosis",
    "Dialogue",
    "DoseLevel",
    "FeatureEffect",
    "Finding",
    "Frequency",
    "OfferJoiners",
    "OutsideBurst",
    "PostAttribution",
    "Retention",
    "Triage",
    "TriageAccount",
    "WhyReport",
    "add_peer",
    "analyze",
    "attribution_only",
    "list_peers",
]
