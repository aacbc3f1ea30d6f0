"""Which posts were followed by more departures than the account's normal churn explains.

Per post, unfollows and unsubscribes of active and inactive people (see :mod:`.data`) in
the window [t, t + W) after
it (W = 48 h by default) are counted — a departure known only to a snapshot window counts
with the share of its window that falls inside — and compared with the departures the
baseline model (:mod:`.baseline`) expects in the same hours from the followers at the time.
An email campaign is a post whose departures are exact: the unsubscribes that name it,
against its recipients × the list's per-campaign unsubscribe rate (a Poisson GLM over the
campaigns).

Testing is one-sided (more departures than expected) and corrected for the number of posts
tested with **Holm's step-down procedure** (family-wise error 5%, over every post tested in
the report): the most extreme post is tested at α/m; if it is named a break-up post, its
window becomes an indicator in its account's model (so the posts around it are no longer
blamed for its excess) and the next most extreme post, with p-values from the refitted
model, is tested at α/(m−1), and so on until one fails. A post is named exactly when the
one-sided lower confidence bound of its rate ratio at its Holm level exceeds 1
(``adjusted_ci_low``). Counts are divided by the baseline's Pearson dispersion (daily,
at least 1) before testing: quasi-Poisson, so overdispersed churn does not produce blame.
The expected count is treated as known (it is estimated from the whole period, hundreds of
times more data than one window).

Each post also gets its peers' rate ratio in the same window (peer accounts' departures
against their own baselines): a post whose window was bad for the peers too is marked
``market_wide``; the triage counts it as the marketplace's, not the post's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ..store import Store
from .baseline import HourlyModel, fit_hourly, window_sums, window_weights
from .data import ATTRIBUTABLE, I64, USER_SIDE, VOLUNTARY_KINDS, F, PostRows, Series, time_to_hours
from .stats import lower_bound, poisson_glm, ratio_interval, upper_p

WINDOW_HOURS = 48.0
ALPHA = 0.05
MAX_NAMED = 100
TEXT_CHARS = 280


@dataclass(frozen=True)
class PostAttribution:
    """One post (or campaign) and the departures after it."""

    account: str
    post: str  # external id
    kind: str  # post, repost, quote, campaign
    created_at: datetime
    text: str  # the first 280 characters
    observed: float  # active departures in its window (snapshot windows spread)
    expected: float  # what the baseline expects in the same window
    excess: float  # observed - expected
    rate_ratio: float  # observed / expected
    ci_low: float  # 95% two-sided, not adjusted for multiplicity
    ci_high: float
    p_value: float  # one-sided, dispersion-scaled
    p_adjusted: float  # Holm
    adjusted_ci_low: float  # one-sided lower bound at the post's Holm level
    break_up: bool  # named: adjusted_ci_low > 1
    exact: bool  # its departures have exact times (events, campaign unsubscribes)
    peers_rate_ratio: float | None = None  # peers' departures in the same window, O/E
    peers_ci_low: float | None = None
    peers_ci_high: float | None = None
    market_wide: bool = False  # peers' one-sided p < 0.05 in the same window


@dataclass(frozen=True)
class AccountAttribution:
    account: str
    platform: str
    mode: str  # "window" (posts, hourly model) or "campaign" (exact unsubscribes)
    posts_tested: int
    departures: int  # active departures in the tracked period
    exact_share: float  # of those, with an exact time
    resolution_hours: float  # median length of a departure's window (0: exact times)
    dispersion: float  # Pearson dispersion of the baseline (>= 1), counts divided by it
    baseline_per_1k_per_day: float  # mean active churn per 1,000 followers per day
    named: int


@dataclass(frozen=True)
class Attribution:
    window_hours: float
    alpha: float
    correction: str  # "holm"
    posts_tested: int
    accounts: list[AccountAttribution] = field(default_factory=list)
    posts: list[PostAttribution] = field(default_factory=list)  # most extreme first

    @property
    def break_up_posts(self) -> list[PostAttribution]:
        return [p for p in self.posts if p.break_up]


# -- per-account models -----------------------------------------------------------------


@dataclass
class _Unit:
    """One account's candidates and current model during the step-down."""

    series: Series
    posts: PostRows
    idx: I64  # candidate posts (indices into posts) in time order
    pos: F  # their positions on the grid (hours from its start)
    mode: str
    campaign_obs: F | None = None  # campaign mode: unsubscribes naming each candidate
    named: list[int] = field(default_factory=list)  # positions within idx
    observed: F = field(default_factory=lambda: np.zeros(0))
    expected: F = field(default_factory=lambda: np.zeros(0))
    dispersion: float = 1.0
    named_expected: dict[int, float] = field(default_factory=dict)
    ok: bool = True

    def refit(self, width: float) -> None:
        if self.mode == "campaign":
            self._refit_campaigns()
        else:
            self._refit_window(width)

    def _refit_window(self, width: float) -> None:
        s = self.series
        extra = []
        for j in self.named:
            bins, w = window_weights(float(self.pos[j]), width, s.hours)
            col = np.zeros(s.hours)
            col[bins] = w
            extra.append(col)
        model = fit_hourly(s, s.attributable, extra)
        if model is None:
            self.ok = False
            return
        self.observed = window_sums(s.attributable, self.pos, width)
        self.expected = window_sums(model.mu, self.pos, width)
        self.dispersion = model.dispersion
        self._named_window(model, width)

    def _named_window(self, model: HourlyModel, width: float) -> None:
        # A named post's expectation without its own indicator: mu / exp(beta * w).
        k = len(self.named)
        if not k:
            return
        betas = model.fit.params[-k:] if model.x.shape[1] >= k else np.zeros(k)
        for beta, j in zip(betas, self.named, strict=True):
            bins, w = window_weights(float(self.pos[j]), width, self.series.hours)
            self.named_expected[j] = float(np.sum(w * model.mu[bins] * np.exp(-beta * w)))

    def _refit_campaigns(self) -> None:
        assert self.campaign_obs is not None
        y = self.campaign_obs
        x, recipients = campaign_design(self.series, self.pos)
        cols = [x]
        for j in self.named:
            col = np.zeros((len(y), 1))
            col[j] = 1.0
            cols.append(col)
        ok = recipients > 0
        if ok.sum() < 3 or y[ok].sum() <= 0:
            self.ok = False
            return
        xm = np.concatenate(cols, axis=1)[ok]
        keep = (np.abs(xm).sum(axis=0) > 0) | (np.arange(xm.shape[1]) == 0)
        fit = poisson_glm(y[ok], xm[:, keep], recipients[ok])
        beta = np.zeros(xm.shape[1])
        beta[keep] = fit.params
        base = np.exp(np.concatenate(cols[:1], axis=1) @ beta[: x.shape[1]])
        self.observed = y
        self.expected = recipients * base
        self.dispersion = fit.dispersion
        for j in self.named:
            self.named_expected[j] = float(self.expected[j])

    def p_values(self) -> F:
        p = upper_p(self.observed / self.dispersion, self.expected / self.dispersion)
        p[self.named] = 2.0  # already named: not a candidate
        return p

    def most_extreme(self) -> tuple[float, float, int]:
        """(p, -likelihood ratio, candidate) of the most extreme candidate: p-values of
        huge excesses underflow to 0, so ties are broken by the Poisson likelihood ratio."""
        p = self.p_values()
        o = self.observed / self.dispersion
        e = np.maximum(self.expected / self.dispersion, 1e-12)
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = 2 * (np.where(o > 0, o * np.log(o / e), 0.0) - (o - e))
        lr = np.where(o > e, lr, 0.0)
        j = int(np.lexsort((-lr, p))[0])
        return float(p[j]), float(-lr[j]), j


def campaign_design(series: Series, pos: F) -> tuple[F, F]:
    """Campaign-level baseline columns (intercept; campaigns sent in the 7 days up to and
    including this one: 2, 3, 4+ against 1; share of recipients who joined in the last two
    weeks) and each campaign's recipients (subscribers at the send)."""
    cut = np.clip(np.floor(pos).astype(np.int64), 0, series.hours - 1)
    recipients = series.followers[cut]
    recent = np.where(recipients > 0, series.recent[cut] / np.maximum(recipients, 1.0), 0.0)
    week = np.array([np.sum((pos > p - 168.0) & (pos <= p)) for p in pos], dtype=np.float64)
    cols = [np.ones(len(pos)), *[(week >= k).astype(np.float64) for k in (2, 3, 4)], recent]
    return np.stack(cols, axis=1), recipients


def _units(
    store: Store, series: list[Series], posts: dict[int, PostRows], departures: str,
    since: datetime | None,
) -> list[_Unit]:  # fmt: skip
    units = []
    for s in series:
        rows = posts[s.account.account_id]
        when = np.array([time_to_hours(t) - s.h0 for t in rows.created_at], dtype=np.float64)
        keep = np.array([k != "reply" for k in rows.kind], dtype=bool)
        keep &= (when >= 0) & (when < s.hours)
        if since is not None:
            keep &= when >= time_to_hours(since) - s.h0
        campaigns = {
            e: i for i, (e, k) in enumerate(zip(rows.external_id, rows.kind, strict=True))
            if k == "campaign"
        }  # fmt: skip
        counts = _campaign_counts(store, s.account.account_id, departures)
        if campaigns and any(c in campaigns for c in counts):
            keep &= np.array([k == "campaign" for k in rows.kind], dtype=bool)
            idx = np.flatnonzero(keep).astype(np.int64)
            obs = np.array([counts.get(rows.external_id[i], 0.0) for i in idx], dtype=np.float64)
            units.append(_Unit(s, rows, idx, when[idx], "campaign", obs))
        else:
            idx = np.flatnonzero(keep).astype(np.int64)
            units.append(_Unit(s, rows, idx, when[idx], "window"))
    return units


def _campaign_counts(store: Store, account_id: int, departures: str) -> dict[str, float]:
    rows = store.con.execute(
        f"""
        SELECT end_campaign, count(*) FROM ({departures}) d
        WHERE account_id = ? AND end_campaign IS NOT NULL AND cls IN {ATTRIBUTABLE}
          AND end_kind IN {VOLUNTARY_KINDS}
        GROUP BY 1
        """,
        [account_id],
    ).fetchall()
    return {str(r[0]): float(r[1]) for r in rows}


def attribute(
    store: Store,
    series: list[Series],
    posts: dict[int, PostRows],
    departures: str,
    peers: list[Series],
    *,
    since: datetime | None = None,
    window_hours: float = WINDOW_HOURS,
    alpha: float = ALPHA,
) -> Attribution:
    """Attribution of every own account's departures to its posts (see module docstring)."""
    units = _units(store, series, posts, departures, since)
    for u in units:
        u.refit(window_hours)
    units = [u for u in units if u.ok and len(u.idx)]
    m = sum(len(u.idx) for u in units)
    steps: list[tuple[int, int, float]] = []  # (unit, candidate, p) in naming order
    while units and len(steps) < min(MAX_NAMED, m):
        p, _, j, k = min((*u.most_extreme(), k) for k, u in enumerate(units))
        if p > alpha / (m - len(steps)):
            break
        steps.append((k, j, p))
        units[k].named.append(j)
        units[k].refit(window_hours)
    return _result(units, steps, m, peers, window_hours, alpha)


def _result(
    units: list[_Unit],
    steps: list[tuple[int, int, float]],
    m: int,
    peers: list[Series],
    width: float,
    alpha: float,
) -> Attribution:
    peer_models = [pm for pm in (fit_hourly(p, p.total) for p in peers) if pm]
    step_of = {(k, j): i for i, (k, j, _) in enumerate(steps)}
    adjusted_named: list[float] = []
    running = 0.0
    for i, (_, _, p_step) in enumerate(steps):
        running = max(running, min(1.0, p_step * (m - i)))
        adjusted_named.append(running)
    rows: list[PostAttribution] = []
    accounts: list[AccountAttribution] = []
    for k, u in enumerate(units):
        s = u.series
        obs = u.observed.copy()
        exp = u.expected.copy()
        p = upper_p(obs / u.dispersion, exp / u.dispersion)
        for j, e in u.named_expected.items():
            exp[j] = e
            p[j] = steps[step_of[(k, j)]][2]
        lo, hi = ratio_interval(obs / u.dispersion, exp / u.dispersion)
        peer = _peer_ratios(peer_models, s, u.pos, width)
        levels = np.full(len(u.idx), alpha / max(1, m - len(steps)))
        p_adj = np.maximum(np.minimum(1.0, p * max(1, m - len(steps))), running)
        for j in u.named:
            step = step_of[(k, j)]
            levels[j] = alpha / (m - step)
            p_adj[j] = adjusted_named[step]
        adj_lo = lower_bound(obs / u.dispersion, exp / u.dispersion, levels)
        for j in range(len(u.idx)):
            i = int(u.idx[j])
            named = (k, j) in step_of
            rows.append(
                PostAttribution(
                    account=s.account.name,
                    post=u.posts.external_id[i],
                    kind=u.posts.kind[i],
                    created_at=u.posts.created_at[i],
                    text=u.posts.text[i][:TEXT_CHARS],
                    observed=float(obs[j]),
                    expected=float(exp[j]),
                    excess=float(obs[j] - exp[j]),
                    rate_ratio=float(obs[j] / exp[j]) if exp[j] > 0 else float("inf"),
                    ci_low=float(lo[j]),
                    ci_high=float(hi[j]),
                    p_value=float(p[j]),
                    p_adjusted=float(p_adj[j]),
                    adjusted_ci_low=float(adj_lo[j]),
                    break_up=named,
                    exact=u.mode == "campaign" or s.exact_share >= 0.999,
                    **peer[j],
                )
            )
        days = float(s.followers[s.followers > 0].sum()) / 24.0
        accounts.append(
            AccountAttribution(
                account=s.account.name,
                platform=s.account.platform,
                mode=u.mode,
                posts_tested=len(u.idx),
                departures=s.departures,
                exact_share=s.exact_share,
                resolution_hours=s.resolution_hours,
                dispersion=u.dispersion,
                baseline_per_1k_per_day=1000.0 * float(s.attributable.sum()) / days
                if days
                else 0.0,
                named=len(u.named),
            )
        )
    rows.sort(key=lambda r: (not r.break_up, r.p_value, -r.excess))
    return Attribution(width, alpha, "holm", m, accounts, rows)


def _peer_ratios(models: list[HourlyModel], own: Series, pos: F, width: float) -> list[dict]:  # type: ignore[type-arg]
    """Peers' observed and expected departures in each window of *own*'s posts."""
    empty: dict[str, object] = {
        "peers_rate_ratio": None, "peers_ci_low": None, "peers_ci_high": None,
        "market_wide": False,
    }  # fmt: skip
    if not models:
        return [dict(empty) for _ in pos]
    obs = np.zeros(len(pos))
    exp = np.zeros(len(pos))
    for pm in models:
        ps = pm.series
        shifted = pos + (own.h0 - ps.h0)
        obs += window_sums(ps.total, shifted, width)
        exp += window_sums(pm.mu, shifted, width)
    disp = max(pm.dispersion for pm in models)
    lo, hi = ratio_interval(obs / disp, exp / disp)
    p = upper_p(obs / disp, exp / disp)
    out = []
    for j in range(len(pos)):
        if exp[j] <= 0:
            out.append(dict(empty))
            continue
        out.append(
            {
                "peers_rate_ratio": float(obs[j] / exp[j]),
                "peers_ci_low": float(lo[j]),
                "peers_ci_high": float(hi[j]),
                "market_wide": bool(p[j] < 0.05),
            }
        )
    return out


__all__ = ["USER_SIDE", "AccountAttribution", "Attribution", "PostAttribution", "attribute"]
