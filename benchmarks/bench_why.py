"""Benchmark of ``breakup why`` (BRIEF §6: a full report for 1M followers, one year, 3,000
posts in at most 10 s).

    python benchmarks/bench_why.py                     # 1M followers, 365 days, 3,000 posts
    python benchmarks/bench_why.py --followers 100000  # quicker

The store is built directly with SQL from Arrow tables (not through the simulator or the
ingest pipeline, which have their own benchmarks): one own account whose followers leave at
a constant hazard, with a few planted break-up posts, and a peer account of a tenth its
size. Only ``analyze`` is timed; peak RSS is this process's ``ru_maxrss`` after it.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from breakup.clock import fixed_clock
from breakup.store import Store

T0 = datetime(2025, 1, 1, tzinfo=UTC)
BAR_SECONDS = 10.0
TEXTS = (
    "How to dial in a pour-over: five things we learned this week. https://brand.example/b",
    "Question for you: how do you take your coffee in the morning?",
    "20% off everything this weekend with code SAVE20! Shop now → https://brand.example #sale",
    "Behind the scenes: packing day at the roastery.",
    "Our house blend is back in stock! Grab yours → https://brand.example/shop #restock",
)


@dataclass
class Planted:
    post: str
    at: datetime
    multiplier: float


def build(
    store: Store,
    *,
    name: str = "bsky:synthetic.example",
    role: str = "own",
    followers: int = 2000,
    days: int = 60,
    posts: int = 150,
    churn_per_day: float = 0.001,
    planted: dict[int, float] | None = None,
    window_hours: float = 48.0,
    snapshot_hours: float | None = None,
    seed: int = 0,
) -> list[Planted]:
    """Write a synthetic account into *store*: *followers* there from the start (start
    unknown), joiners at 0.1% a day, departures at *churn_per_day* per follower, times
    *multiplier* on average in the *window_hours* after each planted post (index ->
    multiplier), most of it in the first hours.
    Departures are exact events, or windows between snapshots every *snapshot_hours*."""
    rng = np.random.default_rng(seed)
    hours = days * 24
    acct = store.ensure_account(name, "bsky", f"did:plc:{name}", name, role)
    aid = acct.account_id
    base_import = store.next_id("imports", "import_id")
    post_at = np.sort(rng.uniform(0, hours - 1, posts))
    # The hazard on a 5-minute grid, so a planted excess starts with its post.
    step = 1.0 / 12.0
    bins = int(hours / step)
    rate = np.full(bins, churn_per_day / 24.0 * step)
    # A planted post's excess decays (mean delay 4 h) over the window, with as many
    # departures as a flat ×mult would give: most people who leave over a post leave soon.
    span = int(window_hours / step)
    decay = np.exp(-np.arange(span) * step / 4.0)
    decay *= span / decay.sum()
    for i, mult in (planted or {}).items():
        b = int(np.ceil(post_at[i] / step))
        part = rate[b : b + span]
        part *= 1.0 + (mult - 1.0) * decay[: len(part)]
    cum = np.concatenate([[0.0], np.cumsum(rate)])
    joiners = rng.poisson(followers * 0.001 * days)
    start = np.concatenate([np.zeros(followers), rng.uniform(0, hours, joiners)])
    n = len(start)
    # Inverse of the cumulative hazard from each start.
    grid = np.arange(bins + 1) * step
    target = np.interp(start, grid, cum) + rng.exponential(1.0, n)
    idx = np.searchsorted(cum, target, side="right") - 1
    ended = idx < bins
    i = np.clip(idx, 0, bins - 1)
    end = np.where(ended, (i + (target - cum[i]) / rate[i]) * step, np.inf)
    first_person = int(store.scalar("SELECT coalesce(max(person_id), 0) FROM people")) + 1
    person = np.arange(first_person, first_person + n, dtype=np.uint32)
    us = 3_600_000_000

    def ts(h: np.ndarray) -> pa.Array:
        base = int(T0.timestamp() * 1_000_000)
        return pa.array((base + np.round(h * us)).astype(np.int64), pa.timestamp("us"))

    end_e, end_l = end.copy(), end.copy()
    if snapshot_hours:
        end_e = np.floor(end / snapshot_hours) * snapshot_hours
        end_l = np.minimum(end_e + snapshot_hours, hours)
    fin = np.where(ended, 1.0, 0.0)
    spans = pa.table(
        {
            "span_id": pa.array(np.arange(n, dtype=np.int64) + int(person[0]) * 10),
            "account_id": pa.array(np.full(n, aid, dtype=np.int32)),
            "person_id": pa.array(person),
            "direction": pa.array(["followers"] * n),
            "start": ts(start),
            "joined": pa.array(start > 0),
            "end_e": ts(np.where(ended, end_e, 0.0)),
            "end_l": ts(np.where(ended, end_l, 0.0)),
            "ended": pa.array(fin > 0),
        }
    )
    store.con.register("_spans", spans)
    store.con.register(
        "_posts",
        pa.table(
            {
                "i": pa.array(np.arange(posts, dtype=np.int64)),
                "posted": ts(post_at),
                "text": pa.array([TEXTS[int(k)] for k in rng.integers(0, len(TEXTS), posts)]),
            }
        ),
    )
    exact = snapshot_hours is None
    with store.transaction():
        store.con.execute(
            "INSERT INTO imports VALUES (?, ?, 'synthetic', ?, NULL, ?, NULL)",
            [base_import, aid, f"synthetic-{name}-{seed}", T0.replace(tzinfo=None)],
        )
        for when in (T0, T0 + timedelta(days=days)):
            store.con.execute(
                "INSERT INTO observations (observation_id, import_id, account_id, direction,"
                " observed_at, complete, diffable, member_count)"
                " VALUES (?, ?, ?, 'followers', ?, true, true, 0)",
                [store.next_id("observations", "observation_id"), base_import, aid,
                 when.replace(tzinfo=None)],
            )  # fmt: skip
        store.con.execute(
            "INSERT INTO people SELECT person_id, 'bsky', 'did:' || person_id::VARCHAR FROM _spans"
        )
        store.con.execute(
            f"""
            INSERT INTO spans SELECT span_id, account_id, person_id, direction,
                CASE WHEN joined THEN start END, start, joined,
                CASE WHEN ended THEN end_e END, CASE WHEN ended THEN end_l END,
                CASE WHEN ended THEN {exact} END,
                CASE WHEN ended THEN 'unfollowed' END, NULL, NULL
            FROM _spans
            """
        )
        post_base = store.next_id("posts", "post_id")
        store.con.execute(
            f"""
            INSERT INTO posts SELECT {post_base} + i, {base_import}, {aid},
                '{name}/p' || i::VARCHAR, 'post', posted, text, NULL, NULL FROM _posts
            """
        )
    store.con.unregister("_spans")
    store.con.unregister("_posts")
    return [
        Planted(f"{name}/p{i}", T0 + timedelta(hours=float(post_at[i])), m)
        for i, m in (planted or {}).items()
    ]


def run(followers: int, days: int, posts: int, workdir: Path) -> dict[str, Any]:
    db = workdir / "why.duckdb"
    clock = fixed_clock(T0 + timedelta(days=days))
    start = time.perf_counter()
    with Store(db, clock=clock) as store:
        planted = build(
            store,
            followers=followers,
            days=days,
            posts=posts,
            churn_per_day=0.001,
            planted={posts // 4: 3.0, posts // 2: 3.0, 3 * posts // 4: 3.0},
            snapshot_hours=None,
        )
        build(store, name="bsky:peer.example", role="peer", followers=max(1000, followers // 10),
              days=days, posts=posts // 3, seed=1)  # fmt: skip
    built = time.perf_counter() - start
    from breakup.why import analyze

    with Store(db, clock=clock, read_only=True) as store:
        start = time.perf_counter()
        report = analyze(store)
        seconds = time.perf_counter() - start
    named = {p.post for p in report.attribution.break_up_posts}
    return {
        "followers": followers,
        "days": days,
        "posts": posts,
        "build_seconds": built,
        "seconds": seconds,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "planted_named": sum(p.post in named for p in planted),
        "planted": len(planted),
        "named": len(named),
        "verdict": report.triage.verdict,
        "bar_seconds": BAR_SECONDS,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    if args.workdir:
        out = run(args.followers, args.days, args.posts, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="breakup-why-") as tmp:
            out = run(args.followers, args.days, args.posts, Path(tmp))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
