"""Reading back what an engine wrote under its results directory (``OUT``).

``OUT/spans`` (tracking) is read by :func:`breakup.lake.read_spans`; ``OUT/why`` (each own
account's share of the attribution, :mod:`breakup.engines.attribution`) by
:func:`read_why`, which combines the shares into the
:class:`~breakup.why.attribution.Attribution` the embedded engine gives:
``attribution_only(store)`` over every own account, one Holm family (or, for a batch run
with ``--family account``, ``attribution_only(store, account)``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow as pa

from ..errors import InvalidInput, StoreError, UnknownAccount
from ..why.attribution import Attribution
from .attribution import WHY_OUT, Share, combine_shares, from_rows


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


def why_family(out: Path) -> str:
    """The Holm family of the attribution under ``out/why``: ``all`` own accounts together
    (as ``breakup why``) or each ``account`` alone (as ``breakup why --account NAME``)."""
    table = _read(out, "WHERE rec = 'attribution'")
    families = set(table.column("family").to_pylist())
    if len(families) != 1:
        raise StoreError(f"{out / 'why'}: accounts of families {sorted(map(str, families))}")
    return str(families.pop())


def _shares(out: Path, where: str = "", params: list[object] | None = None) -> list[Share]:
    table = _read(out, where, params)
    names = table.column("account").to_pylist()
    return [from_rows(table.filter(pa.array([n == name for n in names])))
            for name in sorted(set(names))]  # fmt: skip


def _only(att: Attribution, account: str) -> Attribution:
    """*account*'s share of *att* (the tests, alpha and window stay the family's)."""
    posts = [p for p in att.posts if p.account == account]
    return replace(att, accounts=[a for a in att.accounts if a.account == account],
                   posts=posts, posts_tested=len(posts),
                   bursts=[b for b in att.bursts if b.account == account])  # fmt: skip


def read_why(out: Path, account: str | None = None) -> Attribution:
    """The attribution an engine wrote under ``out/why``: that of ``breakup why`` over
    every own account (the family over all of them; accounts whose attribution failed are
    left out), or with *account* (its name) that account's share of it. A batch run with
    ``--family account`` holds one family per account: *account* says which."""
    family = why_family(out)
    if account is not None:
        mine = _shares(out, "WHERE account = ?", [account])
        if not mine:
            known = ", ".join(why_accounts(out)) or "none"
            raise UnknownAccount(f"no why results for {account!r} in {out} (there are: {known})")
        if family == "account":
            return combine_shares(mine)
    elif family == "account":
        names = why_accounts(out)
        if len(names) != 1:
            raise InvalidInput(f"{out / 'why'}: one Holm family per account (batch --family "
                               f"account): name one of {', '.join(names)}")  # fmt: skip
        return combine_shares(_shares(out))
    att = combine_shares(_shares(out, "WHERE rec <> 'error'"))
    return att if account is None else _only(att, account)


def read_all_why(out: Path) -> dict[str, Attribution]:
    """Every own account's attribution under ``out/why``, by account name: its share of
    the family over all own accounts, or its own family (``--family account``); those that
    failed are left out (:func:`why_failures` says why)."""
    shares = _shares(out, "WHERE rec <> 'error'")
    if why_family(out) == "account":
        return {s.account: combine_shares([s]) for s in shares}
    att = combine_shares(shares)
    return {s.account: _only(att, s.account) for s in shares}


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
