"""Turning Jetstream frames into what concerns tracked accounts, at firehose speed.

The network's follow stream is almost entirely about accounts nobody here tracks, so the
resolver's first job is to drop those without parsing them:

* a create whose ``"subject":"…"`` (found by substring search, and only once in the frame)
  is not a tracked DID is dropped on the spot;
* a delete whose (follower DID, rkey) is not in the record map is dropped the same way —
  a delete names no subject, so the map, filled from ``follow_records`` (backfilled by
  getRelationships) and from the creates seen here, is the only way to know whose
  follower left;
* everything else (tracked creates, known deletes, account and identity events, frames of
  an unexpected shape) is parsed in full with orjson and checked field by field.

What survives waits in :attr:`Resolver.pending` until the consumer saves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..store import Store
from .frames import DELETE, DID_PREFIX, FOLLOW, RKEY, STATES, SUBJECT, decode

_SUBJECT_LEN = len(SUBJECT)
_RKEY_LEN = len(RKEY)
_DID_AT = len(DID_PREFIX)


@dataclass
class StreamResult:
    """Running totals of one :func:`~breakup.jetstream.stream` run (replays count again)."""

    frames: int = 0  # frames processed
    follows: int = 0  # follow creates of tracked accounts
    unfollows: int = 0  # deletes resolved to a tracked account
    account_events: int = 0  # accounts going inactive (deactivated, deleted, suspended …)
    untracked: int = 0  # follows of accounts nobody here tracks: dropped
    unresolved: int = 0  # deletes of records never seen: dropped
    ignored: int = 0  # identity events, reactivations, other collections, updates
    malformed: int = 0  # not JSON, or without did / time_us
    saved_events: int = 0  # rows new to the store, after de-duplication
    saved_checks: int = 0
    saved_records: int = 0
    flushes: int = 0
    connections: int = 0
    cursor: int | None = None  # time_us persisted with the last flush
    problems: list[str] = field(default_factory=list)  # connection trouble, latest last


class Tracked(NamedTuple):
    account_id: int
    name: str
    did: str


class Item(NamedTuple):
    """One thing to save. ``kind`` is "follow", "unfollow" or an account status."""

    kind: str
    did: str  # the follower (or the account whose status changed)
    key: str  # rkey for follows and unfollows; the raw status for account events
    us: int  # time_us
    subject: str  # the tracked DID followed or unfollowed; "" for account events


class Resolver:
    def __init__(self, result: StreamResult | None = None) -> None:
        self.result = result or StreamResult()
        self.subjects: dict[str, tuple[Tracked, ...]] = {}
        # "follower-did rkey" -> followed DID; one string key costs less than a tuple.
        self.records: dict[str, str] = {}
        self.pending: list[Item] = []
        self._loaded_through = 0  # highest import_id whose follow records are loaded
        # Frames stamped later than this (µs) are dropped as malformed: the store refuses
        # times from the future, and one such frame must not stall every save after it.
        self.max_us = 2**62

    # -- state from the store ------------------------------------------------------------

    def refresh(self, store: Store) -> None:
        """Load tracked Bluesky accounts and follow records not yet in memory.

        Cheap when nothing changed; called at start and after every save, so records a
        poller backfills while we stream (``breakup watch``) are known from then on.
        """
        rows = store.con.execute(
            "SELECT account_id, name, identity FROM accounts "
            "WHERE platform = 'bsky' AND identity LIKE 'did:%' ORDER BY account_id"
        ).fetchall()
        known = {t.account_id for ts in self.subjects.values() for t in ts}
        subjects: dict[str, list[Tracked]] = {}
        for account_id, name, did in rows:
            subjects.setdefault(did, []).append(Tracked(account_id, name, did))
        self.subjects = {did: tuple(ts) for did, ts in subjects.items()}
        ids = [int(r[0]) for r in rows]
        fresh = [i for i in ids if i not in known]
        latest = int(store.scalar("SELECT coalesce(max(import_id), 0) FROM imports"))
        if ids and (fresh or latest > self._loaded_through):
            self._load_records(store, ids, fresh, latest)
        self._loaded_through = latest

    def _load_records(self, store: Store, ids: list[int], fresh: list[int], latest: int) -> None:
        # New accounts get all their records, the others only those added since last time;
        # records whose unfollow is already stored are left out (their delete came).
        rows = store.con.execute(
            """
            SELECT p.external_id, r.rkey, a.identity
            FROM follow_records r
            JOIN accounts a ON a.account_id = r.account_id
            JOIN people p ON p.person_id = r.person_id AND p.platform = 'bsky'
            WHERE list_contains(?, r.account_id) AND r.import_id <= ?
              AND (r.import_id > ? OR list_contains(?, r.account_id))
              AND NOT EXISTS (
                  SELECT 1 FROM events e
                  WHERE e.account_id = r.account_id AND e.person_id = r.person_id
                    AND e.kind = 'unfollow' AND e.ref = r.rkey)
            """,
            [ids, latest, self._loaded_through, fresh],
        ).fetchall()
        # Share the subject strings: one copy per tracked account, not one per record.
        canonical = {did: did for did in self.subjects}
        records = self.records
        for follower, rkey, did in rows:
            subject = canonical.get(did)  # None: the account changed since we listed them
            if subject is not None:
                records[f"{follower} {rkey}"] = subject

    # -- frames --------------------------------------------------------------------------

    def feed(self, frame: str) -> None:
        """Resolve one frame; what concerns a tracked account goes to :attr:`pending`."""
        result = self.result
        result.frames += 1
        i = frame.find(SUBJECT)
        if i >= 0:
            j = i + _SUBJECT_LEN
            k = frame.find('"', j)
            # A second "subject" would be a record field we cannot place without parsing.
            if frame[j:k] not in self.subjects and frame.find(SUBJECT, k) < 0:
                result.untracked += 1
                return
        elif DELETE in frame and frame.startswith(DID_PREFIX):
            # Go's envelope starts with the DID, which holds no quote; a delete has no
            # record, so its only "rkey" is the commit's.
            q = frame.find('"', _DID_AT)
            r = frame.find(RKEY, q)
            if r > 0:
                j = r + _RKEY_LEN
                k = frame.find('"', j)
                if frame[_DID_AT:q] + " " + frame[j:k] not in self.records:
                    result.unresolved += 1
                    return
        self._parse(frame)

    def _parse(self, frame: str) -> None:
        event = decode(frame)
        did = None if event is None else event.get("did")
        us = None if event is None else event.get("time_us")
        if (
            event is None
            or not isinstance(did, str)
            or not isinstance(us, int)
            or isinstance(us, bool)
            or us > self.max_us
        ):
            self.result.malformed += 1
            return
        kind = event.get("kind")
        if kind == "commit":
            self._commit(did, us, event.get("commit"))
        elif kind == "account":
            self._account(did, us, event.get("account"))
        else:  # identity (a handle change: names come from polls), or a kind we don't know
            self.result.ignored += 1

    def _commit(self, did: str, us: int, commit: Any) -> None:
        result = self.result
        if not isinstance(commit, dict) or commit.get("collection") != FOLLOW:
            result.ignored += 1
            return
        rkey = commit.get("rkey")
        op = commit.get("operation")
        if not isinstance(rkey, str) or not rkey:
            result.malformed += 1
        elif op == "create":
            record = commit.get("record")
            subject = record.get("subject") if isinstance(record, dict) else None
            if not isinstance(subject, str) or subject not in self.subjects:
                result.untracked += 1
                return
            subject = self.subjects[subject][0].did  # the shared copy
            self.records[f"{did} {rkey}"] = subject
            self.pending.append(Item("follow", did, rkey, us, subject))
            result.follows += 1
        elif op == "delete":
            # Forget it: a replayed delete after a reconnect is then dropped as unresolved,
            # which is right, since the unfollow is already pending or saved.
            subject = self.records.pop(f"{did} {rkey}", None)
            if subject is None:
                result.unresolved += 1
                return
            self.pending.append(Item("unfollow", did, rkey, us, subject))
            result.unfollows += 1
        else:  # follow records are never updated by Bluesky's clients
            result.ignored += 1

    def _account(self, did: str, us: int, account: Any) -> None:
        status = account.get("status") if isinstance(account, dict) else None
        if not isinstance(account, dict) or account.get("active") is not False:
            self.result.ignored += 1
        elif isinstance(status, str) and status in STATES:
            # Whether they follow a tracked account is asked of the store when saving.
            self.pending.append(Item(status, did, status, us, ""))
            self.result.account_events += 1
        else:  # inactive with no reason given, or only a hosting state: no claim to record
            self.result.ignored += 1
