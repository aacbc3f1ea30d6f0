"""The lake: the store's observations as Parquet files, for engines beyond one machine.

Layout (hive-style partitions, written by DuckDB's ``COPY … PARTITION_BY``)::

    LAKE/_manifest.json                               what each export wrote
    LAKE/accounts/e000001.parquet                     every account, as of export 1
    LAKE/people/platform=bsky/e000001_0.parquet       people interned since the last export
    LAKE/imports/platform=bsky/account=brand/…        the imports exported
    LAKE/observations/platform=bsky/account=brand/…   one row per snapshot, its members a
                                                      roaring bitmap (portable format) in
                                                      ``members``
    LAKE/events/platform=bsky/account=brand/…         follow / unfollow / unsubscribe …
    LAKE/checks/platform=bsky/account=brand/…         account states seen on re-checks
    LAKE/posts/platform=bsky/account=brand/…          the account's posts and campaigns
    LAKE/profiles/platform=bsky/account=brand/…       people's profiles as an import of
                                                      the account saw them (what ``why``
                                                      reads to tell bots and the inactive)

Observations, events and checks belong to imports; an export writes the rows of the
imports not exported yet (the manifest lists them) into files named after the export
(``e000002_0.parquet``) and never rewrites a file written by an earlier one. The manifest
is replaced atomically last: files of an export that died before it are deleted by the
next export, which takes the same number. A table added to the lake after an export (posts and
profiles came with version 2) is written for every import at the next export, the earlier
ones included. Partition directories are for layout and
pruning; engines key on the ``account_id`` column inside the files (a name in a path is
escaped differently by every engine).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from .errors import StoreError
from .store import Store

MANIFEST = "_manifest.json"
LAKE_VERSION = 2

# Tables written per import: name -> SELECT over the new imports (``_lake_new``), with the
# partition columns platform and account (the account's name).
_PER_IMPORT: dict[str, str] = {
    "imports": """
        SELECT a.platform, a.name AS account, i.* FROM imports i
        JOIN accounts a USING (account_id) SEMI JOIN _lake_new n USING (import_id)
    """,
    "observations": """
        SELECT a.platform, a.name AS account, o.observation_id, o.import_id, o.account_id,
               o.direction, o.observed_at, o.complete, o.diffable, o.member_count,
               o.reported_count, o.note, o.complete_since, m.bitmap AS members
        FROM observations o JOIN snapshot_members m USING (observation_id)
        JOIN accounts a USING (account_id) SEMI JOIN _lake_new n USING (import_id)
    """,
    "events": """
        SELECT a.platform, a.name AS account, e.* FROM events e
        JOIN accounts a USING (account_id) SEMI JOIN _lake_new n USING (import_id)
    """,
    "checks": """
        SELECT a.platform, a.name AS account, c.* FROM checks c
        JOIN accounts a USING (account_id) SEMI JOIN _lake_new n USING (import_id)
    """,
    "posts": """
        SELECT a.platform, a.name AS account, p.* FROM posts p
        JOIN accounts a USING (account_id) SEMI JOIN _lake_new n USING (import_id)
    """,
    "profiles": """
        SELECT a.platform, a.name AS account, i.account_id, pr.* FROM profiles pr
        JOIN imports i USING (import_id) JOIN accounts a ON a.account_id = i.account_id
        SEMI JOIN _lake_new n USING (import_id)
    """,
}
TABLES = ("accounts", "people", *_PER_IMPORT)
# The per-import tables of a version 1 lake (a manifest without "tables").
_V1_TABLES = ("imports", "observations", "events", "checks")


@dataclass
class Manifest:
    exports: list[dict[str, Any]] = field(default_factory=list)
    imports: list[list[int]] = field(default_factory=list)  # exported import ids, as ranges
    people_through: int = 0  # highest person id exported
    # Per-import tables written for every exported import (a newer table is back-filled).
    tables: list[str] = field(default_factory=lambda: list(_PER_IMPORT))

    @property
    def next_export(self) -> int:
        return len(self.exports) + 1

    @property
    def import_ids(self) -> set[int]:
        return {i for lo, hi in self.imports for i in range(lo, hi + 1)}

    @property
    def accounts_file(self) -> str | None:
        """The accounts as of the latest export (relative to the lake)."""
        return str(self.exports[-1]["accounts"]) if self.exports else None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": LAKE_VERSION,
            "imports": self.imports,
            "people_through": self.people_through,
            "tables": self.tables,
            "exports": self.exports,
        }


def read_manifest(lake: Path) -> Manifest:
    path = lake / MANIFEST
    if not path.exists():
        return Manifest()
    try:
        data = json.loads(path.read_text("utf-8"))
        if data.get("version") not in (1, LAKE_VERSION):
            raise StoreError(
                f"{path}: lake version {data.get('version')!r}, expected 1 or {LAKE_VERSION}"
            )
        return Manifest(
            exports=list(data["exports"]),
            imports=[[int(lo), int(hi)] for lo, hi in data["imports"]],
            people_through=int(data["people_through"]),
            tables=[str(t) for t in data.get("tables", _V1_TABLES)],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{path}: not a breakup lake manifest ({exc})") from None


def _write_manifest(lake: Path, manifest: Manifest) -> None:
    fd, tmp = tempfile.mkstemp(dir=lake, prefix=".manifest-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(manifest.to_json(), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, lake / MANIFEST)


def ranges(ids: set[int]) -> list[list[int]]:
    """Sorted ids as inclusive [lo, hi] runs: a manifest stays small however many imports."""
    out: list[list[int]] = []
    for i in sorted(ids):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


@dataclass
class ExportResult:
    export: int | None  # number of the export written; None: nothing new
    imports: int = 0
    people: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _tag(no: int) -> str:
    return f"e{no:06d}"


def _remove_unfinished(lake: Path, no: int) -> None:
    """Files of export *no* that a crash left behind before its manifest was written."""
    for table in TABLES:
        root = lake / table
        if root.is_dir():
            for path in root.rglob(f"{_tag(no)}*.parquet"):
                path.unlink()


def export(store: Store, lake: Path) -> ExportResult:
    """Write what the store holds that the lake does not yet: the imports not exported,
    the people interned since, and the accounts as they are now; a per-import table the
    lake does not have yet (an older lake) gets the rows of every import."""
    lake.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(lake)
    no = manifest.next_export
    tag = _tag(no)
    _remove_unfinished(lake, no)
    con = store.con
    # One transaction: the new imports and their rows are read from one consistent state.
    with store.transaction():
        all_ids = {int(r[0]) for r in con.execute("SELECT import_id FROM imports").fetchall()}
        new = sorted(all_ids - manifest.import_ids)
        max_person = int(store.scalar("SELECT coalesce(max(person_id), 0) FROM people"))
        missing = [t for t in _PER_IMPORT if t not in manifest.tables]
        if not new and max_person <= manifest.people_through and not missing:
            return ExportResult(None)
        result = ExportResult(no, imports=len(new))
        every = sorted(manifest.import_ids | set(new))
        try:
            for table, select in _PER_IMPORT.items():
                ids = every if table in missing else new
                con.register("_lake_new", pa.table({"import_id": pa.array(ids, pa.int64())}))
                result.rows[table] = _copy(
                    store, select, lake / table, tag, ["platform", "account"]
                )
            result.people = _copy(
                store,
                f"SELECT platform, person_id, external_id FROM people "
                f"WHERE person_id > {manifest.people_through}",
                lake / "people",
                tag,
                ["platform"],
            )
        finally:
            con.unregister("_lake_new")
        (lake / "accounts").mkdir(exist_ok=True)
        accounts = f"accounts/{tag}.parquet"
        con.execute(
            f"COPY (SELECT * FROM accounts ORDER BY account_id) TO {_sql_path(lake / accounts)} "
            "(FORMAT parquet)"
        )
    manifest.exports.append(
        {
            "export": no,
            "at": datetime.now(UTC).isoformat(),
            "imports": ranges(set(new)),
            "people": [manifest.people_through + 1, max_person],
            "accounts": accounts,
            "rows": result.rows,
        }
    )
    manifest.tables = list(_PER_IMPORT)
    manifest.imports = ranges(manifest.import_ids | set(new))
    manifest.people_through = max(manifest.people_through, max_person)
    _write_manifest(lake, manifest)
    return result


def _copy(store: Store, select: str, root: Path, tag: str, partition: list[str]) -> int:
    count = int(store.scalar(f"SELECT count(*) FROM ({select})"))
    if count == 0:
        return 0
    store.con.execute(
        f"COPY ({select}) TO {_sql_path(root)} (FORMAT parquet, "
        f"PARTITION_BY ({', '.join(partition)}), FILENAME_PATTERN '{tag}_{{i}}', "
        "OVERWRITE_OR_IGNORE)"
    )
    return count


def table_glob(lake: Path, table: str) -> str:
    """The Parquet files of one lake table, for ``read_parquet`` or a Spark reader."""
    if table == "accounts":
        latest = read_manifest(lake).accounts_file
        if latest is None:
            raise StoreError(f"{lake}: no export here yet (run breakup export --lake first)")
        return str(lake / latest)
    return str(lake / table / "**" / "*.parquet")


def _spans_sql(out: Path) -> str:
    files = _sql_path(out / "spans" / "**" / "*.parquet")
    return f"read_parquet({files}, hive_partitioning = true, hive_types_autocast = false)"


def read_spans(out: Path) -> pa.Table:
    """Spans an engine wrote under ``out/spans`` (platform and account from the paths)."""
    import duckdb

    with duckdb.connect() as con:
        return con.sql(
            f"SELECT * FROM {_spans_sql(out)} "
            "ORDER BY platform, account, direction, person_id, start_latest"
        ).to_arrow_table()


def span_counts(out: Path) -> tuple[int, int, int]:
    """Accounts, spans and departures (followers' spans that ended) under ``out/spans``."""
    import duckdb

    with duckdb.connect() as con:
        (row,) = con.execute(
            "SELECT count(DISTINCT account_id), count(*), "
            "count(*) FILTER (WHERE direction = 'followers' AND end_latest IS NOT NULL) "
            f"FROM {_spans_sql(out)}"
        ).fetchall()
    return int(row[0]), int(row[1]), int(row[2])
