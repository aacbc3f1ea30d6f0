"""Which part of the store a question covers: one account or channel, a period.

Every query and analysis that narrows the store takes a :class:`Filters`, so the terminal,
the report, the dashboard and the digest narrow it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Filters:
    """Which part of the store a report covers. Every field is optional."""

    account: str | None = None
    channel: str | None = None  # platform: bsky, mastodon, email, x, instagram ...
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        # A channel is a platform name however it was typed ("Bsky " is bsky).
        if self.channel is not None:
            object.__setattr__(self, "channel", self.channel.strip().lower() or None)

    def describe(self) -> str:
        parts = [
            f"account {self.account}" if self.account else "all accounts",
            f"channel {self.channel}" if self.channel else "",
            f"from {self.since:%Y-%m-%d}" if self.since else "",
            f"to {self.until:%Y-%m-%d}" if self.until else "",
        ]
        return ", ".join(p for p in parts if p)
