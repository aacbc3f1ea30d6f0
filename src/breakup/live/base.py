"""The tracker interface and what every live connection can be given (for tests: a local
base URL, an httpx client with its own transport, a fixed clock, a sleep that records)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import httpx

from ..clock import Clock, system_clock
from ..models import Batch, Check


@dataclass(frozen=True)
class Connection:
    base_url: str | None = None  # None: the service's public default
    client: httpx.Client | None = None  # injectable transport; None: a fresh client
    clock: Clock = field(default=system_clock)
    sleep: Callable[[float], None] = field(default=time.sleep)
    token: str | None = None  # from the environment or keyring, never stored
    timeout: float = 30.0
    max_retries: int = 5


Progress = Callable[[str, int, int | None], None]
"""progress(what, done, total): trackers report long fetches through this."""


def no_progress(what: str, done: int, total: int | None) -> None:
    return None


class Tracker(ABC):
    """Polls one account on one service."""

    scheme: ClassVar[str]  # what the user types before the colon
    platform: ClassVar[str]  # people ids are unique per platform
    summary: ClassVar[str]
    default_base_url: ClassVar[str | None] = None  # where requests go unless told otherwise

    def __init__(self, ident: str, conn: Connection) -> None:
        self.ident = ident
        self.conn = conn
        # Followers whose follow record the store already holds (trackers that resolve
        # records, like Bluesky's, skip them); filled by whoever drives the tracker.
        self.known_records: frozenset[str] = frozenset()

    @classmethod
    def request_host(cls, ident: str, base_url: str | None) -> str:
        """The host (``name`` or ``name:port``) a poll of *ident* sends its requests to:
        the only host its token may go to (see :mod:`breakup.credentials`)."""
        from ..credentials import host_of

        url = base_url or cls.default_base_url
        if url is None:
            raise NotImplementedError(f"{cls.scheme}: no default service to send requests to")
        return host_of(url)

    @property
    def account_name(self) -> str:
        return f"{self.scheme}:{self.ident}"

    @abstractmethod
    def fetch(self, progress: Progress = no_progress) -> Batch:
        """Everything one poll sees: follower and following snapshots (partial with a note
        if any page failed), the profile's counts, recent posts and who engaged."""

    @abstractmethod
    def recheck(self, external_ids: Sequence[str], progress: Progress = no_progress) -> list[Check]:
        """Re-check departed people's accounts: active-but-not-following, or gone and why."""
