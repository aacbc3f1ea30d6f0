"""Time: one injectable clock, and the one way times are normalised (UTC, microseconds)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from .errors import InvalidInput

Clock = Callable[[], datetime]
"""A zero-argument callable returning the current time as an aware UTC datetime."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def fixed_clock(at: datetime) -> Clock:
    """A clock that always says *at* (for tests and reproducible demos)."""
    moment = to_utc(at)
    return lambda: moment


def to_utc(value: datetime) -> datetime:
    """Aware UTC datetime; naive input is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_db(value: datetime | None) -> datetime | None:
    """The store keeps naive UTC timestamps (DuckDB TIMESTAMP, microseconds)."""
    if value is None:
        return None
    return to_utc(value).replace(tzinfo=None)


def from_db(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def parse_time(text: str, *, what: str = "time") -> datetime:
    """Parse an ISO-8601 date or datetime (``2024-05-01``, ``2024-05-01T12:00:00Z``)."""
    raw = text.strip()
    if not raw:
        raise InvalidInput(f"empty {what}")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not an ISO-8601 date or time") from None
    return to_utc(value)


def parse_since(text: str, clock: Clock) -> datetime:
    """A --since value: an ISO date/time, or a span back from now like ``7d``, ``12h``, ``4w``."""
    raw = text.strip().lower()
    units = {"h": 3600, "d": 86400, "w": 7 * 86400}
    if raw[:-1].isdigit() and raw[-1:] in units:
        return clock() - timedelta(seconds=int(raw[:-1]) * units[raw[-1]])
    return parse_time(text, what="--since")
