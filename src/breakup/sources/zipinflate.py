"""Inflating a deflated zip member straight from the archive, with ISA-L where it is there.

zipfile inflates with zlib and checks the CRC with zlib's: for the 150 MB follower list of
a large X archive that is 0.3 s, the longest step of reading it. ISA-L (the ``isal``
package, the same API as :mod:`zlib`) does both in under half that, so a deflated member
is read raw after its local header and inflated here, with zipfile's checks: the header's
signature and name, the length and the CRC-32 the central directory states. Stored,
bzip2, lzma and encrypted members go through zipfile.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Generator
from pathlib import Path

try:
    from isal import isal_zlib as _zlib
except ImportError:  # no wheel for this platform: the standard library's, a little slower
    import zlib as _zlib  # type: ignore[no-redef]

# The local file header (APPNOTE 4.3.7): the name and extra field lengths are its last two.
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_SIGNATURE = b"PK\x03\x04"
_RAW_PIECE = 1 << 18  # compressed bytes read at a time


def direct(info: zipfile.ZipInfo) -> bool:
    """Whether :func:`inflate` reads this member (deflated, not encrypted)."""
    return info.compress_type == zipfile.ZIP_DEFLATED and not info.flag_bits & 0x1


def inflate(path: Path, info: zipfile.ZipInfo, chunk: int) -> Generator[bytes, None, None]:
    """The member's bytes, in pieces of at most *chunk*: never more inflated at once, so
    a bomb is caught by a caller counting them. Raises :class:`zipfile.BadZipFile` where
    the archive is not what its central directory says."""
    name = info.filename
    with path.open("rb") as fp:
        fp.seek(info.header_offset)
        header = fp.read(_LOCAL.size)
        if len(header) != _LOCAL.size or header[:4] != _SIGNATURE:
            raise zipfile.BadZipFile(f"{name}: bad local file header")
        name_len, extra_len = _LOCAL.unpack(header)[-2:]
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        if fp.read(name_len) != info.orig_filename.encode(encoding, "replace"):
            raise zipfile.BadZipFile(f"{name}: the names in directory and header differ")
        fp.seek(extra_len, 1)
        inflater = _zlib.decompressobj(-15)
        left, pending, crc, size = info.compress_size, b"", 0, 0
        while not inflater.eof:
            if not pending and left:
                pending = fp.read(min(left, _RAW_PIECE))
                if not pending:
                    raise zipfile.BadZipFile(f"{name}: the archive is cut short")
                left -= len(pending)
            # ISA-L may hold input back and give more output for no new input: ask until
            # it gives nothing before reading on.
            out = inflater.decompress(pending, chunk)
            pending = inflater.unconsumed_tail
            if out:
                crc, size = _zlib.crc32(out, crc), size + len(out)
                yield out
            elif not pending and not left:
                out = inflater.flush()  # nothing left to read: what it holds, if anything
                crc, size = _zlib.crc32(out, crc), size + len(out)
                if out:
                    yield out
                if not inflater.eof:
                    raise zipfile.BadZipFile(f"{name}: the compressed data ends early")
        if size != info.file_size:
            raise zipfile.BadZipFile(f"{name}: {size:,} bytes where {info.file_size:,} stated")
        if crc != info.CRC:
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {name!r}")
