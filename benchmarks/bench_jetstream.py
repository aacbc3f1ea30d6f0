"""Jetstream replay: follow events processed per second on one core, with rkey resolution.

    python benchmarks/bench_jetstream.py                   # 1M events
    python benchmarks/bench_jetstream.py --events 3000000

The frames are synthetic but wire-exact (Jetstream v1 as Go encodes it: compact JSON,
envelope keys in struct order) and go through :meth:`breakup.jetstream.Consumer.feed`,
which is what the websocket loop calls for every frame it receives: the substring filter,
a full parse of what may matter, rkey resolution, batching, and ``save_batch`` of every
batch with its cursor in one transaction. Only the socket is left out. DuckDB is held to
one thread, so the whole run uses one core (CPU time is reported beside wall time).

Per 1,000 frames, roughly: 800 follows of accounts nobody tracks, 150 deletes of their
records, 20 follows of the 10 tracked accounts, 10 unfollows of them (half resolved
through records backfilled before the replay, as getRelationships leaves them), 10
account events (a third of them followers going inactive) and 10 identity events.

The baseline is stdlib ``json.loads`` of every frame and nothing else: what a naive
consumer spends before doing any work.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from breakup.ingest import save_batch
from breakup.jetstream import Consumer
from breakup.models import Batch, Direction, FollowRecord, Person, Snapshot
from breakup.store import Store

BAR = 50_000  # follow events per second, from the brief
FOLLOW = "app.bsky.graph.follow"
ACCOUNTS = 10
BACKFILLED = 5_000  # followers per tracked account known before the replay
SEED = 20250301
_B32 = "234567abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def tid(micros: int, clock_id: int = 0) -> str:
    value = (micros << 10) | (clock_id & 0x3FF)
    return "".join(_B32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def did(kind: str, n: int) -> str:
    return f"did:plc:{kind}{n:08d}{'q' * (16 - len(kind))}"


def iso(us: int) -> str:
    at = _EPOCH + timedelta(microseconds=us)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def create(who: str, us: int, rkey: str, subject: str) -> bytes:
    record = {"$type": FOLLOW, "createdAt": iso(us), "subject": subject}
    commit = {
        "rev": tid(us, 1),
        "operation": "create",
        "collection": FOLLOW,
        "rkey": rkey,
        "record": record,
        "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
    }
    return orjson.dumps({"did": who, "time_us": us, "kind": "commit", "commit": commit})


def delete(who: str, us: int, rkey: str) -> bytes:
    commit = {"rev": tid(us, 2), "operation": "delete", "collection": FOLLOW, "rkey": rkey}
    return orjson.dumps({"did": who, "time_us": us, "kind": "commit", "commit": commit})


def account(who: str, us: int, status: str) -> bytes:
    body = {"active": False, "did": who, "seq": us, "status": status, "time": iso(us)}
    return orjson.dumps({"did": who, "time_us": us, "kind": "account", "account": body})


def identity(who: str, us: int) -> bytes:
    body = {"did": who, "handle": f"{who[8:20]}.test", "seq": us, "time": iso(us)}
    return orjson.dumps({"did": who, "time_us": us, "kind": "identity", "identity": body})


def frames(
    n: int, start_us: int, backfilled: list[tuple[str, str, str]]
) -> tuple[list[str], dict[str, int]]:
    """*n* frames 100 µs apart, and how many of each kind that matters were planted."""
    rng = random.Random(SEED)
    tracked = [did("acct", a) for a in range(ACCOUNTS)]
    live: list[tuple[str, str]] = []  # (follower, rkey) of tracked follows made in the replay
    old = list(backfilled)
    rng.shuffle(old)
    planted = {"follows": 0, "unfollows": 0, "gone": 0}
    out: list[str] = []
    for k in range(n):
        us = start_us + 100 * k
        roll = rng.random()
        if roll < 0.80:
            frame = create(did("x", k), us, tid(us), did("y", rng.randrange(10**6)))
        elif roll < 0.95:
            frame = delete(did("x", rng.randrange(10**6)), us, tid(us - 10**9))
        elif roll < 0.97:
            who, rkey = did("fan", k), tid(us)
            frame = create(who, us, rkey, rng.choice(tracked))
            live.append((who, rkey))
            planted["follows"] += 1
        elif roll < 0.98 and (live or old):
            if old and (not live or rng.random() < 0.5):
                who, rkey, _ = old.pop()
            else:
                who, rkey = live.pop(rng.randrange(len(live)))
            frame = delete(who, us, rkey)
            planted["unfollows"] += 1
        elif roll < 0.99:
            if old and rng.random() < 1 / 3:
                who = old.pop()[0]  # a known follower: their record is never deleted now
                planted["gone"] += 1
            else:
                who = did("x", rng.randrange(10**6))
            frame = account(who, us, rng.choice(["deactivated", "deleted", "takendown"]))
        else:
            frame = identity(did("x", rng.randrange(10**6)), us)
        out.append(frame.decode())
    return out, planted


def _backfill(store: Store, at: datetime) -> list[tuple[str, str, str]]:
    """Each tracked account's followers, with their record keys, as a poll saved them."""
    known: list[tuple[str, str, str]] = []
    for a in range(ACCOUNTS):
        subject = did("acct", a)
        people = [Person(did("old", a * BACKFILLED + i)) for i in range(BACKFILLED)]
        rkeys = [tid(10**15 + a * BACKFILLED + i) for i in range(BACKFILLED)]
        save_batch(
            store,
            Batch(
                source="bsky",
                platform="bsky",
                source_ref=f"poll-{a}",
                account_identity=subject,
                observed_at=at,
                snapshots=[Snapshot.of(Direction.FOLLOWERS, at, people)],
                follow_records=[FollowRecord(p, r) for p, r in zip(people, rkeys, strict=True)],
            ),
            account=f"bsky:acct{a}",
        )
        known += [(p.external_id, r, subject) for p, r in zip(people, rkeys, strict=True)]
    return known


def run(n_events: int = 1_000_000) -> dict[str, Any]:
    """Replay *n_events* frames through the consumer; events/s and what was found."""
    start = datetime.now(UTC) - timedelta(days=2)
    start_us = (start - _EPOCH) // timedelta(microseconds=1)
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "bench.duckdb") as store:
            store.con.execute("SET threads = 1")  # one core, DuckDB included
            backfilled = _backfill(store, start - timedelta(hours=1))
            replay, planted = frames(n_events, start_us, backfilled)

            t0, c0 = time.perf_counter(), time.process_time()
            consumer = Consumer(store)  # the live loop's batch size and interval
            for frame in replay:
                consumer.feed(frame)
            consumer.flush()
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            r = consumer.result
            stored = store.scalar("SELECT count(*) FROM events")
            checks = store.scalar("SELECT count(*) FROM checks")

        t1 = time.perf_counter()
        for frame in replay:
            json.loads(frame)
        baseline = time.perf_counter() - t1

    correct = (
        r.follows == planted["follows"]
        and r.unfollows == planted["unfollows"]
        and stored == planted["follows"] + planted["unfollows"]
        and checks == planted["gone"]
        and r.malformed == 0
    )
    rate = n_events / seconds
    return {
        "case": "jetstream",
        "events": n_events,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "events_per_s": round(rate),
        "events_per_cpu_s": round(n_events / cpu),  # what one uncontended core would do
        "bar_events_per_s": BAR,
        "meets_bar": rate >= BAR,
        "baseline": "stdlib json.loads of every frame, nothing else",
        "baseline_events_per_s": round(n_events / baseline),
        "ratio_vs_baseline": round(baseline / seconds, 2),
        "tracked_follows": r.follows,
        "tracked_unfollows": r.unfollows,
        "account_checks": r.saved_checks,
        "untracked_dropped": r.untracked,
        "unresolved_deletes": r.unresolved,
        "saves": r.flushes,
        "correct": correct,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    result = run(args.events)
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["correct"] and result["meets_bar"] else 1)


if __name__ == "__main__":
    main()
