"""One fake clock for trackers, stores and test servers: sleeping advances it, so retries
and rate-limit waits take no real time and can be asserted on."""

from __future__ import annotations

from datetime import datetime, timedelta


class FakeTime:
    def __init__(self, start: datetime) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
