"""Jetstream v1 on the wire: the subscribe URL, and reading frames cheaply.

Protocol facts relied on here (bluesky-social/jetstream: the v1 README and
``pkg/models/models.go``; account statuses from the ``com.atproto.sync.subscribeRepos``
lexicon in bluesky-social/atproto):

* ``GET /subscribe`` upgraded to a websocket; query parameters ``wantedCollections``
  (repeatable), ``wantedDids`` (filters by the *repo*, i.e. the follower, so it is no use
  for watching who follows an account), ``cursor`` (unix microseconds; absent, or in the
  future, means live tail), ``compress=true`` (zstd with a custom dictionary; not asked
  for), ``maxMessageSizeBytes``, ``requireHello``.
* Account and identity events arrive whatever ``wantedCollections`` says.
* Every event is ``{"did", "time_us", "kind", ...}`` with kind ``commit``, ``identity`` or
  ``account``. A commit carries ``rev, operation, collection, rkey`` and, for creates and
  updates, ``record`` and ``cid``; a delete carries no record, hence no subject.
* ``account`` is ``{"active", "did", "seq", "status"?, "time"}``; with ``active: false`` the
  status says why: ``deactivated``, ``deleted``, ``suspended``, ``takendown`` (and
  ``desynchronized`` / ``throttled``, states of the hosting, not of the person).
* The server writes events with Go's JSON encoder: compact, keys of the envelope in struct
  order (``did`` first, then ``time_us``). The fast paths below lean on that shape and fall
  back to a full parse whenever a frame does not have it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from ..models import AccountState

DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
FOLLOW = "app.bsky.graph.follow"
MAX_MESSAGE = 1_000_000  # follow, account and identity events are a few hundred bytes

# Why an account stopped being active, as far as a follower's departure is concerned.
# Hosting states (desynchronized, throttled) say nothing about the person: not recorded.
STATES: dict[str, AccountState] = {
    "deactivated": AccountState.DEACTIVATED,
    "deleted": AccountState.DELETED,
    "suspended": AccountState.SUSPENDED,
    "takendown": AccountState.SUSPENDED,  # taken down by the host: EndKind.SUSPENDED
}

SUBJECT = '"subject":"'
RKEY = '"rkey":"'
DELETE = '"operation":"delete"'
DID_PREFIX = '{"did":"'
# The envelope as Go writes it; a DID never contains a quote or a backslash.
_HEAD = re.compile(r'\{"did":"([^"\\]+)","time_us":(\d+)[,}]')

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The last microsecond a datetime can hold (9999-12-31T23:59:59.999999Z). A frame claiming
# a later or a negative time_us is malformed: no event time or cursor could hold it.
MAX_TIME_US = 253_402_300_799_999_999


def subscribe_url(base: str, cursor: int | None) -> str:
    """*base* with our query: follow records only, resuming at *cursor* if given.

    Other parameters the user put in the URL are kept; ours replace theirs.
    """
    parts = urlsplit(base)
    ours = {"wantedCollections", "cursor", "maxMessageSizeBytes", "compress"}
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ours]
    query += [("wantedCollections", FOLLOW), ("maxMessageSizeBytes", str(MAX_MESSAGE))]
    if cursor is not None:
        query.append(("cursor", str(cursor)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def head(frame: str) -> tuple[str, int] | None:
    """(did, time_us) from a frame's envelope without parsing the rest, if it has Go's shape."""
    m = _HEAD.match(frame)
    if m is None or len(m[2]) > 18 or int(m[2]) > MAX_TIME_US:
        return None
    return m[1], int(m[2])


def time_us(frame: str) -> int | None:
    """The frame's ``time_us``, or None for a frame without one (malformed)."""
    found = head(frame)
    if found is not None:
        return found[1]
    event = decode(frame)
    value = None if event is None else event.get("time_us")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decode(frame: str | bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    us = value.get("time_us")
    if isinstance(us, int) and not 0 <= us <= MAX_TIME_US:
        return None  # out of any datetime's range: malformed, like a frame without one
    return value


def from_us(micros: int) -> datetime:
    """Exact: integer microseconds, no float on the way (time_us is UTC unix µs)."""
    return _EPOCH + timedelta(microseconds=micros)
