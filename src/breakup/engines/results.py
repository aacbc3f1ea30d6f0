"""Reading back what an engine wrote under its results directory (``OUT``).

``OUT/spans`` (tracking) is read by :func:`breakup.lake.read_spans`; ``OUT/why`` (the
attribution of each own account, :mod:`breakup.engines.attribution`) by :func:`read_why`,
which rebuilds the :class:`~breakup.why.attribution.Attribution` the embedded engine's
``attribution_only(store, account)`` gives.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from ..errors import StoreError, UnknownAccount
from ..why.attribution import Attribution
from .attribution import WHY_OUT, from_rows


def _why_sql(out: Path) -> str:
    files = "'" + str(out / "why" / "**" / "*.parquet").replace("'", "''") + "'"
    return f"read_parquet({files}, hive_partitioning = true, union_by_name = true)"


def _read(out: Path, where: str = "", params: list[object] | None = None) -> pa.Table:
    import duckdb

    if not (out / "why").is_dir() or not any((out / "why").rglob("*.parquet")):
        raise StoreError(f"{out / 'why'}: no why results here (run breakup batch first)")
    cols = ", ".join(f'"{f.name}"' for f in WHY_OUT)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        table = con.sql(
            f"SELECT {cols} FROM {_why_sql(out)} {where} ORDER BY account, rec, rank",
            params=params or None,
        ).to_arrow_table()
    return table.cast(WHY_OUT)


def why_accounts(out: Path) -> list[str]:
    """The own accounts attributed under ``out/why``, by name."""
    table = _read(out, "WHERE rec = 'attribution'")
    return sorted(str(a) for a in table.column("account").to_pylist())


def read_why(out: Path, account: str) -> Attribution:
    """The attribution of *account* (its name) an engine wrote under ``out/why``."""
    table = _read(out, "WHERE account = ?", [account])
    if table.num_rows == 0:
        known = ", ".join(why_accounts(out)) or "none"
        raise UnknownAccount(f"no why results for {account!r} in {out} (there are: {known})")
    return from_rows(table)


def read_all_why(out: Path) -> dict[str, Attribution]:
    """Every own account's attribution under ``out/why``, by account name (those that
    failed are left out: :func:`why_failures` says why)."""
    table = _read(out, "WHERE rec <> 'error'")
    names = table.column("account").to_pylist()
    return {
        name: from_rows(table.filter(pa.array([n == name for n in names])))
        for name in sorted(set(names))
    }


def why_failures(out: Path) -> dict[str, str]:
    """The accounts whose attribution raised on the engine, with what it said."""
    if not any((out / "why").rglob("*.parquet")):
        return {}
    table = _read(out, "WHERE rec = 'error'")
    return dict(zip(table.column("account").to_pylist(), table.column("error").to_pylist(),
                    strict=True))  # fmt: skip


def why_counts(out: Path) -> tuple[int, int, int, int]:
    """Accounts attributed, of those analysed (enough history), posts tested and break-up
    posts named under ``out/why`` (accounts whose attribution failed not counted)."""
    import duckdb

    if not any((out / "why").rglob("*.parquet")):
        return 0, 0, 0, 0
    with duckdb.connect() as con:
        (row,) = con.execute(
            "SELECT count(*) FILTER (WHERE rec = 'attribution'), "
            "count(*) FILTER (WHERE rec = 'account' AND status = 'ok'), "
            "count(*) FILTER (WHERE rec = 'post'), "
            "count(*) FILTER (WHERE rec = 'post' AND break_up) "
            f"FROM {_why_sql(out)}"
        ).fetchall()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])
