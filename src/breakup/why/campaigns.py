"""Email campaigns: each campaign's unsubscribes are known exactly (they name it).

A campaign's observed departures are the unsubscribes naming it; its expected ones are its
recipients × the list's per-campaign unsubscribe rate, a Poisson GLM over the campaigns
(intercept; campaigns sent in the 7 days up to and including this one: 2, 3, 4+ against
1; share of recipients who joined in the last two weeks). A campaign named a break-up
campaign gets its own indicator, so the rate of the others is not raised by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..store import Store
from .data import ATTRIBUTABLE, I64, VOLUNTARY_KINDS, F, PostRows, Series
from .stats import poisson_glm, upper_p


def campaign_design(series: Series, pos: F) -> tuple[F, F]:
    """Campaign-level baseline columns and each campaign's recipients (subscribers at the
    send); *pos* is hours from the series' start."""
    cut = np.clip(np.floor(pos).astype(np.int64), 0, series.hours - 1)
    recipients = series.followers[cut]
    recent = np.where(recipients > 0, series.recent[cut] / np.maximum(recipients, 1.0), 0.0)
    week = np.array([np.sum((pos > p - 168.0) & (pos <= p)) for p in pos], dtype=np.float64)
    cols = [np.ones(len(pos)), *[(week >= k).astype(np.float64) for k in (2, 3, 4)], recent]
    return np.stack(cols, axis=1), recipients


def campaign_counts(store: Store, account_id: int, departures: str) -> dict[str, float]:
    """Voluntary unsubscribes per campaign external id."""
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


@dataclass
class Campaigns:
    """One list's campaigns under test; ``named`` are positions already named."""

    series: Series
    rows: PostRows  # the account's posts
    index: I64  # the campaigns under test (indices into rows)
    pos: F  # hours from the series' start, one per campaign under test
    observed: F  # unsubscribes naming each
    named: list[int] = field(default_factory=list)
    expected: F = field(default_factory=lambda: np.zeros(0))
    own_expected: dict[int, float] = field(default_factory=dict)
    dispersion: float = 1.0
    ok: bool = True

    def refit(self) -> None:
        y = self.observed
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
        self.expected = recipients * np.exp(x @ beta[: x.shape[1]])
        self.dispersion = fit.dispersion
        self.own_expected = {j: float(self.expected[j]) for j in self.named}

    def p_values(self) -> F:
        p = upper_p(self.observed / self.dispersion, self.expected / self.dispersion)
        p[self.named] = 2.0
        return p


__all__ = ["Campaigns", "campaign_counts", "campaign_design"]
