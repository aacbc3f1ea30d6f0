"""ExportFiles.read_csv, the CSV reader every CSV source shares: read on csv.reader (issue
16, speed), it must accept, refuse and word exactly what the DictReader version did."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakup.errors import InvalidExport
from breakup.sources import base
from breakup.sources.base import ExportFiles, _swallows_rows


def _dictreader_rows(path: Path, required: set[str]) -> Iterator[dict[str, str]]:
    """The former reader (without the progress reports), as the reference."""
    text = path.read_bytes().decode("utf-8-sig")
    line = 0
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        header = set(reader.fieldnames or [])
        missing = required - header
        if missing:
            raise InvalidExport(path, f"lacks column(s) {', '.join(sorted(missing))}")
        line = reader.line_num
        for row in reader:
            start, line = line + 1, reader.line_num
            if None in row:
                raise InvalidExport(path, f"line {reader.line_num}: extra fields")
            if any(v is None for v in row.values()):
                raise InvalidExport(
                    path, f"line {reader.line_num}: missing fields (truncated file?)"
                )
            if line > start and _swallows_rows(row.values(), len(header)):
                raise InvalidExport(
                    path,
                    f"lines {start}-{line} are one quoted value holding what look like rows "
                    "(an unbalanced quote?)",
                )
            yield {k: (v or "") for k, v in row.items()}
    except csv.Error as exc:
        problem = str(exc)
        if problem == "unexpected end of data":
            problem = "a quoted value is never closed (an unbalanced quote?)"
        raise InvalidExport(path, f"line {line + 1}: {problem}") from None


def _outcome(rows: Iterator[dict[str, str]]) -> object:
    try:
        return list(rows)
    except InvalidExport as exc:
        return str(exc)


CELLS = st.text(alphabet='ab,"\n\r ', max_size=8)


@settings(max_examples=400, deadline=None)
@given(
    header=st.sampled_from(["a,b", "a,a", "a", "", "b,a,c", '"a",b']),
    lines=st.lists(CELLS, max_size=8),
    required=st.sampled_from([set(), {"a"}, {"c"}]),
)
def test_reads_as_the_dictreader_did(
    tmp_path_factory: object, header: str, lines: list[str], required: set[str]
) -> None:
    text = "\n".join([header, *lines])
    path = Path(str(tmp_path_factory.mktemp("csv"))) / "f.csv"  # type: ignore[attr-defined]
    path.write_text(text, encoding="utf-8", newline="")
    got = _outcome(ExportFiles(path).read_csv(path.name, required))
    assert got == _outcome(_dictreader_rows(path, required))


def _columns_outcome(path: Path, required: set[str]) -> object:
    try:
        table = ExportFiles(path).read_csv_columns(path.name, required)
    except InvalidExport as exc:
        return str(exc)
    columns = table.lists()
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _row_starts(path: Path) -> list[int]:
    """Where each non-blank row after the header begins (csv.reader's own count)."""
    reader = csv.reader(io.StringIO(path.read_text("utf-8-sig"), newline=""))
    next(reader, None)
    starts, before = [], reader.line_num
    for row in reader:
        if row:
            starts.append(before + 1)
        before = reader.line_num
    return starts


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.sampled_from(["a,b", "a,a", "a", "", "b,a,c", '"a",b']),
    lines=st.lists(CELLS, max_size=8),
    required=st.sampled_from([set(), {"a"}, {"c"}]),
    batch=st.sampled_from([1, 2, 3, 100_000]),
    ending=st.sampled_from(["\n", "\r\n"]),
)
def test_columns_read_as_the_rows_do(
    tmp_path_factory: object,
    monkeypatch_batch: Callable[[int], None],
    header: str,
    lines: list[str],
    required: set[str],
    batch: int,
    ending: str,
) -> None:
    """The columnar reader accepts, refuses and words exactly what read_csv does, in
    batches of any size, and knows the line where each row begins."""
    monkeypatch_batch(batch)
    text = ending.join([header, *lines])
    path = Path(str(tmp_path_factory.mktemp("csv"))) / "f.csv"  # type: ignore[attr-defined]
    path.write_text(text, encoding="utf-8", newline="")
    rows = _outcome(ExportFiles(path).read_csv(path.name, required))
    assert _columns_outcome(path, required) == rows
    if isinstance(rows, list) and rows:
        table = ExportFiles(path).read_csv_columns(path.name, required)
        assert [table.line(i) for i in range(len(table))] == _row_starts(path)


@pytest.fixture
def monkeypatch_batch() -> Iterator[Callable[[int], None]]:
    saved = base._CSV_BATCH

    def set_batch(n: int) -> None:
        base._CSV_BATCH = n

    yield set_batch
    base._CSV_BATCH = saved


def test_a_million_rows_are_read_as_columns_in_one_pass(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    body = "".join(f"{i},h{i}\n" for i in range(250_000))
    path.write_text("id,handle\n" + body, encoding="utf-8")
    table = ExportFiles(path).read_csv_columns(path.name, {"id"})
    assert table.lines is None  # the fast path took every batch
    assert len(table) == 250_000
    columns = table.lists()
    assert columns["id"][-1] == "249999" and columns["handle"][0] == "h0"
    assert table.values["id"].num_chunks == 3  # a chunk of Arrow strings per batch
    assert table.line(249_999) == 250_001
