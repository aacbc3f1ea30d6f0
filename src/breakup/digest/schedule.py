"""When digests go out, retrying failures, and never twice for one period.

``send_digests`` delivers one period's digest to each target that has not had it
(``digests_sent``), retrying with backoff on the injected ``sleep``, and records each
delivery in its own transaction. A crash between delivery and record can repeat one
digest (at least once); a recorded period is never sent again.

``DigestScheduler`` is what ``breakup watch`` runs between polls: each target's digest
for yesterday (UTC) becomes due at its ``at`` time; a failed delivery is tried again
later with growing pauses, never blocking the polls for long.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from ..clock import Clock, system_clock, to_db
from ..errors import BreakupError
from ..report.analyses import Unavailable
from ..store import Store
from ..why.attribution import Attribution
from ..why.report import attribution_only
from .compose import Digest, compose, day_departures, needs_attribution, period_bounds
from .config import DigestTarget, targets_from_raw
from .smtp import SmtpFactory, send_email
from .webhook import post_webhook

Report = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class DigestResult:
    target: str
    period: date
    status: str  # sent, already sent, nothing to send, failed
    departures: int = 0
    attempts: int = 0
    error: str | None = None


def last_complete_period(now: datetime) -> date:
    """Yesterday (UTC): the latest day that is over."""
    return (now - timedelta(days=1)).date()


def already_sent(store: Store, key: str, period: date) -> bool:
    return bool(
        store.scalar(
            "SELECT count(*) FROM digests_sent WHERE target = ? AND period = ?",
            [key, period.isoformat()],
        )
    )


def _record(store: Store, key: str, period: date) -> None:
    with store.transaction():
        store.con.execute(
            "INSERT INTO digests_sent VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [key, period.isoformat(), to_db(store.clock())],
        )


@dataclass
class Senders:
    """The network boundaries of delivery, injectable for tests."""

    client: httpx.Client | None = None
    smtp: SmtpFactory | None = None
    env: Mapping[str, str] | None = None
    sleep: Callable[[float], object] = _time.sleep

    def deliver(self, target: DigestTarget, digest: Digest) -> None:
        if target.kind == "email":
            send_email(target, digest, smtp=self.smtp, env=self.env)
            return
        if self.client is not None:
            post_webhook(target, digest, client=self.client, env=self.env)
            return
        with httpx.Client() as client:
            post_webhook(target, digest, client=client, env=self.env)


def _composer(store: Store, period: date) -> Callable[[str | None], Digest]:
    """Digests by account, each composed (and the why analysis run) once, and only what
    they show: the day's departures, and the break-up posts step of the why analysis
    (none of its other steps, nor any other analysis) only when a departure needs it."""
    made: dict[str | None, Digest] = {}
    start, _ = period_bounds(period)

    def get(account: str | None) -> Digest:
        if account not in made:
            left = day_departures(store, period, account)
            why: Attribution | Unavailable | None = None
            if needs_attribution(left):
                try:
                    why = attribution_only(store, account, since=start - timedelta(days=2))
                except BreakupError as exc:
                    why = Unavailable(str(exc))
            made[account] = compose(store, period, account=account, why=why, left=left)
        return made[account]

    return get


def send_digests(
    store: Store,
    targets: list[DigestTarget],
    period: date | None = None,
    *,
    senders: Senders | None = None,
    send_empty: bool = False,
) -> list[DigestResult]:
    """Deliver *period*'s digest (default yesterday) to every target that lacks it."""
    senders = senders or Senders()
    period = period or last_complete_period(store.clock())
    digest_for = _composer(store, period)
    results = []
    for target in targets:
        if already_sent(store, target.key, period):
            results.append(DigestResult(target.key, period, "already sent"))
            continue
        digest = digest_for(target.account)
        if not digest.items and not send_empty:
            results.append(DigestResult(target.key, period, "nothing to send"))
            continue
        results.append(_deliver(store, target, digest, senders))
    return results


def _deliver(store: Store, target: DigestTarget, digest: Digest, senders: Senders) -> DigestResult:
    error = None
    for attempt in range(1, target.retries + 2):
        try:
            senders.deliver(target, digest)
        except BreakupError as exc:
            error = str(exc)
            if attempt <= target.retries:
                senders.sleep(min(2.0 ** (attempt - 1), 60.0))
            continue
        _record(store, target.key, digest.period)
        n = len(digest.items)
        return DigestResult(target.key, digest.period, "sent", n, attempt)
    return DigestResult(
        target.key, digest.period, "failed", len(digest.items), target.retries + 1, error
    )


class DigestScheduler:
    """Sends each target's digest of yesterday once it is due; for ``breakup watch``."""

    def __init__(
        self,
        targets: list[DigestTarget],
        *,
        clock: Clock = system_clock,
        senders: Senders | None = None,
        report: Report | None = None,
    ) -> None:
        self.targets = targets
        self.clock = clock
        self.senders = senders or Senders()
        self.report = report or (lambda event, details: None)
        self.retry_at: dict[tuple[str, date], datetime] = {}
        self.failures: dict[tuple[str, date], int] = {}

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], **kwargs: Any) -> DigestScheduler | None:
        targets = targets_from_raw(raw)
        return cls(targets, **kwargs) if targets else None

    def due(self, store: Store, now: datetime) -> list[DigestTarget]:
        period = last_complete_period(now)
        return [
            t
            for t in self.targets
            if now.time() >= t.at
            and self.retry_at.get((t.key, period), now) <= now
            and not already_sent(store, t.key, period)
        ]

    def tick(self, store: Store) -> list[DigestResult]:
        now = self.clock()
        due = self.due(store, now)
        if not due:
            return []
        period = last_complete_period(now)
        try:
            results = send_digests(store, due, period, senders=self.senders)
        except BreakupError as exc:  # the store or an analysis refused: say so, go on
            self.report("digest failed", {"error": str(exc)})
            return []
        for r in results:
            key = (r.target, period)
            if r.status == "failed":
                n = self.failures.get(key, 0) + 1
                self.failures[key] = n
                self.retry_at[key] = now + min(
                    timedelta(minutes=5) * 2 ** (n - 1), timedelta(hours=6)
                )
                self.report("digest failed", {"target": r.target, "error": r.error})
            elif r.status == "nothing to send":
                self.retry_at[key] = now + timedelta(hours=1)
            else:
                self.failures.pop(key, None)
                self.retry_at.pop(key, None)
                if r.status == "sent":
                    self.report("digest sent", {"target": r.target, "left": r.departures})
        return results
