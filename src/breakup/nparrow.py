"""numpy columns to Arrow and back, sharing memory, without pyarrow's pandas probe.

``pa.array(ndarray)`` and ``Array.to_numpy()`` first ask whether they were handed a
pandas object, importing pandas to find out: 0.2 s, a tenth of importing a million
followers, where nothing else needs pandas. These build the same arrays from the buffers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from .clock import to_db

# Building a column here costs up to ~1 us a value more than pyarrow's builder (a
# timestamp; a string 0.4 us): past this many, importing pandas once is the cheaper way.
SMALL = 100_000


def from_numpy(values: np.ndarray) -> pa.Array:
    """The Arrow array of a 1-d numpy array of numbers, bools or datetime64 (no nulls),
    sharing its memory (a bool array is packed into bits)."""
    values = np.ascontiguousarray(values)
    if values.ndim != 1:
        raise ValueError(f"a column is 1-d, not {values.ndim}-d")
    n = len(values)
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)])
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(values)])


def to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The numpy array of an Arrow column of fixed-width numbers without nulls, sharing
    its memory where it is one chunk (read-only then). Anything else is converted by
    pyarrow itself."""
    if isinstance(array, pa.ChunkedArray):
        if array.num_chunks == 1:
            return to_numpy(array.chunk(0))
        parts = [to_numpy(c) for c in array.chunks]
        return np.concatenate(parts) if parts else np.empty(0, array.type.to_pandas_dtype())
    kind = array.type
    if len(array) == 0 or array.buffers()[1] is None:
        return array.to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]
    if pa.types.is_boolean(kind) and not array.null_count:
        bits = array.buffers()[1]
        assert bits is not None
        end = array.offset + len(array)
        flags = np.unpackbits(np.frombuffer(bits, np.uint8), count=end, bitorder="little")
        return flags[array.offset :].view(np.bool_)
    if array.null_count or not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return array.to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]
    dtype = np.dtype(kind.to_pandas_dtype())
    data = array.buffers()[1]
    assert data is not None
    return np.frombuffer(data, dtype, count=len(array), offset=array.offset * dtype.itemsize)


def column(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    """``pa.array(values, kind)`` for a list of Python values (None for null) of a string,
    naive microsecond timestamp, bool or integer column. Up to :data:`SMALL` of
    them are built here, without the probe; more, and any other type, by pyarrow."""
    if isinstance(values, pa.Array):
        return values if values.type == kind else values.cast(kind)
    if len(values) > SMALL or "pandas" in sys.modules:
        return pa.array(values, kind)  # the probe costs less than building it here would
    built = _build(values, kind)
    return pa.array(values, kind) if built is None else built  # pyarrow's errors, if any


def _build(values: Sequence[Any], kind: pa.DataType) -> pa.Array | None:
    """The column, or None for a type or a value it leaves to pyarrow (wrong types,
    numbers out of range, lone surrogates), which converts or refuses them its way."""
    n = len(values)
    present = [v for v in values if v is not None]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if not all(isinstance(v, str) for v in present):
            return None
        try:
            encoded = [b"" if v is None else v.encode() for v in values]
        except UnicodeEncodeError:
            return None
        data = b"".join(encoded)
        large = pa.types.is_large_string(kind) or len(data) >= 2**31
        offsets = np.zeros(n + 1, dtype=np.int64 if large else np.int32)
        np.cumsum(np.fromiter(map(len, encoded), np.int64, n), out=offsets[1:])
        array = pa.Array.from_buffers(
            pa.large_string() if large else pa.string(),
            n,
            [_validity(values), pa.py_buffer(offsets), pa.py_buffer(data)],
        )
        return array.cast(kind) if array.type != kind else array
    if pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz is None:
        if not all(isinstance(v, datetime) for v in present):
            return None
        if any(v.tzinfo is not None for v in present):
            values = [v if v is None else to_db(v) for v in values]  # as pyarrow: in UTC
        stamps = np.array(values, dtype="datetime64[us]")
        return _with_nulls(kind, stamps.view(np.int64), np.isnat(stamps))
    if pa.types.is_boolean(kind):
        allowed: tuple[type, ...] = (bool,)
    elif pa.types.is_integer(kind):
        allowed = (int,)
    else:
        return None
    # exactly these types: a bool is an int to isinstance, and numpy would take "1" or 1.5
    if not all(type(v) in allowed for v in present):
        return None
    missing = np.fromiter((v is None for v in values), bool, n)
    if len(present) < n:
        values = [0 if v is None else v for v in values]
    try:
        numbers = np.array(values, dtype=kind.to_pandas_dtype())
    except OverflowError:
        return None
    return _with_nulls(kind, numbers, missing)


def _validity(values: Sequence[Any]) -> pa.Buffer | None:
    missing = np.fromiter((v is None for v in values), bool, len(values))
    return pa.py_buffer(np.packbits(~missing, bitorder="little")) if missing.any() else None


def _with_nulls(kind: pa.DataType, values: np.ndarray, missing: np.ndarray) -> pa.Array:
    plain = from_numpy(values)
    if not missing.any():
        return plain if plain.type == kind else plain.view(kind)
    valid = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    buffers = [valid, *plain.buffers()[1:]]
    return pa.Array.from_buffers(kind, len(values), buffers, null_count=int(missing.sum()))
