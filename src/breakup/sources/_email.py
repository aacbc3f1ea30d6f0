"""What the email-list sources (Mailchimp, Buttondown, Substack) share.

Every helper turns bad input into an :class:`~breakup.errors.InvalidExport` that names the
export and the place in it, so a source never lets a bare ``ValueError`` escape or returns
half a batch. Person ids are the addresses as given: ingest hashes them
(``Batch.ids_are_emails``), so no helper here ever puts an address into a message.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from ..clock import to_utc
from ..errors import InvalidExport
from ..models import Batch, Direction, Snapshot, members_table
from .base import ExportFiles, ReadOptions

PLATFORM = "email"

Row = tuple[str, dict[str, str]]  # ("file.csv line 7", {column: value})


def new_batch(source: str, files: ExportFiles) -> Batch:
    return Batch(source=source, platform=PLATFORM, source_ref=files.digest(), ids_are_emails=True)


def read_rows(files: ExportFiles, name: str, required: set[str]) -> list[Row]:
    """All rows of one CSV member, each labelled with where it came from."""
    base = files.basename(name)
    return [
        (f"{base} line {n}", row) for n, row in enumerate(files.read_csv(name, required), start=2)
    ]


def header_of(files: ExportFiles, name: str) -> list[str]:
    """The column names of a CSV member, to recognise what kind of file it is."""
    first = files.read_text(name).split("\n", 1)[0]
    return [c.strip() for c in next(csv.reader([first]), [])]


def parse_time(value: str, path: Path, where: str) -> datetime | None:
    """An export timestamp as aware UTC, or None for an empty cell.

    Takes ISO 8601 with or without an offset (``2024-03-13 00:03:09.183465+00:00``,
    ``2019-07-26T20:48:19.814Z``, ``2018-02-12 17:59:31``, ``2024-01-01``). A time
    without an offset is read as UTC; each source says why that is right for its export.
    """
    raw = value.strip()
    if not raw:
        return None
    try:
        return to_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except (ValueError, OverflowError):  # OverflowError: out of range once in UTC
        raise InvalidExport(path, f"{where}: {raw[:40]!r} is not a date/time") from None


def email_address(value: str, path: Path, where: str) -> str:
    address = value.strip()
    if "@" not in address or any(c.isspace() for c in address):
        # The cell is personal data: say where it is, not what it holds.
        raise InvalidExport(path, f"{where}: not an email address")
    return address


def export_time(
    options: ReadOptions, times: Iterable[datetime], path: Path, notes: list[str]
) -> datetime:
    """When the export was taken: ``--at``, else the newest time found in it.

    A snapshot earlier than an event beside it would be replayed before that event and
    tracking would misread who was there, so ``--at`` before the newest time is refused.
    The newest time is a safe stand-in: the export holds every change up to the moment
    it was taken, so the list it shows was already true then.
    """
    newest = max(times, default=None)
    if options.at is not None:
        at = to_utc(options.at)
        if newest is not None and at < newest:
            raise InvalidExport(
                path,
                f"--at {at:%Y-%m-%d %H:%M} is before the newest time in the export "
                f"({newest:%Y-%m-%d %H:%M:%S} UTC)",
            )
        return at
    if newest is None:
        raise InvalidExport(path, "no dates in the export to place it in time; pass --at")
    notes.append(
        f"export time taken as the newest time in it, {newest:%Y-%m-%d %H:%M:%S} UTC "
        "(pass --at for the real one)"
    )
    return newest


def followers_snapshot(
    at: datetime,
    ids: Sequence[str],
    names: Sequence[str | None] | None = None,
    *,
    complete: bool,
    notes: list[str],
) -> Snapshot:
    """The subscribers at export time; an empty list is never trusted as complete.

    A complete snapshot ends everyone missing from it, and an empty subscriber file is
    likelier a broken or filtered export than a list that lost every reader.
    """
    if complete and not ids:
        complete = False
        notes.append("no subscribers in the export: not used to detect who left")
    return Snapshot(Direction.FOLLOWERS, at, members_table(ids, None, names), complete)
