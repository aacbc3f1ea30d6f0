"""Seed 002's question: is it us (internal), everyone (marketplace) or them (users)?

Per own account, three-day periods ("days" below; or, for an email list whose
unsubscribes name their campaign, sends)
with significantly more departures than its normal churn are found separately for two kinds
of departure: **people** (unfollows and unsubscribes of accounts that still exist, active
or not) and **users** (bot-like, deleted or suspended accounts, bounced addresses; see
:mod:`.data`). The share of departures by inactive, bot-like or gone accounts is reported
besides.
Normal churn is the hourly baseline without the account's own posting (time of week and a
30-day level), so whatever the account did shows up as excess; a day is significant when its
one-sided Poisson p-value (dispersion-scaled) passes Benjamini-Hochberg at 5% over the days
of that account and kind. On each significant day the excess (observed − expected) is
counted as:

* ``marketplace`` — a people day on which the peer accounts (role ``peer``), together,
  also lost more than their own normal churn in it or a neighbouring period (one-sided
  p < 0.05/3: one focused question per significant day, so no correction over all days);
* ``outside`` — a people day holding a burst of departures that no post explains (an
  outside event, found by :mod:`.attribution`) and that the peers, if any, did not share;
* ``internal`` — any other people day;
* ``users`` — a users day.

Users departures in the first three weeks of tracking are not judged: the first re-checks
and sends flush out accounts and addresses that died before tracking began (a list's first
send bounces what years of neglect left behind), which says nothing about now.

The verdict is the side with the most excess departures, or ``none`` when no side's
excess reaches 2% of all departures in the period. The counts, the days and the peers'
rate ratio on the marketplace days come with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from statsmodels.stats.multitest import multipletests

from ..store import Store
from .baseline import design
from .data import ATTRIBUTABLE, F, Series
from .stats import poisson_glm, ratio_interval, robust_dispersion, upper_p, wilson

FDR = 0.05
PERIOD_HOURS = 72  # triage periods: three days, as long as a marketplace dip or a purge
SIDES = ("internal", "marketplace", "users", "outside")
WARMUP_HOURS = 21 * 24  # users departures in the first three weeks are not judged
MATERIAL = 0.02  # a side must explain at least 2% of all departures to be the verdict


@dataclass(frozen=True)
class TriageAccount:
    account: str
    departures: int  # every departure in the period
    user_side: int  # of which inactive, bot-like, deleted or suspended accounts
    user_share: float
    user_share_ci: tuple[float, float]
    excess: dict[str, float]  # side -> excess departures on significant days
    days: dict[str, int]  # side -> significant days (or sends)
    unit: str  # "day" or "campaign"


@dataclass(frozen=True)
class Triage:
    verdict: str  # internal, marketplace, users, or none
    excess: dict[str, float]  # side -> excess departures, all own accounts
    days: dict[str, int]
    share: dict[str, float]  # side -> share of all significant excess
    peers: list[str]
    peers_rate_ratio: float | None  # peers' O/E on the marketplace days
    peers_ci: tuple[float, float] | None
    summary: str
    accounts: list[TriageAccount] = field(default_factory=list)


def _daily(series: Series, y: F) -> tuple[F, F, float] | None:
    """Observed and expected departures per day under the plain baseline, and dispersion."""
    # Fitted per day (weekday and 30-day levels: hour of day does not matter to a day),
    # then summed into periods.
    days = series.hours // 24
    if days < 7:
        return None
    n = days * 24
    exposure = series.followers[:n].reshape(days, 24).sum(axis=1) / 24.0
    counts = y[:n].reshape(days, 24).sum(axis=1)
    rows = np.flatnonzero(exposure > 0)
    if len(rows) < 7 or counts[rows].sum() <= 0:
        return None
    x = design(series.h0, n)[::24][rows]
    keep = (np.abs(x).sum(axis=0) > 0) & (np.ptp(x, axis=0) > 0) | (np.arange(x.shape[1]) == 0)
    x = x[:, keep]
    fit = poisson_glm(counts[rows], x, exposure[rows])
    # Robust: days far above the first fit (one-sided p < 0.001) are left out of the
    # second, so a spike cannot raise its own weekday's or month's normal.
    calm = upper_p(counts[rows], fit.mu) >= 0.001
    if calm.sum() >= max(7, x.shape[1] + 2) and not calm.all():
        again = poisson_glm(counts[rows][calm], x[calm], exposure[rows][calm])
        fit.mu = exposure[rows] * np.exp(x @ again.params)
    period = (rows * 24 + series.h0 % PERIOD_HOURS) // PERIOD_HOURS
    m = int(period.max()) + 1
    obs = np.bincount(period, counts[rows], minlength=m).astype(np.float64)
    exp = np.bincount(period, fit.mu, minlength=m).astype(np.float64)
    return obs, exp, robust_dispersion(obs, exp, x.shape[1])


def _significant(obs: F, exp: F, phi: float) -> np.ndarray:
    p = upper_p(obs / phi, exp / phi)
    if not len(p):
        return np.zeros(0, dtype=bool)
    reject = multipletests(p, alpha=FDR, method="fdr_bh")[0]
    return np.asarray(reject, dtype=bool) & (obs > exp)


def triage(
    series: list[Series], peers: list[Series], campaigns: dict[str, tuple[F, F, F, F]],
    outside: dict[str, list[tuple[float, float, float]]] | None = None,
) -> Triage:
    """*campaigns*: for email-like accounts (by name) per send: observed and expected
    people departures, observed and expected users departures. *outside*: per account,
    the outside bursts no post explains (start, end in epoch hours, excess); one that no
    significant period holds still counts its own excess as outside."""
    outside = outside or {}
    # Peers' observed and expected departures per period (absolute period numbers).
    peer_obs: dict[int, float] = {}
    peer_exp: dict[int, float] = {}
    phis = [1.0]
    for ps in peers:
        daily = _daily(ps, ps.total)
        if daily is None:
            continue
        obs, exp, phi = daily
        phis.append(phi)
        d0 = ps.h0 // PERIOD_HOURS
        for d in range(len(obs)):
            peer_obs[d0 + d] = peer_obs.get(d0 + d, 0.0) + float(obs[d])
            peer_exp[d0 + d] = peer_exp.get(d0 + d, 0.0) + float(exp[d])
    phi_peers = max(phis)

    def market(period: int) -> bool:
        """Did the peers, together, lose significantly more than normal then, or in the
        period just before or after (a dip can straddle two)? Bonferroni over the three."""
        for d in (period - 1, period, period + 1):
            e = peer_exp.get(d, 0.0)
            o = peer_obs.get(d, 0.0)
            if e > 0 and float(upper_p(o / phi_peers, e / phi_peers)) < 0.05 / 3:
                return True
        return False

    accounts = []
    used_market: set[int] = set()
    for s in series:
        excess = dict.fromkeys(SIDES, 0.0)
        days = dict.fromkeys(SIDES, 0)
        name = s.account.name
        counted: set[int] = set()
        people = s.attributable
        users = s.classes["gone"] + s.classes["bot"]
        unit = "day"
        if name in campaigns:
            unit = "campaign"
            po, pe, uo, ue = campaigns[name]
            for o, e, side in ((po, pe, "internal"), (uo, ue, "users")):
                sig = _significant(o, e, robust_dispersion(o, e, 1))
                excess[side] += float(np.sum((o - e)[sig]))
                days[side] += int(sig.sum())
        else:
            d0 = s.h0 // PERIOD_HOURS
            for y, kind in ((people, "people"), (users, "users")):
                daily = _daily(s, y)
                if daily is None:
                    continue
                obs, exp, phi = daily
                warm = (np.arange(len(obs)) + 1) * PERIOD_HOURS - s.h0 % PERIOD_HOURS
                sig = _significant(obs, exp, phi)
                if kind == "users":
                    sig &= warm > WARMUP_HOURS
                for d in np.flatnonzero(sig).tolist():
                    if kind == "users":
                        side = "users"
                    elif market(d0 + int(d)):
                        side = "marketplace"
                        used_market.add(d0 + int(d))
                    elif held := [i for i, (a, b, _) in enumerate(outside.get(name, []))
                                  if a < (d0 + d + 1) * PERIOD_HOURS
                                  and b > (d0 + d) * PERIOD_HOURS]:  # fmt: skip
                        side = "outside"
                        counted.update(held)
                    else:
                        side = "internal"
                    excess[side] += float(obs[d] - exp[d])
                    days[side] += 1
        for i, (_, _, extra) in enumerate(outside.get(name, [])):
            if i not in counted and extra > 0:
                excess["outside"] += extra
                days["outside"] += 1
        total = float(s.total.sum())
        user = float(s.user_side.sum())
        accounts.append(
            TriageAccount(
                name,
                round(total),
                round(user),
                user / total if total else 0.0,
                wilson(user, total),
                excess,
                days,
                unit,
            )
        )
    return _verdict(accounts, peers, used_market, peer_obs, peer_exp)


def _verdict(
    accounts: list[TriageAccount],
    peers: list[Series],
    market: set[int],
    peer_obs: dict[int, float],
    peer_exp: dict[int, float],
) -> Triage:
    excess = {side: sum(a.excess[side] for a in accounts) for side in SIDES}
    days = {side: sum(a.days[side] for a in accounts) for side in SIDES}
    total = sum(excess.values())
    share = {side: (excess[side] / total if total > 0 else 0.0) for side in SIDES}
    departed = sum(a.departures for a in accounts)
    verdict = max(SIDES, key=lambda k: excess[k])
    if excess[verdict] <= 0 or excess[verdict] < MATERIAL * departed:
        verdict = "none"
    ratio: float | None = None
    ci: tuple[float, float] | None = None
    if market:
        o = sum(peer_obs.get(d, 0.0) for d in market)
        e = sum(peer_exp.get(d, 0.0) for d in market)
        if e > 0:
            ratio = o / e
            lo, hi = ratio_interval(o, e)
            ci = (float(lo), float(hi))
    if verdict == "none":
        summary = "no period had materially more departures than normal churn explains"
    else:
        parts = [
            f"{side}: {excess[side]:.0f} excess departures in {days[side]} three-day period(s)"
            for side in SIDES
            if days[side]
        ]
        summary = f"mostly {verdict} — " + "; ".join(parts)
        if verdict == "outside":
            summary += (" (departures bunched at a time no post explains: an outside event"
                        + ("" if peers else "; peers would tell if everyone lost people")
                        + ")")  # fmt: skip
        if verdict == "marketplace" and ratio is not None and ci is not None:
            summary += f" (peers lost {ratio:.1f}× their normal in those periods, "
            summary += f"95% CI {ci[0]:.1f}–{ci[1]:.1f})"
    return Triage(
        verdict,
        excess,
        days,
        share,
        [p.account.name for p in peers],
        ratio,
        ci,
        summary,
        accounts,
    )


def campaign_sides(
    store: Store, departures: str, series: Series, ids: list[str], pos: F
) -> tuple[F, F, F, F] | None:
    """Per send of an email-like account: observed and expected people departures, then
    users departures, counted by the campaign their unsubscribe or bounce names; expected
    from the list's mean rate per recipient (intercept-only Poisson GLM)."""
    rows = store.con.execute(
        f"""
        SELECT end_campaign, count(*) FILTER (WHERE cls IN {ATTRIBUTABLE}) AS people,
               count(*) FILTER (WHERE cls IN ('gone', 'bot')) AS users
        FROM ({departures}) d WHERE account_id = ? AND end_campaign IS NOT NULL GROUP BY 1
        """,
        [series.account.account_id],
    ).fetchall()
    by = {str(r[0]): (float(r[1]), float(r[2])) for r in rows}
    if not any(i in by for i in ids):
        return None
    cut = np.clip(np.floor(pos).astype(np.int64), 0, series.hours - 1)
    recipients = series.followers[cut]
    out: list[F] = []
    for k in range(2):
        # Warm-up (users only): the first sends flush addresses that died before tracking.
        ok = (recipients > 0) & ((pos >= WARMUP_HOURS) if k == 1 else True)
        y = np.array([by.get(i, (0.0, 0.0))[k] for i in ids], dtype=np.float64)
        rate = y[ok].sum() / recipients[ok].sum() if recipients[ok].sum() > 0 else 0.0
        out += [np.where(ok, y, 0.0), np.where(ok, recipients * rate, 0.0)]
    return out[0], out[1], out[2], out[3]
