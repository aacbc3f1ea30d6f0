"""Reading Bluesky AppView answers (the ``app.bsky.*`` lexicons) into observations.

Pure functions over decoded JSON, no I/O, so every shape rule lives in one place. Every
field is attacker-controlled or may be missing: whatever is not shaped as the lexicon says
is skipped, never guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..clock import to_utc
from ..models import FollowRecord, Interaction, InteractionKind, Person, Post, PostKind, Profile

PUBLIC_APPVIEW = "https://public.api.bsky.app/xrpc"
FOLLOW = "app.bsky.graph.follow"
POST = "app.bsky.feed.post"
INVALID_HANDLE = "handle.invalid"  # shown by the AppView when a handle fails verification
NOT_FOUND_ACTOR = "app.bsky.graph.defs#notFoundActor"
REASON_REPOST = "app.bsky.feed.defs#reasonRepost"
QUOTE_EMBEDS = frozenset({"app.bsky.embed.record", "app.bsky.embed.recordWithMedia"})

_B32_SORT = "234567abcdefghijklmnopqrstuvwxyz"  # TID alphabet (atproto.com/specs/tid)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EARLIEST_TID = datetime(2022, 1, 1, tzinfo=UTC)  # before Bluesky existed: not a real time


def person(view: Any) -> Person | None:
    """A person from a profileView / profileViewBasic / profileViewDetailed."""
    if not isinstance(view, dict):
        return None
    did = view.get("did")
    if not isinstance(did, str) or not did.startswith("did:"):
        return None
    handle: str | None = _text(view.get("handle")) or None
    if handle == INVALID_HANDLE:
        handle = None  # a placeholder, not a name the person ever had
    return Person(did, handle, _text(view.get("displayName")) or None)


def profile(view: Any, now: datetime) -> Profile | None:
    """What a profileView (``createdAt``, ``description``, ``labels``) or profileViewDetailed
    (also ``postsCount``, ``followersCount``, ``followsCount``) shows, for
    ``Batch.profiles``. A self-applied or moderation label ``bot`` sets the bot flag; views
    carry no last-post time."""
    who = person(view)
    if who is None:
        return None
    labels = view.get("labels")
    values = {
        _text(label.get("val"))  # a list or object here is unhashable: never a label
        for label in (labels if isinstance(labels, list) else [])
        if isinstance(label, dict) and label.get("neg") is not True
    }
    created = parse_time(view.get("createdAt"))
    return Profile(
        person=who,
        observed_at=now,
        posts_count=_count(view.get("postsCount")),
        followers_count=_count(view.get("followersCount")),
        following_count=_count(view.get("followsCount")),
        created_at=created if created and created <= now else None,
        bot=True if "bot" in values else None,
        description=_text(view.get("description")) or None,
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def items(body: Any, key: str) -> list[Any] | None:
    """The list under *key* of an answer, or None when the answer is not shaped so."""
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, list) else None


def parse_time(value: Any) -> datetime | None:
    """A lexicon ``datetime`` (ISO 8601, usually with ``Z``) as aware UTC, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return to_utc(datetime.fromisoformat(value.replace("z", "Z")))
    except (ValueError, OverflowError):  # OverflowError: out of range once in UTC
        return None


def claimed_time(claimed: Any, indexed: Any, now: datetime) -> datetime | None:
    """A client-asserted time (``createdAt``) unless it is later than when the AppView
    indexed the record (or than now): clocks lie, and a future time would be refused."""
    seen = parse_time(indexed)
    latest = min(seen, now) if seen else now
    when = parse_time(claimed)
    if when is None or when > latest:
        return seen if seen and seen <= now else None
    return when


def split_at_uri(uri: Any) -> tuple[str, str, str] | None:
    """``at://did/collection/rkey`` → (did, collection, rkey)."""
    if not isinstance(uri, str) or not uri.startswith("at://"):
        return None
    parts = uri[len("at://") :].split("/")
    if len(parts) != 3 or not all(parts) or not parts[0].startswith("did:"):
        return None
    return parts[0], parts[1], parts[2]


def tid_time(rkey: str) -> datetime | None:
    """The creation time a TID record key encodes: 13 base32-sortable characters of a
    64-bit integer whose bits 1-53 are microseconds since the epoch (atproto TID spec).
    The writer's clock chose it, so it is only kept when plausible."""
    if len(rkey) != 13 or any(c not in _B32_SORT for c in rkey) or rkey[0] not in "234567":
        return None
    value = 0
    for c in rkey:
        value = value * 32 + _B32_SORT.index(c)
    try:
        when = _EPOCH + timedelta(microseconds=value >> 10)
    except OverflowError:
        return None
    return when if when >= _EARLIEST_TID else None


@dataclass(frozen=True)
class Relationship:
    """One entry of ``app.bsky.graph.getRelationships`` for the tracked actor."""

    did: str
    found: bool = True
    followed_by: str | None = None  # AT-URI of their follow record of the actor
    blocked_by: str | None = None  # AT-URI of their block of the actor
    blocking: str | None = None  # AT-URI of the actor's block of them


def relationships(body: Any) -> dict[str, Relationship]:
    out: dict[str, Relationship] = {}
    for entry in items(body, "relationships") or []:
        if not isinstance(entry, dict):
            continue
        if entry.get("$type") == NOT_FOUND_ACTOR or entry.get("notFound") is True:
            actor = entry.get("actor")
            if isinstance(actor, str):
                out[actor] = Relationship(actor, found=False)
            continue
        did = entry.get("did")
        if isinstance(did, str):
            out[did] = Relationship(
                did,
                followed_by=_text(entry.get("followedBy")) or None,
                blocked_by=_text(entry.get("blockedBy") or entry.get("blockedByList")) or None,
                blocking=_text(entry.get("blocking") or entry.get("blockingByList")) or None,
            )
    return out


def follow_record(who: Person, rel: Relationship | None, now: datetime) -> FollowRecord | None:
    """The follower's follow record of the actor, from ``followedBy``; it must live in the
    follower's own repository and collection, or it is not theirs to claim."""
    if rel is None or not rel.followed_by:
        return None
    parts = split_at_uri(rel.followed_by)
    if parts is None or parts[0] != who.external_id or parts[1] != FOLLOW:
        return None
    created = tid_time(parts[2])
    return FollowRecord(who, parts[2], created if created and created <= now else None)


def web_url(uri: str) -> str | None:
    parts = split_at_uri(uri)
    if parts is None or parts[1] != POST:
        return None
    return f"https://bsky.app/profile/{parts[0]}/post/{parts[2]}"


def feed_post(item: Any, account: str, now: datetime) -> Post | None:
    """A feedViewPost of the account's author feed as one of its posts (or reposts)."""
    if not isinstance(item, dict) or not isinstance(item.get("post"), dict):
        return None
    view = item["post"]
    uri = view.get("uri")
    record = view.get("record")
    if not isinstance(uri, str) or not isinstance(record, dict):
        return None
    text = _text(record.get("text"))
    reason = item.get("reason")
    if isinstance(reason, dict) and reason.get("$type") == REASON_REPOST:
        by = person(reason.get("by"))
        at = claimed_time(None, reason.get("indexedAt"), now)
        if by is None or by.external_id != account or at is None:
            return None
        # Newer AppViews name the repost record itself; older ones only the reposted post.
        ref = _text(reason.get("uri")) or f"{uri}#repost-by-{account}"
        return Post(ref, at, PostKind.REPOST, text, web_url(uri))
    author = person(view.get("author"))
    if author is None or author.external_id != account:
        return None  # replies' parents and pins of others are context, not our posts
    at = claimed_time(record.get("createdAt"), view.get("indexedAt"), now)
    if at is None:
        return None
    reply = record.get("reply")
    parent = reply.get("parent") if isinstance(reply, dict) else None
    reply_to = (_text(parent.get("uri")) or None) if isinstance(parent, dict) else None
    kind = PostKind.REPLY if reply_to else PostKind.QUOTE if _quotes(record) else PostKind.POST
    metrics = {
        name: view[key]
        for name, key in (
            ("likes", "likeCount"),
            ("replies", "replyCount"),
            ("reposts", "repostCount"),
            ("quotes", "quoteCount"),
        )
        if isinstance(view.get(key), int) and not isinstance(view.get(key), bool)
    }
    return Post(uri, at, kind, text, web_url(uri), reply_to, metrics)


def _quotes(record: dict[str, Any]) -> bool:
    """Whether the post embeds another post (a quote), not a list or feed card, which use
    the same embed types."""
    embed = record.get("embed")
    if not isinstance(embed, dict) or _text(embed.get("$type")) not in QUOTE_EMBEDS:
        return False
    ref = embed.get("record")
    if isinstance(ref, dict) and isinstance(ref.get("record"), dict):
        ref = ref["record"]  # recordWithMedia wraps an embed.record around the strong ref
    parts = split_at_uri(ref.get("uri")) if isinstance(ref, dict) else None
    return parts is not None and parts[1] == POST


def like(entry: Any, post: str, now: datetime) -> Interaction | None:
    """An ``app.bsky.feed.getLikes#like``: the liker and when (``createdAt``, else
    ``indexedAt``)."""
    if not isinstance(entry, dict):
        return None
    who = person(entry.get("actor"))
    at = claimed_time(entry.get("createdAt"), entry.get("indexedAt"), now)
    if who is None or at is None:
        return None
    return Interaction(who, InteractionKind.LIKE, at, post)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
