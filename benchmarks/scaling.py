"""How breakup's cost grows: the benchmark cases at 10k, 100k, 1M and 10M followers, and
1, 10, 100 and 1,000 tracked accounts, each size in its own subprocess (time and peak RSS).

    python benchmarks/scaling.py                  # every size; writes docs/performance.md
    python benchmarks/scaling.py --max 1000000    # stop the follower sizes at 1M

Follower cases reuse ``benchmarks/run.py``: ``diff`` (two snapshots with 1 % churn),
``ingest-0`` (first snapshot), ``ingest-1`` (the next day's, 1 % churn), ``storage`` (daily
snapshots, bytes per follower per snapshot; 10 days here to keep the 10M run short) and
``why`` (``benchmarks/bench_why.py``: one year, 3,000 posts). The account case tracks N
accounts of 10,000 followers each: a first snapshot of every account, then a day with 1 %
churn for every account (the timed round), then ``breakup status`` and ``breakup left``
over all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import pyarrow as pa
import run as bench

from breakup.clock import fixed_clock
from breakup.ingest import save_batch
from breakup.left import who_left
from breakup.models import Batch, Direction, Snapshot, members_table
from breakup.status import account_status
from breakup.store import Store

FOLLOWER_SIZES = [10_000, 100_000, 1_000_000, 10_000_000]
ACCOUNT_COUNTS = [1, 10, 100, 1000]
PER_ACCOUNT = 10_000
STORAGE_DAYS = 10
DOCS = Path(__file__).parent.parent / "docs"


def account_batch(k: int, ids: pa.Array, day: int) -> Batch:
    return Batch(
        source="bench",
        platform="x",
        source_ref=f"acct-{k}-day-{day}",
        account_identity=str(1000 + k),
        account_handle=f"brand{k}",
        snapshots=[
            Snapshot(
                Direction.FOLLOWERS,
                bench.T0 + timedelta(days=day),
                members_table(ids),
                reported_count=len(ids),
            )
        ],
    )


def bench_accounts(count: int, db: Path) -> dict[str, Any]:
    """*count* accounts of PER_ACCOUNT followers (overlapping audiences: people are shared
    across accounts as on a real platform), a first day and a churn day each."""
    days = [list(bench.audience(PER_ACCOUNT, 2, seed=bench.SEED + k)) for k in range(count)]
    shift = PER_ACCOUNT // 2  # neighbouring accounts share half their followers
    with Store(db, clock=fixed_clock(bench.NOW)) as store:
        start = time.perf_counter()
        for k in range(count):
            save_batch(store, account_batch(k, bench.external_ids(days[k][0] + k * shift), 0))
        first = time.perf_counter() - start
        start = time.perf_counter()
        for k in range(count):
            save_batch(store, account_batch(k, bench.external_ids(days[k][1] + k * shift), 1))
        churn = time.perf_counter() - start
        start = time.perf_counter()
        status = account_status(store)
        t_status = time.perf_counter() - start
        start = time.perf_counter()
        left = who_left(store, limit=None)
        t_left = time.perf_counter() - start
    return {
        "seconds": churn,
        "first_round": first,
        "per_account_ms": 1000 * churn / count,
        "status_seconds": t_status,
        "left_seconds": t_left,
        "accounts": len(status),
        "departures": len(left),
        "bytes": db.stat().st_size,
    }


def run_case(case: str, n: int, workdir: Path) -> dict[str, Any]:
    if case == "accounts":
        return bench_accounts(n, workdir / "accounts.duckdb")
    if case == "storage":
        return bench.bench_storage(n, workdir / "storage.duckdb", STORAGE_DAYS)
    if case == "ingest-1":  # the churn day needs the first day in the store
        bench.bench_ingest(n, workdir / "ingest.duckdb", 0)
    return bench.run_case(case, n, workdir, STORAGE_DAYS)


def measure(case: str, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="breakup-scaling-") as tmp:
        cmd = [sys.executable, __file__, "--case", case, "--n", str(n), "--workdir", tmp]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"scaling case {case} at {n} failed")
    result: dict[str, Any] = json.loads(out)
    result["peak_rss"] = usage.ru_maxrss * 1024
    return result


def plan(max_followers: int) -> list[tuple[str, int]]:
    sizes = [n for n in FOLLOWER_SIZES if n <= max_followers]
    cases = [(c, n) for n in sizes for c in ("diff", "ingest-0", "ingest-1", "storage")]
    cases += [("why", n) for n in sizes if n <= 1_000_000]
    cases += [("accounts", a) for a in ACCOUNT_COUNTS]
    return cases


# -- the document --------------------------------------------------------------------------


def _t(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mb(size: float) -> str:
    return f"{size / 2**20:,.0f} MB" if size < 2**30 else f"{size / 2**30:.2f} GB"


def table(results: dict[str, dict[int, dict[str, Any]]]) -> str:
    lines = [
        "| followers | diff | ingest, first | ingest, 1% churn (peak RSS) "
        "| storage B/follower/snapshot | why (peak RSS) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(results.get("ingest-0", {})):
        d = results["diff"][n]
        i0 = results["ingest-0"][n]
        i1 = results["ingest-1"][n]
        st = results["storage"][n]
        why = results.get("why", {}).get(n)
        w = f"{_t(why['seconds'])} ({_mb(why['peak_rss'])})" if why else "not run"
        lines.append(
            f"| {n:,} | {_t(d['seconds'])} | {_t(i0['seconds'])} | "
            f"{_t(i1['seconds'])} ({_mb(i1['peak_rss'])}) | "
            f"{st['per_follower_snapshot']:.3f} | {w} |"
        )
    lines += [
        "",
        "| tracked accounts (10k followers each) | churn day, all accounts | per account "
        "| status | left | peak RSS | store file |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a, r in sorted(results.get("accounts", {}).items()):
        lines.append(
            f"| {a:,} | {_t(r['seconds'])} | {r['per_account_ms']:.1f} ms | "
            f"{_t(r['status_seconds'])} | {_t(r['left_seconds'])} | {_mb(r['peak_rss'])} | "
            f"{_mb(r['bytes'])} |"
        )
    return "\n".join(lines)


def chart(results: dict[str, dict[int, dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for case, label in (
        ("ingest-0", "ingest, first snapshot"),
        ("ingest-1", "ingest, 1% churn"),
        ("diff", "bitmap diff"),
        ("why", "why (1 year, 3,000 posts)"),
    ):
        pts = sorted(results.get(case, {}).items())
        if pts:
            ax1.loglog([n for n, _ in pts], [r["seconds"] for _, r in pts], "o-", label=label)
    ax1.set_xlabel("followers")
    ax1.set_ylabel("seconds")
    ax1.set_title("Time by audience size")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    pts = sorted(results.get("ingest-1", {}).items())
    ax2.loglog([n for n, _ in pts], [r["peak_rss"] / 2**20 for _, r in pts], "o-",
               label="ingest, 1% churn")  # fmt: skip
    pts = sorted(results.get("why", {}).items())
    if pts:
        ax2.loglog([n for n, _ in pts], [r["peak_rss"] / 2**20 for _, r in pts], "o-",
                   label="why")  # fmt: skip
    ax2.axhline(2048, color="red", linestyle="--", label="2 GB bar")
    ax2.set_xlabel("followers")
    ax2.set_ylabel("peak RSS (MB)")
    ax2.set_title("Peak memory by audience size")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max", type=int, default=10_000_000, help="largest follower size")
    parser.add_argument("--out", type=Path, default=DOCS / "performance.json")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.n, args.workdir)))
        return
    results: dict[str, dict[int, dict[str, Any]]] = {}
    for case, n in plan(args.max):
        print(f"{case} at {n:,} …", file=sys.stderr, flush=True)
        results.setdefault(case, {})[n] = measure(case, n)
        args.out.write_text(json.dumps(results, indent=1, default=str))
    print(table(results))
    chart(results, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
