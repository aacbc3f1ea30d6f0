"""What the simulator planted: the answers analyses are checked against.

Every class is a plain dataclass of JSON-friendly fields (datetimes become ISO strings);
:meth:`Truth.to_json` / :meth:`Truth.from_json` round-trip exactly.

Causes of a departure (``TrueSpan.cause``):

* ``baseline`` — normal churn (including the fragility of new ties);
* ``break_up_post`` — the excess in the hours after a planted break-up post
  (``cause_post`` names it);
* ``too_frequent`` — the excess on and after days with more posts than the cadence threshold;
* ``marketplace`` — a window in which every account on the platform lost followers;
* ``one_time_offer`` — joined during a promotion, left soon after it ended;
* ``at_risk_fan`` — a planted fan whose engagement faded before leaving;
* ``account_deleted`` / ``account_suspended`` — the account itself went away;
* ``bot_purge`` / ``inactive_cleanup`` — the platform removed bot-like or inactive accounts.
"""

from __future__ import annotations

import json
import types
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


@dataclass
class TrueSpan:
    """One true relationship: a person following (subscribed to) an account."""

    person: str  # external id as the source gives it (DID, acct, plain email address)
    start: datetime
    end: datetime | None = None
    end_kind: str | None = None  # EndKind value: unfollowed/unsubscribed/deleted/suspended
    cause: str | None = None
    cause_post: str | None = None  # external id of the break-up post, if that was the cause


@dataclass
class BreakUpPost:
    account: str
    post: str  # external id
    at: datetime
    reason: str  # "promotional" or "repetitive"
    multiplier: float  # true rate ratio of departures inside the window
    hours: float  # how long after the post the excess lasts (email: after the send)


@dataclass
class Window:
    start: datetime
    end: datetime
    label: str = ""
    multiplier: float | None = None


@dataclass
class Promotion:
    code: str
    start: datetime
    end: datetime
    posts: dict[str, str] = field(default_factory=dict)  # account -> post announcing it
    joiners: dict[str, list[str]] = field(default_factory=dict)  # account -> people
    leave_fast: bool = False  # whether its joiners were planted to leave soon after


@dataclass
class Fan:
    account: str
    person: str
    kind: str  # "top" or "at_risk"
    decline_start: datetime | None = None  # at-risk: engagement starts fading here
    left_at: datetime | None = None  # at-risk: when they left (None: still following)


@dataclass
class NameChange:
    account: str
    person: str
    at: datetime
    field: str  # "handle" or "display_name"
    old: str | None
    new: str | None


@dataclass
class Cause:
    name: str
    accounts: list[str]
    description: str
    details: dict[str, float] = field(default_factory=dict)


@dataclass
class AccountTruth:
    key: str  # short name used by the simulator: bsky, mastodon, email, peer1 ...
    name: str  # account name in the store
    platform: str
    role: str
    identity: str
    handle: str
    spans: list[TrueSpan] = field(default_factory=list)
    cadence_threshold: float | None = None  # above this, churn rises (dose-response)
    cadence_unit: str = ""
    cadence_slope: float = 0.0  # excess rate per post above the threshold (0: not planted)
    answer_rate: float = 0.0  # share of mentions and replies the brand answered
    reply_multiplier: float = 1.0  # churn rate ratio once the brand replied to someone
    snapshot_every_hours: float | None = None
    partial_snapshots: list[datetime] = field(default_factory=list)
    firehose_outages: list[Window] = field(default_factory=list)
    brand_replied_to: list[str] = field(default_factory=list)
    bot_like: list[str] = field(default_factory=list)  # never engage, bot-style handles
    inactive: list[str] = field(default_factory=list)  # never engage, often no display name
    # What each post was written as: info, chat, promo, repeat, offer, repost (social);
    # info, promo, blitz, offer, last_chance (email campaigns).
    post_content: dict[str, str] = field(default_factory=dict)

    def departures(self) -> list[TrueSpan]:
        return [s for s in self.spans if s.end is not None]


@dataclass
class Truth:
    scenario: str
    seed: int
    start: datetime
    end: datetime
    effects: list[str]
    causes: list[Cause] = field(default_factory=list)
    accounts: dict[str, AccountTruth] = field(default_factory=dict)  # by store account name
    break_up_posts: list[BreakUpPost] = field(default_factory=list)
    promotions: list[Promotion] = field(default_factory=list)
    market_windows: list[Window] = field(default_factory=list)
    bot_purges: list[Window] = field(default_factory=list)
    top_fans: list[Fan] = field(default_factory=list)
    at_risk_fans: list[Fan] = field(default_factory=list)
    name_changes: list[NameChange] = field(default_factory=list)
    # One human on several channels, provably (a Bluesky domain handle and a Mastodon
    # account on that domain): account name -> external id, per human.
    same_people: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _dump(asdict(self))  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Truth:
        truth: Truth = _load(cls, data)
        return truth

    @classmethod
    def from_json(cls, text: str) -> Truth:
        return cls.from_dict(json.loads(text))


def _dump(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _load(kind: Any, value: Any) -> Any:
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in get_args(kind) if a is not type(None)]
        return _load(inner[0], value)
    if origin is list:
        (item,) = get_args(kind)
        return [_load(item, v) for v in value]
    if origin is dict:
        _, item = get_args(kind)
        return {k: _load(item, v) for k, v in value.items()}
    if kind is datetime:
        return datetime.fromisoformat(value)
    if isinstance(kind, type) and is_dataclass(kind):
        hints = get_type_hints(kind)
        # Fields missing from older truth JSON keep their defaults.
        return kind(
            **{f.name: _load(hints[f.name], value[f.name]) for f in fields(kind) if f.name in value}
        )
    if kind is float and isinstance(value, int):
        return float(value)
    return value
