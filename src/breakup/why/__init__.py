"""Why they left: break-up posts, the survey's diagnosis, seed 002's triage, retention.

One entry point, ``analyze(store, account=None, since=None) -> WhyReport``; every result
is a frozen dataclass of plain fields (JSON through :mod:`breakup.serialize`). These names
are stable for renderers (terminal, HTML report, dashboard):

``WhyReport`` (:mod:`.report`)
    generated_at, accounts, peers, since, attribution, diagnosis, triage, retention,
    seconds, notes.
``Attribution`` / ``PostAttribution`` / ``AccountAttribution`` (:mod:`.attribution`)
    Per post: observed and expected departures in the window after it, excess, rate ratio
    with 95% interval, one-sided p, Holm-adjusted p, ``break_up`` (named only when its
    interval at the Holm level excludes 1), peers' rate ratio in the same window.
    ``Attribution.posts`` is most extreme first; ``break_up_posts`` the named ones.
``Diagnosis`` with ``Finding``, ``Frequency``/``DoseLevel``, ``FeatureEffect``,
    ``Dialogue``, ``OfferJoiners`` (:mod:`.diagnosis`)
    Too frequent (dose-response, cadence threshold), boring/needy/repetitive content,
    monologue, one-time-offer joiners. ``findings`` holds only effects whose interval
    excludes no effect; the other lists carry every estimate.
``Triage`` / ``TriageAccount`` (:mod:`.triage`)
    ``verdict`` is internal, marketplace, users or none, with excess departures per side.
``Retention`` with ``Curve``, ``ChannelChurn``, ``CoxResult`` (:mod:`.retention`)
    Kaplan-Meier curves by cohort (left-truncated), median lifetime, churn per channel
    against benchmarks, a sampled time-varying Cox model of posting rate.

Modules: ``data`` (hourly series from SQL), ``baseline`` (the churn model), ``stats``,
``features`` (content features in SQL), ``promotions``, ``peers`` (marking peer accounts),
``render`` (rich tables).
"""

from __future__ import annotations

from .attribution import AccountAttribution, Attribution, PostAttribution
from .diagnosis import (
    Diagnosis,
    Dialogue,
    DoseLevel,
    FeatureEffect,
    Finding,
    Frequency,
    OfferJoiners,
)
from .peers import add_peer, list_peers
from .report import WhyReport, analyze
from .retention import ChannelChurn, CoxResult, Curve, Retention
from .triage import Triage, TriageAccount

__all__ = [
    "AccountAttribution",
    "Attribution",
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
    "PostAttribution",
    "Retention",
    "Triage",
    "TriageAccount",
    "WhyReport",
    "add_peer",
    "analyze",
    "list_peers",
]
