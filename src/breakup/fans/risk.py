"""Fans at risk: each follower's probability of leaving in the next 30 days.

**Data.** Monthly person-snapshots built in SQL: at each snapshot time *m* (every
:data:`STEP_DAYS` back from *as_of*), every follower of each own account (open span at
*m*) becomes a row of features from their own history up to *m* and the account's posting;
the label is whether they left of their own choice (unfollowed, unsubscribed or unknown:
:data:`breakup.models.VOLUNTARY_ENDS`; the middle of the ending's window counts) within the
next :data:`HORIZON_DAYS`. Rows whose span ended otherwise in that window (the account
deleted or suspended, a block) are left out.

**Features** (:data:`FEATURES`): weighted engagement (the weights of
:mod:`breakup.fans.ranking`) in the last 30 days and in the 60 before (per 30 days), the
drop between them, days since the last interaction, never engaged, tenure (and whether the
start is unknown: already following when tracking began), whether the account follows them
back, whether the account ever answered them, their unanswered replies/mentions in the last
90 days, the account's posts in the last 7 and 30 days, the account's departure rate in the
last 30 days, whether the channel is email, and whether their own account looks dormant
(latest profile: no posts, none for 180 days, or a declared bot) or was never profiled.

**Model.** Logistic regression (scikit-learn, standardised features, L2 with C = 0.1), trained
on every labelled snapshot of the user's own accounts (the account's past departures).

**Validation** (:func:`backtest`): train on snapshots whose 30-day outcome was known before
a cut-off, test on the later snapshots (the last :data:`TEST_DAYS` days). Reported: ROC AUC
with a 95% interval (Hanley & McNeil), the Brier score against that of always predicting
the training base rate (Brier skill), and reliability bins (mean predicted against observed
share, with Wilson intervals).

**Reasons.** For a follower's score, each feature contributes coef × standardised value to
the log-odds; the reasons are the largest positive contributions, in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import InvalidInput
from ..store import Store
from ._common import (
    LEFT_KINDS_SQL,
    account_ids_sql,
    as_of,
    db_time,
    latest_handle_sql,
    own_accounts,
    utc,
    wilson,
)
from .ranking import WEIGHTS, weights_sql

STEP_DAYS = 30
HORIZON_DAYS = 30
HISTORY_DAYS = 60  # a snapshot needs this much tracked history before it
TEST_DAYS = 90
MIN_EVENTS = 10  # departures needed to train at all
C = 0.1  # inverse L2 strength: a few accounts' months are few independent settings

FEATURES: dict[str, str] = {
    "log_e30": "engagement in the last 30 days (log)",
    "log_e_prev": "engagement in the 60 days before (log, per 30 days)",
    "drop": "engagement fell (earlier minus recent, log)",
    "log_days_quiet": "days since their last interaction (log)",
    "never_engaged": "never engaged",
    "log_tenure": "how long they have followed (log days)",
    "before_tracking": "already following when tracking began",
    "mutual": "you follow them back",
    "answered": "you answered them at least once",
    "unanswered_90": "replies/mentions left unanswered in the last 90 days",
    "decline_z": "how significant the fall in engagement is (Poisson z)",
    "posting_burst": "your posts in the last 7 days vs your 30-day pace (log ratio)",
    "posting_vs_usual": "your posts in the last 30 days vs the 90 before (log ratio)",
    "account_churn": "your departure rate per 30 days over the last 90 days",
    "email": "an email subscriber",
    "dormant": "their own account is inactive, silent or a declared bot",
    "unprofiled": "no profile seen",
}
# How a positive contribution reads, per feature (what makes leaving more likely).
_UP = {
    "log_e30": "engages a lot lately",
    "log_e_prev": "used to engage",
    "drop": "engagement has dropped",
    "log_days_quiet": "quiet for a long time",
    "never_engaged": "has never engaged",
    "log_tenure": "long-time follower",
    "before_tracking": "followed before tracking began",
    "mutual": "you follow them back",
    "answered": "you answered them before",
    "unanswered_90": "their recent messages went unanswered",
    "decline_z": "their engagement fell clearly",
    "posting_burst": "you posted more than usual this week",
    "posting_vs_usual": "you posted more than usual this month",
    "account_churn": "your account is losing followers fast",
    "email": "email subscriber",
    "dormant": "their own account is dormant",
    "unprofiled": "no profile to judge by",
}
_DOWN = {
    "log_e30": "rarely engages lately",
    "log_e_prev": "rarely engaged before",
    "drop": "engagement rising",
    "log_days_quiet": "engaged recently",
    "never_engaged": "has engaged",
    "log_tenure": "new follower",
    "before_tracking": "followed since tracking began",
    "mutual": "you don't follow them back",
    "answered": "never answered by you",
    "unanswered_90": "nothing left unanswered",
    "decline_z": "their engagement held up",
    "posting_burst": "you posted less than usual this week",
    "posting_vs_usual": "you posted less than usual this month",
    "account_churn": "your account is losing few followers",
    "email": "a social follower",
    "dormant": "their own account is active",
    "unprofiled": "profile seen",
}


@dataclass(frozen=True)
class ReliabilityBin:
    predicted: float  # mean predicted probability in the bin
    observed: float  # share that left
    observed_low: float
    observed_high: float
    n: int


@dataclass(frozen=True)
class Backtest:
    train_until: datetime  # outcomes known by then were used for training
    test_from: datetime
    test_to: datetime
    train_rows: int
    train_events: int
    test_rows: int
    test_events: int
    auc: float
    auc_low: float
    auc_high: float
    brier: float
    brier_base_rate: float  # always predicting the training base rate
    brier_skill: float  # 1 - brier / brier_base_rate
    reliability: list[ReliabilityBin] = field(default_factory=list)


@dataclass(frozen=True)
class Coefficient:
    feature: str
    description: str
    coef: float  # per standard deviation, on the log-odds scale


@dataclass(frozen=True)
class AtRiskFan:
    rank: int
    account: str
    person_id: int
    external_id: str
    handle: str | None
    probability: float  # of leaving within the horizon
    reasons: list[str]
    engagement_30d: float
    engagement_prev_30d: float  # per 30 days in the 60 before
    last_interaction: datetime | None


@dataclass(frozen=True)
class AtRisk:
    as_of: datetime
    accounts: list[str]
    horizon_days: int
    trained_rows: int
    trained_events: int
    base_rate: float
    coefficients: list[Coefficient]
    backtest: Backtest | None
    followers_scored: int
    fans: list[AtRiskFan] = field(default_factory=list)


# When tracking of each account began: its first snapshot, post or interaction (not its
# events: an email list's opt-in times go back years before anyone watched it).
_STARTS_SQL = """
    SELECT account_id, min(t) AS started FROM (
        SELECT account_id, min(observed_at) AS t FROM observations GROUP BY ALL
        UNION ALL SELECT account_id, min(created_at) FROM posts GROUP BY ALL
        UNION ALL SELECT account_id, min(occurred_at) FROM interactions GROUP BY ALL
    ) WHERE account_id IN {ids} GROUP BY account_id
"""


def snapshot_times(
    store: Store, ids: str, now: datetime, step_days: int = STEP_DAYS
) -> list[datetime]:
    """Snapshot times back from *now* (included) while HISTORY_DAYS of tracking precede."""
    first = store.scalar(f"SELECT min(started) FROM ({_STARTS_SQL.format(ids=ids)})")
    if first is None:
        return []
    earliest = utc(first)
    assert earliest is not None
    out = []
    m = now
    while m - timedelta(days=HISTORY_DAYS) >= earliest:
        out.append(m)
        m -= timedelta(days=step_days)
    return sorted(out)


def features(
    store: Store, account: str | None, times: list[datetime], horizon_days: int = HORIZON_DAYS
) -> pa.Table:
    """One row per (account, follower, snapshot time): ids, FEATURES, label, and
    ``labelled`` (the horizon after the snapshot lies before the last time given)."""
    accts = own_accounts(store, account)
    ids = account_ids_sql(accts)
    last = max(times)
    months = pa.table(
        {
            "m": pa.array([db_time(t) for t in times], pa.timestamp("us")),
            "labelled": pa.array(
                [t + timedelta(days=horizon_days) <= last for t in times], pa.bool_()
            ),
        }
    )
    store.con.register("_months", months)
    try:
        return store.con.sql(
            f"""
            WITH sp AS (
                SELECT s.account_id, s.person_id, s.start_latest, s.start_earliest,
                       s.start_exact, s.end_kind,
                       CASE WHEN s.end_latest IS NOT NULL
                            THEN s.end_earliest + (s.end_latest - s.end_earliest) / 2 END AS s_end
                FROM spans s WHERE s.direction = 'followers' AND s.account_id IN {ids}
            ),
            starts AS ({_STARTS_SQL.format(ids=ids)}),
            pop AS (
                SELECT sp.*, mo.m, mo.labelled FROM sp JOIN _months mo
                  ON sp.start_latest <= mo.m AND (sp.s_end IS NULL OR sp.s_end > mo.m)
                JOIN starts st
                  ON st.account_id = sp.account_id
                 AND mo.m >= st.started + to_days({HISTORY_DAYS})
            ),
            w AS (SELECT * FROM {weights_sql(WEIGHTS)}),
            eng AS (
                SELECT p.account_id, p.person_id, p.m,
                       coalesce(sum(w.weight) FILTER (
                           WHERE i.occurred_at > p.m - INTERVAL 30 DAY), 0) AS e30,
                       coalesce(sum(w.weight) FILTER (
                           WHERE i.occurred_at <= p.m - INTERVAL 30 DAY
                             AND i.occurred_at > p.m - INTERVAL 90 DAY), 0) / 2 AS e_prev,
                       max(i.occurred_at) AS last_at
                FROM pop p JOIN interactions i
                  ON i.account_id = p.account_id AND i.person_id = p.person_id
                 AND i.occurred_at <= p.m
                JOIN w ON w.kind = i.kind
                GROUP BY ALL
            ),
            talk AS (
                SELECT i.account_id, i.person_id, i.occurred_at,
                       (SELECT min(q.created_at) FROM posts q
                        WHERE q.account_id = i.account_id AND q.reply_to = i.ref) AS answered_at
                FROM interactions i
                WHERE i.account_id IN {ids} AND i.kind IN ('reply', 'mention')
                  AND i.ref IS NOT NULL
            ),
            tk AS (
                SELECT p.account_id, p.person_id, p.m,
                       bool_or(t.answered_at <= p.m) AS answered,
                       count(*) FILTER (WHERE t.occurred_at > p.m - INTERVAL 90 DAY
                                        AND (t.answered_at IS NULL OR t.answered_at > p.m))
                           AS unanswered_90
                FROM pop p JOIN talk t
                  ON t.account_id = p.account_id AND t.person_id = p.person_id
                 AND t.occurred_at <= p.m
                GROUP BY ALL
            ),
            mutual AS (
                SELECT DISTINCT s.account_id, s.person_id, mo.m FROM spans s JOIN _months mo
                  ON s.start_latest <= mo.m AND (s.end_latest IS NULL OR s.end_earliest > mo.m)
                WHERE s.direction = 'following' AND s.account_id IN {ids}
            ),
            prof AS (   -- their latest profile seen by then
                SELECT p.person_id, p.m,
                       arg_max(pr.posts_count, pr.observed_at) AS posts,
                       arg_max(pr.last_post_at, pr.observed_at) AS last_post,
                       arg_max(pr.bot, pr.observed_at) AS bot
                FROM (SELECT DISTINCT person_id, m FROM pop) p
                JOIN profiles pr ON pr.person_id = p.person_id AND pr.observed_at <= p.m
                GROUP BY ALL
            ),
            acct AS (
                SELECT a.account_id, mo.m, a.platform = 'email' AS email,
                       -- days of tracking in the 90 days before the last 30, and in the last 90
                       greatest(date_diff('second', greatest(st.started,
                                mo.m - INTERVAL 120 DAY), mo.m - INTERVAL 30 DAY), 0)
                           / 86400.0 AS prev_days,
                       least(date_diff('second', st.started, mo.m) / 86400.0, 90) AS churn_days,
                       (SELECT count(*) FROM posts q WHERE q.account_id = a.account_id
                        AND q.kind <> 'reply' AND q.created_at <= mo.m
                        AND q.created_at > mo.m - INTERVAL 7 DAY) AS posts_7d,
                       (SELECT count(*) FROM posts q WHERE q.account_id = a.account_id
                        AND q.kind <> 'reply' AND q.created_at <= mo.m
                        AND q.created_at > mo.m - INTERVAL 30 DAY) AS posts_30d,
                       (SELECT count(*) FROM posts q WHERE q.account_id = a.account_id
                        AND q.kind <> 'reply' AND q.created_at <= mo.m - INTERVAL 30 DAY
                        AND q.created_at > mo.m - INTERVAL 120 DAY) AS posts_prev90,
                       (SELECT count(*) FROM sp WHERE sp.account_id = a.account_id
                        AND sp.end_kind IN {LEFT_KINDS_SQL}
                        AND sp.s_end <= mo.m AND sp.s_end > mo.m - INTERVAL 90 DAY) AS left_90,
                       (SELECT count(*) FROM sp WHERE sp.account_id = a.account_id
                        AND sp.start_latest <= mo.m
                        AND (sp.s_end IS NULL OR sp.s_end > mo.m)) AS followers
                FROM accounts a JOIN starts st USING (account_id), _months mo
                WHERE a.account_id IN {ids}
            )
            SELECT p.account_id, p.person_id, p.m, p.labelled,
                   p.s_end IS NOT NULL AND p.s_end <= p.m + to_days($h::INTEGER)
                       AND p.end_kind IN {LEFT_KINDS_SQL} AS label,
                   p.s_end IS NOT NULL AND p.s_end <= p.m + to_days($h::INTEGER)
                       AND p.end_kind NOT IN {LEFT_KINDS_SQL} AS censored,
                   coalesce(e.e30, 0)::DOUBLE AS e30,
                   coalesce(e.e_prev, 0)::DOUBLE AS e_prev,
                   e.last_at,
                   ln(1 + coalesce(e.e30, 0)) AS log_e30,
                   ln(1 + coalesce(e.e_prev, 0)) AS log_e_prev,
                   ln(1 + coalesce(e.e_prev, 0)) - ln(1 + coalesce(e.e30, 0)) AS drop,
                   ln(1 + least(coalesce(date_diff('second', e.last_at, p.m) / 86400.0, 365),
                                365)) AS log_days_quiet,
                   (e.last_at IS NULL)::DOUBLE AS never_engaged,
                   ln(1 + greatest(date_diff('second', p.start_latest, p.m) / 86400.0, 0))
                       AS log_tenure,
                   (p.start_earliest IS NULL AND NOT p.start_exact)::DOUBLE AS before_tracking,
                   (mu.person_id IS NOT NULL)::DOUBLE AS mutual,
                   coalesce(tk.answered, false)::DOUBLE AS answered,
                   coalesce(tk.unanswered_90, 0)::DOUBLE AS unanswered_90,
                   (coalesce(e.e_prev, 0) - coalesce(e.e30, 0))
                       / sqrt(1 + coalesce(e.e_prev, 0) + coalesce(e.e30, 0)) AS decline_z,
                   ln((1 + a.posts_7d) / (1 + a.posts_30d / 30.0 * 7)) AS posting_burst,
                   CASE WHEN a.prev_days >= 7
                        THEN ln((1 + a.posts_30d) / (1 + a.posts_prev90 / a.prev_days * 30))
                        ELSE 0 END AS posting_vs_usual,
                   (a.left_90 / greatest(a.churn_days, 1) * 30
                       / greatest(a.followers, 1))::DOUBLE AS account_churn,
                   a.email::DOUBLE AS email,
                   coalesce(pf.posts = 0 OR pf.last_post < p.m - INTERVAL 180 DAY
                            OR pf.bot, false)::DOUBLE AS dormant,
                   (pf.person_id IS NULL)::DOUBLE AS unprofiled
            FROM pop p
            LEFT JOIN eng e USING (account_id, person_id, m)
            LEFT JOIN tk USING (account_id, person_id, m)
            LEFT JOIN mutual mu USING (account_id, person_id, m)
            LEFT JOIN prof pf USING (person_id, m)
            JOIN acct a USING (account_id, m)
            ORDER BY p.m, p.account_id, p.person_id
            """,
            params={"h": int(horizon_days)},
        ).to_arrow_table()
    finally:
        store.con.unregister("_months")


def _matrix(table: pa.Table, mask: np.ndarray | None = None) -> np.ndarray:
    cols = [table.column(f).to_numpy(zero_copy_only=False).astype(np.float64) for f in FEATURES]
    x = np.column_stack(cols) if cols else np.zeros((table.num_rows, 0))
    x = np.nan_to_num(x)
    return x if mask is None else x[mask]


def _col(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False))


def _fit(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    model.fit(x, y)
    return model


def auc_ci(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """ROC AUC with a 95% interval from Hanley & McNeil's standard error."""
    from sklearn.metrics import roc_auc_score

    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return math.nan, math.nan, math.nan
    a = float(roc_auc_score(y, p))
    q1 = a / (2 - a)
    q2 = 2 * a * a / (1 + a)
    se = math.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0))
    return a, max(0.0, a - 1.96 * se), min(1.0, a + 1.96 * se)


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[ReliabilityBin]:
    """Quantile bins of the predictions: mean predicted vs observed share (Wilson 95%)."""
    if len(p) == 0:
        return []
    order = np.argsort(p, kind="stable")
    out = []
    for chunk in np.array_split(order, min(bins, len(p))):
        if len(chunk) == 0:
            continue
        k, n = int(y[chunk].sum()), len(chunk)
        lo, hi = wilson(k, n)
        out.append(
            ReliabilityBin(
                round(float(p[chunk].mean()), 5), round(k / n, 5), round(lo, 5), round(hi, 5), n
            )
        )
    return out


def backtest(
    store: Store,
    account: str | None = None,
    *,
    at: datetime | None = None,
    test_days: int = TEST_DAYS,
    table: pa.Table | None = None,
) -> Backtest | None:
    """Train on snapshots whose outcome was known before the test window; score the
    snapshots in the last *test_days* (with known outcomes). None if too little data."""
    now = as_of(store, at)
    if table is None:
        times = snapshot_times(store, account_ids_sql(own_accounts(store, account)), now)
        if len(times) < 3:
            return None
        table = features(store, account, times)
    m = _col(table, "m")
    usable = _col(table, "labelled").astype(bool) & ~_col(table, "censored").astype(bool)
    y_all = _col(table, "label").astype(bool)
    labelled_times = np.unique(m[usable])
    if len(labelled_times) < 2:
        return None
    cut = np.datetime64(db_time(now)) - np.timedelta64(test_days + HORIZON_DAYS, "D")
    test_from = max(cut, labelled_times[1])
    train_until = test_from
    train = usable & (m + np.timedelta64(HORIZON_DAYS, "D") <= train_until)
    test = usable & (m >= test_from)
    if y_all[train].sum() < MIN_EVENTS or y_all[test].sum() == 0 or train.sum() == 0:
        return None
    model = _fit(_matrix(table, train), y_all[train])
    p = model.predict_proba(_matrix(table, test))[:, 1]
    y = y_all[test].astype(np.float64)
    auc, low, high = auc_ci(y, p)
    base = float(y_all[train].mean())
    brier = float(np.mean((p - y) ** 2))
    brier0 = float(np.mean((base - y) ** 2))
    return Backtest(
        train_until=_dt(train_until),
        test_from=_dt(test_from),
        test_to=_dt(m[test].max()),
        train_rows=int(train.sum()),
        train_events=int(y_all[train].sum()),
        test_rows=int(test.sum()),
        test_events=int(y.sum()),
        auc=round(auc, 4),
        auc_low=round(low, 4),
        auc_high=round(high, 4),
        brier=round(brier, 6),
        brier_base_rate=round(brier0, 6),
        brier_skill=round(1 - brier / brier0, 4) if brier0 else 0.0,
        reliability=reliability(y, p),
    )


def at_risk(
    store: Store,
    account: str | None = None,
    top: int = 20,
    *,
    at: datetime | None = None,
    engaged_only: bool = True,
    validate: bool = True,
) -> AtRisk:
    """Followers now, most likely to leave within 30 days first, with reasons.

    ``engaged_only`` lists fans only (people who engaged in the last 180 days); every
    follower is scored either way. ``validate`` also runs :func:`backtest`.
    """
    accts = own_accounts(store, account)
    ids = account_ids_sql(accts)
    now = as_of(store, at)
    times = snapshot_times(store, ids, now)
    if len(times) < 2:
        raise InvalidInput(
            f"not enough history to learn from: need {HISTORY_DAYS + HORIZON_DAYS} days of "
            "tracking with departures"
        )
    table = features(store, account, times)
    m = _col(table, "m")
    y = _col(table, "label").astype(bool)
    train = _col(table, "labelled").astype(bool) & ~_col(table, "censored").astype(bool)
    if y[train].sum() < MIN_EVENTS:
        raise InvalidInput(
            f"only {int(y[train].sum())} departures to learn from (need {MIN_EVENTS})"
        )
    model = _fit(_matrix(table, train), y[train])
    scaler, logit = model.steps[0][1], model.steps[1][1]
    coefs = logit.coef_[0]
    current = m == np.datetime64(db_time(now))
    x = _matrix(table, current)
    p = model.predict_proba(x)[:, 1] if len(x) else np.zeros(0)
    contrib = ((x - scaler.mean_) / np.where(scaler.scale_ > 0, scaler.scale_, 1.0)) * coefs
    e30 = _col(table, "e30")[current]
    eprev = _col(table, "e_prev")[current]
    last_at = _col(table, "last_at")[current]
    person = _col(table, "person_id")[current]
    acct_id = _col(table, "account_id")[current]
    recent = np.array(
        [t is not None and not (isinstance(t, float) and math.isnan(t)) for t in last_at]
    )
    if recent.any():
        cutoff = np.datetime64(db_time(now - timedelta(days=180)))
        recent = np.array(
            [
                ok and np.datetime64(t) > cutoff
                for ok, t in zip(recent.tolist(), last_at.tolist(), strict=True)
            ]
        )
    pick = recent if engaged_only else np.ones(len(p), dtype=bool)
    order = [int(i) for i in np.argsort(-p, kind="stable") if pick[i]][: int(top)]
    names = _names(store, [int(person[i]) for i in order], now)
    acct_names = {a.account_id: a.name for a in accts}
    feats = list(FEATURES)
    fans = []
    for rank, i in enumerate(order, start=1):
        top_c = np.argsort(-contrib[i])[:3]
        reasons = [_reason(feats[j], x[i, j], coefs[j]) for j in top_c if contrib[i, j] > 0.05]
        ext, handle = names.get(int(person[i]), ("", None))
        fans.append(
            AtRiskFan(
                rank=rank,
                account=acct_names[int(acct_id[i])],
                person_id=int(person[i]),
                external_id=ext,
                handle=handle,
                probability=round(float(p[i]), 4),
                reasons=reasons,
                engagement_30d=round(float(e30[i]), 2),
                engagement_prev_30d=round(float(eprev[i]), 2),
                last_interaction=utc(last_at[i]) if recent[i] else None,
            )
        )
    return AtRisk(
        as_of=now,
        accounts=[a.name for a in accts],
        horizon_days=HORIZON_DAYS,
        trained_rows=int(train.sum()),
        trained_events=int(y[train].sum()),
        base_rate=round(float(y[train].mean()), 5),
        coefficients=[
            Coefficient(f, FEATURES[f], round(float(c), 4))
            for f, c in sorted(zip(feats, coefs, strict=True), key=lambda fc: -abs(fc[1]))
        ],
        backtest=backtest(store, account, at=now, table=table) if validate else None,
        followers_scored=int(current.sum()),
        fans=fans,
    )


def _reason(feature: str, value: float, coef: float) -> str:
    """A positive contribution in words: an above-average value of a feature that raises
    the risk (_UP), or a below-average value of one that lowers it (_DOWN), as measured."""
    if feature.startswith("log_"):
        shown = f"{math.expm1(value):.0f}"
    elif feature == "account_churn":
        shown = f"{value:.2%}"
    elif feature in ("drop", "decline_z", "posting_burst", "posting_vs_usual"):
        shown = f"{value:+.2f}"
    else:
        shown = f"{value:.0f}"
    words = (_UP if coef > 0 else _DOWN)[feature]
    if feature in _BINARY:
        return words
    label = FEATURES[feature].replace(" (log days)", " (days)").replace(" (log)", "")
    return f"{words} ({label}: {shown})"


_BINARY = frozenset(
    {"never_engaged", "before_tracking", "mutual", "answered", "email", "dormant", "unprofiled"}
)


def _names(store: Store, person_ids: list[int], now: datetime) -> dict[int, tuple[str, str | None]]:
    if not person_ids:
        return {}
    rows = store.con.execute(
        f"""
        WITH names AS ({latest_handle_sql("$as_of")})
        SELECT p.person_id, p.external_id, n.handle FROM people p
        LEFT JOIN names n USING (person_id)
        WHERE p.person_id IN (SELECT unnest($ids::UINTEGER[]))
        """,
        {"as_of": db_time(now), "ids": person_ids},
    ).fetchall()
    return {int(r[0]): (r[1], r[2]) for r in rows}


def _dt(value: Any) -> datetime:
    ts = np.datetime64(value, "us").astype(datetime)
    out = utc(ts)
    assert out is not None
    return out
