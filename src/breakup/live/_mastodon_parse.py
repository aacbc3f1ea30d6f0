"""Reading Mastodon REST entities (Account, Status, Notification, Relationship) into
observations.

Pure functions, no I/O. Mastodon.py hands entities over as dicts (with times already parsed
to datetimes, or left as strings when it could not); every field is attacker-controlled or
may be missing, so whatever is not shaped as docs.joinmastodon.org/entities says is skipped,
never guessed at.

**People are identified by their full address, ``user@domain``, lower-cased.** An account's
``id`` is only a row number on the server answering (the same person has a different id on
every instance), while the address is the same everywhere, so one person followed from
several tracked accounts, or seen through another instance, stays one person. Mastodon
usernames cannot be renamed; an address only changes when someone *moves* to a new
account, which really is a different account (the old one is marked ``moved`` and its
followers are migrated), so the move shows as that account leaving and the new one
arriving. ``acct`` omits the domain for the answering server's own accounts; it is added
back from the tracked account's domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from ..clock import to_utc
from ..models import (
    Event,
    EventKind,
    Interaction,
    InteractionKind,
    Person,
    Post,
    PostKind,
    Profile,
)


@dataclass(frozen=True)
class Account:
    """The parts of a Mastodon Account entity breakup uses."""

    id: str  # the answering server's id for it: what its API takes
    key: str  # ``user@domain``, lower-cased: the person's external id
    handle: str  # ``@user@domain`` as written
    display_name: str | None
    local: bool  # an account of the answering server itself
    followers_count: int | None
    following_count: int | None
    suspended: bool
    moved_to: str | None  # handle of the account it moved to
    # Profile facts for the dead-weight and bot analyses (see :meth:`profile`).
    bot: bool | None
    statuses_count: int | None
    last_status_at: datetime | None  # a date since Mastodon 3.1
    created_at: datetime | None = None
    note: str | None = None  # the bio, as plain text

    @property
    def person(self) -> Person:
        return Person(self.key, self.handle, self.display_name)

    def profile(self, observed_at: datetime) -> Profile:
        """What the account showed when seen, as a ``Profile`` for ``Batch.profiles``."""
        return Profile(
            person=self.person,
            observed_at=observed_at,
            posts_count=self.statuses_count,
            followers_count=self.followers_count,
            following_count=self.following_count,
            created_at=self.created_at,
            last_post_at=self.last_status_at,
            bot=self.bot,
            description=self.note,
        )


def account(entity: Any, local_domain: str) -> Account | None:
    if not isinstance(entity, dict):
        return None
    ident = entity.get("id")
    acct = entity.get("acct")
    if isinstance(ident, bool) or not isinstance(ident, str | int) or not str(ident):
        return None
    if not isinstance(acct, str):
        return None
    user, _, domain = acct.strip().lstrip("@").partition("@")
    local = not domain
    domain = domain or local_domain
    if not user or not domain or "@" in domain or any(c.isspace() for c in user + domain):
        return None
    moved = entity.get("moved")
    moved_to = None
    if isinstance(moved, dict) and isinstance(moved.get("acct"), str) and moved["acct"]:
        target = moved["acct"].lstrip("@")
        moved_to = "@" + (target if "@" in target else f"{target}@{local_domain}")
    return Account(
        id=str(ident),
        key=f"{user}@{domain}".lower(),
        handle=f"@{user}@{domain}",
        display_name=_text(entity.get("display_name")) or None,
        local=local,
        followers_count=_count(entity.get("followers_count")),
        following_count=_count(entity.get("following_count")),
        suspended=entity.get("suspended") is True,
        moved_to=moved_to,
        bot=entity["bot"] if isinstance(entity.get("bot"), bool) else None,
        statuses_count=_count(entity.get("statuses_count")),
        last_status_at=when(entity.get("last_status_at")),
        created_at=when(entity.get("created_at")),
        note=plain_text(entity.get("note")) or None,
    )


def post(status: Any, me: str, local_domain: str, now: datetime) -> Post | None:
    """One of the tracked account's statuses (or boosts) from ``/accounts/:id/statuses``."""
    if not isinstance(status, dict) or _id(status.get("id")) is None:
        return None
    author = account(status.get("account"), local_domain)
    at = when(status.get("created_at"))
    if author is None or author.id != me or at is None or at > now:
        return None
    ident = str(status["id"])
    boosted = status.get("reblog")
    if isinstance(boosted, dict):
        # A boost's own counts are always zero; the boosted status's belong to its author.
        url = _text(boosted.get("url")) or _text(boosted.get("uri")) or None
        return Post(ident, at, PostKind.REPOST, plain_text(boosted.get("content")), url)
    reply_to = _id(status.get("in_reply_to_id"))
    quoted = isinstance(status.get("quote"), dict)  # Mastodon 4.4+
    kind = PostKind.REPLY if reply_to else PostKind.QUOTE if quoted else PostKind.POST
    metrics = {
        name: value
        for name, key in (
            ("replies", "replies_count"),
            ("reposts", "reblogs_count"),
            ("likes", "favourites_count"),
        )
        if (value := _count(status.get(key))) is not None
    }
    url = _text(status.get("url")) or _text(status.get("uri")) or None
    return Post(ident, at, kind, plain_text(status.get("content")), url, reply_to, metrics)


NOTIFICATION_TYPES = ["follow", "mention", "favourite", "reblog"]


def notification(
    entity: Any, me: str, local_domain: str, now: datetime
) -> Event | Interaction | None:
    """A follow as an exact FOLLOW event; a like, boost, reply or mention as an interaction.

    Mastodon notifies follows but never unfollows, so endings still come from snapshots.
    """
    if not isinstance(entity, dict) or _id(entity.get("id")) is None:
        return None
    who = account(entity.get("account"), local_domain)
    at = when(entity.get("created_at"))
    if who is None or who.id == me or at is None or at > now:
        return None
    kind = entity.get("type")
    if kind == "follow":
        ref = f"notification:{entity['id']}"
        return Event(who.person, EventKind.FOLLOW, at, ref=ref)
    status = entity.get("status")
    if not isinstance(status, dict) or _id(status.get("id")) is None:
        return None
    if kind in ("favourite", "reblog"):
        # The status is the tracked account's own: what was liked or boosted.
        owner = account(status.get("account"), local_domain)
        if owner is None or owner.id != me:
            return None
        what = InteractionKind.LIKE if kind == "favourite" else InteractionKind.REPOST
        return Interaction(who.person, what, at, str(status["id"]))
    if kind == "mention":
        # The status is theirs (its id is the ref our replies point at with in_reply_to_id);
        # it concerns one of ours only when it replies to it.
        ref = str(status["id"])
        parent = _id(status.get("in_reply_to_id"))
        if parent and _id(status.get("in_reply_to_account_id")) == me:
            return Interaction(who.person, InteractionKind.REPLY, at, parent, ref)
        return Interaction(who.person, InteractionKind.MENTION, at, None, ref)
    return None


@dataclass(frozen=True)
class Relationship:
    """The token owner's relationship to one account (``/accounts/relationships``)."""

    id: str
    followed_by: bool
    blocking: bool  # the owner blocks them (or their domain)
    blocked_by: bool  # they block the owner


def relationships(entities: Any) -> dict[str, Relationship]:
    out: dict[str, Relationship] = {}
    for e in entities if isinstance(entities, list) else []:
        if not isinstance(e, dict) or (ident := _id(e.get("id"))) is None:
            continue
        out[ident] = Relationship(
            ident,
            followed_by=e.get("followed_by") is True,
            blocking=e.get("blocking") is True or e.get("domain_blocking") is True,
            blocked_by=e.get("blocked_by") is True,
        )
    return out


def when(value: Any) -> datetime | None:
    """An aware UTC time from a parsed datetime or an ISO 8601 string (a bare date is
    midnight UTC)."""
    try:  # OverflowError: a time that is out of range once in UTC
        if isinstance(value, datetime):
            return to_utc(value)
        if isinstance(value, str) and value:
            return to_utc(datetime.fromisoformat(value.replace("z", "Z")))
    except (ValueError, OverflowError):
        return None
    return None


class _Text(HTMLParser):
    """Status HTML (``<p>``, ``<br>``, links, invisible URL parts) to what a reader sees."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(content: Any) -> str:
    if not isinstance(content, str) or not content:
        return ""
    parser = _Text()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts).strip()


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) or None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
