"""readahead: the pieces of a stream produced in a thread, in order, errors where they
happened, and no thread left behind when the reader stops early."""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from breakup.errors import InvalidExport
from breakup.readahead import readahead
from breakup.sources.base import CHUNK, ExportFiles


def _threads() -> int:
    return sum(t.name == "breakup-readahead" for t in threading.enumerate())


def test_items_come_in_order() -> None:
    assert list(readahead(iter(range(1000)), depth=3)) == list(range(1000))


def test_a_producer_error_is_raised_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad piece")

    got = []
    with pytest.raises(ValueError, match="bad piece"):
        for item in readahead(items()):
            got.append(item)
    assert got == [1, 2]
    assert _threads() == 0


def test_stopping_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            n = 0
            while True:  # endless: only closing stops it
                yield n
                n += 1
        finally:
            closed.set()

    stream = readahead(items(), depth=2)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()
    assert closed.is_set()
    assert _threads() == 0


def test_a_large_zip_member_reads_the_same_through_the_thread(tmp_path: Path) -> None:
    body = b"".join(b"%09d," % i for i in range(1_000_000))  # 10 MB: read ahead
    assert len(body) > 4 * CHUNK
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/big.js", body)
        z.writestr("data/small.js", b"[]")
    with ExportFiles(path) as files:
        assert files.read_bytes("data/big.js") == body
        assert files.read_bytes("data/small.js") == b"[]"
    assert _threads() == 0


def test_a_damaged_large_member_is_still_one_error_naming_the_file(tmp_path: Path) -> None:
    body = bytes(range(256)) * 50_000  # 12.8 MB that barely compresses
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/big.js", body)
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 64] = bytes(64)  # corrupt the deflate stream mid-member
    path.write_bytes(bytes(raw))
    with ExportFiles(path) as files, pytest.raises(InvalidExport, match=r"export\.zip"):
        files.read_bytes("data/big.js")
    assert _threads() == 0
