"""Saving what the resolver kept, with the stream position, in one transaction.

Each tracked account with something new gets one :func:`~breakup.ingest.save_batch`; the
cursor is written in the same transaction, so after a crash the store holds either the
events and the position after them, or neither. Replays after a reconnect or restart
repeat events already saved: save_batch drops them (an import with the same source_ref is
skipped whole; otherwise events, checks and follow records are de-duplicated row by row).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from ..clock import to_db
from ..ingest import save_batch
from ..models import Batch, Check, Direction, Event, EventKind, FollowRecord, Person
from ..store import Store
from .frames import STATES, from_us
from .resolver import Item, Tracked

SOURCE = "jetstream"


@dataclass
class Saved:
    events: int = 0
    checks: int = 0
    records: int = 0


@dataclass
class _Account:
    events: list[Event] = field(default_factory=list)
    records: list[FollowRecord] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


def save(
    store: Store,
    items: Sequence[Item],
    subjects: dict[str, tuple[Tracked, ...]],
    *,
    cursor_name: str,
    first_us: int,
    last_us: int,
    observed_at: datetime,
) -> Saved:
    """Write *items* for the accounts they concern and set the cursor to *last_us*."""
    saved = Saved()
    with store.transaction():
        for acct, parts in _by_account(store, items, subjects).items():
            batch = Batch(
                source=SOURCE,
                platform="bsky",
                source_ref=_source_ref(first_us, last_us, parts),
                account_identity=acct.did,
                observed_at=observed_at,
                events=parts.events,
                checks=parts.checks,
                follow_records=parts.records,
            )
            result = save_batch(store, batch, account=acct.name)
            saved.events += result.events
            saved.checks += result.checks
            saved.records += result.follow_records
        store.set_cursor(cursor_name, last_us)
    return saved


def _by_account(
    store: Store, items: Sequence[Item], subjects: dict[str, tuple[Tracked, ...]]
) -> dict[Tracked, _Account]:
    out: dict[Tracked, _Account] = defaultdict(_Account)
    gone: list[Item] = []
    followed: dict[str, list[tuple[Tracked, int]]] = defaultdict(list)  # follows in this batch
    for item in items:
        if not item.subject:
            gone.append(item)
            continue
        person = Person(item.did)
        at = from_us(item.us)
        for acct in subjects.get(item.subject, ()):
            parts = out[acct]
            if item.kind == "follow":
                parts.events.append(
                    Event(person, EventKind.FOLLOW, at, Direction.FOLLOWERS, ref=item.key)
                )
                parts.records.append(FollowRecord(person, item.key, at))
                followed[item.did].append((acct, item.us))
            else:
                parts.events.append(
                    Event(person, EventKind.UNFOLLOW, at, Direction.FOLLOWERS, ref=item.key)
                )
    if gone:
        known = _followers_at(store, gone, [t for ts in subjects.values() for t in ts])
        for item in gone:
            at = from_us(item.us)
            now_following = {a for a, us in followed.get(item.did, ()) if us <= item.us}
            for acct in known.get((item.did, item.us), set()) | now_following:
                out[acct].checks.append(
                    Check(
                        Person(item.did),
                        at,
                        STATES[item.kind],
                        detail=f"jetstream account event: {item.key}",
                        exact=True,
                    )
                )
    return out


def _followers_at(
    store: Store, gone: list[Item], tracked: list[Tracked]
) -> dict[tuple[str, int], set[Tracked]]:
    """For each account event: the tracked accounts the person followed at that time (a
    span open then, or ending after it). Everyone else's account is none of our business."""
    if not tracked:
        return {}
    by_id = {t.account_id: t for t in tracked}
    table = pa.table(
        {
            "did": pa.array([g.did for g in gone], pa.string()),
            "us": pa.array([g.us for g in gone], pa.int64()),
            "at": pa.array([to_db(from_us(g.us)) for g in gone], pa.timestamp("us")),
        }
    )
    store.con.register("_gone", table)
    try:
        rows = store.con.execute(
            """
            SELECT DISTINCT g.did, g.us, s.account_id FROM _gone g
            JOIN people p ON p.platform = 'bsky' AND p.external_id = g.did
            JOIN spans s ON s.person_id = p.person_id AND s.direction = 'followers'
            WHERE list_contains(?, s.account_id)
              AND s.start_latest <= g.at AND (s.end_latest IS NULL OR s.end_latest >= g.at)
            """,
            [list(by_id)],
        ).fetchall()
    finally:
        store.con.unregister("_gone")
    known: dict[tuple[str, int], set[Tracked]] = defaultdict(set)
    for did, us, account_id in rows:
        known[(did, int(us))].add(by_id[int(account_id)])
    return known


def _source_ref(first_us: int, last_us: int, parts: _Account) -> str:
    # The window's cursors name the import; a digest of its content makes sure a replay
    # is skipped whole only when it holds exactly the same rows (else rows are de-duplicated).
    digest = hashlib.sha256()
    for e in parts.events:
        digest.update(f"{e.kind}|{e.person.external_id}|{e.ref}|{e.at.isoformat()}\n".encode())
    for c in parts.checks:
        digest.update(f"{c.state}|{c.person.external_id}|{c.checked_at.isoformat()}\n".encode())
    return f"jetstream:{first_us}-{last_us}:{digest.hexdigest()[:16]}"
