"""Retention, not fan count: how long followers stay, by cohort, and churn per channel.

* Kaplan-Meier survival of follower lifetimes (lifelines), on spans whose start is known.
  A span that began before its account's coverage started (an email opt-in date from an
  export, say) enters the risk set at its age then (``entry=``, left truncation), so only
  departures that could have been seen count. An ending known only to a window is taken at
  the window's middle. Spans are aggregated in SQL to (entry day, duration day, ended)
  with counts, passed to lifelines as weights. Cohorts: month joined (while tracked),
  channel (platform), and promotion joiners (:mod:`.promotions`) or not.
* Followers already there when tracking began, with no known start, cannot be placed on the
  lifetime axis: their curve (``residual``) is time since tracking began.
* Churn per channel: email lists as unsubscribes per campaign (mean of unsubscribes /
  recipients, against Mailchimp's ≈0.25% all-industry benchmark; above 0.5% is a warning);
  social channels as departures per 100 followers per 30 days. Poisson 95% intervals.
* A Cox model with a time-varying covariate, posts in the preceding 7 days (lifelines
  ``CoxTimeVaryingFitter``, weekly intervals on the tenure scale): at most ``sample`` spans
  with known start are drawn (DuckDB reservoir sample, fixed seed), and the report says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from ..clock import to_db
from ..store import Store
from .data import ATTRIBUTABLE, VOLUNTARY_KINDS, PostRows, Series, hours_to_time, time_to_hours
from .promotions import OFFER_HOURS, promotions
from .stats import Z95, ratio_interval

BENCHMARK_EMAIL = 0.0025
WARNING_EMAIL = 0.005
# A curve's points: every step up to DETAIL_DAYS (the survival chart never shows more than
# its first two years; durations are whole days, so at most 731 steps), then TAIL_POINTS
# evenly spaced to the end; never more than MAX_POINTS.
DETAIL_DAYS = 730.0
TAIL_POINTS = 60
MAX_POINTS = 800


@dataclass(frozen=True)
class Curve:
    cohort: str  # e.g. "all", "joined 2025-03", "bsky", "promotion joiners", "residual"
    followers: int
    departures: int
    median_days: float | None  # None: more than half still follow at the last time seen
    median_ci: tuple[float | None, float | None]
    survival_30d: float | None
    survival_90d: float | None
    survival_365d: float | None
    # (day, survival) for charts, a step curve (hold each value until the next point):
    # every step up to DETAIL_DAYS, evenly spaced after; at most MAX_POINTS.
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class ChannelChurn:
    account: str
    platform: str
    measure: str  # "unsubscribes per campaign" or "departures per 100 followers per 30 days"
    value: float
    ci_low: float
    ci_high: float
    benchmark: float | None
    warning: bool


@dataclass(frozen=True)
class CoxResult:
    covariate: str
    hazard_ratio: float  # per unit of the covariate
    ci_low: float
    ci_high: float
    p_value: float
    spans: int  # spans in the model
    sampled: bool  # True when spans were sampled to bound the cost
    note: str


@dataclass(frozen=True)
class Retention:
    curves: list[Curve] = field(default_factory=list)
    churn: list[ChannelChurn] = field(default_factory=list)
    cox: CoxResult | None = None
    median_lifetime_days: float | None = None


def _aggregate(store: Store, series: list[Series], departures: str, residual: bool) -> str:
    """One query of (cohort keys, entry, duration, ended, n) over every account."""
    parts = []
    for s in series:
        start = to_db(s.start())
        end = to_db(s.end())
        known = "s.start_earliest IS NOT NULL" if not residual else "s.start_earliest IS NULL"
        origin = "s.start_latest" if not residual else f"TIMESTAMP '{start}'"
        parts.append(
            f"""
            SELECT {s.account.account_id} AS account_id, '{s.account.platform}' AS channel,
                   s.start_latest >= TIMESTAMP '{start}'
                       AS during, strftime(s.start_latest, '%Y-%m') AS month, s.start_latest,
                   greatest(epoch(TIMESTAMP '{start}') - epoch({origin}), 0) / 86400 AS entry,
                   (epoch(coalesce(d.end_earliest + (d.end_latest - d.end_earliest) / 2,
                                   TIMESTAMP '{end}')) - epoch({origin})) / 86400 AS dur,
                   coalesce(d.cls IN {ATTRIBUTABLE} AND d.end_kind IN {VOLUNTARY_KINDS},
                            false) AS ended
            FROM spans s LEFT JOIN ({departures}) d USING (span_id)
            WHERE s.account_id = {s.account.account_id} AND s.direction = 'followers'
              AND {known}
              AND (s.end_latest IS NULL OR s.end_latest >= TIMESTAMP '{start}')
            """
        )
    return " UNION ALL ".join(parts)


def _curve(label: str, entry: np.ndarray, dur: np.ndarray, ended: np.ndarray,
           w: np.ndarray) -> Curve | None:  # fmt: skip
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    ok = (dur > entry) & (w > 0)
    if ok.sum() < 2 or w[ok].sum() < 10:
        return None
    from lifelines.exceptions import StatError

    kmf = KaplanMeierFitter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kmf.fit(dur[ok], ended[ok], entry=entry[ok], weights=w[ok], label=label)
    except StatError:
        # Left truncation can leave nobody at risk at some age (a short history): no
        # honest curve for this cohort, so none is shown.
        return None
    med = float(kmf.median_survival_time_)
    ci = median_survival_times(kmf.confidence_interval_)
    lo, hi = float(ci.iloc[0, 0]), float(ci.iloc[0, 1])

    def fin(x: float) -> float | None:
        return x if np.isfinite(x) else None

    sf = kmf.survival_function_
    last = float(sf.index.max())

    def at(day: float) -> float | None:
        return float(kmf.predict(day)) if day <= last else None

    points = _points(sf.index.to_numpy(np.float64), sf.iloc[:, 0].to_numpy(np.float64))
    return Curve(label, int(w[ok].sum()), int((w * ended)[ok].sum()), fin(med),
                 (fin(lo), fin(hi)), at(30), at(90), at(365), points)  # fmt: skip


def _points(times: np.ndarray, survival: np.ndarray) -> list[tuple[float, float]]:
    """The chart's points of a Kaplan-Meier step function (*times* ascending, *survival*
    its value from each time on): day 0, every time the curve steps up to DETAIL_DAYS
    (the first steps and log-spaced days if there are more than fit in MAX_POINTS), then
    TAIL_POINTS evenly spaced days to the last time, which is always a point."""
    if not len(times):
        return []
    last = float(times[-1])

    def value(day: np.ndarray) -> np.ndarray:
        at = np.searchsorted(times, day, side="right") - 1
        out: np.ndarray = np.where(at >= 0, survival[np.maximum(at, 0)], 1.0)
        return out

    prev = np.concatenate([[1.0], survival[:-1]])
    steps = times[(survival != prev) & (times <= DETAIL_DAYS)]
    budget = MAX_POINTS - TAIL_POINTS - 2
    if len(steps) > budget:  # finer than whole days: every step early, log-spaced after
        grid = np.geomspace(1.0, min(DETAIL_DAYS, last), budget // 2)
        steps = np.union1d(steps[: budget // 2], grid)
    tail = (
        np.linspace(DETAIL_DAYS, last, TAIL_POINTS + 1)[1:] if last > DETAIL_DAYS else np.zeros(0)
    )
    days = np.unique(np.concatenate([[0.0], steps, tail, [last]]))
    return [
        (round(float(d), 6), round(float(v), 9)) for d, v in zip(days, value(days), strict=True)
    ]


def retention(
    store: Store,
    series: list[Series],
    departures: str,
    posts: dict[int, PostRows],
    *,
    sample: int = 2000,
    seed: int = 0,
) -> Retention:
    if not series:
        return Retention()
    curves: list[Curve] = []
    windows = _promotion_windows(store, series, posts)
    sql = _aggregate(store, series, departures, residual=False)
    store.con.register("_promotions", windows)
    try:
        agg = _cohorts(store, sql)
    finally:
        store.con.unregister("_promotions")
    entry, dur, ended, w = agg["entry"], agg["dur"], agg["ended"].astype(bool), agg["n"]
    month = np.asarray(agg["month"], dtype=object)
    channel = np.asarray(agg["channel"], dtype=object)
    promo = agg["promo"].astype(bool)
    overall = _curve("all", entry, dur, ended, w)
    if overall:
        curves.append(overall)
    for ch in sorted(set(channel.tolist())):
        m = channel == ch
        c = _curve(str(ch), entry[m], dur[m], ended[m], w[m])
        if c:
            curves.append(c)
    for mo in sorted(set(month.tolist()) - {"before"}):
        m = month == mo
        c = _curve(f"joined {mo}", entry[m], dur[m], ended[m], w[m])
        if c:
            curves.append(c)
    during = month != "before"
    for flag, label in ((True, "promotion joiners"), (False, "other joiners")):
        m = during & (promo == flag)
        c = _curve(label, entry[m], dur[m], ended[m], w[m])
        if c:
            curves.append(c)
    res = store.con.execute(
        f"""SELECT round(entry)::DOUBLE AS entry, greatest(round(dur), 1)::DOUBLE AS dur,
                   ended, count(*)::DOUBLE AS n
            FROM ({_aggregate(store, series, departures, residual=True)}) GROUP BY ALL"""
    ).fetchnumpy()
    c = _curve("residual (followers from before tracking)", res["entry"] * 0, res["dur"],
               res["ended"].astype(bool), res["n"])  # fmt: skip
    if c:
        curves.append(c)
    churn = _channel_churn(store, series, departures)
    cox = _cox(store, series, departures, sample, seed)
    return Retention(curves, churn, cox, overall.median_days if overall else None)


def _promotion_windows(store: Store, series: list[Series], posts: dict[int, PostRows]) -> pa.Table:
    """(account_id, start, end) of every promotion (see :mod:`.promotions`)."""
    ids: list[int] = []
    lo: list[datetime] = []
    for s in series:
        found = promotions(store, s, posts[s.account.account_id])
        for h in [] if found is None else found.tolist():
            ids.append(s.account.account_id)
            lo.append(hours_to_time(s.h0 + h).replace(tzinfo=None))
    hi = [t + timedelta(hours=OFFER_HOURS) for t in lo]
    return pa.table(
        {
            "account_id": pa.array(ids, pa.int32()),
            "lo": pa.array(lo, pa.timestamp("us")),
            "hi": pa.array(hi, pa.timestamp("us")),
        }
    )


def _cohorts(store: Store, sql: str) -> dict[str, np.ndarray]:
    """Spans aggregated to (channel, month joined, promotion joiner, entry, duration,
    ended) with counts."""
    out: dict[str, np.ndarray] = store.con.execute(
        f"""
        WITH a AS ({sql}),
        tagged AS (
            SELECT a.*, EXISTS (SELECT 1 FROM _promotions o WHERE o.account_id = a.account_id
                   AND a.start_latest BETWEEN o.lo AND o.hi) AS promo
            FROM a
        )
        SELECT channel, CASE WHEN during THEN month ELSE 'before' END AS month, promo AND
               during AS promo, round(entry)::DOUBLE AS entry,
               greatest(round(dur), round(entry) + 1)::DOUBLE AS dur, ended,
               count(*)::DOUBLE AS n
        FROM tagged GROUP BY ALL
        """
    ).fetchnumpy()
    return out


def _channel_churn(store: Store, series: list[Series], departures: str) -> list[ChannelChurn]:
    out = []
    for s in series:
        aid = s.account.account_id
        row = store.con.execute(
            f"""
            WITH c AS (
                SELECT external_id, min(created_at) AS sent_at FROM posts
                WHERE account_id = ? AND kind = 'campaign' GROUP BY 1
            )
            SELECT count(*), (SELECT count(*) FROM ({departures}) d
                              WHERE d.account_id = ? AND d.cls IN {ATTRIBUTABLE}
                                AND d.end_kind IN {VOLUNTARY_KINDS}
                                AND d.end_campaign IN (SELECT external_id FROM c)),
                   list(epoch(sent_at) / 3600)
            FROM c
            """,
            [aid, aid],
        ).fetchall()[0]
        sends, unsubs = int(row[0]), float(row[1] or 0)
        if sends and unsubs:
            pos = np.array(row[2], dtype=np.float64) - s.h0
            cut = np.clip(np.floor(pos).astype(np.int64), 0, s.hours - 1)
            recipients = float(s.followers[cut].sum())
            lo, hi = ratio_interval(unsubs, recipients)
            value = unsubs / recipients
            out.append(ChannelChurn(s.account.name, s.account.platform,
                                    "unsubscribes per campaign", value, float(lo), float(hi),
                                    BENCHMARK_EMAIL, value > WARNING_EMAIL))  # fmt: skip
            continue
        months = float(s.followers.sum()) / (24.0 * 30.0) / 100.0
        lost = float(s.attributable.sum())
        if months <= 0:
            continue
        lo, hi = ratio_interval(lost, months)
        out.append(ChannelChurn(s.account.name, s.account.platform,
                                "departures per 100 followers per 30 days", lost / months,
                                float(lo), float(hi), None, False))  # fmt: skip
    return out


def _cox(
    store: Store, series: list[Series], departures: str, sample: int, seed: int
) -> CoxResult | None:
    """Hazard ratio per post in the preceding 7 days, on the tenure scale, weekly steps."""
    social = [s for s in series if s.account.platform != "email"]
    if not social or sample <= 0:
        return None
    sql = _aggregate(store, social, departures, residual=False)
    total = int(store.scalar(f"SELECT count(*) FROM ({sql})"))
    if total < 50:
        return None
    sampled = total > sample
    rows = store.con.execute(
        f"""
        SELECT entry, dur, ended, epoch(start_latest) / 3600 AS start_h, channel
        FROM ({sql}) WHERE dur > entry
        USING SAMPLE reservoir({min(sample, total)} ROWS) REPEATABLE ({seed})
        """
    ).fetchnumpy()
    posting = {s.account.platform: s for s in social}
    ids, starts, stops, events, cov = [], [], [], [], []
    for k in range(len(rows["entry"])):
        s = posting[str(rows["channel"][k])]
        a, b = float(rows["entry"][k]), float(rows["dur"][k])
        edges = np.arange(np.floor(a / 7) * 7, b, 7.0)
        edges = np.unique(np.clip(np.append(edges, [a, b]), a, b))
        if len(edges) < 2:
            continue
        lo, hi = edges[:-1], edges[1:]
        at = float(rows["start_h"][k]) - s.h0 + lo * 24.0
        cum = np.concatenate([[0.0], np.cumsum(s.posting)])
        i1 = np.clip(np.floor(at).astype(np.int64), 0, len(s.posting))
        i0 = np.clip(i1 - 168, 0, len(s.posting))
        ids.append(np.full(len(lo), k))
        starts.append(lo)
        stops.append(hi)
        ev = np.zeros(len(lo))
        ev[-1] = float(rows["ended"][k])
        events.append(ev)
        cov.append(cum[i1] - cum[i0])
    if not ids:
        return None
    import pandas as pd
    from lifelines import CoxTimeVaryingFitter

    frame = pd.DataFrame({
        "id": np.concatenate(ids), "start": np.concatenate(starts),
        "stop": np.concatenate(stops), "event": np.concatenate(events),
        "posts_7d": np.concatenate(cov),
    })  # fmt: skip
    if frame["event"].sum() < 5 or frame["posts_7d"].std() == 0:
        return None
    ctv = CoxTimeVaryingFitter(penalizer=0.01)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctv.fit(frame, id_col="id", event_col="event", start_col="start", stop_col="stop")
    except Exception:
        return None
    b = float(ctv.params_["posts_7d"])
    se = float(ctv.standard_errors_["posts_7d"])
    p = float(ctv.summary.loc["posts_7d", "p"])
    note = (
        f"{min(sample, total)} of {total} spans sampled to bound the cost"
        if sampled
        else f"all {total} spans with a known start"
    )
    return CoxResult("posts in the preceding 7 days", float(np.exp(b)),
                     float(np.exp(b - Z95 * se)), float(np.exp(b + Z95 * se)), p,
                     min(sample, total), sampled, note)  # fmt: skip


__all__ = ["ChannelChurn", "CoxResult", "Curve", "Retention", "retention", "time_to_hours"]
