"""One account's departures on a fine time grid, with its posts as candidate causes.

Built on :mod:`.pointprocess`. What is decided here, per account:

* **the grid** — bins of 5 minutes to an hour when departure times are exact (as fine as
  keeps a year under 60,000 bins), an hour when they are known only to snapshot windows;
* **the response kernel** — chosen by likelihood over mean delays from 10 minutes to a day
  (exponential, and a delayed peak from 1.5 h), each kernel with the same few posts free
  (the ones that stand out most under it); reported as the account's response time. With
  snapshot windows it is barely identifiable, which the profile's flatness says;
* **outside bursts** — with exact times, windows of 30 min to 2 h holding far more
  departures than the model expects (Bonferroni over every start and width) are candidate
  outside events; one is kept, as a component of its own, when a burst starting there
  explains the departures clearly better (by more than a BIC penalty) than the posts
  before it do. A burst no post explains is thus reported as such, not pinned on the
  nearest post;
* **test units** — each post with the response window [t, t + w) holding 95% of its
  kernel's mass; posts that land in the same bin, or (with snapshots) whose windows cover
  the same snapshot intervals, cannot be told apart and form one unit.

Under the current model (baseline, bursts and the posts already named), a unit's observed
departures in its window are compared with the expected ones (everything but itself), the
counts compared under a negative binomial whose overdispersion is estimated cautiously
(:func:`.stats.cautious_overdispersion`) over hourly blocks, or the snapshot intervals.
Its excess is estimated over a longer window (99.9% of the kernel, at least 2 h). A named
unit is reported with the units that explain its departures about as well (:meth:`rivals`:
another post's kernel in its place, or an earlier named post's longer tail).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import sparse

from .data import I64, F, PostRows, Series, time_to_hours
from .pointprocess import Grid, Kernel, Model, State, design, kernel_matrix
from .stats import cautious_overdispersion, excess_ratio, nb_upper_p, upper_p

B = npt.NDArray[np.bool_]
RESPONSE_MASS = 0.95
KERNELS_EXACT = (
    *(Kernel(m) for m in (1 / 6, 1 / 3, 2 / 3, 1.5, 3.0, 6.0, 12.0, 24.0)),
    *(Kernel(m, 3.0) for m in (1.5, 3.0, 6.0)),
)
KERNELS_WINDOWED = (Kernel(1.0), Kernel(6.0))
MAX_BINS = 60_000
BIN_MINUTES = (5, 10, 15, 30, 60)
BURST_WIDTHS = (0.5, 1.0, 2.0)  # hours
MAX_BURSTS = 8
PROFILE_ITERATIONS = 60
ESTIMATE_HOURS = 2.0
SPIKE_P = 1e-3  # blocks this far above the model are left out of the baseline's fit
TOP_SHARE, TOP_MIN, TOP_MAX = 0.02, 3, 10  # posts free per kernel in its profile


def build_grid(series: Series, e: F, lat: F, c: F) -> Grid:
    """The grid of *series*' period with departure cells from windows [e, lat] (hours from
    the series' start) of *c* departures each."""
    exact_share = series.exact_share if series.departures else 1.0
    exact = exact_share >= 0.5
    minutes = 60
    if exact:
        minutes = next((m for m in BIN_MINUTES if series.hours * 60 // m <= MAX_BINS), 60)
    per_hour = 60 // minutes
    dt = 1.0 / per_hour
    n = series.hours * per_hour
    hour = np.repeat(np.arange(series.hours, dtype=np.int64), per_hour)
    exposure = np.maximum(series.followers, 1.0)[hour] * dt
    point = (lat - e) < 1e-6
    lo = np.clip(np.floor(e / dt), 0, n - 1).astype(np.int64)
    hi = np.where(point, lo, np.clip(np.ceil(lat / dt) - 1, 0, n - 1).astype(np.int64))
    hi = np.maximum(hi, lo)
    return Grid(float(series.h0), dt, exposure, hour, lo, hi, c.astype(np.float64), exact)


@dataclass
class Unit:
    """Posts tested together (indices into the account's posts), and their window."""

    posts: list[int]
    onset: float  # hours from the grid start (earliest post)
    lo: int  # window, inclusive bins
    hi: int
    mass: float = 1.0  # share of the unit's kernel mass inside its window
    est_hi: int = -1  # the longer window its excess is estimated over (ends here)
    est_mass: float = 1.0


@dataclass
class Burst:
    onset: float  # hours from the grid start
    width: float  # hours of the scan window that found it
    lo: int
    hi: int


@dataclass
class Timeline:
    """One own account under analysis (see the module docstring)."""

    series: Series
    posts: PostRows
    grid: Grid
    model: Model
    post_hours: F  # every post (not replies) in the period, hours from the grid start
    post_index: I64  # their indices into ``posts``
    test_mask: B  # which of them are tested (from ``since``)
    kernel: Kernel = KERNELS_EXACT[0]
    profile: list[tuple[str, float]] = field(default_factory=list)
    identifiable: bool = True
    bursts: list[Burst] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    unit_k: sparse.csr_matrix | None = None
    named: list[int] = field(default_factory=list)
    state: State | None = None
    dispersion: float = 1.0  # variance inflation at a typical window
    inv_size: float = 0.0  # negative binomial overdispersion of window counts
    observed: F = field(default_factory=lambda: np.zeros(0))  # per unit
    expected: F = field(default_factory=lambda: np.zeros(0))
    _burst_k: sparse.csr_matrix | None = None

    # -- set-up -----------------------------------------------------------------------

    @classmethod
    def of(cls, series: Series, rows: PostRows, cells: tuple[F, F, F],
           since_hours: float | None) -> Timeline:  # fmt: skip
        grid = build_grid(series, *cells)
        res = 0.0 if grid.exact else series.resolution_hours
        with np.errstate(divide="ignore", invalid="ignore"):
            recent = np.where(series.followers > 0, series.recent / series.followers, 0.0)
        x = design(series.h0, series.hours, series.followers, resolution=res, recent=recent)
        when = np.array([time_to_hours(t) - series.h0 for t in rows.created_at], np.float64)
        keep = np.array([k != "reply" for k in rows.kind], dtype=bool)
        keep &= (when >= 0) & (when < series.hours)
        idx = np.flatnonzero(keep).astype(np.int64)
        test = np.ones(len(idx), dtype=bool)
        if since_hours is not None:
            test &= when[idx] >= since_hours
        return cls(series, rows, grid, Model(grid, x), when[idx], idx, test)

    @property
    def tested(self) -> int:
        return int(self.test_mask.sum())

    def response_hours(self) -> float:
        return self.kernel.quantile(RESPONSE_MASS)

    def analyse(self) -> None:
        """Kernel, bursts, units and the first fit (nothing named yet)."""
        base = self._robust(self.model.start(sparse.csr_matrix((0, self.grid.n))))
        self.state = base
        self._select_kernel(base)
        if self.grid.exact:
            self._find_bursts(base)
            if self.bursts:
                self._select_kernel(base)
        self._make_units()
        self.refit()

    def _select_kernel(self, base: State) -> None:
        """The kernel under which the few posts that stand out most explain the most
        departures: per kernel, the TOP posts are added one at a time (the one whose
        window is most extreme under the model so far), each with its size fitted; the
        kernel with the largest likelihood gain wins. Every kernel gets the same number of
        free sizes, so short kernels cannot win by fitting noise after every post."""
        kernels = KERNELS_EXACT if self.grid.exact else KERNELS_WINDOWED
        lam0 = base.lam + self._burst_part(base)
        y = self.model.allocate(lam0)
        cy = np.concatenate([[0.0], np.cumsum(y)])
        top = int(np.clip(np.ceil(TOP_SHARE * len(self.post_hours)), TOP_MIN, TOP_MAX))
        scores: list[tuple[str, float]] = []
        for kern in kernels:
            k = kernel_matrix(self.grid, self.post_hours, kern)
            lo = self.grid.bin_of(self.post_hours)
            hi = self.grid.bin_of(self.post_hours + kern.quantile(RESPONSE_MASS)) + 1
            obs = cy[hi] - cy[lo]
            lam = lam0.copy()
            total = 0.0
            used: set[int] = set()
            for _ in range(min(top, len(self.post_hours))):
                cl = np.concatenate([[0.0], np.cumsum(lam)])
                exp = np.maximum(cl[hi] - cl[lo], 1e-12)
                with np.errstate(divide="ignore", invalid="ignore"):
                    lr = np.where(obs > exp, obs * np.log(obs / exp) - (obs - exp), 0.0)
                lr[list(used)] = -1.0
                j = int(np.argmax(lr))
                used.add(j)
                shape = k[j].toarray().ravel()
                beta, gain = self.model.best_single(lam, shape)
                lam += beta * shape
                total += gain
            scores.append((kern.label(), base.loglik + total))
        best = int(np.argmax([sc for _, sc in scores]))
        self.kernel = kernels[best]
        self.profile = scores
        lls = [sc for _, sc in scores]
        self.identifiable = max(lls) - min(lls) > 2.0

    def _burst_part(self, base: State) -> F:
        """Bursts found so far, each with its size fitted alone on *base*."""
        out = np.zeros(self.grid.n)
        for row in self._bursts_matrix():
            shape = row.toarray().ravel()
            beta, _ = self.model.best_single(base.lam + out, shape)
            out += beta * shape
        return out

    # -- outside bursts -----------------------------------------------------------------

    def _bursts_matrix(self) -> sparse.csr_matrix:
        if self._burst_k is None or self._burst_k.shape[0] != len(self.bursts):
            rows = [kernel_matrix(self.grid, np.array([b.onset]), Kernel(max(b.width / 3, 1 / 12)))
                    for b in self.bursts]  # fmt: skip
            self._burst_k = (sparse.vstack(rows).tocsr() if rows
                             else sparse.csr_matrix((0, self.grid.n)))  # fmt: skip
        return self._burst_k

    def _find_bursts(self, base: State) -> None:
        g = self.grid
        y = self.model.allocate(base.lam)
        self._dispersion(base, y)  # sets the overdispersion the scan compares under
        cy = np.concatenate([[0.0], np.cumsum(y)])
        cl = np.concatenate([[0.0], np.cumsum(base.lam)])
        found: list[tuple[float, int, int, float]] = []
        for width in BURST_WIDTHS:
            span = max(1, round(width / g.dt))
            if span >= g.n:
                continue
            o = cy[span:] - cy[:-span]
            e = cl[span:] - cl[:-span]
            p = nb_upper_p(o, e, self.inv_size)
            for i in np.argsort(p)[: 4 * MAX_BURSTS]:
                found.append((float(p[i]), int(i), int(i + span - 1), width))
        limit = 0.05 / max(1, g.n * len(BURST_WIDTHS))
        found.sort()
        picked: list[tuple[int, int, float]] = []
        for p_at, lo, hi, width in found:
            if p_at > limit or len(picked) >= MAX_BURSTS:
                break
            if any(lo <= b_hi and hi >= b_lo for b_lo, b_hi, _ in picked):
                continue
            picked.append((lo, hi, width))
        if not picked:
            return
        # Against the posts whose response could reach it, each free, at the kernel.
        reach = self.kernel.quantile(RESPONSE_MASS)
        penalty = np.log(g.n) + 2.0
        for lo, hi, width in picked:
            first = lo + int(np.argmax(y[lo : hi + 1] > 0))
            burst = Burst(first * g.dt, width, lo, hi)
            t_lo, t_hi = lo * g.dt, (hi + 1) * g.dt
            near = self.post_hours[(self.post_hours <= t_hi) & (self.post_hours + reach >= t_lo)]
            posts_k = kernel_matrix(g, near, self.kernel)
            bk = kernel_matrix(g, np.array([burst.onset]), Kernel(max(width / 3, 1 / 12)))
            both = sparse.vstack([bk, posts_k]).tocsr()
            a, b = int(both.indices.min()), int(both.indices.max()) + 1
            without = self._fit_local(base.lam, posts_k, a, b)
            with_it = self._fit_local(base.lam, both, a, b)
            inflation = 1.0 + float(base.lam[lo : hi + 1].sum()) * self.inv_size
            if (with_it - without) / inflation > penalty:
                self.bursts.append(burst)
        self._burst_k = None

    def _fit_local(self, base: F, comp: sparse.csr_matrix, a: int, b: int) -> float:
        """Log-likelihood (up to a constant) of bins [a, b) with *comp*'s sizes fitted by EM
        on top of the intensity *base* held fixed: a burst or a post's tail only changes
        the likelihood where the components reach, so nothing else needs refitting."""
        m = self.model
        inside = (m.lo >= a) & (m.hi < b) & (m.lo == m.hi)
        y = np.bincount(m.lo[inside] - a, m.count[inside], minlength=b - a).astype(np.float64)
        shape = comp[:, a:b].toarray()
        mass = np.maximum(shape.sum(axis=1), 1e-12)
        lam0 = np.maximum(base[a:b], 1e-300)
        beta = np.ones(comp.shape[0])
        for _ in range(6 * PROFILE_ITERATIONS):
            new = beta * (shape @ (y / (lam0 + beta @ shape))) / mass
            done = np.allclose(new, beta, rtol=1e-7, atol=1e-9)
            beta = new
            if done:
                break
        lam = lam0 + beta @ shape
        return float(y @ np.log(lam) - beta @ mass)

    # -- units --------------------------------------------------------------------------

    def _make_units(self) -> None:
        g = self.grid
        w = self.response_hours()
        hours = self.post_hours[self.test_mask]
        idx = self.post_index[self.test_mask]
        lo = g.bin_of(hours)
        hi = g.bin_of(hours + w)
        if not g.exact:
            lo, hi = self._expand(lo, hi)
        # Same bin (exact times) or same snapshot intervals: one unit.
        groups: dict[tuple[int, int], list[int]] = {}
        for j in range(len(idx)):
            key = (int(lo[j]), int(lo[j]) if g.exact else int(hi[j]))
            groups.setdefault(key, []).append(j)
        units = []
        # The excess is estimated over a longer window than the test's, so that responses
        # slower than the kernel are not cut off: to 99.9% of its mass, at least 2 hours.
        longer = g.bin_of(hours + max(self.kernel.quantile(0.999), ESTIMATE_HOURS))
        for members in groups.values():
            a = int(lo[members[0]])
            b = int(max(hi[m] for m in members))
            c = int(max(longer[m] for m in members)) if g.exact else b
            units.append(Unit([int(idx[m]) for m in members], float(hours[members[0]]), a, b,
                              est_hi=max(c, b)))  # fmt: skip
        units.sort(key=lambda u: u.onset)
        self.units = units
        # A unit's kernel: the mean of its posts' kernels.
        k_posts = kernel_matrix(g, hours, self.kernel)
        pos = {int(p): j for j, p in enumerate(idx)}
        rows = np.repeat(np.arange(len(units)), [len(u.posts) for u in units])
        cols = np.array([pos[p] for u in units for p in u.posts], dtype=np.int64)
        vals = np.concatenate([np.full(len(u.posts), 1.0 / len(u.posts)) for u in units]) \
            if units else np.zeros(0)  # fmt: skip
        avg = sparse.csr_matrix((vals, (rows, cols)), shape=(len(units), len(idx)))
        self.unit_k = (avg @ k_posts).tocsr()
        inside = _window_sums(self.unit_k, units, [u.hi for u in units])
        longer_mass = _window_sums(self.unit_k, units, [u.est_hi for u in units])
        for u, m, m2 in zip(units, inside, longer_mass, strict=True):
            u.mass = float(max(m, 1e-3))
            u.est_mass = float(max(m2, 1e-3))

    def _expand(self, lo: I64, hi: I64) -> tuple[I64, I64]:
        """Windows widened to whole snapshot intervals (the cells' boundaries)."""
        bounds = self._bounds()
        a = bounds[np.searchsorted(bounds, lo, side="right") - 1]
        b = bounds[np.searchsorted(bounds, hi, side="right")] - 1
        return a.astype(np.int64), np.maximum(b, a).astype(np.int64)

    def _bounds(self) -> I64:
        """Where the snapshot intervals begin and end, in bins."""
        m = self.model
        out: I64 = np.unique(np.concatenate([[0, self.grid.n], m.lo, m.hi + 1]))
        return out

    # -- fitting and tests --------------------------------------------------------------

    def components(self) -> sparse.csr_matrix:
        assert self.unit_k is not None
        return sparse.vstack([self._bursts_matrix(), self.unit_k[self.named]]).tocsr()

    def refit(self) -> None:
        assert self.state is not None
        comp = self.components()
        beta = np.full(comp.shape[0], 1.0)
        old = self.state.beta
        beta[: len(old)] = old[: comp.shape[0]]
        self.state = self._robust(State(self.state.gamma.copy(), beta, comp))
        y = self.model.allocate(self.state.lam)
        self.observed, self.expected = self._windows(y)
        self.dispersion = self._dispersion(self.state, y)

    def _robust(self, state: State) -> State:
        """Fit with the hours of blocks far above the model left out of the baseline.

        Spikes would otherwise pull the baseline up (a trend fitted to a day with a burst
        in its first hours is steep), and hide in it. Started from a level taken from the
        lower three quarters of the hourly blocks, so the spikes cannot mask themselves;
        then blocks are flagged at one-sided p < 0.001 under the fitted model and the
        dispersion of every block, until the flags settle."""
        m = self.model
        edges = self._blocks(hourly=True)
        expo = np.diff(np.concatenate([[0.0], np.cumsum(self.grid.exposure)])[edges])
        level = m.total / max(float(expo.sum()), 1e-12)
        obs, _ = _block_sums(m.allocate(self.grid.exposure * level), self.grid.exposure, edges)
        ratio = obs / np.maximum(expo, 1e-12)
        low = ratio <= np.quantile(ratio, 0.75)
        if obs[low].sum() > 0:
            level = float(obs[low].sum() / expo[low].sum())
        flags = upper_p(obs, expo * level) < 1e-6
        named = np.zeros(len(m.x), dtype=bool)  # effects sit on the baseline, not in it
        for j in self.named:
            u = self.units[j]
            named[self.grid.hour[u.lo : u.hi + 1]] = True
        fit = state
        for _ in range(6):
            m.exclude(self._hours_of(edges, flags) | named)
            fit = m.fit(fit)
            obs, exp = _block_sums(m.allocate(fit.lam), fit.lam, edges)
            inv = cautious_overdispersion(obs, exp, m.x.shape[1] + len(fit.beta))
            new = nb_upper_p(obs, exp, inv) < SPIKE_P
            if np.array_equal(new, flags):
                break
            flags = new
        return fit

    def _hours_of(self, edges: I64, flags: B) -> B:
        hours = np.zeros(len(self.model.x), dtype=bool)
        for lo, hi in zip(edges[:-1][flags], edges[1:][flags], strict=True):
            hours[self.grid.hour[lo:hi]] = True
        return hours

    def _blocks(self, hourly: bool = False) -> I64:
        """Edges (bins) of the blocks counts are compared over: the snapshot intervals, or
        with exact times hours (*hourly*) or the response window's length (1-24 h)."""
        g = self.grid
        if not g.exact:
            return self._bounds()
        hours = 1.0 if hourly else min(max(self.response_hours(), 1.0), 24.0)
        span = max(1, round(hours / g.dt))
        out: I64 = np.minimum(np.arange(0, g.n + span, span), g.n)
        return np.unique(out)

    def own_part(self, unit: int) -> F:
        """The fitted contribution of a named unit, per bin (zeros if not named)."""
        assert self.state is not None and self.unit_k is not None
        if unit not in self.named:
            return np.zeros(self.grid.n)
        beta = self.state.beta[len(self.bursts) + self.named.index(unit)]
        out: F = beta * self.unit_k[unit].toarray().ravel()
        return out

    def _windows(self, y: F, longer: bool = False) -> tuple[F, F]:
        """Observed and expected departures in each unit's window (or the longer one its
        excess is estimated over); a named unit's expectation leaves out its own part."""
        assert self.state is not None
        lam = self.state.lam
        cy = np.concatenate([[0.0], np.cumsum(y)])
        cl = np.concatenate([[0.0], np.cumsum(lam)])
        lo = np.array([u.lo for u in self.units], dtype=np.int64)
        hi = np.array([u.est_hi if longer else u.hi for u in self.units], dtype=np.int64) + 1
        obs = cy[hi] - cy[lo]
        exp = cl[hi] - cl[lo]
        for j in self.named:
            exp[j] -= float(self.own_part(j)[lo[j] : hi[j]].sum())
        return obs, np.maximum(exp, 1e-9)

    def estimates(self) -> tuple[F, F, F]:
        """Observed and expected departures over the longer windows, and the kernel mass
        inside them: what each unit's excess is estimated from."""
        assert self.state is not None
        obs, exp = self._windows(self.model.allocate(self.state.lam), longer=True)
        return obs, exp, np.array([u.est_mass for u in self.units])

    def _dispersion(self, state: State, y: F) -> float:
        """Sets the negative binomial overdispersion, estimated on the finest blocks
        (hours, or the snapshot intervals): its E²/size term carries a day's level to any
        window inside the day, and many blocks keep a few real effects from inflating it.
        Returns the variance inflation at a typical window (1: Poisson)."""
        obs, exp = _block_sums(y, state.lam, self._blocks(hourly=True))
        self.inv_size = cautious_overdispersion(obs, exp, self.model.x.shape[1]
                                                + len(state.beta))  # fmt: skip
        typical = float(np.median(self.expected)) if len(self.expected) else 0.0
        return 1.0 + typical * self.inv_size

    def inflation(self) -> F:
        """Each unit's variance inflation at its own expectation."""
        out: F = 1.0 + self.expected * self.inv_size
        return out

    def p_values(self) -> F:
        p = nb_upper_p(self.observed, self.expected, self.inv_size)
        p[self.named] = 2.0
        return p

    def strength(self) -> F:
        """Poisson likelihood ratio of each unit's window at its variance inflation (ties
        among p-values that underflow to 0 are broken by it)."""
        phi = self.inflation()
        return excess_ratio(self.observed / phi, self.expected / phi)

    # -- ambiguity ----------------------------------------------------------------------

    def resolvable(self, unit: int) -> bool:
        """Whether the departures' times can point at this unit's posts rather than at
        anything else in the same snapshot intervals: exact times, or intervals no longer
        than twice the response window (and at most 6 h)."""
        u = self.units[unit]
        span = (u.hi - u.lo + 1) * self.grid.dt
        return self.grid.exact or span <= max(2 * self.response_hours(), 6.0)

    def rivals(self, unit: int, level: float = 3.84) -> list[int]:
        """Units that explain a named unit's departures about as well as it does (the
        likelihood with the rival's kernel in its place is within *level* of it, scaled by
        the dispersion): the data cannot tell them apart."""
        assert self.state is not None and self.unit_k is not None
        u = self.units[unit]
        base = self.state.lam - self.own_part(unit)
        reach = max(u.hi - u.lo, 1)
        near = [k for k, v in enumerate(self.units)
                if k != unit and k not in self.named
                and v.lo <= u.hi and v.hi >= u.lo - reach]  # fmt: skip
        if not near:
            return []
        out = []
        if near:
            _, own = self.model.best_single(base, self.unit_k[unit].toarray().ravel())
            for k in near:
                _, alt = self.model.best_single(base, self.unit_k[k].toarray().ravel())
                if 2 * (own - alt) / max(self.dispersion, 1.0) < level:
                    out.append(k)
        return out + self._tail_of(unit, level)

    def _tail_of(self, unit: int, level: float) -> list[int]:
        """Named units before this one whose response, let run longer (a kernel of 1.25 to
        3 times the mean), explains this one's departures about as well as the two posts
        together: the departures may be that post's tail, not this post's doing."""
        assert self.state is not None and self.unit_k is not None
        if not self.grid.exact:
            return []
        u = self.units[unit]
        out = []
        for k in self.named:
            v = self.units[k]
            if k == unit or not v.lo < u.lo <= v.est_hi:
                continue
            base = self.state.lam - self.own_part(unit) - self.own_part(k)
            both = sparse.vstack([self.unit_k[k], self.unit_k[unit]]).tocsr()
            slow = [kernel_matrix(self.grid, np.array([v.onset]),
                                  Kernel(self.kernel.mean_hours * f, self.kernel.shape))
                    for f in (1.25, 1.5, 2.0, 3.0)]  # fmt: skip
            a = int(min(both.indices.min(), *(x.indices.min() for x in slow)))
            b = int(max(both.indices.max(), *(x.indices.max() for x in slow))) + 1
            two = self._fit_local(base, both, a, b)
            one = max(self._fit_local(base, x, a, b) for x in slow)
            if 2 * (two - one) / max(self.dispersion, 1.0) < level:
                out.append(k)
        return out


def _block_sums(y: F, lam: F, edges: I64) -> tuple[F, F]:
    cy = np.concatenate([[0.0], np.cumsum(y)])
    cl = np.concatenate([[0.0], np.cumsum(lam)])
    return np.diff(cy[edges]), np.diff(cl[edges])


def _window_sums(k: sparse.csr_matrix, units: list[Unit], ends: list[int]) -> F:
    """Each unit's kernel mass from its window's start to *ends* (inclusive bins)."""
    dense = k.tocsr()
    out = np.zeros(len(units))
    for i, (u, end) in enumerate(zip(units, ends, strict=True)):
        row = dense.getrow(i)
        sel = (row.indices >= u.lo) & (row.indices <= end)
        out[i] = float(row.data[sel].sum())
    return out


__all__ = ["Burst", "Timeline", "Unit", "build_grid"]
