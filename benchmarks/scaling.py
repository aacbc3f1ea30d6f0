"""How breakup's cost grows: the benchmark cases at 10k, 100k, 1M and 10M followers, and
1, 10, 100 and 1,000 tracked accounts, each size in its own subprocess (time and peak RSS).

    python benchmarks/scaling.py                  # every size; updates docs/performance.md
    python benchmarks/scaling.py --max 1000000    # stop the follower sizes at 1M
    python benchmarks/scaling.py --resume         # measure only what performance.json lacks
    python benchmarks/scaling.py --only accounts,accounts-joined,spark   # re-measure these

Follower cases reuse ``benchmarks/run.py``: ``diff`` (two snapshots with 1 % churn, with
its Python set and DuckDB anti-join baselines), ``ingest-0`` (first snapshot), ``ingest-1``
(the next day's, 1 % churn; its subprocess ingests the first day too, so its peak covers
both), ``sqlite-0`` / ``sqlite-1`` (the per-row SQLite upsert baseline of the same two
days), ``storage`` (daily snapshots, bytes per follower per snapshot; 10 days here to keep
the 10M run short) and ``why`` (``benchmarks/bench_why.py``: one year, 3,000 posts). The
account case tracks N accounts of 10,000 followers each: a first snapshot of every
account, then a day with 1 % churn for every account (the timed round), then ``breakup
status`` and ``breakup left`` over all of them. ``accounts`` interns as shipped (the
Store's in-memory PeopleIndex once the store is large), ``accounts-joined`` with the index
off (one join against every person per import, as before issue 18). ``spark`` takes the
store ``accounts`` left, writes it as a lake (``breakup lake export``) and tracks every
account of it on Spark (``breakup batch --master local[1]``, then ``local[2]``), as CLI
subprocesses timed from outside, JVM start included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
from breakup.store import PeopleIndex, Store

FOLLOWER_SIZES = [10_000, 100_000, 1_000_000, 10_000_000]
ACCOUNT_COUNTS = [1, 10, 100, 1000]
ACCOUNT_CASES = ("accounts", "accounts-joined", "spark")
SPARK_MASTERS = ("local[1]", "local[2]")
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
        start, cpu = time.perf_counter(), time.process_time()
        for k in range(count):
            save_batch(store, account_batch(k, bench.external_ids(days[k][1] + k * shift), 1))
        churn, cpu = time.perf_counter() - start, time.process_time() - cpu
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
        # CPU time of every thread: what a shared machine's other load inflates least
        "per_account_cpu_ms": 1000 * cpu / count,
        "status_seconds": t_status,
        "left_seconds": t_left,
        "accounts": len(status),
        "departures": len(left),
        "bytes": db.stat().st_size,
    }


def _cli(*args: str) -> tuple[float, dict[str, Any]]:
    """Run ``breakup ARGS --json``: seconds from outside, and what it printed."""
    exe = Path(sys.executable).with_name("breakup")
    start = time.perf_counter()
    out = subprocess.run([str(exe), *args, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"breakup {' '.join(args)} failed: {out.stderr.strip()}")
    result: dict[str, Any] = json.loads(out.stdout)
    return time.perf_counter() - start, result


def bench_spark(db: Path, workdir: Path) -> dict[str, Any]:
    """The store the account case left, as a lake, tracked on Spark at each master."""
    lake = workdir / "lake"
    seconds, exported = _cli("--db", str(db), "lake", "export", str(lake))
    result: dict[str, Any] = {"export_seconds": seconds, "exported": exported}
    exe = Path(sys.executable).with_name("breakup")
    helptext = subprocess.run([str(exe), "batch", "--help"], capture_output=True, text=True)
    no_why = ["--no-why"] if "--no-why" in helptext.stdout else []  # tracking only
    for master in SPARK_MASTERS:
        out = workdir / "results"
        shutil.rmtree(out, ignore_errors=True)
        seconds, summary = _cli("batch", "--lake", str(lake), "--master", master,
                                "--out", str(out), *no_why)  # fmt: skip
        result[master] = {"seconds": seconds, "summary": summary}
    return result


def run_case(case: str, n: int, workdir: Path) -> dict[str, Any]:
    if case == "accounts":
        return bench_accounts(n, workdir / "accounts.duckdb")
    if case == "accounts-joined":  # the join against every person, as before issue 18
        PeopleIndex.MIN_PEOPLE = sys.maxsize
        return bench_accounts(n, workdir / "joined.duckdb")
    if case == "spark":
        db = workdir / "accounts.duckdb"
        if not db.exists():  # the account case did not run here: make its store
            bench_accounts(n, db)
        return bench_spark(db, workdir)
    if case == "storage":
        return bench.bench_storage(n, workdir / "storage.duckdb", STORAGE_DAYS)
    if case == "ingest-1":  # the churn day needs the first day in the store
        bench.bench_ingest(n, workdir / "ingest.duckdb", 0)
    if case == "why":  # run.py caps this case at 1M followers, the bar's size
        from bench_why import run as bench_why

        return bench_why(n, 365, 3000, workdir)
    if case == "sqlite-1":
        bench.bench_sqlite(n, workdir / "baseline.sqlite", 0)
    return bench.run_case(case, n, workdir, STORAGE_DAYS)


def measure(case: str, n: int, workdir: Path | None = None) -> dict[str, Any]:
    """Run one case in a subprocess; in *workdir* if given (kept: the spark case reads the
    store the account case left there), else in a fresh temporary directory."""
    with tempfile.TemporaryDirectory(prefix="breakup-scaling-") as tmp:
        where = str(workdir or tmp)
        cmd = [sys.executable, __file__, "--case", case, "--n", str(n), "--workdir", where]
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


def plan(
    max_followers: int,
    max_accounts: int = ACCOUNT_COUNTS[-1],
    max_spark_accounts: int = ACCOUNT_COUNTS[-1],
) -> list[tuple[str, int]]:
    sizes = [n for n in FOLLOWER_SIZES if n <= max_followers]
    each = ("diff", "ingest-0", "ingest-1", "sqlite-0", "sqlite-1", "storage")
    cases = [(c, n) for n in sizes for c in each]
    cases += [("why", n) for n in sizes]
    for a in ACCOUNT_COUNTS:
        if a <= max_accounts:
            cases += [(c, a) for c in ACCOUNT_CASES if c != "spark" or a <= max_spark_accounts]
    return cases


# -- the document --------------------------------------------------------------------------


def _t(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mb(size: float) -> str:
    return f"{size / 2**20:,.0f} MiB" if size < 2**30 else f"{size / 2**30:.2f} GiB"


Results = dict[str, dict[int, dict[str, Any]]]


def _get(results: Results, case: str, n: int) -> dict[str, Any] | None:
    return results.get(case, {}).get(n)


def table(results: Results) -> str:
    lines = [
        "| followers | diff (vs set, vs anti-join) | ingest, first (vs SQLite) "
        "| ingest, 1% churn (vs SQLite) | peak RSS, ingest | storage B/follower/snapshot "
        "| why (peak RSS) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(results.get("ingest-0", {})):
        d, st = results["diff"][n], results["storage"][n]
        cells = [f"{n:,}"]
        cells.append(
            f"{_t(d['seconds'])} ({d['baseline'] / d['seconds']:.0f}x, "
            f"{d['baseline_duckdb'] / d['seconds']:.0f}x)"
        )
        for day in (0, 1):
            ours, base = results[f"ingest-{day}"][n], _get(results, f"sqlite-{day}", n)
            ratio = f" ({base['seconds'] / ours['seconds']:.1f}x)" if base else ""
            cells.append(_t(ours["seconds"]) + ratio)
        cells.append(_mb(max(results[f"ingest-{d}"][n]["peak_rss"] for d in (0, 1))))
        cells.append(f"{st['per_follower_snapshot']:.3f}")
        why = _get(results, "why", n)
        cells.append(f"{_t(why['seconds'])} ({_mb(why['peak_rss'])})" if why else "not run")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *accounts_table(results)]
    return "\n".join(lines)


def _ms(r: dict[str, Any] | None) -> str:
    if not r:
        return "not run"
    cpu = f" (CPU {r['per_account_cpu_ms']:.1f})" if "per_account_cpu_ms" in r else ""
    return f"{r['per_account_ms']:.1f} ms{cpu}"


def _ratio(hi: dict[str, Any], lo: dict[str, Any]) -> str:
    text = f"{hi['per_account_ms'] / lo['per_account_ms']:.2f}x"
    if "per_account_cpu_ms" in hi and "per_account_cpu_ms" in lo:
        text += f" (CPU {hi['per_account_cpu_ms'] / lo['per_account_cpu_ms']:.2f}x)"
    return text


def accounts_table(results: Results) -> list[str]:
    accounts = results.get("accounts", {})
    joined = results.get("accounts-joined", {})
    lines = [
        "| tracked accounts (10k followers each) | churn day, all accounts | per account "
        "| per account, joining every person | first day, per account | status | left "
        "| peak RSS | store file |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a, r in sorted(accounts.items()):
        lines.append(
            f"| {a:,} | {_t(r['seconds'])} | {_ms(r)} | {_ms(joined.get(a))} | "
            f"{1000 * r['first_round'] / a:.1f} ms | {_t(r['status_seconds'])} | "
            f"{_t(r['left_seconds'])} | {_mb(r['peak_rss'])} | {_mb(r['bytes'])} |"
        )
    if len(accounts) > 1:
        lo, hi = min(accounts), max(accounts)
        ratio = _ratio(accounts[hi], accounts[lo])
        if lo in joined and hi in joined:
            ratio += f"; joining every person, {_ratio(joined[hi], joined[lo])}"
        lines += ["", f"Per account on the churn day, {hi:,} accounts against {lo:,}: {ratio}."]
    spark = results.get("spark", {})
    if spark:
        masters = " | ".join(f"Spark {m}, per account" for m in SPARK_MASTERS)
        lines += [
            "",
            "| tracked accounts | DuckDB, both days, per account | lake export, per account "
            f"| {masters} |",
            "|---:|---:|---:|" + "---:|" * len(SPARK_MASTERS),
        ]
        for a, r in sorted(spark.items()):
            duck = accounts.get(a)
            both = f"{1000 * (duck['first_round'] + duck['seconds']) / a:.1f} ms" if duck else "-"
            cells = [f"{a:,}", both, f"{1000 * r['export_seconds'] / a:.1f} ms"]
            for m in SPARK_MASTERS:
                sec = r[m]["seconds"]
                cells.append(f"{1000 * sec / a:,.1f} ms ({_t(sec)} in all)")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _curve(ax: Any, results: Results, case: str, key: str, label: str, style: str = "o-") -> None:
    pts = sorted((n, r) for n, r in results.get(case, {}).items() if key in r)
    if pts:
        ax.loglog([n for n, _ in pts], [r[key] for _, r in pts], style, label=label)


def chart(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    ax1, ax2, ax3 = axes
    _curve(ax1, results, "ingest-0", "seconds", "ingest, first snapshot")
    _curve(ax1, results, "ingest-1", "seconds", "ingest, 1% churn")
    _curve(ax1, results, "sqlite-1", "seconds", "SQLite upsert, 1% churn", "s--")
    _curve(ax1, results, "diff", "seconds", "bitmap diff")
    _curve(ax1, results, "diff", "baseline", "Python set diff", "x--")
    _curve(ax1, results, "diff", "baseline_duckdb", "DuckDB anti-join", "x:")
    _curve(ax1, results, "why", "seconds", "why (1 year, 3,000 posts)")
    ax1.set_xlabel("followers")
    ax1.set_ylabel("seconds")
    ax1.set_title("Time by audience size")
    for case, label in (("ingest-1", "ingest, 1% churn"), ("sqlite-1", "SQLite upsert"),
                        ("why", "why")):  # fmt: skip
        pts = sorted(results.get(case, {}).items())
        if pts:
            ax2.loglog([n for n, _ in pts], [r["peak_rss"] / 2**20 for _, r in pts], "o-",
                       label=label)  # fmt: skip
    ax2.axhline(2e9 / 2**20, color="red", linestyle="--", label="2 GB bar (ingest)")
    ax2.set_xlabel("followers")
    ax2.set_ylabel("peak RSS (MiB)")
    ax2.set_title("Peak memory by audience size")
    pts = sorted(results.get("accounts", {}).items())
    if pts:
        ax3.loglog([a for a, _ in pts], [r["seconds"] for _, r in pts], "o-",
                   label="churn day, all accounts")  # fmt: skip
        ax3.loglog([a for a, _ in pts], [r["per_account_ms"] / 1000 for _, r in pts], "s-",
                   label="per account")  # fmt: skip
        ax3.loglog([a for a, _ in pts], [r["left_seconds"] for _, r in pts], "^-",
                   label="breakup left, all accounts")  # fmt: skip
        both = [(a, (r["first_round"] + r["seconds"]) / a) for a, r in pts]
        ax3.loglog([a for a, _ in both], [v for _, v in both], "d-",
                   label="DuckDB both days, per account")  # fmt: skip
    joined = sorted(results.get("accounts-joined", {}).items())
    if joined:
        ax3.loglog([a for a, _ in joined], [r["per_account_ms"] / 1000 for _, r in joined],
                   "s:", label="per account, joining every person")  # fmt: skip
    spark = sorted(results.get("spark", {}).items())
    for m in SPARK_MASTERS:
        if spark:
            ax3.loglog([a for a, _ in spark], [r[m]["seconds"] / a for a, r in spark], "x--",
                       label=f"Spark {m} (both days), per account")  # fmt: skip
    ax3.set_xlabel("tracked accounts (10k followers each)")
    ax3.set_ylabel("seconds")
    ax3.set_title("Time by number of accounts")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


BEGIN, END = "<!-- scaling:begin -->", "<!-- scaling:end -->"


def update_doc(doc: Path, tables: str, machine: str) -> None:
    """Replace the measured part of *doc* (between the markers), keeping the prose."""
    text = doc.read_text() if doc.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc}: no {BEGIN} ... {END} section to update")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = f"{BEGIN}\n{machine}\n\n{tables}\n\n![scaling curves](performance.png)\n{END}"
    doc.write_text(head + body + tail)


def machine() -> str:
    import platform

    import duckdb
    import pyroaring

    cpu = "unknown CPU"
    info = Path("/proc/cpuinfo")
    if info.exists():
        names = [ln.split(":", 1)[1].strip() for ln in info.read_text().splitlines()
                 if ln.startswith("model name")]  # fmt: skip
        cpu = names[0] if names else cpu
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"Measured by `make scaling` on {time.strftime('%Y-%m-%d')}: {os.cpu_count()} x {cpu}, "
        f"{mem:.0f} GiB RAM, Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"pyroaring {pyroaring.__version__}."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max", type=int, default=10_000_000, help="largest follower size")
    parser.add_argument("--max-accounts", type=int, default=ACCOUNT_COUNTS[-1])
    parser.add_argument("--max-spark-accounts", type=int, default=ACCOUNT_COUNTS[-1])
    parser.add_argument("--only", help="comma-separated cases to (re-)measure; keeps the rest")
    parser.add_argument("--out", type=Path, default=DOCS / "performance.json")
    parser.add_argument("--doc", type=Path, default=DOCS / "performance.md")
    parser.add_argument("--resume", action="store_true", help="keep what --out already has")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.n, args.workdir)))
        return
    results: Results = {}
    only = set(args.only.split(",")) if args.only else None
    if (args.resume or only) and args.out.exists():
        saved = json.loads(args.out.read_text())
        results = {case: {int(n): r for n, r in by_n.items()} for case, by_n in saved.items()}
    todo = plan(args.max, args.max_accounts, args.max_spark_accounts)
    if only is not None:
        todo = [(c, n) for c, n in todo if c in only]
        for c in only:
            results.pop(c, None)
    with tempfile.TemporaryDirectory(prefix="breakup-scaling-accounts-") as shared:
        for case, n in todo:
            if n in results.get(case, {}):
                continue
            print(f"{case} at {n:,} …", file=sys.stderr, flush=True)
            # the spark case reads the store the account case left in the same directory
            workdir = Path(shared) / str(n) if case in ("accounts", "spark") else None
            if workdir is not None:
                workdir.mkdir(exist_ok=True)
            results.setdefault(case, {})[n] = measure(case, n, workdir)
            if case == "spark" and workdir is not None:
                shutil.rmtree(workdir)
            args.out.write_text(json.dumps(results, indent=1, default=str))
    tables = table(results)
    print(tables)
    chart(results, args.doc.with_name("performance.png"))
    update_doc(args.doc, tables, machine())


if __name__ == "__main__":
    main()
