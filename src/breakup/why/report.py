"""``analyze``: every why-analysis of the store, as one :class:`WhyReport`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from ..store import Account, Store
from .asof import as_of
from .attribution import Attribution, attribute
from .data import PostRows, Series, departures_sql, load_posts, load_series, time_to_hours
from .diagnosis import Diagnosis, diagnose
from .retention import Retention, retention
from .triage import Triage, campaign_sides, triage


@dataclass(frozen=True)
class WhyReport:
    """Why followers left: break-up posts, diagnosis, triage verdict, retention."""

    generated_at: datetime
    accounts: list[str]  # own accounts analysed
    peers: list[str]  # peer accounts compared against
    since: datetime | None  # posts tested from here (models use the whole history)
    attribution: Attribution
    diagnosis: Diagnosis
    triage: Triage
    retention: Retention
    seconds: float  # how long the analysis took
    notes: list[str] = field(default_factory=list)
    # The store as it stood then (None: everything): posts tested up to it, and every
    # model saw only what was known by then (see :mod:`.asof`).
    until: datetime | None = None


STEPS = ("loading", "break-up posts", "diagnosis and triage", "retention")


def analyze(
    store: Store,
    account: str | None = None,
    since: datetime | None = None,
    *,
    cox_sample: int = 2000,
    seed: int = 0,
    step: Callable[[str], None] | None = None,
    channel: str | None = None,
    until: datetime | None = None,
) -> WhyReport:
    """Why followers of the own accounts (or the one named) left. *step* hears the name of
    each of the STEPS as it starts (a progress bar).

    ``since`` limits which posts are tested (break-up posts, content and campaign-cadence
    effects); the baseline models, the other diagnoses, the triage and retention use the
    account's whole tracked history up to ``until``. ``until`` analyses the store as it
    stood then (:func:`.asof.as_of`): posts after it are neither tested nor seen, follower
    spans that began after it do not exist, departures observed after it have not happened
    (those people still followed), the series, the retention curves' censoring and the
    triage end at the last observation by then — nothing later leaks into any model.
    Peers are every account with role ``peer``; *channel* keeps the own accounts of one
    platform. ``cox_sample`` bounds the Cox model's cost (spans sampled with *seed*).
    """
    from threadpoolctl import threadpool_limits

    # The model matrices are small (hours x a few dozen columns): multithreaded BLAS only
    # adds contention, by an order of magnitude on a shared machine.
    with threadpool_limits(limits=1, user_api="blas"):
        if until is None:
            return _analyze(store, account, since, cox_sample, seed, step or (lambda _: None),
                            channel)  # fmt: skip
        with as_of(store, until) as then:
            out = _analyze(then, account, since, cox_sample, seed, step or (lambda _: None),
                           channel)  # fmt: skip
        return replace(out, until=until)


def attribution_only(
    store: Store,
    account: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Attribution:
    """Only the break-up posts (what the digest and the validation read): the other
    analyses of :func:`analyze` are not computed. ``until`` as in :func:`analyze`."""
    if until is not None:
        with as_of(store, until) as then:
            return attribution_only(then, account, since)
    from threadpoolctl import threadpool_limits

    own = [store.account(account)] if account is not None else store.accounts(role="own")
    peer_accounts = [a for a in store.accounts(role="peer") if a.name != account]
    departures = departures_sql(store)
    with threadpool_limits(limits=1, user_api="blas"):
        series = [s for s in (load_series(store, a, departures) for a in own) if s]
        peers = [p for p in (load_series(store, a, departures) for a in peer_accounts) if p]
        posts = {s.account.account_id: load_posts(store, s.account.account_id) for s in series}
        return attribute(store, series, posts, departures, peers, since=since)


def _analyze(
    store: Store,
    account: str | None,
    since: datetime | None,
    cox_sample: int,
    seed: int,
    step: Callable[[str], None],
    channel: str | None = None,
) -> WhyReport:
    started = time.perf_counter()
    step(STEPS[0])
    own: list[Account] = (
        [store.account(account)] if account is not None else store.accounts(role="own")
    )
    own = [a for a in own if channel in (None, a.platform)]
    peer_accounts = [a for a in store.accounts(role="peer") if a.name != account]
    departures = departures_sql(store)
    notes: list[str] = []
    series: list[Series] = []
    for a in own:
        s = load_series(store, a, departures)
        if s is None:
            notes.append(f"{a.name}: nothing observed yet")
        else:
            series.append(s)
    peers = [p for p in (load_series(store, a, departures) for a in peer_accounts) if p]
    posts: dict[int, PostRows] = {s.account.account_id: load_posts(store, s.account.account_id)
                                  for s in series}  # fmt: skip
    step(STEPS[1])
    attribution = attribute(store, series, posts, departures, peers, since=since)
    campaigns = {}
    for s in series:
        rows = posts[s.account.account_id]
        ids = [e for e, k in zip(rows.external_id, rows.kind, strict=True) if k == "campaign"]
        when = np.array(
            [time_to_hours(t) - s.h0 for t, k in zip(rows.created_at, rows.kind, strict=True)
             if k == "campaign"], dtype=np.float64)  # fmt: skip
        sides = campaign_sides(store, departures, s, ids, when) if ids else None
        if sides is not None:
            campaigns[s.account.name] = sides
    bursts: dict[str, list[tuple[float, float, float]]] = {}
    for b in attribution.bursts:  # shared with the peers: the marketplace's already
        if not b.market_wide:
            bursts.setdefault(b.account, []).append(
                (time_to_hours(b.start), time_to_hours(b.end), b.excess)
            )
    step(STEPS[2])
    verdict = triage(series, peers, campaigns, bursts)
    diagnosis = diagnose(store, series, posts, departures, attribution, since=since)
    step(STEPS[3])
    kept = retention(store, series, departures, posts, sample=cox_sample, seed=seed)
    return WhyReport(
        generated_at=store.clock(),
        accounts=[s.account.name for s in series],
        peers=[p.account.name for p in peers],
        since=since,
        attribution=attribution,
        diagnosis=diagnosis,
        triage=verdict,
        retention=kept,
        seconds=time.perf_counter() - started,
        notes=notes,
    )
