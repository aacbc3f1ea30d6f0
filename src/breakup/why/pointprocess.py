"""Departures as a point process: normal churn plus a response to each post.

The intensity of departures at time t is

    λ(t) = N(t) · exp(z(t)·γ)  +  Σ_c β_c · g(t − s_c)

with N(t) the followers at the time (the exposure), z(t) the baseline's covariates (an
hourly design, :func:`design`), and one *component* c per post (or group of posts, or
outside burst) switched on at s_c, with β_c ≥ 0 the departures it caused and g a response
kernel (a gamma density of mean θ: shape 1 is the exponential, 3 a delayed peak).

Time is a fine grid of bins (5 minutes to an hour). Departures enter as *cells*: a count of
departures known to lie in a run of bins — one bin for an exact time, the bins between
two snapshots for a departure seen only as missing. The likelihood of a cell is the
probability of its window under λ (interval censoring), not a uniform spread:

    ℓ = Σ_cells c_i · log Λ(cell_i) − ∫ λ

Fitted by EM: each cell's departures are shared over its bins and then over baseline and
components in proportion to their intensity; components get the share they explain
(β update), the baseline a Poisson regression of its share with exposure N (one damped
Newton step per iteration: a generalised EM, so the likelihood never decreases).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy import stats as sstats

F = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

KERNEL_MASS = 0.999  # a kernel's support ends where this share of its mass is reached


@dataclass(frozen=True)
class Kernel:
    """A gamma response kernel of mean *mean_hours* and *shape* (1: exponential)."""

    mean_hours: float
    shape: float = 1.0

    @property
    def scale(self) -> float:
        return self.mean_hours / self.shape

    def cdf(self, hours: F) -> F:
        x = np.maximum(hours, 0.0) / self.scale
        if self.shape == 1:  # closed forms: scipy's gamma cdf costs seconds on a year
            out: F = -np.expm1(-x)
        elif self.shape == 3:
            out = 1.0 - np.exp(-x) * (1.0 + x + x * x / 2.0)
        else:
            out = sstats.gamma.cdf(x, self.shape)
        return out

    def quantile(self, q: float) -> float:
        return float(sstats.gamma.ppf(q, self.shape, scale=self.scale))

    def label(self) -> str:
        m = self.mean_hours * 60
        when = f"{m:.0f} min" if m < 90 else f"{self.mean_hours:.1f} h"
        return when if self.shape == 1 else f"{when} (delayed peak)"


@dataclass
class Grid:
    """An account's tracked period as bins of *dt* hours; bin 0 starts at *t0* (epoch h).

    ``exposure`` is followers × dt per bin; ``hour`` maps each bin to its row of the
    hourly design. Cells are departure counts over inclusive bin ranges [lo, hi].
    """

    t0: float
    dt: float
    exposure: F
    hour: I64
    lo: I64
    hi: I64
    count: F
    exact: bool  # departures mostly have exact times (cells of one bin)

    @property
    def n(self) -> int:
        return len(self.exposure)

    def bin_of(self, hours: F) -> I64:
        """Bins of times given in hours from t0 (clipped to the grid)."""
        out: I64 = np.clip(np.floor(hours / self.dt), 0, self.n - 1).astype(np.int64)
        return out


def _kernel_entries(grid: Grid, onsets: F, kernel: Kernel) -> tuple[I64, I64, F]:
    """(row, bin, mass) of each onset's kernel over the bins it reaches (exact integrals
    of the kernel over each bin)."""
    n, dt = grid.n, grid.dt
    reach = max(kernel.quantile(KERNEL_MASS), dt)
    first = np.clip(np.floor(onsets / dt).astype(np.int64), 0, n - 1)
    last = np.clip(np.floor((onsets + reach) / dt).astype(np.int64), first, n - 1)
    width = last - first + 1
    rows = np.repeat(np.arange(len(onsets)), width)
    offs = np.arange(int(width.sum())) - np.repeat(np.cumsum(width) - width, width)
    cols = first[rows] + offs
    lo = cols * dt - onsets[rows]
    mass = kernel.cdf(lo + dt) - kernel.cdf(lo)
    keep = mass > 0
    return rows[keep], cols[keep], mass[keep]


def kernel_matrix(grid: Grid, onsets: F, kernel: Kernel) -> sparse.csr_matrix:
    """Rows: each onset's kernel mass per bin."""
    if len(onsets) == 0:
        return sparse.csr_matrix((0, grid.n))
    rows, cols, mass = _kernel_entries(grid, onsets, kernel)
    return sparse.csr_matrix((mass, (rows, cols)), shape=(len(onsets), grid.n))


def kernel_sum(grid: Grid, onsets: F, kernel: Kernel) -> F:
    """The sum of every onset's kernel, per bin."""
    if len(onsets) == 0:
        return np.zeros(grid.n)
    _, cols, mass = _kernel_entries(grid, onsets, kernel)
    out: F = np.bincount(cols, mass, minlength=grid.n).astype(np.float64)
    return out


@dataclass
class State:
    """A fitted (or fitting) model: baseline coefficients and component sizes."""

    gamma: F
    beta: F
    components: sparse.csr_matrix  # components × bins
    lam: F = field(default_factory=lambda: np.zeros(0))  # intensity per bin
    mu: F = field(default_factory=lambda: np.zeros(0))  # baseline part
    loglik: float = -np.inf
    iterations: int = 0

    def copy(self) -> State:
        return State(self.gamma.copy(), self.beta.copy(), self.components, self.lam.copy(),
                     self.mu.copy(), self.loglik, self.iterations)  # fmt: skip


class Model:
    """The baseline design of one grid, and EM fits of components on top of it."""

    def __init__(self, grid: Grid, x: F) -> None:
        self.grid = grid
        self.x = x  # hourly design (rows: hours of the grid)
        self.exposure_h = np.bincount(grid.hour, grid.exposure, minlength=len(x))
        self.ok_h = self.exposure_h > 0
        self.all_ok_h = self.ok_h.copy()
        # Cells sharing a range are one cell (exact departures in the same bin).
        key = grid.lo * (grid.n + 1) + grid.hi
        uniq, inv = np.unique(key, return_inverse=True)
        self.lo = (uniq // (grid.n + 1)).astype(np.int64)
        self.hi = (uniq % (grid.n + 1)).astype(np.int64)
        self.count = np.bincount(inv, grid.count, minlength=len(uniq)).astype(np.float64)
        self.total = float(self.count.sum())

    # -- pieces -------------------------------------------------------------------------

    def baseline(self, gamma: F) -> F:
        eta = np.clip(self.x @ gamma, -50.0, 50.0)
        out: F = self.grid.exposure * np.exp(eta)[self.grid.hour]
        return out

    def cell_sums(self, lam: F) -> F:
        cum = np.concatenate([[0.0], np.cumsum(lam)])
        out: F = cum[self.hi + 1] - cum[self.lo]
        return out

    def ratio(self, lam: F) -> tuple[F, F]:
        """R per bin (Σ over the cells covering it of count / Λ(cell)) and Λ per cell."""
        big = self.cell_sums(lam)
        r = self.count / np.maximum(big, 1e-300)
        n = self.grid.n + 1
        diff = np.bincount(self.lo, r, minlength=n) - np.bincount(self.hi + 1, r, minlength=n)
        return np.cumsum(diff)[:-1], big

    def loglik(self, lam: F) -> float:
        big = self.cell_sums(lam)
        return float(np.sum(self.count * np.log(np.maximum(big, 1e-300))) - lam.sum())

    def best_single(self, base: F, shape: F) -> tuple[float, float]:
        """(size, log-likelihood gain) of one component of *shape* (per bin) added to the
        intensity *base*, its size fitted by Newton's method on the cells it touches."""
        a = self.cell_sums(shape)
        touched = a > 0
        mass = float(shape.sum())
        if mass <= 0 or not touched.any():
            return 0.0, 0.0
        c = self.count[touched]
        a = a[touched]
        b0 = np.maximum(self.cell_sums(base)[touched], 1e-300)

        def gain(beta: float) -> float:
            return float(np.sum(c * np.log1p(beta * a / b0)) - beta * mass)

        beta = max(float(c.sum()) - float(b0.sum()), 0.0) / mass
        for _ in range(100):
            den = b0 + beta * a
            grad = float(np.sum(c * a / den)) - mass
            hess = -float(np.sum(c * a * a / (den * den)))
            if hess >= 0 or not np.isfinite(hess):
                break
            new = max(beta - grad / hess, beta / 10.0 if beta > 0 else 0.0)
            if abs(new - beta) <= 1e-9 * (1.0 + beta):
                beta = new
                break
            beta = new
        if gain(beta) < 0:
            beta = 0.0
        return beta, gain(beta)

    def allocate(self, lam: F) -> F:
        """Expected departures per bin given the cells and intensity *lam* (E-step)."""
        r, _ = self.ratio(lam)
        out: F = lam * r
        return out

    def exclude(self, hours: B) -> None:
        """Leave these hours out of the baseline's regression (spikes that the model does
        not explain yet must not raise it); they keep their expectation from the rest."""
        self.ok_h = self.all_ok_h & ~hours

    # -- fitting ------------------------------------------------------------------------

    def start(self, components: sparse.csr_matrix, beta: F | None = None) -> State:
        gamma = np.zeros(self.x.shape[1])
        expo = float(self.exposure_h.sum())
        gamma[0] = np.log(max(self.total, 0.5) / expo) if expo > 0 else -20.0
        k = components.shape[0]
        b = np.full(k, max(self.total, 1.0) / max(k, 1) * 0.01) if beta is None else beta
        return State(gamma, b, components)

    def fit(self, state: State, *, iterations: int = 400, tol: float = 1e-7) -> State:
        """EM from *state* until the log-likelihood gains less than *tol* (relative)."""
        s = state.copy()
        k = s.components
        mass = np.asarray(k.sum(axis=1)).ravel() if k.shape[0] else np.zeros(0)
        kt = k.T.tocsr() if k.shape[0] else None
        mu = self.baseline(s.gamma)
        lam = mu + (kt @ s.beta if kt is not None else 0.0)
        ll = self.loglik(lam)
        for it in range(iterations):
            r, _ = self.ratio(lam)
            if k.shape[0]:
                with np.errstate(invalid="ignore", divide="ignore"):
                    s.beta = np.where(mass > 0, s.beta * (k @ r) / mass, 0.0)
            share = np.bincount(self.grid.hour, mu * r, minlength=len(self.x)).astype(np.float64)
            s.gamma = self._newton(s.gamma, share)
            mu = self.baseline(s.gamma)
            lam = mu + (kt @ s.beta if kt is not None else 0.0)
            new = self.loglik(lam)
            s.iterations = state.iterations + it + 1
            done = abs(new - ll) < tol * (1.0 + abs(ll))
            ll = new
            if done:
                break
        s.lam, s.mu, s.loglik = lam, mu, ll
        return s

    def _newton(self, gamma: F, z: F) -> F:
        """One damped Newton step of the baseline's Poisson regression of *z* (its share of
        the departures per hour) with exposure; halved until the objective improves."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self._step(gamma, z)

    def _step(self, gamma: F, z: F) -> F:
        x = self.x[self.ok_h]
        zz = z[self.ok_h]
        expo = self.exposure_h[self.ok_h]

        def objective(g: F) -> float:
            eta = np.clip(x @ g, -50.0, 50.0)
            return float(zz @ eta - expo @ np.exp(eta))

        eta = np.clip(x @ gamma, -50.0, 50.0)
        w = expo * np.exp(eta)
        grad = x.T @ (zz - w)
        hess = (x * w[:, None]).T @ x
        hess[np.diag_indices_from(hess)] += 1e-8 * (1.0 + np.trace(hess) / len(hess))
        step, *_ = np.linalg.lstsq(hess, grad, rcond=None)
        base = objective(gamma)
        for _ in range(30):
            cand = gamma + step
            if np.isfinite(objective(cand)) and objective(cand) >= base - 1e-12:
                return cand
            step = step / 2.0
        return gamma


def design(
    h0: int, hours: int, exposure: F, *, resolution: float, recent: F | None = None
) -> F:
    """The baseline's hourly columns, growing with the history available (hours with
    followers) and the resolution of departure times (hours): a level; a linear trend
    from 12 h; time of day (two harmonics) from 3 days when times are known to 3 hours;
    weekday levels from 2 weeks when they are known to a day; a piecewise-linear trend
    with a knot every 30 days from 2 months; from 2 weeks, the share of followers who
    joined in the last two weeks (*recent*: new ties are fragile, promotion joiners leave
    fast). Smooth and few, so a spike of an hour or two cannot hide in the baseline."""
    h = np.arange(hours, dtype=np.float64)
    seen = np.flatnonzero(exposure > 0)
    span = float(seen[-1] - seen[0] + 1) if len(seen) else 0.0
    lo = float(seen[0]) if len(seen) else 0.0
    cols = [np.ones(hours)]
    if span >= 12:
        cols.append((h - lo) / max(span, 1.0) - 0.5)
    if span >= 72 and resolution <= 3:
        clock = 2 * np.pi * ((h0 + h) % 24) / 24.0
        cols += [np.sin(clock), np.cos(clock), np.sin(2 * clock), np.cos(2 * clock)]
    if span >= 14 * 24 and resolution <= 24:
        weekday = (((h0 + h) // 24) + 3) % 7  # 1970-01-01 was a Thursday
        cols += [(weekday == d).astype(np.float64) for d in range(1, 7)]
    if span >= 14 * 24 and recent is not None and np.ptp(recent[seen]) > 0:
        cols.append(recent)
    if span >= 60 * 24:
        knots = np.arange(lo + 30 * 24, lo + span - 15 * 24, 30 * 24)
        cols += [np.maximum(0.0, h - k) / (30 * 24) for k in knots]
    out: F = np.stack(cols, axis=1)
    return out


__all__ = ["Grid", "Kernel", "Model", "State", "design", "kernel_matrix", "kernel_sum"]
