"""readahead: the pieces of a stream produced in a thread, in order, errors where they
happened, and no thread left behind when the reader stops early."""

from __future__ import annotations

import hashlib
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from breakup.errors import InvalidExport
from breakup.readahead import BackgroundHash, readahead
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


def _hash_threads() -> int:
    return sum(t.name == "breakup-hash" for t in threading.enumerate())


def test_the_background_hash_is_sha256_of_every_piece_in_order() -> None:
    pieces = [bytes([k]) * (k * 9973) for k in range(60)]  # small and large (GIL let go)
    digest = BackgroundHash(depth=2)
    for piece in pieces:
        digest.update(piece)
    assert digest.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert _hash_threads() == 0
    with pytest.raises(ValueError, match="already finished"):
        digest.update(b"more")


def test_closing_the_background_hash_early_leaves_no_thread() -> None:
    digest = BackgroundHash()
    digest.update(b"x" * 100_000)
    digest.close()
    digest.close()  # twice is fine
    assert _hash_threads() == 0


def test_a_follower_list_read_as_it_streams_hashes_it_and_leaves_no_thread(
    tmp_path: Path,
) -> None:
    """The X follower list's streamed read hashes it beside parsing it: the archive's
    fingerprint is the same as hashing the bytes at once, and no thread outlives a read,
    whether it finished or gave up on the stream (non-ASCII: read record by record)."""
    from breakup.sources.base import ReadOptions
    from breakup.sources.x_archive import XArchiveSource

    records = ",\n".join(
        f'  {{\n    "follower" : {{\n      "accountId" : "{10**17 + k}",\n      "userLink" : '
        f'"https://twitter.com/intent/user?user_id={10**17 + k}"\n    }}\n  }}'
        for k in range(60_000)
    )  # 7 MB: inflated in the reading thread too
    body = f"window.YTD.follower.part0 = [\n{records}\n]".encode()
    account = (
        b'window.YTD.account.part0 = [ {\n  "account" : {\n    "accountId" : "1",\n'
        b'    "username" : "me"\n  }\n} ]'
    )
    refs = []
    for name, text in (("plain", body), ("accented", body.replace(b"intent", b"int\xc3\xa9nt", 1))):
        path = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("data/follower.js", text)
            z.writestr("data/following.js", b"window.YTD.following.part0 = [ ]")
            z.writestr("data/account.js", account)
        folder = tmp_path / name
        zipfile.ZipFile(path).extractall(folder)  # read whole, hashed in one piece
        at = ReadOptions(at=datetime(2025, 1, 1, tzinfo=UTC))
        zipped, unzipped = (XArchiveSource().read(p, at) for p in (path, folder))
        assert zipped.snapshots[0].members.num_rows == 60_000
        assert zipped.source_ref == unzipped.source_ref
        assert _hash_threads() == 0 and _threads() == 0
        refs.append(zipped.source_ref)
    assert refs[0] != refs[1]
