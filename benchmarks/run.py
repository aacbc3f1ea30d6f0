"""Performance benchmarks of breakup, each against its baseline measured in the same run.

    python benchmarks/run.py                      # the full 10M-follower run (make bench)
    python benchmarks/run.py --followers 1000000  # a quicker run at 1M

Every case runs in its own subprocess, so its peak memory (``ru_maxrss`` of that child) is
not polluted by the others. The machine may be shared and noisy: compare the ratios.

Cases:

* ``diff``: the two set differences (who joined, who left) between two snapshots with 1 %
  churn, as pyroaring bitmaps vs Python ``set`` difference, and vs a DuckDB anti-join of
  the two member tables (in memory, all cores, only counting the result). Best of several
  repeats.
* ``ingest``: a snapshot of ids held in memory as a pyarrow string array, through
  ``save_batch`` into a DuckDB file (interned, stored as a bitmap, diffed, spans written):
  first the initial snapshot, then one with 1 % churn. The baseline is the per-row SQLite
  upsert table of twitter-to-sqlite: ``INSERT ... ON CONFLICT DO UPDATE`` of one row per
  follower with first_seen / last_seen, ``executemany`` into a file database. The baseline
  is given its ids as a ready Python list (its conversion is not timed), and it neither
  finds departures nor keeps history, so the comparison flatters it.
* ``storage``: growth of the store file over daily snapshots with 1 % daily churn, in bytes
  per follower per snapshot.
* ``why``: the full ``breakup why`` analysis (``benchmarks/bench_why.py``) of one year,
  3,000 posts and min(followers, 1M) followers; the bar is stated for 1M.
* ``import``: a 1M-follower X archive zip in the real layout imported by the command line,
  ``breakup import x-archive`` into a fresh store vs ``twitter-to-sqlite import`` into a
  fresh SQLite file, each in its own process (``benchmarks/bench_import.py``); wall time
  of the whole command and each one's peak RSS.
* ``jetstream``: a replay of 1M wire-exact Jetstream frames through the real consumer with
  rkey resolution and saving (``benchmarks/bench_jetstream.py``), on one core, vs stdlib
  ``json.loads`` of every frame and nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from breakup.clock import fixed_clock
from breakup.ingest import save_batch
from breakup.models import Batch, Direction, Snapshot, members_table
from breakup.store import Store
from breakup.tracking import bitmap_from_ids

CHURN = 0.01
DAYS = 30
T0 = datetime(2025, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=365)
SEED = 20250101

# -- synthetic audience ------------------------------------------------------------------


def audience(n: int, days: int, seed: int = SEED) -> Iterator[np.ndarray]:
    """Members (person numbers, in snapshot order) of *days* daily snapshots of *n* followers:
    each day a random 1 % leaves and as many newcomers arrive, appended at the end."""
    rng = np.random.default_rng(seed)
    members = np.arange(n, dtype=np.int64)
    fresh = n
    for _ in range(days):
        yield members
        churn = int(n * CHURN)
        keep = np.ones(len(members), dtype=bool)
        keep[rng.choice(len(members), churn, replace=False)] = False
        members = np.concatenate([members[keep], np.arange(fresh, fresh + churn)])
        fresh += churn


def external_ids(members: np.ndarray) -> pa.Array:
    """X-style account ids: distinct 18-19 digit decimal strings, in no useful order."""
    scrambled = (members.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) & np.uint64(2**63 - 1)
    return pc.cast(pa.array(scrambled.astype(np.int64)), pa.string())


def snapshot_ids(n: int, day: int) -> pa.Array:
    """The ids of snapshot *day*, in memory: the input of an ingest."""
    ids = None
    for d, members in enumerate(audience(n, day + 1)):
        if d == day:
            ids = external_ids(members)
    # What generating the input left in Arrow's allocator is not the ingest's memory.
    pa.default_memory_pool().release_unused()
    assert ids is not None
    return ids


def batch(ids: pa.Array, day: int) -> Batch:
    return Batch(
        source="bench",
        platform="x",
        source_ref=f"day-{day}",
        account_identity="12",
        account_handle="bench",
        snapshots=[
            Snapshot(
                Direction.FOLLOWERS,
                T0 + timedelta(days=day),
                members_table(ids),
                reported_count=len(ids),
            )
        ],
    )


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


# -- cases: each returns a JSON-able dict ---------------------------------------------------


def bench_diff(n: int) -> dict[str, Any]:
    """Joined and departed between two snapshots: as bitmaps, as Python sets and as a
    DuckDB anti-join."""
    days = audience(n, 2)
    before = next(days).astype(np.uint32) + 1  # person ids are dense, from 1
    after = next(days).astype(np.uint32) + 1
    bm_before, bm_after = bitmap_from_ids(before), bitmap_from_ids(after)
    joined, left = bm_after - bm_before, bm_before - bm_after
    t_bitmap = best_of(7, lambda: (bm_after - bm_before, bm_before - bm_after))
    t_duckdb = _duckdb_diff(before, after, len(joined), len(left))
    set_before, set_after = set(before.tolist()), set(after.tolist())
    del before, after
    if len(set_after - set_before) != len(joined) or len(set_before - set_after) != len(left):
        raise AssertionError("bitmap and set differences disagree")
    t_set = best_of(3, lambda: (set_after - set_before, set_before - set_after))
    return {
        "seconds": t_bitmap,
        "baseline": t_set,
        "baseline_duckdb": t_duckdb,
        "joined": len(joined),
        "left": len(left),
    }


def _duckdb_diff(before: np.ndarray, after: np.ndarray, joined: int, left: int) -> float:
    """Both anti-joins of two in-memory member tables, counted (not materialised, which
    flatters the baseline)."""
    con = duckdb.connect()
    try:
        con.register("_b", pa.table({"id": before}))
        con.register("_a", pa.table({"id": after}))
        con.execute("CREATE TABLE b AS SELECT id FROM _b")
        con.execute("CREATE TABLE a AS SELECT id FROM _a")
        sql = (
            "SELECT (SELECT count(*) FROM a ANTI JOIN b USING (id)),"
            " (SELECT count(*) FROM b ANTI JOIN a USING (id))"
        )
        got = con.execute(sql).fetchall()[0]
        if tuple(got) != (joined, left):
            raise AssertionError(f"DuckDB anti-join disagrees: {got} vs {(joined, left)}")
        return best_of(5, lambda: con.execute(sql).fetchall())
    finally:
        con.close()


def bench_ingest(n: int, db: Path, day: int) -> dict[str, Any]:
    """``save_batch`` of snapshot *day* into the store at *db* (earlier days already in it)."""
    ids = snapshot_ids(n, day)
    with Store(db, clock=fixed_clock(NOW)) as store:
        start = time.perf_counter()
        result = save_batch(store, batch(ids, day))
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "members": result.members,
        "opened": result.opened,
        "closed": result.closed,
    }


def bench_sqlite(n: int, db: Path, day: int) -> dict[str, Any]:
    """The baseline: one upserted row per follower, first_seen / last_seen, in SQLite."""
    ids = snapshot_ids(n, day).to_pylist()
    seen = (T0 + timedelta(days=day)).isoformat()
    con = sqlite3.connect(db)
    try:
        con.execute(
            "CREATE TABLE IF NOT EXISTS followers (account_id TEXT NOT NULL, "
            "follower_id TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, "
            "PRIMARY KEY (account_id, follower_id))"
        )
        con.commit()
        start = time.perf_counter()
        with con:
            con.executemany(
                "INSERT INTO followers VALUES ('12', ?, ?, ?) ON CONFLICT (account_id, "
                "follower_id) DO UPDATE SET last_seen = excluded.last_seen",
                ((i, seen, seen) for i in ids),
            )
        seconds = time.perf_counter() - start
        rows = con.execute("SELECT count(*) FROM followers").fetchone()[0]
    finally:
        con.close()
    return {"seconds": seconds, "rows": rows}


def bench_storage(n: int, db: Path, days: int = DAYS) -> dict[str, Any]:
    """Store file growth over *days* daily snapshots, per follower per snapshot."""
    Store(db, clock=fixed_clock(NOW)).close()
    empty = db.stat().st_size
    seconds = 0.0
    free_by_day = []  # what the last checkpoint left free varies from day to day
    for day, members in enumerate(audience(n, days)):
        start = time.perf_counter()
        with Store(db, clock=fixed_clock(NOW)) as store:
            save_batch(store, batch(external_ids(members), day))
        seconds += time.perf_counter() - start
        free_by_day.append(storage_breakdown(db, tables=False)["(free blocks)"])
    wal = db.with_name(db.name + ".wal")
    grown = db.stat().st_size + (wal.stat().st_size if wal.exists() else 0) - empty
    parts = {k: v / (n * days) for k, v in storage_breakdown(db).items()}
    return {
        "seconds": seconds,
        "bytes": grown,
        "per_follower_snapshot": grown / (n * days),
        "days": days,
        "per_follower_snapshot_by_part": parts,
        "free_bytes_by_day": free_by_day,
    }


def storage_breakdown(db: Path, tables: bool = True) -> dict[str, int]:
    """Bytes of the file's blocks by table, and DuckDB's free blocks. A block holding
    segments of two tables counts for both (rare at this size: tables span many blocks)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        size = con.execute("SELECT block_size, free_blocks FROM pragma_database_size()")
        block_size, free = size.fetchall()[0]
        names = con.execute("SELECT table_name FROM duckdb_tables()").fetchall() if tables else []
        out: dict[str, int] = {}
        for (table,) in names:
            blocks = con.execute(
                "SELECT count(DISTINCT b) FROM (SELECT block_id AS b FROM pragma_storage_info(?)"
                " WHERE persistent AND block_id >= 0 UNION ALL SELECT unnest(additional_block_ids)"
                " FROM pragma_storage_info(?) WHERE persistent)",
                [table, table],
            ).fetchall()[0][0]
            if blocks:
                out[table] = int(blocks) * int(block_size)
        out["(free blocks)"] = int(free) * int(block_size)
        return out
    finally:
        con.close()


def run_case(
    case: str, n: int, workdir: Path, days: int, events: int = 1_000_000
) -> dict[str, Any]:
    if case == "diff":
        return bench_diff(n)
    if case == "storage":
        return bench_storage(n, workdir / "storage.duckdb", days)
    if case == "why":
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_why import run as bench_why

        return bench_why(min(n, 1_000_000), 365, 3000, workdir)
    if case == "jetstream":
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_jetstream import run as bench_jetstream

        return bench_jetstream(events)
    if case == "import":
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_import import run as bench_import

        return bench_import(min(n, 1_000_000), workdir, repeats=2 if n >= 1_000_000 else 1)
    kind, day = case.split("-")
    if kind == "ingest":
        return bench_ingest(n, workdir / "ingest.duckdb", int(day))
    if kind == "sqlite":
        return bench_sqlite(n, workdir / "baseline.sqlite", int(day))
    raise ValueError(f"unknown case {case!r}")


# -- the runner ------------------------------------------------------------------------------


@dataclass
class Measured:
    result: dict[str, Any]
    peak_rss: int  # bytes


def in_subprocess(case: str, n: int, workdir: Path, days: int, events: int) -> Measured:
    cmd = [sys.executable, __file__, "--case", case, "--followers", str(n)]
    cmd += ["--workdir", str(workdir), "--days", str(days), "--events", str(events)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark case {case} failed (exit status {proc.returncode})")
    return Measured(json.loads(out), usage.ru_maxrss * 1024)  # Linux reports KiB


def fmt_time(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_mem(size: float) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def report(n: int, days: int, m: dict[str, Measured]) -> list[list[str]]:
    """The table's rows for whichever cases were measured."""
    rows = [["case", "breakup", "baseline", "speed-up", "peak RSS (baseline)", "bar", "met"]]
    if "diff" in m:
        diff = m["diff"].result
        ratio = diff["baseline"] / diff["seconds"]
        met = _yes(diff["seconds"] <= 0.005 and ratio >= 50)
        rows.append(["diff, 1% churn", fmt_time(diff["seconds"]),
                     fmt_time(diff["baseline"]) + " (set)", f"{ratio:.0f}x", "",
                     "<= 5 ms, >= 50x", met])  # fmt: skip
        if "baseline_duckdb" in diff:
            ratio = diff["baseline_duckdb"] / diff["seconds"]
            rows.append(["diff, vs DuckDB anti-join", fmt_time(diff["seconds"]),
                         fmt_time(diff["baseline_duckdb"]) + " (anti-join)", f"{ratio:.0f}x",
                         "", "", ""])  # fmt: skip
    for day, label in ((0, "ingest, first snapshot"), (1, "ingest, 1% churn")):
        if f"ingest-{day}" not in m or f"sqlite-{day}" not in m:
            continue
        ours, base = m[f"ingest-{day}"], m[f"sqlite-{day}"]
        ratio = base.result["seconds"] / ours.result["seconds"]
        rows.append([label, fmt_time(ours.result["seconds"]),
                     fmt_time(base.result["seconds"]) + " (sqlite)", f"{ratio:.1f}x",
                     f"{fmt_mem(ours.peak_rss)} ({fmt_mem(base.peak_rss)})", ">= 5x, <= 2 GB",
                     _yes(ratio >= 5 and ours.peak_rss <= 2 * 10**9)])  # fmt: skip
    if "storage" in m:
        per = m["storage"].result["per_follower_snapshot"]
        rows.append([f"storage, {days} daily snapshots", f"{per:.3f} B/follower/snapshot",
                     "", "", "", "<= 1 byte", _yes(per <= 1)])  # fmt: skip
    if "why" in m:
        why = m["why"]
        ok = why.result["seconds"] <= why.result["bar_seconds"]
        planted = f"{why.result['planted_named']}/{why.result['planted']} planted posts named"
        rows.append([f"why, {why.result['followers']:,} followers, 1 year, 3,000 posts",
                     fmt_time(why.result["seconds"]), planted, "", fmt_mem(why.peak_rss),
                     "<= 10 s (1M)", _yes(ok)])  # fmt: skip
    if "jetstream" in m:
        js = m["jetstream"].result
        rows.append([f"jetstream replay, {js['events']:,} events, 1 core",
                     f"{js['events_per_s']:,.0f} events/s",
                     f"{js['baseline_events_per_s']:,.0f}/s (json.loads)",
                     f"{js['ratio_vs_baseline']:.2f}x", fmt_mem(m["jetstream"].peak_rss),
                     ">= 50,000/s", _yes(js["meets_bar"] and js["correct"])])  # fmt: skip
    if "import" in m:
        imp = m["import"].result
        label = f"import X archive, {imp['followers']:,} followers (CLI, zip)"
        ours, bar = fmt_mem(imp["breakup_peak_rss"]), ">= 20x, <= 1/2 memory"
        if imp["baseline"] is None:
            rows.append([label, fmt_time(imp["seconds"]), "twitter-to-sqlite not installed",
                         "", ours, bar, ""])  # fmt: skip
        else:
            rows.append([label, fmt_time(imp["seconds"]),
                         fmt_time(imp["baseline"]) + " (twitter-to-sqlite)",
                         f"{imp['speedup']:.1f}x", f"{ours} ({fmt_mem(imp['baseline_peak_rss'])})",
                         bar, _yes(imp["meets_bar"])])  # fmt: skip
            cpu, base_cpu = imp["cpu_seconds"], imp["baseline_cpu_seconds"]
            rows.append(["import X archive, CPU time (all threads)", fmt_time(cpu),
                         fmt_time(base_cpu) + " (twitter-to-sqlite)", f"{base_cpu / cpu:.1f}x",
                         "", "", ""])  # fmt: skip
    return rows


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def markdown(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


CASES = [
    "diff", "ingest-0", "sqlite-0", "ingest-1", "sqlite-1", "storage", "why", "jetstream", "import"
]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=10_000_000, help="default 10M")
    parser.add_argument("--days", type=int, default=DAYS, help="snapshots in the storage case")
    parser.add_argument("--events", type=int, default=1_000_000, help="Jetstream frames")
    parser.add_argument("--only", help="comma-separated cases (default: all)")
    parser.add_argument("--out", type=Path, help="also write the measurements as JSON here")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        result = run_case(args.case, args.followers, args.workdir, args.days, args.events)
        print(json.dumps(result))
        return
    cases = args.only.split(",") if args.only else CASES
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)} (known: {', '.join(CASES)})")
    n = args.followers
    print(f"breakup benchmarks: {n:,} followers, {os.cpu_count()} CPUs, each case in a subprocess")
    measured: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory(prefix="breakup-bench-") as tmp:
        for case in [c for c in CASES if c in cases]:
            measured[case] = in_subprocess(case, n, Path(tmp), args.days, args.events)
            took = measured[case].result["seconds"]
            print(f"  {case:<9} {fmt_time(took):>10}  peak {fmt_mem(measured[case].peak_rss)}")
            sys.stdout.flush()
    if args.out:
        out = {c: {**v.result, "peak_rss": v.peak_rss} for c, v in measured.items()}
        args.out.write_text(json.dumps({"followers": n, "cases": out}, indent=1))
    print()
    print(markdown(report(n, args.days, measured)))
    if "storage" in measured:
        parts = measured["storage"].result["per_follower_snapshot_by_part"]
        big = sorted(parts.items(), key=lambda kv: -kv[1])[:5]
        print()
        print("storage by part, B/follower/snapshot: " + ", ".join(f"{k} {v:.3f}" for k, v in big))
        free = measured["storage"].result["free_bytes_by_day"]
        print("free blocks after each day, MB: " + " ".join(f"{b / 1e6:.1f}" for b in free))
    print()
    print("Bars are stated for 10M followers. GB = 10^9 bytes. Peak RSS is the child's ru_maxrss.")


if __name__ == "__main__":
    main()
