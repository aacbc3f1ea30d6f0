"""The documented generic formats (docs/formats.md) for any channel without its own source.

``csv``: a header with ``id`` (and optionally ``handle``, ``display_name``, ``direction``).
With ``event`` and ``time`` columns every row is a timed event (follow, unfollow,
unsubscribe, cleaned); without them the file is one complete snapshot taken at ``--at``.

``json``: one object ``{"breakup": 1, ...}`` that can carry snapshots, events, posts,
interactions and account checks, with the account it belongs to.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..clock import parse_time
from ..errors import InvalidExport, InvalidInput
from ..models import (
    MEMBER_SCHEMA,
    AccountState,
    Batch,
    Check,
    Direction,
    Event,
    EventKind,
    Interaction,
    InteractionKind,
    Person,
    Post,
    PostKind,
    Snapshot,
)
from . import register
from .base import CsvColumns, ExportFiles, FileSource, ReadOptions

PLATFORM_DEFAULT = "custom"


def _enum(cls: Any, value: Any, path: Path, where: str) -> Any:
    try:
        return cls(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise InvalidExport(path, f"{where}: {value!r} is not one of {allowed}") from None


def _time(value: Any, path: Path, where: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidExport(path, f"{where}: time must be an ISO-8601 string")
    try:
        return parse_time(value)
    except (InvalidInput, OverflowError):  # OverflowError: out of range once in UTC
        raise InvalidExport(path, f"{where}: {value!r} is not an ISO-8601 time") from None


def _person(row: dict[str, Any], path: Path, where: str) -> Person:
    ident = row.get("id")
    if ident is None or str(ident).strip() == "":
        raise InvalidExport(path, f"{where}: missing id")
    handle = row.get("handle") or None
    name = row.get("display_name") or None
    return Person(str(ident).strip(), handle and str(handle), name and str(name))


def _batch(source: str, platform: str, files: ExportFiles) -> Batch:
    platform = platform.strip().lower()
    if not platform or any(c.isspace() or c == ":" for c in platform):
        raise InvalidExport(files.path, f"platform {platform!r} must be one word")
    # The same bytes read as another platform are another observation (ingest adds the time).
    return Batch(
        source=source,
        platform=platform,
        source_ref=f"{files.digest()}|{platform}",
        ids_are_emails=platform == "email",
    )


@register
class CsvSource(FileSource):
    name = "csv"
    platform = PLATFORM_DEFAULT
    summary = "Generic CSV: a follower snapshot (id column) or timed events (event, time, id)."

    def read(self, path: Path, options: ReadOptions) -> Batch:
        with ExportFiles(path) as files:
            if len(files.names) != 1:
                raise InvalidExport(path, "expected one CSV file")
            batch = _batch(self.name, options.platform or self.platform, files)
            # Columns, not a dict per row: snapshot files run to millions of rows.
            table = files.read_csv_columns(files.names[0], {"id"})
        if not len(table):
            raise InvalidExport(path, "no rows")
        if "event" in table.values:
            if "time" not in table.values:
                raise InvalidExport(path, "event rows need a time column")
            columns = table.lists()
            for i in range(len(table)):
                row = {key: values[i] for key, values in columns.items()}
                where = f"line {table.line(i)}"
                batch.events.append(
                    Event(
                        _person(row, path, where),
                        _enum(EventKind, row["event"], path, where),
                        _time(row["time"], path, where),
                        _enum(Direction, row.get("direction") or "followers", path, where),
                    )
                )
            return batch
        if options.at is None:
            raise InvalidExport(path, "a snapshot CSV needs --at (when the list was taken)")
        given = {""}
        if "direction" in table.values:
            import pyarrow.compute as pc  # 50 ms to import: only snapshot CSVs need it

            given = set(pc.unique(table.values["direction"]).to_pylist())
        directions = {(d or "followers").strip().lower() for d in given}
        if len(directions) != 1:
            raise InvalidExport(path, "a snapshot CSV must hold one direction")
        direction = _enum(Direction, directions.pop(), path, "direction")
        batch.snapshots.append(
            Snapshot(direction, options.at, _members(table, path), complete=True)
        )
        batch.observed_at = options.at
        return batch


def _members(table: CsvColumns, path: Path) -> pa.Table:
    """A snapshot's members from its columns, read as :func:`_person` reads one row: the
    id stripped as Python strips (every character ``str.isspace`` calls space), an empty
    handle or name none."""
    import pyarrow.compute as pc  # 50 ms to import: only snapshot CSVs need it

    ids = pc.utf8_trim(table.values["id"], characters=_PY_SPACE)
    empty = pc.equal(ids, "")
    if pc.any(empty).as_py():
        first = pc.index(empty, True).as_py()
        raise InvalidExport(path, f"line {table.line(first)}: missing id")
    nulls = pa.chunked_array([pa.nulls(len(table), pa.string())])
    return pa.table(
        [ids, *(_none_if_empty(table.values.get(c), nulls) for c in ("handle", "display_name"))],
        schema=MEMBER_SCHEMA,
    )


# Every character str.isspace calls space (what str.strip strips); tests/test_generic.py
# checks the list against Python's own.
_PY_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _none_if_empty(column: pa.ChunkedArray | None, nulls: pa.ChunkedArray) -> pa.ChunkedArray:
    import pyarrow.compute as pc

    if column is None:
        return nulls
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


@register
class JsonSource(FileSource):
    name = "json"
    platform = PLATFORM_DEFAULT
    summary = "Generic JSON: snapshots, events, posts, interactions and checks of any channel."

    def read(self, path: Path, options: ReadOptions) -> Batch:
        with ExportFiles(path) as files:
            if len(files.names) != 1:
                raise InvalidExport(path, "expected one JSON file")
            doc = files.read_json(files.names[0])
            if not isinstance(doc, dict) or doc.get("breakup") != 1:
                raise InvalidExport(path, 'not a breakup JSON document (needs "breakup": 1)')
            from ._json_shape import validate  # pydantic models: built on first use

            validate(doc, path)
            platform = str(doc.get("platform") or options.platform or self.platform)
            batch = _batch(self.name, platform, files)
        account = doc.get("account") or {}
        if not isinstance(account, dict):
            raise InvalidExport(path, "account must be an object")
        batch.account_identity = account.get("id") and str(account["id"])
        batch.account_handle = account.get("handle") and str(account["handle"])
        for i, snap in enumerate(_list(doc, "snapshots", path)):
            where = f"snapshots[{i}]"
            at = (
                _time(snap.get("observed_at"), path, where) if "observed_at" in snap else options.at
            )
            if at is None:
                raise InvalidExport(path, f"{where}: no observed_at (or pass --at)")
            if "observed_at" not in snap:
                batch.observed_at = at
            members = snap.get("members")
            if not isinstance(members, list):
                raise InvalidExport(path, f"{where}: members must be a list")
            reported = snap.get("reported_count")
            if reported is not None and not isinstance(reported, int):
                raise InvalidExport(path, f"{where}: reported_count must be an integer")
            batch.snapshots.append(
                Snapshot.of(
                    _enum(Direction, snap.get("direction", "followers"), path, where),
                    at,
                    [_person(_obj(m, path, where), path, where) for m in members],
                    complete=_flag(snap.get("complete", True), path, f"{where}.complete"),
                    reported_count=reported,
                )
            )
        for i, ev in enumerate(_list(doc, "events", path)):
            where = f"events[{i}]"
            batch.events.append(
                Event(
                    _person(ev, path, where),
                    _enum(EventKind, ev.get("event"), path, where),
                    _time(ev.get("time"), path, where),
                    _enum(Direction, ev.get("direction", "followers"), path, where),
                    ref=_opt(ev, "ref"),
                    campaign=_opt(ev, "campaign"),
                    reason=_opt(ev, "reason"),
                )
            )
        for i, post in enumerate(_list(doc, "posts", path)):
            where = f"posts[{i}]"
            if not post.get("id"):
                raise InvalidExport(path, f"{where}: missing id")
            metrics = post.get("metrics") or {}
            if not isinstance(metrics, dict) or not all(
                isinstance(v, int) for v in metrics.values()
            ):
                raise InvalidExport(path, f"{where}: metrics must map names to integers")
            batch.posts.append(
                Post(
                    str(post["id"]),
                    _time(post.get("created_at"), path, where),
                    _enum(PostKind, post.get("kind", "post"), path, where),
                    str(post.get("text") or ""),
                    _opt(post, "url"),
                    _opt(post, "reply_to"),
                    {str(k): v for k, v in metrics.items()},
                )
            )
        for i, it in enumerate(_list(doc, "interactions", path)):
            where = f"interactions[{i}]"
            batch.interactions.append(
                Interaction(
                    _person(it, path, where),
                    _enum(InteractionKind, it.get("kind"), path, where),
                    _time(it.get("time"), path, where),
                    _opt(it, "post"),
                )
            )
        for i, ck in enumerate(_list(doc, "checks", path)):
            where = f"checks[{i}]"
            follows = ck.get("follows")
            if follows is not None and not isinstance(follows, bool):
                raise InvalidExport(path, f"{where}: follows must be true, false or null")
            batch.checks.append(
                Check(
                    _person(ck, path, where),
                    _time(ck.get("time"), path, where),
                    _enum(AccountState, ck.get("state"), path, where),
                    follows,
                    _opt(ck, "detail"),
                )
            )
        if batch.is_empty():
            raise InvalidExport(path, "nothing to import (no snapshots, events, posts ...)")
        return batch


def _list(doc: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise InvalidExport(path, f"{key} must be a list")
    return [_obj(v, path, key) for v in value]


def _obj(value: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidExport(path, f"{where}: expected an object")
    return value


def _flag(value: Any, path: Path, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidExport(path, f"{where}: {value!r} is not true or false")
    return value


def _opt(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    return None if value is None or value == "" else str(value)
