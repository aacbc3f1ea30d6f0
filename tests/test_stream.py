"""Jetstream streaming against a local Jetstream v1 server: exact times land as spans, deletes
resolve through remembered record keys, reconnects and restarts lose and duplicate nothing,
account deactivations are checks, and everything about untracked accounts is dropped."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from breakup.errors import ServiceError
from breakup.ingest import save_batch
from breakup.jetstream import REWIND_US, Consumer, StreamResult, stream
from breakup.jetstream.frames import from_us
from breakup.models import (
    AccountState,
    Batch,
    Check,
    Direction,
    FollowRecord,
    Person,
    Snapshot,
)
from breakup.store import Store

from .servers.jetstream import (
    FOLLOW,
    Jetstream,
    account,
    encode,
    follow,
    identity,
    tid,
    unfollow,
    us_of,
)

BRAND = "did:plc:brand4xyzq6gjnaw2blty4c"
PEER = "did:plc:peer3mr7tx2yq5cbzwl6k4dd"
OTHER = "did:plc:other7lnb3ueyuvv3orxy2ad"  # followed a lot, tracked by nobody
T0 = us_of(datetime(2025, 3, 1, 12, 0, tzinfo=UTC)) + 123_457  # odd µs: exactness shows
SEC = 1_000_000


def fan(n: int) -> str:
    return f"did:plc:fan{n:04d}aaaabbbbccccdddd"


def stranger(n: int) -> str:
    return f"did:plc:str{n:04d}eeeeffffgggghhhh"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "s.duckdb"
    with Store(path) as store:
        store.ensure_account("bsky:brand.test", "bsky", BRAND, "brand.test")
        store.ensure_account("bsky:peer.test", "bsky", PEER, "peer.test", role="peer")
    return path


def run(
    path: Path, server: Jetstream, *, until: int, timeout: float = 20.0, **kw: Any
) -> StreamResult:
    """Stream until the saved cursor reaches *until* (bounded by *timeout*)."""
    stop = threading.Event()
    timed_out = threading.Event()

    def progress(r: StreamResult) -> None:
        if r.cursor is not None and r.cursor >= until:
            stop.set()

    def give_up() -> None:
        timed_out.set()
        stop.set()

    timer = threading.Timer(timeout, give_up)
    timer.start()
    try:
        with Store(path) as store:
            kw.setdefault("flush_seconds", 0.05)
            kw.setdefault("backoff", 0.05)
            result = stream(store, url=server.url, stop=stop, progress=progress, **kw)
    finally:
        timer.cancel()
    assert not timed_out.is_set(), f"stream did not reach {until} in {timeout}s: {result}"
    return result


def contents(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """What the store says happened, without ids that depend on batching."""
    queries = {
        "events": """
            SELECT a.name, p.external_id, e.direction, e.kind, e.occurred_at, e.ref
            FROM events e JOIN people p USING (person_id) JOIN accounts a USING (account_id)
            ORDER BY ALL""",
        "spans": """
            SELECT a.name, p.external_id, s.direction, start_earliest, start_latest,
                   start_exact, end_earliest, end_latest, end_exact, end_kind
            FROM spans s JOIN people p USING (person_id) JOIN accounts a USING (account_id)
            ORDER BY ALL""",
        "checks": """
            SELECT a.name, p.external_id, c.checked_at, c.state, c.detail
            FROM checks c JOIN people p USING (person_id) JOIN accounts a USING (account_id)
            ORDER BY ALL""",
        "follow_records": """
            SELECT a.name, p.external_id, r.rkey, r.created_at
            FROM follow_records r JOIN people p USING (person_id)
            JOIN accounts a USING (account_id) ORDER BY ALL""",
        "people": "SELECT platform, external_id FROM people ORDER BY ALL",
    }
    with Store(path, read_only=True) as store:
        return {k: store.con.execute(q).fetchall() for k, q in queries.items()}


def at(us: int) -> datetime:
    """A stored (naive UTC) timestamp."""
    return from_us(us).replace(tzinfo=None)


def burst(n: int = 90) -> list[dict[str, Any]]:
    """A busy stretch of the network, one event a second: follows and unfollows of both
    tracked accounts among many of accounts nobody tracks, a re-follow, a deactivation."""
    events: list[dict[str, Any]] = []
    for k in range(n):
        us = T0 + k * SEC
        step = k % 6
        if step == 0:
            events.append(follow(fan(k), us, tid(us), BRAND))
        elif step == 1:
            events.append(follow(stranger(k), us, tid(us), OTHER))
        elif step == 2:
            events.append(follow(fan(k), us, tid(us), PEER))
        elif step == 3 and k >= 12:  # the brand follower of two rounds ago leaves
            old = T0 + (k - 15) * SEC
            events.append(unfollow(fan(k - 15), us, tid(old)))
        elif step == 4:
            events.append(unfollow(stranger(k), us, tid(us - 7 * SEC)))
        elif step == 5 and k % 30 == 5:
            events.append(account(fan(k - 5), us, active=False, status="deactivated"))
        else:
            events.append(identity(stranger(k), us, f"s{k}.test"))
    # someone who left comes back: a new record, a new span
    events.append(follow(fan(0), T0 + n * SEC, tid(T0 + n * SEC), BRAND))
    return events


# -- exact times -------------------------------------------------------------------------


def test_exact_follow_and_unfollow_times_become_exact_spans(db: Path) -> None:
    a, t1, t2, t3 = fan(1), T0, T0 + 61 * SEC + 17, T0 + 3600 * SEC + 999_999
    events = [
        follow(a, t1, tid(t1), BRAND),
        follow(stranger(1), t1 + 5, tid(t1 + 5), OTHER),
        unfollow(a, t2, tid(t1)),
        follow(a, t3, tid(t3), BRAND),  # a re-follow opens a second span
    ]
    with Jetstream(events) as js:
        result = run(db, js, until=t3)
        assert js.requests[0]["wantedCollections"] == [FOLLOW]
        assert "cursor" not in js.requests[0]  # nothing saved yet: live tail
    assert (result.follows, result.unfollows, result.untracked) == (2, 1, 1)
    got = contents(db)
    assert got["spans"] == [
        ("bsky:brand.test", a, "followers", at(t1), at(t1), True, at(t2), at(t2), True,
         "unfollowed"),
        ("bsky:brand.test", a, "followers", at(t3), at(t3), True, None, None, None, None),
    ]  # fmt: skip
    assert got["events"] == [
        ("bsky:brand.test", a, "followers", "follow", at(t1), tid(t1)),
        ("bsky:brand.test", a, "followers", "follow", at(t3), tid(t3)),
        ("bsky:brand.test", a, "followers", "unfollow", at(t2), tid(t1)),
    ]
    assert [r[2:] for r in got["follow_records"]] == [(tid(t1), at(t1)), (tid(t3), at(t3))]
    with Store(db, read_only=True) as store:
        assert store.cursor("jetstream") == t3


def test_delete_resolved_through_a_backfilled_follow_record(db: Path) -> None:
    """The follow predates streaming: only getRelationships told us its record key."""
    b, c = fan(2), fan(3)
    polled = datetime(2025, 2, 1, tzinfo=UTC)
    with Store(db) as store:
        save_batch(
            store,
            Batch(
                source="bsky",
                platform="bsky",
                source_ref="poll-1",
                account_identity=BRAND,
                observed_at=polled,
                snapshots=[Snapshot.of(Direction.FOLLOWERS, polled, [Person(b), Person(c)])],
                follow_records=[FollowRecord(Person(b), "3kbackfilled2x")],
            ),
            account="bsky:brand.test",
        )
    t1, t2, t3 = T0, T0 + SEC, T0 + 2 * SEC
    events = [
        unfollow(b, t1, "3kbackfilled2x"),
        unfollow(c, t2, "3knobodyknows2"),  # c's record key was never learned: dropped
        unfollow(b, t3, "3kbackfilled2x"),  # the same record cannot be deleted twice
    ]
    with Jetstream(events) as js:
        result = run(db, js, until=t3)
    assert (result.unfollows, result.unresolved) == (1, 2)
    spans = {r[1]: r[3:] for r in contents(db)["spans"]}
    naive = polled.replace(tzinfo=None)
    assert spans[b] == (None, naive, False, at(t1), at(t1), True, "unfollowed")
    assert spans[c] == (None, naive, False, None, None, None, None)


# -- reconnects and restarts ---------------------------------------------------------------


def uninterrupted(tmp_path: Path, events: list[dict[str, Any]]) -> dict[str, list[Any]]:
    path = tmp_path / "whole.duckdb"
    with Store(path) as store:
        store.ensure_account("bsky:brand.test", "bsky", BRAND, "brand.test")
        store.ensure_account("bsky:peer.test", "bsky", PEER, "peer.test", role="peer")
    with Jetstream(events) as js:
        run(path, js, until=int(events[-1]["time_us"]))
        assert len(js.requests) == 1
    return contents(path)


def test_reconnect_mid_burst_loses_nothing_and_duplicates_nothing(db: Path, tmp_path: Path) -> None:
    events = burst()
    times = [int(e["time_us"]) for e in events]
    # Dropped after 30 frames, then 25 more; 3 events happen during each outage.
    with Jetstream(events, drops=[30, 25], outage=3) as js:
        result = run(db, js, until=times[-1])
        cursors = [q.get("cursor") for q in js.requests]
    assert len(cursors) == 3 and result.connections == 3
    assert cursors[0] is None
    assert cursors[1] == [str(times[29] - REWIND_US)]  # resumed a few seconds back
    assert result.frames > len(events)  # the rewind replayed some frames …
    got = contents(db)
    assert got == uninterrupted(tmp_path, events)  # … and none of them counted twice
    assert len(got["events"]) == len(set(got["events"]))


def test_restart_resumes_from_the_persisted_cursor(db: Path, tmp_path: Path) -> None:
    events = burst()
    times = [int(e["time_us"]) for e in events]
    with Jetstream(events) as js:
        first = run(db, js, until=times[39], max_events=40)
        assert first.frames == 40 and first.cursor == times[39]
        js.advance(4)  # the network goes on while we are down
        second = run(db, js, until=times[-1])
        assert js.requests[1]["cursor"] == [str(times[39] - REWIND_US)]
    assert second.frames < len(events)  # resumed, not started over
    assert contents(db) == uninterrupted(tmp_path, events)


def test_killed_consumer_loses_only_what_was_never_committed(db: Path, tmp_path: Path) -> None:
    """Killed between two saves: the frames after the last save are replayed on restart."""
    events = burst()
    times = [int(e["time_us"]) for e in events]
    with Store(db) as store:
        consumer = Consumer(store, flush_every=10**9, flush_seconds=3600)
        for event in events[:25]:
            consumer.feed(encode(event))
        consumer.flush()
        for event in events[25:40]:
            consumer.feed(encode(event))
        assert consumer.resolver.pending  # and then the process dies: never saved
    with Jetstream(events) as js:
        js.advance(40)
        run(db, js, until=times[-1])
        assert js.requests[0]["cursor"] == [str(times[24] - REWIND_US)]
    assert contents(db) == uninterrupted(tmp_path, events)


# -- account events and untracked accounts ---------------------------------------------------


def test_account_deactivation_is_a_check_and_the_departure_kind_deleted(db: Path) -> None:
    c, d, e, x = fan(4), fan(5), fan(6), stranger(9)
    polled = datetime(2025, 2, 1, tzinfo=UTC)
    follower_poll = [Person(c), Person(d), Person(e)]

    def poll(when: datetime, people: list[Person]) -> None:
        with Store(db) as store:
            save_batch(
                store,
                Batch(
                    source="bsky",
                    platform="bsky",
                    source_ref=f"poll-{when.isoformat()}",
                    account_identity=BRAND,
                    observed_at=when,
                    snapshots=[Snapshot.of(Direction.FOLLOWERS, when, people)],
                ),
                account="bsky:brand.test",
            )

    poll(polled, follower_poll)
    events = [
        account(c, T0, active=False, status="deactivated"),
        account(d, T0 + SEC, active=False, status="takendown"),
        account(x, T0 + 2 * SEC, active=False, status="deleted"),  # follows nobody here
        account(e, T0 + 3 * SEC, active=True),
        account(e, T0 + 4 * SEC, active=False, status="desynchronized"),  # hosting, not e
        identity(e, T0 + 5 * SEC, "e-renamed.test"),
    ]
    with Jetstream(events) as js:
        result = run(db, js, until=T0 + 5 * SEC)
    assert (result.account_events, result.unfollows) == (3, 0)
    got = contents(db)
    assert [r[1:4] for r in got["checks"]] == [
        (c, at(T0), "deactivated"),
        (d, at(T0 + SEC), "suspended"),
    ]
    assert ("bsky", x) not in got["people"]
    assert got["events"] == []  # recorded as checks, never as unfollows

    # The next poll no longer sees c and d: their departures take the kind of the check.
    poll(datetime(2025, 3, 2, tzinfo=UTC), [Person(e)])
    spans = {r[1]: r for r in contents(db)["spans"]}
    assert {p: r[9] for p, r in spans.items()} == {c: "deleted", d: "suspended", e: None}
    # The account event's own time_us is when they went: exact, not the polls' window.
    assert spans[c][6:9] == (at(T0), at(T0), True)
    assert spans[d][6:9] == (at(T0 + SEC), at(T0 + SEC), True)


def test_a_profile_lookup_after_the_window_leaves_the_window(db: Path) -> None:
    """A state seen by a later profile lookup says how they went, not when: the window
    between the polls stays."""
    c, e = fan(7), fan(8)
    first, second = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC)
    lookup = Check(Person(c), second, AccountState.DEACTIVATED, None, "getProfile")
    with Store(db) as store:
        for when, people, checks in (
            (first, [Person(c), Person(e)], []),
            (second, [Person(e)], [lookup]),
        ):
            save_batch(
                store,
                Batch(
                    source="bsky",
                    platform="bsky",
                    source_ref=f"poll-{when.isoformat()}",
                    account_identity=BRAND,
                    observed_at=when,
                    snapshots=[Snapshot.of(Direction.FOLLOWERS, when, people)],
                    checks=checks,
                ),
                account="bsky:brand.test",
            )
    span = {r[1]: r for r in contents(db)["spans"]}[c]
    assert span[6:10] == (first.replace(tzinfo=None), second.replace(tzinfo=None), False, "deleted")


def test_untracked_subjects_produce_nothing(db: Path) -> None:
    events = []
    for k in range(200):
        us = T0 + k * SEC
        events.append(follow(stranger(k), us, tid(us), OTHER))
        events.append(unfollow(stranger(k), us + 1, tid(us - SEC)))
    # The brand following someone else mentions the brand's DID, but is not a follower.
    events.append(follow(BRAND, T0 + 999 * SEC, tid(T0 + 999 * SEC), OTHER))
    before = contents(db)
    with Jetstream(events) as js:
        result = run(db, js, until=T0 + 999 * SEC)
    assert (result.untracked, result.unresolved, result.follows) == (201, 200, 0)
    assert result.saved_events == result.saved_records == 0
    assert contents(db) == before
    with Store(db, read_only=True) as store:
        assert store.scalar("SELECT count(*) FROM imports") == 0
        assert store.cursor("jetstream") == T0 + 999 * SEC


# -- frames of unusual shape -------------------------------------------------------------------


def test_frames_the_fast_path_cannot_read_are_parsed_in_full(db: Path) -> None:
    spaced = follow(fan(7), T0, tid(T0), BRAND)
    decoy = follow(fan(8), T0 + SEC, tid(T0 + SEC), BRAND)
    decoy["commit"]["record"] = {
        "$type": FOLLOW,
        "createdAt": "2025-03-01T12:00:01.000Z",
        "a": {"subject": OTHER},  # an extra field with a "subject" before the real one
        "subject": BRAND,
    }
    block = follow(fan(9), T0 + 2 * SEC, tid(T0 + 2 * SEC), BRAND)
    block["commit"]["collection"] = block["commit"]["record"]["$type"] = "app.bsky.graph.block"
    frames: list[str | bytes] = [
        json.dumps(spaced),  # not Go's compact form
        encode(decoy),
        encode(block),  # a block is not a follow
        "not json at all",
        '{"did": 7, "time_us": "soon"}',
        encode(follow(fan(10), T0 + 3 * SEC, tid(T0 + 3 * SEC), BRAND)).encode(),  # bytes
    ]
    with Store(db) as store:
        consumer = Consumer(store)
        for frame in frames:
            consumer.feed(frame)
        consumer.flush()
        r = consumer.result
    assert (r.follows, r.ignored, r.malformed) == (3, 1, 2)
    assert [e[1] for e in contents(db)["events"]] == [fan(7), fan(8), fan(10)]


def test_unreachable_server_is_retried_until_stopped(db: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stop = threading.Event()
    timer = threading.Timer(0.6, stop.set)
    timer.start()
    try:
        with Store(db) as store:
            result = stream(
                store, url=f"ws://127.0.0.1:{port}/subscribe", stop=stop.is_set, backoff=0.05
            )
    finally:
        timer.cancel()
    assert result.connections == 0
    assert len(result.problems) >= 2  # tried again, with backoff in between
    assert "ConnectionRefusedError" in result.problems[0]


def test_a_url_that_can_never_work_is_an_error(db: Path) -> None:
    with Store(db) as store, pytest.raises(ServiceError, match="not a ws"):
        stream(store, url="https://jetstream.example/subscribe", max_events=1)


def test_the_stream_command_saves_what_it_reads_and_reports_json(db: Path) -> None:
    import subprocess
    import sys

    events = burst(30)
    with Jetstream(events) as js:
        proc = subprocess.run(
            [sys.executable, "-m", "breakup", "--db", str(db), "stream",
             "--jetstream", js.url, "--max-events", str(len(events)), "--json"],
            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["frames"] == len(events)
    brand_or_peer = sum(1 for e in events if e.get("commit", {}).get("operation") == "create"
                        and e["commit"]["record"]["subject"] in (BRAND, PEER))  # fmt: skip
    assert out["follows"] == brand_or_peer
    assert out["cursor"] == events[-1]["time_us"]
    spans = contents(db)["spans"]
    assert sum(1 for s in spans if s[1] == fan(0) and s[0] == "bsky:brand.test") == 2
