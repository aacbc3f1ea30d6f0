"""What sources see: the observation types every source produces and the store keeps.

Sources never write the store; they return a :class:`Batch` of these, untouched
interpretations of their input. Tracking derives spans and departures from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import pyarrow as pa

from .clock import to_utc
from .nparrow import column


class Direction(StrEnum):
    FOLLOWERS = "followers"  # they follow / subscribe to the account
    FOLLOWING = "following"  # the account follows them


class EventKind(StrEnum):
    FOLLOW = "follow"  # includes subscribe / opt-in
    UNFOLLOW = "unfollow"
    UNSUBSCRIBE = "unsubscribe"
    CLEANED = "cleaned"  # email address removed after hard bounces


class EndKind(StrEnum):
    """Why a relationship span ended."""

    UNFOLLOWED = "unfollowed"
    UNSUBSCRIBED = "unsubscribed"
    DELETED = "deleted"  # account deleted or deactivated, address dead
    SUSPENDED = "suspended"  # suspended or taken down by the platform
    BLOCKED = "blocked"
    UNKNOWN = "unknown"  # seen gone, not (yet) re-checked


# Endings of the person's own choice: what a post can cause, and who "left" in fans and
# why. An unknown ending (absent, not yet re-checked) counts: most absences are unfollows.
# A deleted or suspended account did not leave; nor does "blocked" count, which does not
# say who blocked whom (the account may have blocked them).
VOLUNTARY_ENDS = (EndKind.UNFOLLOWED, EndKind.UNSUBSCRIBED, EndKind.UNKNOWN)
VOLUNTARY_ENDS_SQL = "(" + ", ".join(f"'{k.value}'" for k in VOLUNTARY_ENDS) + ")"


class AccountState(StrEnum):
    """What a re-check of a person's account found."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"
    SUSPENDED = "suspended"
    BLOCKED = "blocked"
    NOT_FOUND = "not_found"  # gone, but the service does not say why


class PostKind(StrEnum):
    POST = "post"
    REPLY = "reply"
    REPOST = "repost"
    QUOTE = "quote"
    CAMPAIGN = "campaign"  # an email campaign / newsletter issue


class InteractionKind(StrEnum):
    LIKE = "like"
    REPLY = "reply"
    REPOST = "repost"
    QUOTE = "quote"
    MENTION = "mention"
    OPEN = "open"
    CLICK = "click"


@dataclass(frozen=True, slots=True)
class Person:
    """A person as one source saw them. ``external_id`` is the platform's stable id."""

    external_id: str
    handle: str | None = None
    display_name: str | None = None


MEMBER_SCHEMA = pa.schema(
    [
        ("external_id", pa.string()),
        ("handle", pa.string()),
        ("display_name", pa.string()),
    ]
)


def members_table(
    ids: Sequence[str] | pa.Array,
    handles: Sequence[str | None] | pa.Array | None = None,
    names: Sequence[str | None] | pa.Array | None = None,
) -> pa.Table:
    """Columnar snapshot members; cheap for millions of ids."""
    n = len(ids)
    nulls = pa.nulls(n, pa.string())
    return pa.table(
        [
            column(ids, pa.string()),
            nulls if handles is None else column(handles, pa.string()),
            nulls if names is None else column(names, pa.string()),
        ],
        schema=MEMBER_SCHEMA,
    )


@dataclass(frozen=True)
class Snapshot:
    """The set of followers (or followed accounts) seen at one time.

    ``complete`` is the source's claim that nobody is missing; tracking also checks the
    size against ``reported_count`` before it diffs.

    ``complete_since`` scopes that claim to follows that started at or after that time (an
    export limited to a date range holds nobody who followed earlier): the absence of
    someone known to have started since then is a departure, anyone else's proves nothing.
    """

    direction: Direction
    observed_at: datetime
    members: pa.Table  # MEMBER_SCHEMA
    complete: bool = True
    reported_count: int | None = None
    complete_since: datetime | None = None

    @classmethod
    def of(
        cls,
        direction: Direction,
        observed_at: datetime,
        people: Iterable[Person],
        *,
        complete: bool = True,
        reported_count: int | None = None,
        complete_since: datetime | None = None,
    ) -> Snapshot:
        rows = list(people)
        table = members_table(
            [p.external_id for p in rows],
            [p.handle for p in rows],
            [p.display_name for p in rows],
        )
        return cls(direction, to_utc(observed_at), table, complete, reported_count, complete_since)

    def __post_init__(self) -> None:
        object.__setattr__(self, "observed_at", to_utc(self.observed_at))
        if self.complete_since is not None:
            object.__setattr__(self, "complete_since", to_utc(self.complete_since))


@dataclass(frozen=True, slots=True)
class Event:
    """A follow/unfollow/unsubscribe with its exact time."""

    person: Person
    kind: EventKind
    at: datetime
    direction: Direction = Direction.FOLLOWERS
    ref: str | None = None  # rkey, campaign id ...: what identifies it at the source
    campaign: str | None = None  # external id of the post/campaign it came from
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Post:
    external_id: str
    created_at: datetime
    kind: PostKind = PostKind.POST
    text: str = ""
    url: str | None = None
    reply_to: str | None = None  # external id of the post replied to
    metrics: dict[str, int] = field(default_factory=dict)  # likes, replies, reposts ...


@dataclass(frozen=True, slots=True)
class Interaction:
    person: Person
    kind: InteractionKind
    at: datetime
    post: str | None = None  # external id of the account's post it concerns
    ref: str | None = None  # the person's own post this is (their reply, mention …)


@dataclass(frozen=True, slots=True)
class Profile:
    """What a person's profile showed when seen: activity and bot signals for triage."""

    person: Person
    observed_at: datetime
    posts_count: int | None = None
    followers_count: int | None = None
    following_count: int | None = None
    created_at: datetime | None = None  # when their account was created
    last_post_at: datetime | None = None
    bot: bool | None = None  # the platform's own flag (Mastodon "bot", Bluesky "bot" label)
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """A re-check of a person's account state (and whether they still follow)."""

    person: Person
    checked_at: datetime
    state: AccountState
    follows: bool | None = None
    detail: str | None = None
    # checked_at is when the state changed (a stream event), not only when it was seen.
    exact: bool = False


@dataclass(frozen=True, slots=True)
class FollowRecord:
    """A follow record in the follower's repository (Bluesky): which record key means
    "this person follows the tracked account". A firehose delete names only the follower and
    the key, so this is what turns a delete into an unfollow."""

    person: Person
    rkey: str
    created_at: datetime | None = None


@dataclass
class Batch:
    """Everything one source read from one input, ready to be saved in one transaction."""

    source: str  # registered source name, e.g. "x-archive"
    platform: str  # e.g. "x", "bsky", "email"
    source_ref: str  # content hash (files) or cursor: makes re-imports no-ops
    account_identity: str | None = None  # platform id of the tracked account, if known
    account_handle: str | None = None
    ids_are_emails: bool = False  # hash ids before they reach the store
    observed_at: datetime | None = None  # when the source saw it all (export time)
    snapshots: list[Snapshot] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    follow_records: list[FollowRecord] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things the user should know

    def is_empty(self) -> bool:
        return not (
            self.snapshots
            or self.events
            or self.posts
            or self.interactions
            or self.checks
            or self.follow_records
            or self.profiles
        )
