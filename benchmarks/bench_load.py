"""Load on the dashboard while the store is being written.

Runs ``breakup serve`` (a real process, loopback only) over a simulated brand's store, and
``breakup import`` in a loop into the same store (each a new follower snapshot: the
dashboard must keep refreshing its private copy), while N client threads request the
dashboard's pages (index, JSON report, a person, a post, health) as fast as they are
answered for S seconds. Reports requests, errors, and latency percentiles.

    .venv/bin/python benchmarks/bench_load.py                  # 50 clients, 30 s
    .venv/bin/python benchmarks/bench_load.py --clients 10 --seconds 3 --json

Exit status 1 when any request failed (a status other than 200, or no answer).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from breakup.clock import fixed_clock
from breakup.simulate import SimParams, save_simulation, simulate
from breakup.store import Store

END = datetime(2025, 6, 1, tzinfo=UTC)
PARAMS = SimParams(
    seed=11,
    end=END,
    days=45,
    bsky_followers=250,
    mastodon_followers=100,
    email_subscribers=120,
    peers=0,
)
ENV = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


@dataclass
class LoadResult:
    clients: int
    seconds: float
    requests: int = 0
    errors: int = 0
    imports: int = 0
    import_failures: int = 0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    per_second: float = 0.0
    by_path: dict[str, dict[str, float]] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)


def build_store(path: Path) -> tuple[list[int], list[int]]:
    """A simulated brand into *path*; some person and post ids to request."""
    with Store(path, clock=fixed_clock(END)) as store:
        save_simulation(store, simulate(PARAMS))
        people = [
            r[0] for r in store.con.execute("SELECT person_id FROM people LIMIT 20").fetchall()
        ]
        posts = [r[0] for r in store.con.execute("SELECT post_id FROM posts LIMIT 20").fetchall()]
    return people, posts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dashboard(db: Path, timeout: float = 90.0) -> Iterator[str]:
    """``breakup serve`` on a free loopback port, until the block ends."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "breakup", "--db", str(db), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"breakup serve exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("breakup serve did not start")
            time.sleep(0.2)
        # Warm up: the first report of a store is built once, then kept per snapshot.
        httpx.get(f"{base}/", timeout=timeout)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def import_loop(db: Path, folder: Path, stop: threading.Event, result: LoadResult) -> None:
    """``breakup import`` of a new daily follower snapshot, again and again, until stopped."""
    day = 0
    while not stop.is_set():
        day += 1
        at = END + timedelta(days=day)
        path = folder / f"followers-{day}.csv"
        ids = range(day * 7, day * 7 + 3000)
        path.write_text("id,handle\n" + "".join(f"{i},h{i}\n" for i in ids))
        proc = subprocess.run(
            [sys.executable, "-m", "breakup", "--db", str(db), "import", "csv", str(path),
             "--account", "load-test", "--platform", "youtube", "--at", at.isoformat()],
            capture_output=True, text=True, timeout=300, env=ENV,
        )  # fmt: skip
        if proc.returncode == 0:
            result.imports += 1
        else:
            result.import_failures += 1
            result.error_samples.append(f"import: {proc.stderr.strip()[:200]}")


def client(
    base: str,
    paths: list[str],
    stop: threading.Event,
    timings: list[tuple[str, float]],
    errors: list[str],
    offset: int,
) -> None:
    with httpx.Client(base_url=base, timeout=120) as http:
        n = offset
        while not stop.is_set():
            path = paths[n % len(paths)]
            n += 1
            began = time.perf_counter()
            try:
                resp = http.get(path)
                ok = resp.status_code == 200
                problem = f"{path}: HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                ok, problem = False, f"{path}: {type(exc).__name__}: {exc}"
            took = time.perf_counter() - began
            if ok:
                timings.append((path.split("/")[1] or "index", took))
            else:
                errors.append(problem)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_load(
    clients: int, seconds: float, folder: Path, writer: bool = True, api: bool = True
) -> LoadResult:
    db = folder / "load.duckdb"
    people, posts = build_store(db)
    paths = ["/", "/healthz"] + (["/api/report"] if api else [])
    paths += [f"/people/{p}" for p in people[:5]] + [f"/posts/{p}" for p in posts[:5]]
    result = LoadResult(clients=clients, seconds=seconds)
    timings: list[tuple[str, float]] = []
    errors: list[str] = []
    with dashboard(db) as base:
        stop = threading.Event()
        threads = [
            threading.Thread(target=client, args=(base, paths, stop, timings, errors, i))
            for i in range(clients)
        ]
        if writer:
            threads.append(threading.Thread(target=import_loop, args=(db, folder, stop, result)))
        began = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(timeout=300)
        elapsed = time.monotonic() - began
    values = [t for _, t in timings]
    result.requests = len(values) + len(errors)
    result.errors = len(errors)
    result.error_samples += errors[:10]
    result.p50_ms = 1000 * percentile(values, 0.50)
    result.p90_ms = 1000 * percentile(values, 0.90)
    result.p99_ms = 1000 * percentile(values, 0.99)
    result.max_ms = 1000 * max(values, default=0.0)
    result.per_second = result.requests / elapsed if elapsed else 0.0
    kinds = sorted({k for k, _ in timings})
    for kind in kinds:
        mine = [t for k, t in timings if k == kind]
        result.by_path[kind] = {
            "n": len(mine),
            "p50_ms": round(1000 * statistics.median(mine), 1),
            "p99_ms": round(1000 * percentile(mine, 0.99), 1),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-writer", action="store_true", help="no imports meanwhile")
    parser.add_argument("--no-api", action="store_true", help="leave out /api/report")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="breakup-load-") as tmp:
        result = run_load(
            args.clients, args.seconds, Path(tmp), writer=not args.no_writer, api=not args.no_api
        )
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(
            f"{result.clients} clients x {result.seconds:g} s on loopback, "
            f"{result.imports} import(s) meanwhile ({result.import_failures} failed): "
            f"{result.requests} requests ({result.per_second:.1f}/s), {result.errors} errors; "
            f"latency p50 {result.p50_ms:.1f} ms, p90 {result.p90_ms:.1f} ms, "
            f"p99 {result.p99_ms:.1f} ms, max {result.max_ms:.1f} ms"
        )
        for kind, row in result.by_path.items():
            print(f"  {kind:<10} n={row['n']:<6} p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms")
        for sample in result.error_samples:
            print(f"  error: {sample}")
    return 1 if result.errors or result.import_failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
