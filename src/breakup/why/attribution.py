"""Which posts were followed by more departures than the account's normal churn explains.

Departures are a point process (:mod:`.pointprocess`): normal churn (followers × a smooth
baseline that grows with the history) plus, for each post, the departures it caused spread
by a response kernel whose width is chosen from the data (:mod:`.timeline`). Exact times
enter as exact times; departures known only to a snapshot window enter as the probability
of the window.

Testing is one-sided (more departures than expected) and corrected for every post tested
in the report with **Holm's step-down procedure** (family-wise error 5%): the most extreme
unit (a post, or posts the data cannot tell apart) is tested at α/m; if named a break-up
post, its effect becomes a component of its account's model — so neighbouring posts are
no longer blamed for its departures — and the next most extreme unit, with expectations
from the refitted model, is tested at α/(m−1), and so on until one fails. Each post's
statistic is its observed departures in its response window against those expected from
everything else, both divided by the account's dispersion (quasi-Poisson, estimated
cautiously: overdispersed churn does not produce blame).

Per post: rate ratio with its exact (Garwood) interval, the excess departures it caused
with a 95% interval (the window's excess over the kernel mass inside it), one-sided p,
Holm-adjusted p, BH q-value. A named unit that another post explains about as well
(``ambiguous_with``) is not named: the data cannot say which. Bursts that no post
explains are reported as outside events. An email campaign is a post whose departures
are exact: the unsubscribes naming it (:mod:`.campaigns`).

Each post also gets its peers' rate ratio in the same window (peer accounts' departures
against their own baselines): a post whose window was bad for the peers too is marked
``market_wide``; the triage counts it as the marketplace's, not the post's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
from scipy import stats as sstats
from statsmodels.stats.multitest import multipletests

from ..store import Store
from .baseline import HourlyModel, fit_hourly, window_sums
from .campaigns import Campaigns, campaign_counts
from .data import USER_SIDE, F, PostRows, Series, hours_to_time, time_to_hours
from .stats import excess_ratio, lower_bound, nb_upper_p, ratio_interval, upper_p
from .timeline import Timeline

ALPHA = 0.05
MAX_NAMED = 100
TEXT_CHARS = 280
MIN_HOURS = 6.0
MIN_DEPARTURES = 3


@dataclass(frozen=True)
class PostAttribution:
    """One post (or campaign) and the departures after it."""

    account: str
    post: str  # external id
    kind: str  # post, repost, quote, campaign
    created_at: datetime
    text: str  # the first 280 characters
    observed: float  # departures in its response window
    expected: float  # what everything else explains in the same window
    excess: float  # departures it caused, estimated (window excess / kernel mass in it)
    rate_ratio: float  # observed / expected
    ci_low: float  # 95% two-sided, not adjusted for multiplicity
    ci_high: float
    p_value: float  # one-sided, dispersion-scaled
    p_adjusted: float  # Holm
    adjusted_ci_low: float  # one-sided lower bound at the post's Holm level
    break_up: bool  # named: adjusted_ci_low > 1 and nothing else explains it as well
    exact: bool  # its departures have exact times (events, campaign unsubscribes)
    peers_rate_ratio: float | None = None  # peers' departures in the same window, O/E
    peers_ci_low: float | None = None
    peers_ci_high: float | None = None
    market_wide: bool = False  # peers' one-sided p < 0.05 in the same window
    excess_ci_low: float = 0.0  # 95% interval of the excess
    excess_ci_high: float = 0.0
    q_value: float = 1.0  # Benjamini-Hochberg over every post tested
    window_start: datetime | None = None  # the response window tested
    window_end: datetime | None = None
    significant: bool = False  # passed the Holm step, named or ambiguous
    ambiguous_with: list[str] = field(default_factory=list)  # posts it can't be told from


@dataclass(frozen=True)
class OutsideBurst:
    """Departures bunched in a short time that no post explains (an outside event)."""

    account: str
    start: datetime
    end: datetime
    observed: float
    expected: float
    excess: float
    peers_rate_ratio: float | None = None
    market_wide: bool = False


@dataclass(frozen=True)
class AccountAttribution:
    account: str
    platform: str
    mode: str  # "timeline" (posts, point process) or "campaign" (exact unsubscribes)
    posts_tested: int
    departures: int  # active departures in the tracked period
    exact_share: float  # of those, with an exact time
    resolution_hours: float  # median length of a departure's window (0: exact times)
    dispersion: float  # counts are divided by it (>= 1)
    baseline_per_1k_per_day: float  # mean active churn per 1,000 followers per day
    named: int
    status: str = "ok"  # ok, insufficient_history
    hours: float = 0.0  # of history analysed
    posts_seen: int = 0  # posts (not replies) in that history
    needed: str = ""  # what more data would allow, when status is not ok
    response_time: str = ""  # the kernel chosen, e.g. "20 min"
    response_hours: float = 0.0  # the response window: 95% of the kernel's mass
    response_identifiable: bool = True  # whether the data could choose the kernel
    bin_minutes: float = 60.0
    outside_bursts: int = 0


@dataclass(frozen=True)
class Attribution:
    window_hours: float  # the longest response window of the accounts
    alpha: float
    correction: str  # "holm"
    posts_tested: int
    accounts: list[AccountAttribution] = field(default_factory=list)
    posts: list[PostAttribution] = field(default_factory=list)  # most extreme first
    status: str = "ok"  # ok, insufficient_history (no account could be analysed)
    bursts: list[OutsideBurst] = field(default_factory=list)
    tests: int = 0  # tests in the Holm family: posts the data can't separate are one

    @property
    def break_up_posts(self) -> list[PostAttribution]:
        return [p for p in self.posts if p.break_up]


# -- the step-down over every account's candidates --------------------------------------
#
# Holm's step-down over several accounts is a merge: each step takes the account whose most
# extreme unit (its *head*) has the smallest key, names that unit and refits only that
# account, so an account's heads depend on its own history alone. Each account's sequence
# of heads can thus be walked on its own (:func:`walk`, what a distributed engine does per
# account) and the family's steps are the merge of those sequences (:func:`merge`); the
# embedded engine merges the accounts' heads lazily (:class:`Walk`), refitting only what
# is named. :func:`attribute` is :func:`candidates`, :func:`merge`, :func:`account_part`
# per account and :func:`combine`.

Candidates = Timeline | Campaigns
Key = tuple[float, float, int]  # an account's head: (p, -strength, unit)
Step = tuple[int, int, float]  # a step of the family: (account's index, unit, p)


def _p(c: Candidates) -> F:
    return c.p_values()


def _strength(c: Candidates) -> F:
    if isinstance(c, Timeline):
        return c.strength()
    return excess_ratio(c.observed / c.dispersion, c.expected / c.dispersion)


def size(c: Candidates) -> int:
    """The account's tests in a Holm family: its units (posts it can't tell apart are
    one) or its campaigns."""
    return len(c.units) if isinstance(c, Timeline) else len(c.pos)


def head(c: Candidates) -> Key | None:
    """The account's most extreme unit under its current model (None: nothing tested)."""
    p = _p(c)
    if not len(p):
        return None
    strength = _strength(c)
    j = int(np.lexsort((-strength, p))[0])
    return (float(p[j]), -float(strength[j]), j)


class Heads(Protocol):
    """An account's sequence of heads: the current one, and the step to the next (its
    current head named)."""

    def head(self) -> Key | None: ...

    def advance(self) -> None: ...


class Walk:
    """The heads of one account's candidates, computed as the merge asks for them: each
    advance names the head and refits the account. ``seen`` keeps every head computed."""

    def __init__(self, c: Candidates) -> None:
        self.c = c
        self.seen: list[Key] = []
        self._head: Key | None = None
        self._fresh = False

    def head(self) -> Key | None:
        if not self._fresh:
            self._head, self._fresh = head(self.c), True
            if self._head is not None:
                self.seen.append(self._head)
        return self._head

    def advance(self) -> None:
        key = self.head()
        assert key is not None
        self.c.named.append(key[2])
        self.c.refit()
        self._fresh = False


class Recorded:
    """An account's heads as :func:`walk` recorded them (on another machine, say)."""

    def __init__(self, keys: Sequence[Key]) -> None:
        self.keys = list(keys)
        self.at = 0

    def head(self) -> Key | None:
        if self.at < len(self.keys):
            return self.keys[self.at]
        return None

    def advance(self) -> None:
        if self.at + 1 >= len(self.keys):
            raise ValueError(f"an account's heads end after {len(self.keys)}, yet it is named")
        self.at += 1


def merge(heads: Sequence[Heads], m: int, alpha: float = ALPHA) -> list[Step]:
    """The steps of Holm's step-down over the accounts whose heads are *heads* (index k in
    the steps), *m* tests in all: each step names the smallest head, key (p, -strength,
    unit, k), while its p is at most alpha / (m - steps), for at most MAX_NAMED steps."""
    steps: list[Step] = []
    while heads and len(steps) < min(MAX_NAMED, m):
        best: tuple[float, float, int, int] | None = None
        for k, h in enumerate(heads):
            key = h.head()
            if key is not None and (best is None or (*key, k) < best):
                best = (*key, k)
        if best is None or best[0] > alpha / (m - len(steps)):
            break
        p_step, _, j, k = best
        steps.append((k, j, p_step))
        heads[k].advance()
    return steps


def walk(c: Candidates, alpha: float = ALPHA) -> tuple[list[Step], list[Key]]:
    """One account alone: its own Holm family's steps (*c* is left with them named: as
    ``breakup why --account`` attributes it) and its heads, through the first that fails.

    In a family of several accounts, m - steps is at least this account's tests less its
    steps, so a head failing here fails there too: the merge of these recorded heads
    (:class:`Recorded`) is the family's step-down exactly."""
    w = Walk(c)
    steps = merge([w], size(c), alpha)
    w.head()  # the head after the last step, when the cap ended the walk
    return steps, w.seen


def replay(c: Candidates, k: int, steps: Sequence[Step]) -> None:
    """Names in *c* (the account of index *k*) its units of the family's *steps*, in
    order, refitting after each: the state :func:`merge` left it in."""
    for step_k, j, _ in steps:
        if step_k == k:
            c.named.append(j)
            c.refit()


def attribute(
    store: Store,
    series: list[Series],
    posts: dict[int, PostRows],
    departures: str,
    peers: list[Series],
    *,
    since: datetime | None = None,
    alpha: float = ALPHA,
) -> Attribution:
    """Attribution of every own account's departures to its posts (module docstring), one
    Holm family."""
    cands, skipped = candidates(store, series, posts, departures, since)
    m = sum(size(c) for c in cands)
    steps = merge([Walk(c) for c in cands], m, alpha)
    models = peer_models(peers)
    parts = [account_part(c, k, steps, m, models, alpha) for k, c in enumerate(cands)]
    return combine(parts, skipped, m, alpha)


def candidates(
    store: Store,
    series: list[Series],
    posts: dict[int, PostRows],
    departures: str,
    since: datetime | None = None,
) -> tuple[list[Candidates], list[AccountAttribution]]:
    """Each account's units under test, fitted with nothing named (in *series*' order), and
    the accounts without enough history to test any (what they lack)."""
    cands: list[Candidates] = []
    skipped: list[AccountAttribution] = []
    for s in series:
        c, why = _candidates(store, s, posts[s.account.account_id], departures, since)
        if c is None:
            skipped.append(why)  # type: ignore[arg-type]
        else:
            cands.append(c)
    return cands, skipped


def _candidates(
    store: Store, s: Series, rows: PostRows, departures: str, since: datetime | None
) -> tuple[Candidates | None, AccountAttribution | None]:
    since_h = None if since is None else time_to_hours(since) - s.h0
    when = np.array([time_to_hours(t) - s.h0 for t in rows.created_at], dtype=np.float64)
    inside = (
        (when >= 0) & (when < s.hours) & np.array([k != "reply" for k in rows.kind], dtype=bool)
    )
    tested = inside & (when >= (since_h if since_h is not None else -np.inf))
    hours = float((s.followers > 0).sum())
    counts = campaign_counts(store, s.account.account_id, departures)
    is_campaign = np.array([k == "campaign" for k in rows.kind], dtype=bool)
    if is_campaign.any() and any(rows.external_id[i] in counts
                                 for i in np.flatnonzero(is_campaign)):  # fmt: skip
        idx = np.flatnonzero(tested & is_campaign)
        obs = np.array([counts.get(rows.external_id[i], 0.0) for i in idx], dtype=np.float64)
        camp = Campaigns(s, rows, idx.astype(np.int64), when[idx], obs)
        camp.refit()
        if camp.ok and len(idx):
            return camp, None
        sent = int((tested & is_campaign).sum())
        return None, _insufficient(s, "campaign", hours, int(inside.sum()), sent,
                                   campaigns=not camp.ok)  # fmt: skip
    need = _insufficient(s, "timeline", hours, int(inside.sum()), int(tested.sum()))
    if need is not None:
        return None, need
    t = Timeline.of(s, rows, s.cells, since_h)
    t.analyse()
    return t, None


def _insufficient(
    s: Series, mode: str, hours: float, seen: int, tested: int, *, campaigns: bool = False
) -> AccountAttribution | None:
    lacking = []
    if campaigns:
        lacking.append("at least 3 campaigns sent to subscribers, one with an unsubscribe")
    if hours < MIN_HOURS:
        lacking.append(f"at least {MIN_HOURS:g} hours of tracking (have {hours:.0f})")
    if s.departures < MIN_DEPARTURES:
        lacking.append(f"at least {MIN_DEPARTURES} departures (have {s.departures})")
    if tested == 0:
        lacking.append("a post in the period tested" + (" (none since then)" if seen else ""))
    if not lacking:
        return None
    return AccountAttribution(
        account=s.account.name, platform=s.account.platform, mode=mode, posts_tested=0,
        departures=s.departures, exact_share=s.exact_share,
        resolution_hours=s.resolution_hours, dispersion=1.0,
        baseline_per_1k_per_day=_baseline_rate(s), named=0, status="insufficient_history",
        hours=hours, posts_seen=seen, needed="needs " + " and ".join(lacking),
    )  # fmt: skip


def _baseline_rate(s: Series) -> float:
    days = float(s.followers[s.followers > 0].sum()) / 24.0
    return 1000.0 * float(s.attributable.sum()) / days if days else 0.0


# -- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountPart:
    """One analysed account's share of an :class:`Attribution`, before :func:`combine`:
    its posts in the order tested, their q-values (over the whole family) not yet set."""

    account: AccountAttribution
    posts: list[PostAttribution]
    bursts: list[OutsideBurst]


def peer_models(peers: list[Series]) -> list[HourlyModel]:
    """The peers' baselines, that each post's window is compared with."""
    return [pm for pm in (fit_hourly(p, p.total) for p in peers) if pm]


def account_part(
    c: Candidates, k: int, steps: Sequence[Step], m: int, peer_models: list[HourlyModel],
    alpha: float = ALPHA,
) -> AccountPart:  # fmt: skip
    """The results of account *k* of a family of *m* tests whose step-down took *steps*;
    *c* has its units of those steps named (:func:`merge` or :func:`replay`)."""
    steps = list(steps)
    step_of = {(sk, j): i for i, (sk, j, _) in enumerate(steps)}
    adjusted_named: list[float] = []
    running = 0.0
    for i, (_, _, p_step) in enumerate(steps):
        running = max(running, min(1.0, p_step * (m - i)))
        adjusted_named.append(running)
    if isinstance(c, Timeline):
        rows, acct = _timeline_rows(c, k, steps, step_of, adjusted_named, m, running, alpha,
                                    peer_models)  # fmt: skip
        bursts = _bursts(c, peer_models)
    else:
        rows, acct = _campaign_rows(c, k, steps, step_of, adjusted_named, m, running, alpha)
        bursts = []
    return AccountPart(acct, [PostAttribution(**r) for r in rows], bursts)  # type: ignore[arg-type]


def combine(
    parts: Sequence[AccountPart], skipped: Sequence[AccountAttribution], m: int,
    alpha: float = ALPHA,
) -> Attribution:  # fmt: skip
    """The attribution of a Holm family of *m* tests: its analysed accounts' *parts* (in
    the family's order) and the accounts *skipped*; q-values over every post tested, posts
    most extreme first."""
    raw = [p for part in parts for p in part.posts]
    ps = np.array([p.p_value for p in raw])
    q = multipletests(ps, method="fdr_bh")[1] if len(ps) else np.zeros(0)
    out = [replace(r, q_value=float(qv)) for r, qv in zip(raw, q, strict=True)]
    out.sort(key=lambda r: (not r.break_up, not r.significant, r.p_value, -r.excess))
    widest = max([0.0, *(part.account.response_hours for part in parts)])
    status = "ok" if parts or not skipped else "insufficient_history"
    bursts = [b for part in parts for b in part.bursts]
    return Attribution(widest or 48.0, alpha, "holm", len(out),
                       [*(part.account for part in parts), *skipped], out, status, bursts,
                       m)  # fmt: skip


def _levels(
    named: list[int], k: int, n: int, steps: list[Step],
    step_of: dict[tuple[int, int], int], adjusted_named: list[float], m: int, running: float,
    p: F, alpha: float,
) -> tuple[F, F]:  # fmt: skip
    levels = np.full(n, alpha / max(1, m - len(steps)))
    p_adj = np.maximum(np.minimum(1.0, p * max(1, m - len(steps))), running)
    for j in named:
        step = step_of[(k, j)]
        levels[j] = alpha / (m - step)
        p_adj[j] = adjusted_named[step]
    return levels, p_adj


def _timeline_rows(
    t: Timeline, k: int, steps: list[Step],
    step_of: dict[tuple[int, int], int], adjusted_named: list[float], m: int,
    running: float, alpha: float, peer_models: list[HourlyModel],
) -> tuple[list[dict[str, object]], AccountAttribution]:  # fmt: skip
    s, g = t.series, t.grid
    obs, exp = t.observed, t.expected
    phi = t.inflation()  # each window's variance inflation at its expectation
    p = nb_upper_p(obs, exp, t.inv_size)
    for j in t.named:
        p[j] = steps[step_of[(k, j)]][2]
    lo, hi = ratio_interval(obs / phi, exp / phi)
    levels, p_adj = _levels(t.named, k, len(t.units), steps, step_of, adjusted_named, m,
                            running, p, alpha)  # fmt: skip
    adj_lo = lower_bound(obs / phi, exp / phi, levels)
    # The excess: over the longer estimation window, the Poisson interval of the observed
    # count (scaled by its inflation) less what is expected, over the share of the
    # kernel's mass inside the window.
    e_obs, e_exp, mass = t.estimates()
    e_phi = 1.0 + e_exp * t.inv_size
    o_lo, o_hi = _count_interval(e_obs, e_phi)
    rivals = {j: t.rivals(j) for j in t.named}
    start = np.array([u.lo for u in t.units]) * g.dt + g.t0
    end = (np.array([u.hi for u in t.units]) + 1) * g.dt + g.t0
    peer = _peer_ratios(peer_models, s, start - s.h0, end - start)
    rows: list[dict[str, object]] = []
    for j, u in enumerate(t.units):
        named = j in t.named
        clear = named and not rivals.get(j) and t.resolvable(j)
        alike = [t.posts.external_id[q] for r in rivals.get(j, []) for q in t.units[r].posts]
        for i in u.posts:
            rows.append(dict(
                account=s.account.name, post=t.posts.external_id[i], kind=t.posts.kind[i],
                created_at=t.posts.created_at[i], text=t.posts.text[i][:TEXT_CHARS],
                observed=float(obs[j]), expected=float(exp[j]),
                excess=float((e_obs[j] - e_exp[j]) / mass[j]),
                rate_ratio=float(obs[j] / exp[j]) if exp[j] > 0 else float("inf"),
                ci_low=float(lo[j]), ci_high=float(hi[j]), p_value=float(p[j]),
                p_adjusted=float(p_adj[j]), adjusted_ci_low=float(adj_lo[j]),
                break_up=bool(clear and len(u.posts) == 1), exact=g.exact,
                excess_ci_low=float(max(0.0, (o_lo[j] - e_exp[j]) / mass[j])),
                excess_ci_high=float(max(0.0, (o_hi[j] - e_exp[j]) / mass[j])),
                window_start=hours_to_time(start[j]), window_end=hours_to_time(end[j]),
                significant=named,
                ambiguous_with=[t.posts.external_id[q] for q in u.posts if q != i] + alike,
                **peer[j],
            ))  # fmt: skip
    acct = AccountAttribution(
        account=s.account.name, platform=s.account.platform, mode="timeline",
        posts_tested=len(rows), departures=s.departures, exact_share=s.exact_share,
        resolution_hours=s.resolution_hours, dispersion=t.dispersion,
        baseline_per_1k_per_day=_baseline_rate(s), named=sum(1 for r in rows if r["break_up"]),
        hours=float((s.followers > 0).sum()), posts_seen=len(t.post_hours),
        response_time=t.kernel.label(), response_hours=t.response_hours(),
        response_identifiable=t.identifiable, bin_minutes=g.dt * 60,
        outside_bursts=len(t.bursts),
    )  # fmt: skip
    return rows, acct


def _campaign_rows(
    c: Campaigns, k: int, steps: list[Step],
    step_of: dict[tuple[int, int], int], adjusted_named: list[float], m: int,
    running: float, alpha: float,
) -> tuple[list[dict[str, object]], AccountAttribution]:  # fmt: skip
    s = c.series
    phi = c.dispersion
    obs = c.observed
    exp = c.expected.copy()
    p = upper_p(obs / phi, exp / phi)
    for j, e in c.own_expected.items():
        exp[j] = e
        p[j] = steps[step_of[(k, j)]][2]
    lo, hi = ratio_interval(obs / phi, exp / phi)
    levels, p_adj = _levels(c.named, k, len(obs), steps, step_of, adjusted_named, m, running,
                            p, alpha)  # fmt: skip
    adj_lo = lower_bound(obs / phi, exp / phi, levels)
    o_lo, o_hi = _count_interval(obs, np.full(len(obs), phi))
    idx, posts = c.index, c.rows
    rows: list[dict[str, object]] = []
    for j, i in enumerate(idx):
        sent = c.series.start() + timedelta(hours=float(c.pos[j]))
        rows.append(dict(
            account=s.account.name, post=posts.external_id[i], kind=posts.kind[i],
            created_at=posts.created_at[i], text=posts.text[i][:TEXT_CHARS],
            observed=float(obs[j]),
            expected=float(exp[j]), excess=float(obs[j] - exp[j]),
            rate_ratio=float(obs[j] / exp[j]) if exp[j] > 0 else float("inf"),
            ci_low=float(lo[j]), ci_high=float(hi[j]), p_value=float(p[j]),
            p_adjusted=float(p_adj[j]), adjusted_ci_low=float(adj_lo[j]),
            break_up=j in c.named, exact=True,
            excess_ci_low=float(max(0.0, o_lo[j] - exp[j])),
            excess_ci_high=float(max(0.0, o_hi[j] - exp[j])),
            window_start=sent, window_end=None, significant=j in c.named,
        ))  # fmt: skip
    acct = AccountAttribution(
        account=s.account.name, platform=s.account.platform, mode="campaign",
        posts_tested=len(idx), departures=s.departures, exact_share=s.exact_share,
        resolution_hours=s.resolution_hours, dispersion=phi,
        baseline_per_1k_per_day=_baseline_rate(s), named=len(c.named),
        hours=float((s.followers > 0).sum()), posts_seen=len(idx),
    )  # fmt: skip
    return rows, acct


def _count_interval(observed: F, inflation: F) -> tuple[F, F]:
    """95% interval of the mean of an observed count whose variance is *inflation* times
    its mean: the exact Poisson (Garwood) interval of the scaled count, scaled back."""
    o = observed / inflation
    lo = np.where(o > 0, sstats.chi2.ppf(0.025, 2 * np.maximum(o, 1e-12)) / 2, 0.0)
    hi = sstats.chi2.ppf(0.975, 2 * o + 2) / 2
    return lo * inflation, hi * inflation


def _bursts(t: Timeline, peer_models: list[HourlyModel]) -> list[OutsideBurst]:
    if not t.bursts or t.state is None:
        return []
    g = t.grid
    y = t.model.allocate(t.state.lam)
    base = t.state.lam - sum((t.own_part(j) for j in t.named), np.zeros(g.n))
    base = base - _burst_parts(t)
    out = []
    starts = np.array([b.lo * g.dt for b in t.bursts])
    widths = np.array([(b.hi - b.lo + 1) * g.dt for b in t.bursts])
    peer = _peer_ratios(peer_models, t.series, starts + g.t0 - t.series.h0, widths)
    for b, pr in zip(t.bursts, peer, strict=True):
        o = float(y[b.lo : b.hi + 1].sum())
        e = float(base[b.lo : b.hi + 1].sum())
        out.append(OutsideBurst(
            t.series.account.name, hours_to_time(g.t0 + b.lo * g.dt),
            hours_to_time(g.t0 + (b.hi + 1) * g.dt), o, e, o - e,
            pr["peers_rate_ratio"], bool(pr["market_wide"]),  # type: ignore[arg-type]
        ))  # fmt: skip
    return out


def _burst_parts(t: Timeline) -> F:
    assert t.state is not None
    k = t.components()
    nb = len(t.bursts)
    if not nb:
        return np.zeros(t.grid.n)
    out: F = np.asarray(k[:nb].T @ t.state.beta[:nb]).ravel()
    return out


def _peer_ratios(
    models: list[HourlyModel], own: Series, pos: F, width: F | float
) -> list[dict[str, object]]:
    """Peers' observed and expected departures in each window [pos, pos + width) of
    *own*'s grid (hours from its start)."""
    empty: dict[str, object] = {
        "peers_rate_ratio": None, "peers_ci_low": None, "peers_ci_high": None,
        "market_wide": False,
    }  # fmt: skip
    if not models:
        return [dict(empty) for _ in pos]
    widths = np.broadcast_to(np.asarray(width, dtype=np.float64), pos.shape)
    obs = np.zeros(len(pos))
    exp = np.zeros(len(pos))
    for pm in models:
        ps = pm.series
        shifted = pos + (own.h0 - ps.h0)
        for w in np.unique(widths):
            sel = widths == w
            obs[sel] += window_sums(ps.total, shifted[sel], float(w))
            exp[sel] += window_sums(pm.mu, shifted[sel], float(w))
    disp = max(pm.dispersion for pm in models)
    lo, hi = ratio_interval(obs / disp, exp / disp)
    p = upper_p(obs / disp, exp / disp)
    out = []
    for j in range(len(pos)):
        if exp[j] <= 0:
            out.append(dict(empty))
            continue
        out.append({"peers_rate_ratio": float(obs[j] / exp[j]), "peers_ci_low": float(lo[j]),
                    "peers_ci_high": float(hi[j]), "market_wide": bool(p[j] < 0.05)})  # fmt: skip
    return out


__all__ = [
    "USER_SIDE",
    "AccountAttribution",
    "AccountPart",
    "Attribution",
    "Candidates",
    "Heads",
    "Key",
    "OutsideBurst",
    "PostAttribution",
    "Recorded",
    "Step",
    "Walk",
    "account_part",
    "attribute",
    "candidates",
    "combine",
    "head",
    "merge",
    "peer_models",
    "replay",
    "size",
    "walk",
]
