"""nparrow: Arrow columns built from numpy and Python lists without pyarrow's pandas
probe are exactly what pyarrow builds, and an X archive import never imports pandas."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breakup import nparrow

DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64, np.float64]


@settings(max_examples=80, deadline=None)
@given(
    dtype=st.sampled_from([*DTYPES, np.bool_, "datetime64[us]"]),
    values=st.lists(st.integers(0, 120), max_size=70),
    start=st.integers(0, 9),
)
def test_numpy_columns_round_trip_as_pyarrow_builds_them(
    dtype: Any, values: list[int], start: int
) -> None:
    array = np.array(values, dtype=np.int64).astype(dtype)[start:]
    built = nparrow.from_numpy(array)
    built.validate(full=True)
    assert built.equals(pa.array(array))
    for piece in (built, built.slice(min(start, len(built))), pa.chunked_array([built, built])):
        back = nparrow.to_numpy(piece)
        expected = piece.to_numpy() if isinstance(piece, pa.ChunkedArray) else piece.to_numpy(
            zero_copy_only=False)  # fmt: skip
        assert back.dtype == expected.dtype and np.array_equal(back, expected)


def test_columns_with_nulls_or_other_types_are_converted_by_pyarrow() -> None:
    with_null = pa.array([1, None, 3], pa.int64())
    assert np.array_equal(nparrow.to_numpy(with_null), [1, np.nan, 3], equal_nan=True)
    strings = pa.array(["a", "b"])
    assert nparrow.to_numpy(strings).tolist() == ["a", "b"]
    assert nparrow.to_numpy(pa.array([], pa.bool_())).dtype == np.bool_
    with pytest.raises(ValueError, match="1-d"):
        nparrow.from_numpy(np.zeros((2, 2)))


ZONES = [None, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]
naive = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1))
times = st.one_of(
    st.none(), st.builds(lambda t, z: t if z is None else t.replace(tzinfo=z), naive,
                         st.sampled_from(ZONES)))  # fmt: skip
odd = st.one_of(st.floats(allow_nan=False), st.text(max_size=3), st.booleans(), st.binary())
COLUMNS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "string": (pa.string(), st.one_of(st.none(), st.text())),
    "large_string": (pa.large_string(), st.one_of(st.none(), st.text())),
    "timestamp": (pa.timestamp("us"), times),
    "bool": (pa.bool_(), st.one_of(st.none(), st.booleans())),
    "int64": (pa.int64(), st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))),
    "uint32": (pa.uint32(), st.one_of(st.none(), st.integers(0, 2**32 - 1))),
}


def _pyarrow(values: list[Any], kind: pa.DataType) -> pa.Array | Exception:
    try:
        return pa.array(values, kind)
    except Exception as exc:
        return exc


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(COLUMNS)))
def test_clean_lists_are_built_here_exactly_as_pyarrow_builds_them(
    data: st.DataObject, name: str
) -> None:
    kind, value = COLUMNS[name]
    values = data.draw(st.lists(value, max_size=40))
    built = nparrow._build(values, kind)
    assert built is not None  # clean values are never left to pyarrow
    built.validate(full=True)
    expected = pa.array(values, kind)
    assert built.type == expected.type and built.equals(expected)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(COLUMNS)))
def test_odd_values_are_left_to_pyarrow(data: st.DataObject, name: str) -> None:
    """Wrong types, out-of-range numbers, lone surrogates: what is built here equals
    pyarrow's, and what pyarrow refuses is never built here."""
    kind, value = COLUMNS[name]
    wild = st.one_of(value, odd, st.integers(-(2**70), 2**70), st.just("\ud800"))
    values = data.draw(st.lists(wild, max_size=12))
    built = nparrow._build(values, kind)
    expected = _pyarrow(values, kind)
    if built is not None:
        assert isinstance(expected, pa.Array) and built.equals(expected)
    column = _pyarrow_free(values, kind)
    if isinstance(expected, Exception):
        assert isinstance(column, type(expected))
    else:
        assert isinstance(column, pa.Array) and column.equals(expected)


def _pyarrow_free(values: list[Any], kind: pa.DataType) -> pa.Array | Exception:
    try:
        return nparrow.column(values, kind)
    except Exception as exc:
        return exc


def test_large_lists_go_to_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(nparrow, "_build", lambda v, k: calls.append(len(v)))
    monkeypatch.setattr(nparrow, "SMALL", 3)
    monkeypatch.delitem(sys.modules, "pandas", raising=False)
    assert nparrow.column(["a", "b", "c", "d"], pa.string()).to_pylist() == ["a", "b", "c", "d"]
    nparrow.column(["a"], pa.string())
    assert calls == [1]


def test_an_x_archive_import_never_imports_pandas(tmp_path: Path) -> None:
    """pyarrow imports pandas (0.2 s) the first time it is asked to convert anything;
    importing X archives (zipped; a first one, then one where people left and came, with
    posts and their metrics) builds every column without asking (issue 16's speed bar)."""
    from tests.test_source_x_archive import FEB, MAY, zip_dir

    db = tmp_path / "s.duckdb"
    zips = [zip_dir(src, tmp_path / f"{src.name}.zip") for src in (FEB, MAY)]
    script = (
        "import sys\n"
        "from breakup.cli import main\n"
        "for path in sys.argv[2:]:\n"
        "    sys.argv[1:] = ['--db', DB, 'import', 'x-archive', path]\n"
        "    try:\n        main()\n"
        "    except SystemExit as exc:\n        assert not exc.code, exc.code\n"
        "print('pyarrow' in sys.modules, 'pandas' in sys.modules)\n"
    ).replace("DB", repr(str(db)))
    out = subprocess.run(
        [sys.executable, "-c", script, "", *map(str, zips)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert out.stdout.count("snapshot") == 2, out.stdout  # both were imported
    assert "2 ended" in out.stdout  # the second one saw departures
    assert out.stdout.strip().splitlines()[-1] == "True False"
