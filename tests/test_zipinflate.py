"""zipinflate: a deflated member read raw and inflated (ISA-L, or zlib without it) gives
exactly zipfile's bytes, in bounded pieces, and what zipfile refuses it refuses too."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakup.errors import InvalidExport
from breakup.sources import base, zipinflate
from breakup.sources.base import ExportFiles

BACKENDS = ["isal", "zlib"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "zlib":
        monkeypatch.setattr(zipinflate, "_zlib", zlib)
    else:
        from isal import isal_zlib

        assert zipinflate._zlib is isal_zlib  # the dependency is installed: it is used
    return str(request.param)


def _read_all(path: Path, name: str) -> bytes:
    with ExportFiles(path) as files:
        return files.read_bytes(name)


def _body(seed: int, size: int, kind: str) -> bytes:
    rng = __import__("random").Random(seed)
    if kind == "random":
        return rng.randbytes(size)
    if kind == "json":
        return b"".join(b'  {"follower" : {"accountId" : "%d"}},\n' % rng.getrandbits(60)
                        for _ in range(size // 40 + 1))[:size]  # fmt: skip
    return bytes([rng.choice(b" ab")]) * size  # long runs: matches far longer than a chunk


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32),
    size=st.sampled_from([0, 1, 100, 70_000, 300_000]),
    kind=st.sampled_from(["random", "json", "runs"]),
    level=st.integers(0, 9),
    chunk=st.sampled_from([1, 97, 4096, 1 << 20]),
)  # fmt: skip
def test_members_read_exactly_as_zipfile_reads_them(
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    size: int,
    kind: str,
    level: int,
    chunk: int,
) -> None:
    monkeypatch.setattr(base, "CHUNK", chunk)
    body = _body(seed, size, kind)
    path = tmp_path / f"m{seed}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        z.writestr("before.txt", b"x" * 10)
        z.writestr("data/follower.js", body)
    with zipfile.ZipFile(path) as z:
        assert zipinflate.direct(z.getinfo("data/follower.js"))
    with ExportFiles(path) as files:
        pieces = list(files.chunks("data/follower.js"))
    assert b"".join(pieces) == body
    assert all(0 < len(p) <= chunk for p in pieces)


def _odd_zip(path: Path) -> dict[str, bytes]:
    """Members as other writers leave them: zip64 headers, a data descriptor (written to
    a pipe, no seeking back), a UTF-8 name, stored and bzip2 members, a stub before it."""
    bodies = {
        "zip64.json": _body(1, 200_000, "json"),
        "descriptor.json": _body(2, 150_000, "json"),
        "名前/フォロワー.js": _body(3, 50_000, "runs"),
        "stored.bin": _body(4, 30_000, "random"),
        "bzip2.json": _body(5, 30_000, "json"),
    }

    class Pipe(io.RawIOBase):  # a stream zipfile cannot seek in: it writes descriptors
        def __init__(self) -> None:
            self.out = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            self.out += b
            return len(b)

    pipe = Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("zip64.json", "w", force_zip64=True) as f:
            f.write(bodies["zip64.json"])
        z.writestr("descriptor.json", bodies["descriptor.json"])
        z.writestr("名前/フォロワー.js", bodies["名前/フォロワー.js"])
        z.writestr("stored.bin", bodies["stored.bin"], compress_type=zipfile.ZIP_STORED)
        z.writestr("bzip2.json", bodies["bzip2.json"], compress_type=zipfile.ZIP_BZIP2)
    path.write_bytes(b"#!/bin/sh\nexit 0\n" + bytes(pipe.out))  # a self-extractor's stub
    return bodies


def test_headers_other_writers_leave_are_read(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "odd.zip"
    bodies = _odd_zip(path)
    with zipfile.ZipFile(path) as z:
        infos = {i.filename: i for i in z.infolist()}
        assert infos["descriptor.json"].flag_bits & 0x8  # really has a data descriptor
        assert not zipinflate.direct(infos["stored.bin"])
        assert not zipinflate.direct(infos["bzip2.json"])
        for name, body in bodies.items():
            assert z.read(name) == body
    for name, body in bodies.items():
        assert _read_all(path, name) == body, name


def _deflated(tmp_path: Path, body: bytes) -> tuple[Path, zipfile.ZipInfo]:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/follower.js", body)
    with zipfile.ZipFile(path) as z:
        return path, z.getinfo("data/follower.js")


def _patch(path: Path, at: int, new: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[at : at + len(new)] = new
    path.write_bytes(bytes(data))


def _central(path: Path) -> int:
    """Where the central directory's header of the (only) member starts."""
    return path.read_bytes().rindex(b"PK\x01\x02")


BODY = _body(7, 120_000, "json")


def test_a_changed_byte_of_content_is_refused(backend: str, tmp_path: Path) -> None:
    path, info = _deflated(tmp_path, BODY)
    start = info.header_offset + 30 + len(info.filename)
    data = path.read_bytes()
    middle = start + info.compress_size // 2
    _patch(path, middle, bytes([data[middle] ^ 0x10]))
    with pytest.raises(InvalidExport, match=r"a\.zip.*follower\.js") as err:
        _read_all(path, "data/follower.js")
    assert "\n" not in str(err.value)


def test_a_wrong_crc_is_refused(backend: str, tmp_path: Path) -> None:
    path, info = _deflated(tmp_path, BODY)
    _patch(path, _central(path) + 16, struct.pack("<L", info.CRC ^ 1))
    with pytest.raises(InvalidExport, match="Bad CRC-32"):
        _read_all(path, "data/follower.js")


def test_a_cut_archive_is_refused(backend: str, tmp_path: Path) -> None:
    """The file ends inside the member's compressed data (a download cut short)."""
    path, info = _deflated(tmp_path, BODY)
    start = info.header_offset + 30 + len(info.filename)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(path.read_bytes()[: start + info.compress_size // 2])
    with pytest.raises(zipfile.BadZipFile, match=r"follower\.js: the archive is cut short"):
        b"".join(zipinflate.inflate(cut, info, 4096))


def test_a_stream_ending_early_is_refused(backend: str, tmp_path: Path) -> None:
    """The stated compressed size ends before the deflate stream does."""
    path, info = _deflated(tmp_path, BODY)
    _patch(path, _central(path) + 20, struct.pack("<L", info.compress_size // 2))
    with pytest.raises(InvalidExport, match=r"follower\.js: the compressed data ends early"):
        _read_all(path, "data/follower.js")


def test_a_member_expanding_beyond_its_stated_size_is_stopped(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stated size is a lie (a bomb hiding behind a small header): reading stops once
    the pieces pass it, after at most one more piece."""
    monkeypatch.setattr(base, "CHUNK", 4096)
    body = b" " * 5_000_000
    path, _ = _deflated(tmp_path, body)
    _patch(path, _central(path) + 24, struct.pack("<L", 10_000))
    read = 0
    with (
        pytest.raises(InvalidExport, match="holds more than its 10,000 bytes"),
        ExportFiles(path) as files,
    ):
        for piece in files.chunks("data/follower.js"):
            read += len(piece)
    assert read <= 10_000


def test_a_member_shorter_than_stated_is_refused(backend: str, tmp_path: Path) -> None:
    path, info = _deflated(tmp_path, BODY)
    _patch(path, _central(path) + 24, struct.pack("<L", info.file_size + 1))
    with pytest.raises(InvalidExport, match="bytes where"):
        _read_all(path, "data/follower.js")


def test_a_local_header_that_is_not_one_is_refused(backend: str, tmp_path: Path) -> None:
    path, info = _deflated(tmp_path, BODY)
    _patch(path, info.header_offset, b"XX")
    with pytest.raises(InvalidExport, match="bad local file header"):
        _read_all(path, "data/follower.js")
    path, info = _deflated(tmp_path, BODY)
    _patch(path, info.header_offset + 30, b"DATA")  # the local name differs
    with pytest.raises(InvalidExport, match="names in directory and header differ"):
        _read_all(path, "data/follower.js")


def test_an_encrypted_member_is_left_to_zipfile(tmp_path: Path) -> None:
    path, info = _deflated(tmp_path, BODY)
    flags = info.flag_bits | 0x1
    _patch(path, _central(path) + 8, struct.pack("<H", flags))
    with zipfile.ZipFile(path) as z:
        assert not zipinflate.direct(z.getinfo("data/follower.js"))
    with pytest.raises(InvalidExport, match=r"follower\.js"):  # zipfile asks for a password
        _read_all(path, "data/follower.js")


def test_a_large_member_is_inflated_in_the_reading_thread(backend: str, tmp_path: Path) -> None:
    """Past 4 chunks the pieces come from readahead: the same bytes, the same digest."""
    import hashlib

    body = os.urandom(1 << 20) + _body(9, 6 << 20, "json")
    path, _ = _deflated(tmp_path, body)
    digest = hashlib.sha256()
    with ExportFiles(path) as files:
        assert b"".join(files.chunks("data/follower.js", digest)) == body
    assert digest.digest() == hashlib.sha256(body).digest()
