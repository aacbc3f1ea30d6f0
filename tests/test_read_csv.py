"""ExportFiles.read_csv, the CSV reader every CSV source shares: read on csv.reader (issue
16, speed), it must accept, refuse and word exactly what the DictReader version did."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from breakup.errors import InvalidExport
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
