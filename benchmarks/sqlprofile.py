"""Where an import's time goes: every SQL statement the store runs, timed and grouped.

    python benchmarks/sqlprofile.py --accounts 100     # the scaling script's account case
    python benchmarks/sqlprofile.py --accounts 1000 --top 15
    python benchmarks/sqlprofile.py --accounts 1000 --joined   # interning by the join only

Wraps each Store's DuckDB connection in a proxy that times ``execute`` and ``sql`` by
statement (the first 90 characters, whitespace folded), then runs the account case of
``benchmarks/scaling.py``: a first snapshot of N accounts of 10,000 followers, then a day
with 1 % churn for each. Python time outside DuckDB is what the total minus the statements
leaves. A relation (``sql``) is timed when it is made and when its rows are read.
``--joined`` turns the Store's PeopleIndex off: every import interns by a join against
every person of the platform, as before issue 18.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import scaling

from breakup import store as store_module

STATS: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])


class TimedConnection:
    """A DuckDB connection whose statements are timed; everything else passes through."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def _timed(self, method: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        key = " ".join(sql.split())[:90]
        STATS[key][0] += 1
        return _time(key, getattr(self._con, method), *args, sql=sql, **kwargs)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return self._timed("execute", sql, *args, **kwargs)

    def sql(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return TimedRelation(self._timed("sql", sql, *args, **kwargs), " ".join(sql.split())[:90])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


class TimedRelation:
    """A relation whose reads count towards the statement that made it."""

    def __init__(self, rel: Any, key: str) -> None:
        self._rel, self._key = rel, key

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._rel, name)
        if not callable(attr):
            return attr
        return lambda *args, **kwargs: _time(self._key, attr, *args, **kwargs)


def _time(key: str, fn: Any, *args: Any, sql: str | None = None, **kwargs: Any) -> Any:
    start = time.perf_counter()
    try:
        return fn(*args, **kwargs) if sql is None else fn(sql, *args, **kwargs)
    finally:
        STATS[key][1] += time.perf_counter() - start


def install() -> None:
    original = store_module.Store.__init__

    def init(self: store_module.Store, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.con = TimedConnection(self.con)  # type: ignore[assignment]

    store_module.Store.__init__ = init  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--joined", action="store_true", help="intern by the join only")
    args = parser.parse_args(argv)
    if args.joined:
        store_module.PeopleIndex.MIN_PEOPLE = sys.maxsize
    install()
    with tempfile.TemporaryDirectory(prefix="breakup-sqlprofile-") as tmp:
        start = time.perf_counter()
        result = scaling.bench_accounts(args.accounts, Path(tmp) / "accounts.duckdb")
        total = time.perf_counter() - start
    imports = 2 * args.accounts
    in_sql = sum(t for _, t in STATS.values())
    print(
        f"{args.accounts} accounts: {total:.1f} s in all, {result['per_account_ms']:.1f} ms per "
        f"account on the churn day; {in_sql:.1f} s in {sum(int(c) for c, _ in STATS.values()):,}"
        f" statements ({1000 * in_sql / imports:.1f} ms per import)"
    )
    print(f"{'total':>9} {'calls':>6} {'per call':>9}  statement")
    for key, (calls, seconds) in sorted(STATS.items(), key=lambda kv: -kv[1][1])[: args.top]:
        print(f"{seconds:8.2f}s {int(calls):6d} {1000 * seconds / calls:7.2f}ms  {key}")


if __name__ == "__main__":
    main()
