"""What every file source shares: the interface, options, and reading exports safely.

:class:`ExportFiles` presents a zip, a folder or a single file as named members, turns
every way of being broken (truncated zip, bad encoding, missing member) into an
:class:`~breakup.errors.InvalidExport` naming the file, and fingerprints the content so
re-importing the same export is recognised.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import re
import sys
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Protocol

import pyarrow as pa

from .. import progress
from ..clock import Clock, system_clock
from ..collector import collector_paused
from ..errors import InvalidExport
from ..models import Batch
from ..readahead import readahead
from . import zipinflate

# Zip bombs: a member is refused before it is decompressed when its header promises more
# than MAX_MEMBER_BYTES, or more than MAX_RATIO times its compressed size once past
# RATIO_FLOOR (real exports compress 3-30x: JSON and CSV text, already-compressed media);
# an archive whose members read add up to more than MAX_TOTAL_BYTES is refused as it is
# read. Members are decompressed in CHUNK pieces, counted as they come.
MAX_MEMBER_BYTES = 4 * 1024**3
MAX_TOTAL_BYTES = 8 * 1024**3
MAX_RATIO = 200
RATIO_FLOOR = 16 * 1024**2
MAX_MEMBERS = 500_000
CHUNK = 1 << 20
_CSV_BATCH = 100_000  # rows the C parser reads between two progress reports


@dataclass(frozen=True)
class ReadOptions:
    at: datetime | None = None  # when the export was taken, if the user knows better
    platform: str | None = None  # for generic inputs: which platform the ids belong to
    clock: Clock = field(default=system_clock)
    # Every path of the same import, the one being read included: a source may take a file
    # given beside its export as part of it (Mailchimp's campaign report).
    together: tuple[Path, ...] = ()
    # The first day of an export limited to a date range the source cannot tell by itself
    # (Instagram's custom range): its lists are complete only for follows since then.
    since: datetime | None = None


class FileSource(ABC):
    """One kind of file input. Subclasses set the class attributes and implement read."""

    name: ClassVar[str]  # what the user types: ``breakup import NAME PATH``
    platform: ClassVar[str]  # people ids are unique per platform
    summary: ClassVar[str]  # one line for ``--help``
    # Whether an export of this kind can be limited to a date range (``ReadOptions.since``)
    date_limited: ClassVar[bool] = False

    @abstractmethod
    def read(self, path: Path, options: ReadOptions) -> Batch:
        """Parse *path* completely; raise InvalidExport on anything unusable."""


# A JSON string escape of a UTF-16 surrogate: the only way JSON text can hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def parse_json(text: str, path: Path, what: str) -> Any:
    """JSON text as Python values, or an :class:`InvalidExport` naming *path* and *what*
    (the member) for anything a store could not hold: malformed or truncated text, nesting
    deeper than Python's recursion allows, an integer of more digits than Python converts,
    a string escape of half a UTF-16 pair (no UTF-8 for it)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidExport(
            path, f"{what} is not valid JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise InvalidExport(path, f"{what} is not usable JSON: nested too deeply") from None
    except ValueError as exc:  # Python's digit limit on int(str) (CVE-2020-10735)
        limit = sys.get_int_max_str_digits()
        problem = f"a number of more than {limit:,} digits" if "digits" in str(exc) else exc
        raise InvalidExport(path, f"{what} is not usable JSON: {problem}") from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(doc):
        raise InvalidExport(
            path, f"{what} holds a string with half a UTF-16 surrogate pair (\\ud800-\\udfff)"
        )
    return doc


def _has_lone_surrogate(doc: Any) -> bool:
    """Whether any key or string in *doc* cannot be encoded as UTF-8 (no recursion: *doc*
    may be as deep as the parser allowed)."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _gib(size: int) -> str:
    return f"{size / 1024**3:.1f} GiB" if size >= 1024**3 else f"{size / 1024**2:.0f} MiB"


def _swallows_rows(values: Iterable[str | None], columns: int) -> bool:
    """Whether a value spanning lines holds a later line with as many field separators as
    a row of *columns* has: rows an unbalanced quote swallowed, not a line break someone
    typed into a name or a note."""
    return any(
        later.count(",") >= columns - 1
        for v in values
        if v and ("\n" in v or "\r" in v)
        for later in v.splitlines()[1:]
    )


class Hasher(Protocol):
    """What :meth:`ExportFiles.chunks` feeds (hashlib's objects)."""

    def update(self, data: bytes, /) -> None: ...


@dataclass
class CsvColumns:
    """A CSV file's values by column (every column of its header, as Arrow strings: a
    few bytes a value, not a Python object), row *i* of each at :meth:`line` of the file."""

    values: dict[str, pa.ChunkedArray]
    lines: list[int] | None = None  # where rows are not simply one a line after the header

    def __len__(self) -> int:
        return len(next(iter(self.values.values()), []))

    def lists(self) -> dict[str, list[str]]:
        """The values as Python strings, for reading row by row."""
        return {key: column.to_pylist() for key, column in self.values.items()}

    def line(self, row: int) -> int:
        """The file's line (from 1, the header) where *row* (from 0) begins."""
        return row + 2 if self.lines is None else self.lines[row]


class ExportFiles:
    """A zip, folder or single file, as members addressed by relative POSIX paths."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._total = 0  # bytes decompressed from the archive so far (each member once)
        self._counted: set[str] = set()
        if not path.exists():
            raise InvalidExport(path, "no such file or folder")
        if path.is_dir():
            self.names = sorted(
                p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()
            )
        elif zipfile.is_zipfile(path):
            try:
                self._zip = zipfile.ZipFile(path)
                self.names = sorted(i.filename for i in self._zip.infolist() if not i.is_dir())
                if len(self.names) > MAX_MEMBERS:
                    self._zip.close()
                    raise InvalidExport(path, f"{len(self.names):,} members: too many to read")
            except (zipfile.BadZipFile, OSError) as exc:
                raise InvalidExport(path, f"unreadable zip ({exc})") from None
        elif path.suffix.lower() == ".zip":
            raise InvalidExport(path, "not a valid zip file (truncated or corrupt?)")
        else:
            self.names = [path.name]

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> ExportFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def find(self, pattern: str) -> list[str]:
        """Members whose path matches *pattern* (a regex searched in the POSIX path)."""
        rx = re.compile(pattern)
        return [n for n in self.names if rx.search(n)]

    def basename(self, name: str) -> str:
        return PurePosixPath(name).name

    def where(self, name: str) -> str:
        """How an error names a member: not at all when the export is that one file."""
        single = self._zip is None and not self.path.is_dir()
        return "" if single else f"{self.basename(name)} "

    def read_bytes(self, name: str) -> bytes:
        return b"".join(self.chunks(name))

    def chunks(self, name: str, digest: Hasher | None = None) -> Generator[bytes, None, None]:
        """A member's bytes in pieces; a zip member is checked against the bomb limits
        before and while it is decompressed, so a bomb is refused without being expanded.
        *digest* is updated with every piece, by the thread inflating them if there is one.
        """
        try:
            if self._zip is None:
                target = self.path if self.path.is_file() else self.path / name
                data = target.read_bytes()
                if digest is not None:
                    digest.update(data)
                yield data
                return
            info = self._zip.getinfo(name)
            self._check_member(info)
            pieces = self._inflate(name, info, digest)
            # A large member is inflated in a thread (zlib lets go of the GIL) while the
            # caller parses the pieces before it.
            yield from readahead(pieces) if info.file_size > 4 * CHUNK else pieces
        except InvalidExport:
            raise
        except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError) as exc:
            raise InvalidExport(self.path, f"cannot read {name}: {exc}") from None
        except Exception as exc:  # zlib.error and friends from a damaged archive
            raise InvalidExport(self.path, f"cannot read {name}: {exc}") from None

    def _inflate(
        self, name: str, info: zipfile.ZipInfo, digest: Hasher | None = None
    ) -> Iterator[bytes]:
        assert self._zip is not None
        first = name not in self._counted
        self._counted.add(name)
        size = 0
        for chunk in self._pieces(info):
            size += len(chunk)
            if size > info.file_size:
                raise InvalidExport(
                    self.path, f"{name} holds more than its {info.file_size:,} bytes"
                )
            if first:
                self._total += len(chunk)
                if self._total > MAX_TOTAL_BYTES:
                    raise InvalidExport(
                        self.path,
                        f"{name}: the members read expand beyond "
                        f"{MAX_TOTAL_BYTES / 1024**3:.0f} GiB (a zip bomb?)",
                    )
            if digest is not None:
                digest.update(chunk)
            yield chunk

    def _pieces(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """A member's bytes, inflated by :mod:`.zipinflate` where it can (faster)."""
        if zipinflate.direct(info):
            yield from zipinflate.inflate(self.path, info, CHUNK)
            return
        assert self._zip is not None
        with self._zip.open(info) as member:
            while chunk := member.read(CHUNK):
                yield chunk

    def _check_member(self, info: zipfile.ZipInfo) -> None:
        size, packed = info.file_size, max(1, info.compress_size)
        if size > MAX_MEMBER_BYTES:
            raise InvalidExport(
                self.path, f"{info.filename} would expand to {_gib(size)} (a zip bomb?)"
            )
        if size > RATIO_FLOOR and size / packed > MAX_RATIO:
            raise InvalidExport(
                self.path,
                f"{info.filename} would expand {size // packed:,}x, from {packed:,} bytes to "
                f"{_gib(size)} (a zip bomb?)",
            )

    def read_text(self, name: str) -> str:
        data = self.read_bytes(name)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidExport(self.path, f"{name} is not UTF-8 text (byte {exc.start})") from None

    def _text(self, name: str) -> tuple[io.TextIOWrapper, int]:
        """A member's text, decoded as it is read (an io.StringIO of it would hold four
        bytes a character), and its number of line feeds. Bad UTF-8 raises
        UnicodeDecodeError where it is met: :meth:`_not_text` words it."""
        data = self.read_bytes(name)
        text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
        return text, data.count(b"\n")

    def _not_text(self, name: str) -> InvalidExport:
        """The error :meth:`read_text` gives for a member that is not UTF-8."""
        try:
            self.read_text(name)
        except InvalidExport as exc:
            return exc
        return InvalidExport(self.path, f"{name} is not UTF-8 text")

    def read_json(self, name: str) -> Any:
        return parse_json(self.read_text(name), self.path, name)

    def read_csv_columns(self, name: str, required: set[str]) -> CsvColumns:
        """The same rows as :meth:`read_csv`, accepted and refused alike, as columns: for
        files of millions of rows, without a dict per row.

        Rows are read in batches by the C parser; a batch is taken as it is when each of
        its rows is one line of the header's width. Anything else (a blank line, a value
        over several lines, a bad quote, a short row) sends the whole file through
        :meth:`read_csv`, which says what is wrong or reads it row by row."""
        with collector_paused():
            return self._csv_columns(name, required)

    def _csv_columns(self, name: str, required: set[str]) -> CsvColumns:
        text, lines = self._text(name)
        about = max(0, lines - 1)
        reader = csv.reader(text, strict=True)
        try:
            fieldnames = next(reader, None) or []
            missing = required - set(fieldnames)
            if missing or len(set(fieldnames)) != len(fieldnames):
                return self._csv_columns_slowly(name, required)
            width, line = len(fieldnames), reader.line_num
            columns: list[list[pa.Array]] = [[] for _ in fieldnames]
            rows = 0
            while batch := list(itertools.islice(reader, _CSV_BATCH)):
                if reader.line_num - line != len(batch) or set(map(len, batch)) != {width}:
                    return self._csv_columns_slowly(name, required)
                line = reader.line_num
                for column, values in zip(columns, zip(*batch, strict=True), strict=True):
                    column.append(pa.array(values, pa.string()))
                rows += len(batch)
                progress.rows_read(name, rows, about)
        except csv.Error:
            return self._csv_columns_slowly(name, required)
        except UnicodeDecodeError:
            raise self._not_text(name) from None
        progress.rows_read(name, rows, rows)
        arrays = [pa.chunked_array(chunks, pa.string()) for chunks in columns]
        return CsvColumns(dict(zip(fieldnames, arrays, strict=True)))

    def _csv_columns_slowly(self, name: str, required: set[str]) -> CsvColumns:
        lines: list[int] = []
        columns: dict[str, list[str]] = {}
        for record in self.read_csv(name, required):
            if not columns:
                columns = {k: [] for k in record}
            for key, value in record.items():
                columns[key].append(value)
            lines.append(0)
        # read_csv does not hand out line numbers; a second pass finds them cheaply
        numbered = csv.reader(self._text(name)[0], strict=True)
        next(numbered, None)
        at, before = 0, numbered.line_num
        for row in numbered:
            if row:
                lines[at] = before + 1  # where the row begins
                at += 1
            before = numbered.line_num
        arrays = {key: pa.chunked_array([pa.array(v, pa.string())]) for key, v in columns.items()}
        return CsvColumns(arrays, lines)

    def read_csv(self, name: str, required: set[str]) -> Iterator[dict[str, str]]:
        """Rows as dicts; the header must contain *required* columns.

        Parsed strictly: a quote where none may be, or a quoted field still open at the end
        of the file, is refused. So is a quoted field that runs over several lines holding
        what look like rows of their own: an unbalanced quote there would swallow the rest
        of the file into one value, and a snapshot read that way loses everyone after it.
        """
        text, lines = self._text(name)
        line = 0  # the last line of the last row read
        rows, about = 0, max(0, lines - 1)  # for a progress bar (breakup.progress)
        try:
            # csv.reader, not DictReader: its rows are checked here and made dicts once.
            reader = csv.reader(text, strict=True)
            fieldnames = next(reader, None) or []
            width = len(fieldnames)
            header = set(fieldnames)
            missing = required - header
            if missing:
                raise InvalidExport(
                    self.path,
                    f"{self.where(name)}lacks column(s) {', '.join(sorted(missing))}",
                )
            line = reader.line_num
            for row in reader:
                if not row:
                    continue  # a blank line (DictReader skipped them too)
                start, line = line + 1, reader.line_num
                if len(row) != width:
                    short = "missing fields (truncated file?)"
                    problem = "extra fields" if len(row) > width else short
                    raise InvalidExport(
                        self.path, f"{self.where(name)}line {reader.line_num}: {problem}"
                    )
                record = dict(zip(fieldnames, row, strict=True))
                if line > start and _swallows_rows(record.values(), len(header)):
                    raise InvalidExport(
                        self.path,
                        f"{self.where(name)}lines {start}-{line} are one quoted value holding "
                        "what look like rows (an unbalanced quote?)",
                    )
                rows += 1
                if rows % progress.EVERY == 0:
                    progress.rows_read(name, rows, about)
                yield record
            progress.rows_read(name, rows, rows)
        except UnicodeDecodeError:
            raise self._not_text(name) from None
        except csv.Error as exc:
            problem = str(exc)
            if problem == "unexpected end of data":
                problem = "a quoted value is never closed (an unbalanced quote?)"
            raise InvalidExport(
                self.path, f"{self.where(name)}line {line + 1}: {problem}"
            ) from None

    def digest(self, names: list[str] | None = None) -> str:
        """SHA-256 over member names and contents: the same export gives the same value.

        Pass the members a source actually reads, so exports full of media are not hashed.
        """
        h = hashlib.sha256()
        for name in sorted(self.names if names is None else names):
            h.update(name.encode() + b"\0")
            member = hashlib.sha256()
            for chunk in self.chunks(name):
                member.update(chunk)
            h.update(member.digest())
        return h.hexdigest()

    def newest_member_time(self) -> datetime | None:
        """Latest modification time among members.

        Zip times are the packing machine's local time without a zone; they are read as UTC,
        so this can be off by that offset. Callers use it only as a noted fallback.
        """
        if self._zip is not None:
            stamps = [datetime(*i.date_time, tzinfo=UTC) for i in self._zip.infolist()]
        elif self.path.is_dir():
            stamps = [
                datetime.fromtimestamp((self.path / n).stat().st_mtime, UTC) for n in self.names
            ]
        else:
            stamps = [datetime.fromtimestamp(self.path.stat().st_mtime, UTC)]
        return max(stamps) if stamps else None
