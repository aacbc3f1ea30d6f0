"""What the user (or a test) chooses about a simulated year."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..clock import to_utc
from ..errors import InvalidInput

SCENARIOS = ("internal", "marketplace", "users", "none")

# Which planted effects each scenario allows; the switches on SimParams can only remove them.
_SCENARIO_EFFECTS: dict[str, frozenset[str]] = {
    "internal": frozenset(
        {"break_up_posts", "too_frequent", "dialogue", "one_time_offer", "at_risk_fans"}
    ),
    "marketplace": frozenset({"marketplace", "at_risk_fans"}),
    "users": frozenset({"bot_purge", "at_risk_fans"}),
    "none": frozenset(),
}


def _today() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class SimParams:
    """A simulated brand's year. Same parameters and seed: the same simulation, bit for bit.

    ``scenario`` decides where excess churn comes from: ``internal`` (planted break-up
    posts, posting bursts above a cadence threshold, monologue, one-time-offer joiners),
    ``marketplace`` (peer accounts lose followers in the same windows), ``users`` (bot
    purges and inactive-account clean-ups) or ``none`` (baseline churn only). The boolean
    switches turn single effects off, for "no effect" runs.
    """

    seed: int = 7
    end: datetime = field(default_factory=_today)
    days: int = 365
    scenario: str = "internal"
    bsky_followers: int = 4000
    mastodon_followers: int = 1500
    email_subscribers: int = 3000
    peers: int | None = None  # peer accounts; None: 1 in "marketplace", else 0
    peer_followers: int = 2500
    # Switches: an effect is planted only if the scenario has it and its switch is on.
    break_up_posts: bool = True
    too_frequent: bool = True
    dialogue: bool = True  # followers the brand replied to churn less
    one_time_offer: bool = True  # promotion joiners leave fast
    marketplace: bool = True
    bot_purge: bool = True
    top_fans: bool = True
    at_risk_fans: bool = True
    # At-risk fans: this share of the initial audience fades and leaves (as many fade and
    # stay), with engagement propensity drawn from at_risk_strength (top fans: 25-50).
    at_risk_share: float = 0.002
    at_risk_strength: tuple[float, float] = (8.0, 14.0)
    # How much each save covers: a daily sync for Bluesky, weekly for the others, keeps the
    # demo fast while every snapshot and event keeps its own time.
    bsky_batch_days: int = 7
    mastodon_batch_days: int = 7
    email_batch_days: int = 7
    peer_batch_days: int = 7

    def __post_init__(self) -> None:
        self.end = to_utc(self.end)
        if self.scenario not in SCENARIOS:
            raise InvalidInput(
                f"unknown scenario {self.scenario!r} (choose from {', '.join(SCENARIOS)})"
            )
        if self.days < 28:
            raise InvalidInput(f"a simulation needs at least 28 days, not {self.days}")
        sizes = (
            self.bsky_followers,
            self.mastodon_followers,
            self.email_subscribers,
            self.peer_followers,
        )
        if min(sizes) < 20:
            raise InvalidInput("every simulated audience needs at least 20 people")
        if not 0.0 <= self.at_risk_share <= 0.05:
            raise InvalidInput(
                f"at_risk_share must be between 0 and 0.05, not {self.at_risk_share}"
            )
        self.at_risk_strength = (float(self.at_risk_strength[0]), float(self.at_risk_strength[1]))
        if self.peers is not None and not 0 <= self.peers <= 5:
            raise InvalidInput(f"peers must be between 0 and 5, not {self.peers}")
        steps = (
            self.bsky_batch_days,
            self.mastodon_batch_days,
            self.email_batch_days,
            self.peer_batch_days,
        )
        if min(steps) < 1:
            raise InvalidInput("batch lengths are whole days, at least 1")

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    @property
    def peer_count(self) -> int:
        if self.peers is not None:
            return self.peers
        return 1 if self.scenario == "marketplace" else 0

    def effects(self) -> frozenset[str]:
        """The effects actually planted."""
        allowed = _SCENARIO_EFFECTS[self.scenario]
        return frozenset(e for e in allowed if getattr(self, e))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["end"] = self.end.isoformat()
        return data
