"""Hostile and broken input for every registered import kind.

Property: whatever bytes an export holds — a mutated real fixture (truncated, bytes flipped,
re-encoded, a huge field, duplicated rows, another time zone, a timestamp in the future, a
member missing), zipped or truncated as a zip, or arbitrary bytes — ``read`` either returns
a batch or raises a one-line :class:`~breakup.errors.BreakupError` naming the file, never
another exception; and ``save_batch`` of what was read either commits or raises a one-line
``BreakupError`` with every table of the store unchanged (never a partial write).

Example counts are kept small for CI (``BREAKUP_HOSTILE_EXAMPLES`` raises them).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakup.clock import fixed_clock
from breakup.errors import BreakupError, InvalidExport
from breakup.ingest import save_batch
from breakup.sources import ReadOptions, get_source, sources
from breakup.store import Store

from .conftest import table_counts

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
AT = datetime(2025, 1, 1, tzinfo=UTC)
EXAMPLES = int(os.environ.get("BREAKUP_HOSTILE_EXAMPLES", "15"))

# One real export per import kind; a kind added without a fixture here fails
# test_every_import_kind_has_a_hostile_fixture.
FIXTURE: dict[str, str] = {
    "csv": "generic/followers_2025-01-01.csv",
    "json": "generic/channel.json",
    "x-archive": "x_archive/twitter-2023-05-20-9c2d4b",
    "instagram": "instagram/instagram-brandco-2024-06-01-XyZ789ab",
    "mailchimp": "mailchimp/members_export_3f9a1c2b7d",
    "buttondown": "buttondown/export",
    "substack": "substack/export-2024-04-01",
}
KINDS = sorted(FIXTURE)

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def options() -> ReadOptions:
    return ReadOptions(at=AT, clock=fixed_clock(NOW))


# -- mutations of one member's bytes ------------------------------------------------------


def _truncate(data: bytes, i: int, _: bytes) -> bytes:
    return data[: i % (len(data) + 1)]


def _flip(data: bytes, i: int, junk: bytes) -> bytes:
    if not data:
        return junk
    i %= len(data)
    return data[:i] + junk[:4] + data[i + 1 :]


def _insert(data: bytes, i: int, junk: bytes) -> bytes:
    i %= len(data) + 1
    return data[:i] + junk + data[i:]


def _utf16(data: bytes, i: int, _: bytes) -> bytes:
    return data.decode("utf-8", "replace").encode("utf-16")


def _latin1(data: bytes, i: int, _: bytes) -> bytes:
    text = data.decode("utf-8", "replace").replace("a", "\xe9", 3)
    return text.encode("latin-1", "replace")


def _huge(data: bytes, i: int, junk: bytes) -> bytes:
    # A huge field dropped in after some quote or comma: inside a value, or breaking one.
    marks = [k for k, b in enumerate(data) if b in b'",:'] or [0]
    at = marks[i % len(marks)] + 1
    return data[:at] + (junk or b"x") * (400_000 // max(1, len(junk))) + data[at:]


def _duplicate_lines(data: bytes, i: int, _: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    if len(lines) < 2:
        return data + data
    k = 1 + i % (len(lines) - 1)
    return b"".join(lines[: k + 1] + [lines[k]] * 3 + lines[k + 1 :])


def _future(data: bytes, i: int, _: bytes) -> bytes:
    # Every year 20xx becomes 29xx (and epoch seconds grow a digit): times in the future.
    out = data.replace(b"202", b"292")
    return out.replace(b'"timestamp": 1', b'"timestamp": 91')


def _zone(data: bytes, i: int, _: bytes) -> bytes:
    zones = [b"+14:00", b"-12:00", b"+05:45", b"", b"+99:99"]
    z = zones[i % len(zones)]
    return data.replace(b"Z", z).replace(b"+00:00", z).replace(b"+0000", z.replace(b":", b""))


def _stray_quote(data: bytes, i: int, _: bytes) -> bytes:
    # A quote opened at the start of some field and never closed (issue 14 item 3).
    marks = [k for k, b in enumerate(data) if b in b",\n"] or [0]
    at = marks[i % len(marks)] + 1
    return data[:at] + b'"' + data[at:]


MUTATIONS: dict[str, Callable[[bytes, int, bytes], bytes]] = {
    "truncate": _truncate,
    "flip": _flip,
    "insert": _insert,
    "utf16": _utf16,
    "latin1": _latin1,
    "huge": _huge,
    "duplicate": _duplicate_lines,
    "future": _future,
    "zone": _zone,
    "stray-quote": _stray_quote,
}

junk_bytes = st.one_of(
    st.binary(min_size=1, max_size=12),
    st.sampled_from(
        [b'"', b",", b"\n", b"\x00", b"\xff\xfe", b"{", b"]", b"null", b"-1", b"1e999",
         b"\xe2\x80\xae", b"=cmd|", b'","', b"\r\n\r\n", b"9" * 40,
         # issue 14: nesting past the recursion limit, past the int digit limit, past 64
         # bits, a lone surrogate escape, values of the wrong shape
         b"[" * 5000, b"9" * 5000, b"100000000000000000000000", b"1e23", b'"\\ud800"',
         b'{"a": [1]}', b"true"]
    ),
)  # fmt: skip


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, int, bytes]:
    return (
        draw(st.sampled_from(sorted(MUTATIONS))),
        draw(st.integers(min_value=0, max_value=10**6)),
        draw(junk_bytes),
    )


# -- building the hostile export on disk -------------------------------------------------


def members(src: Path) -> list[str]:
    if src.is_file():
        return [src.name]
    return sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())


def materialize(
    src: Path,
    dest: Path,
    changes: list[tuple[int, tuple[str, int, bytes] | None]],
    packing: str,
    cut: int,
) -> Path:
    """Copy *src* to *dest* with each change applied to one member (None deletes it), as a
    folder, a zip, or a zip truncated at *cut*. A single-file fixture stays a single file
    unless packed."""
    names = members(src)
    data = {n: (src.read_bytes() if src.is_file() else (src / n).read_bytes()) for n in names}
    for which, change in changes:
        name = names[which % len(names)]
        if name not in data:
            continue
        if change is None:
            if len(data) > 1:
                del data[name]
            continue
        op, i, junk = change
        data[name] = MUTATIONS[op](data[name], i, junk)
    if packing == "plain":
        if src.is_file():
            out = dest / src.name
            out.write_bytes(next(iter(data.values())))
            return out
        out = dest / src.name
        for name, body in data.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(body)
        return out
    buf = io.BytesIO()
    prefix = "" if src.is_file() else f"{src.name}/"
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in data.items():
            z.writestr(prefix + name, body)
    raw = buf.getvalue()
    if packing == "cut-zip":
        raw = raw[: cut % max(1, len(raw))]
    elif packing == "flipped-zip":
        k = cut % len(raw)
        raw = raw[:k] + bytes([raw[k] ^ 0x5A]) + raw[k + 1 :]
    out = dest / f"{src.stem}.zip"
    out.write_bytes(raw)
    return out


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Callable[[], Path]]:
    """A new empty folder per hypothesis example."""
    count = iter(range(10**6))

    def make() -> Path:
        d = tmp_path / f"ex{next(count)}"
        d.mkdir()
        return d

    yield make


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "hostile.duckdb", clock=fixed_clock(NOW))
    yield s
    s.close()


def assert_one_line_naming(exc: BaseException, path: Path) -> None:
    message = str(exc)
    assert isinstance(exc, BreakupError), f"{type(exc).__name__}: {message}"
    assert message and "\n" not in message and "\r" not in message, repr(message)
    assert path.name in message, f"{message!r} does not name {path.name}"


def read_and_save(kind: str, path: Path, store: Store) -> str:
    """Read *path* as *kind* and save it; check the property; say what happened."""
    before = table_counts(store)
    try:
        batch = get_source(kind).read(path, options())
    except BreakupError as exc:
        assert_one_line_naming(exc, path)
        assert table_counts(store) == before
        return "refused on read"
    except Exception as exc:
        raise AssertionError(f"{kind} read raised {type(exc).__name__}: {exc}") from exc
    try:
        save_batch(store, batch, account=f"hostile-{kind}-{batch.platform}", path=str(path))
    except BreakupError as exc:
        assert_one_line_naming(exc, path)
        assert table_counts(store) == before, "a refused import changed the store"
        return "refused on save"
    except Exception as exc:
        after = table_counts(store)
        raise AssertionError(
            f"{kind} save raised {type(exc).__name__}: {exc}; store changed: {after != before}"
        ) from exc
    return "imported"


# -- the properties ----------------------------------------------------------------------


def test_every_import_kind_has_a_hostile_fixture() -> None:
    assert set(sources()) == set(FIXTURE), "give every registered import kind a fixture here"


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(
    changes=st.lists(
        st.tuples(st.integers(0, 50), st.one_of(mutation(), st.none())), min_size=1, max_size=3
    ),
    packing=st.sampled_from(["plain", "zip", "cut-zip", "flipped-zip"]),
    cut=st.integers(0, 10**6),
)
def test_mutated_fixture_parses_or_is_refused_cleanly(
    kind: str,
    changes: list[tuple[int, tuple[str, int, bytes] | None]],
    packing: str,
    cut: int,
    fresh: Callable[[], Path],
    store: Store,
) -> None:
    path = materialize(FIXTURES / FIXTURE[kind], fresh(), changes, packing, cut)
    read_and_save(kind, path, store)


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".zip", ".csv", ".json", ".js"]))
def test_arbitrary_bytes_are_refused_cleanly(
    kind: str, data: bytes, suffix: str, fresh: Callable[[], Path], store: Store
) -> None:
    path = fresh() / f"export{suffix}"
    path.write_bytes(data)
    read_and_save(kind, path, store)


# -- named cases: each must be refused, not merely survived --------------------------------


def _zip_of(src: Path, dest: Path) -> Path:
    out = dest / f"{src.name}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in members(src):
            z.write(src / name, f"{src.name}/{name}")
    return out


@pytest.mark.parametrize("kind", [k for k in KINDS if (FIXTURES / FIXTURE[k]).is_dir()])
def test_a_truncated_zip_is_refused_naming_it(kind: str, tmp_path: Path, store: Store) -> None:
    whole = _zip_of(FIXTURES / FIXTURE[kind], tmp_path)
    raw = whole.read_bytes()
    for k, cut in enumerate((len(raw) // 3, len(raw) - 30)):
        path = tmp_path / f"cut{k}-{whole.name}"
        path.write_bytes(raw[:cut])
        assert read_and_save(kind, path, store) == "refused on read"
    assert read_and_save(kind, whole, store) == "imported"


@pytest.mark.parametrize("kind", KINDS)
def test_utf16_is_refused_naming_the_file(kind: str, tmp_path: Path, store: Store) -> None:
    src = FIXTURES / FIXTURE[kind]
    every = [(i, ("utf16", 0, b"")) for i in range(len(members(src)))]
    path = materialize(src, tmp_path, every, "plain", 0)
    assert read_and_save(kind, path, store) == "refused on read"


@pytest.mark.parametrize("kind", KINDS)
def test_timestamps_in_the_future_never_reach_the_store(
    kind: str, tmp_path: Path, store: Store
) -> None:
    src = FIXTURES / FIXTURE[kind]
    every = [(i, ("future", 0, b"")) for i in range(len(members(src)))]
    path = materialize(src, tmp_path, every, "plain", 0)
    outcome = read_and_save(kind, path, store)
    if outcome == "imported":  # what was kept must not lie in the future
        for table, column in [
            ("observations", "observed_at"),
            ("events", "occurred_at"),
            ("posts", "created_at"),
            ("interactions", "occurred_at"),
        ]:
            latest = store.scalar(f"SELECT max({column}) FROM {table}")
            assert latest is None or latest <= datetime(2026, 6, 2), (kind, table, latest)


def test_time_zones_are_converted_not_dropped(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "event,time,id\n"
        "follow,2025-01-02T09:30:00+14:00,a\n"
        "follow,2025-01-02T09:30:00-12:00,b\n"
        "follow,2025-01-02T09:30:00+05:45,c\n"
    )
    save_batch(store, get_source("csv").read(path, options()), account="tz", path=str(path))
    got = dict(
        store.con.execute(
            "SELECT p.external_id, e.occurred_at FROM events e JOIN people p USING (person_id)"
        ).fetchall()
    )
    assert got == {
        "a": datetime(2025, 1, 1, 19, 30),
        "b": datetime(2025, 1, 2, 21, 30),
        "c": datetime(2025, 1, 2, 3, 45),
    }


def test_duplicate_ids_are_one_person_and_one_row(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "dups.csv"
    path.write_text("id,handle\n7,a\n7,a\n7,b\n8,c\n")
    result = save_batch(store, get_source("csv").read(path, options()), account="d", path="d")
    assert result.members in (2, 4)
    assert store.scalar("SELECT count(*) FROM people") == 2
    assert store.scalar("SELECT count(*) FROM spans") == 2
    assert store.scalar("SELECT max(member_count) FROM observations") == 2


def test_huge_fields_are_kept_whole_or_refused(tmp_path: Path, store: Store) -> None:
    big = "x" * 2_000_000
    path = tmp_path / "huge.csv"
    path.write_text(f"id,handle,display_name\n1,{big},ok\n2,b,{big}\n")
    if read_and_save("csv", path, store) == "refused on read":
        return  # Python's csv module refuses fields over its limit: a clean refusal
    names = store.con.execute("SELECT length(handle), length(display_name) FROM person_names")
    assert sorted(names.fetchall(), key=str) == sorted([(2_000_000, 2), (1, 2_000_000)], key=str)
    json_path = tmp_path / "huge.json"
    json_path.write_text(
        '{"breakup": 1, "platform": "p", "posts": [{"id": "1", "created_at": '
        f'"2025-01-01T00:00:00Z", "text": "{big}"}}]}}'
    )
    assert read_and_save("json", json_path, store) == "imported"
    assert store.scalar("SELECT max(length(text)) FROM posts") == 2_000_000


COLUMNS = {"COLUMNS": "400"}


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("cut.zip", b"PK\x03\x04\x14\x00\x00\x00", "zip"),
        ("u16.csv", "id\n1\n".encode("utf-16"), "UTF-8"),
        ("future.csv", b"event,time,id\nfollow,2999-01-01T00:00:00Z,1\n", "future"),
        ("stray.csv", b'id,handle\n1,a\n2,"b\n3,c\n', "quote"),
    ],
)
def test_cli_refuses_in_one_line_with_status_1_and_changes_nothing(
    tmp_path: Path, name: str, data: bytes, problem: str
) -> None:
    db = tmp_path / "cli.duckdb"
    with Store(db) as s:
        before = table_counts(s)
    path = tmp_path / name
    path.write_bytes(data)
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(db), "import", "csv", str(path),
         "--account", "x", "--at", "2025-01-01"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", **COLUMNS},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert name in lines[0] and problem in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    with Store(db, read_only=True) as s:
        assert table_counts(s) == before


def test_invalid_export_is_the_error_for_broken_files(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(InvalidExport) as err:
        get_source("x-archive").read(path, options())
    assert err.value.path == path


def test_cli_error_stays_one_line_at_the_default_width(tmp_path: Path) -> None:
    folder = tmp_path / ("a-long-folder-name-" * 4)
    folder.mkdir()
    path = folder / "cut.zip"
    path.write_bytes(b"PK\x03\x04")
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(tmp_path / "s.duckdb"), "import",
         "x-archive", str(path)],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize(
    ("kind", "name", "text"),
    [
        ("csv", "e.csv", "event,time,id\nfollow,0001-01-01T00:00:00+14:00,1\n"),
        ("csv", "f.csv", "event,time,id\nfollow,9999-12-31T23:59:59-12:00,1\n"),
        ("buttondown", "subscribers.csv",
         "email,subscription_date,unsubscription_date\na@b.example,0001-01-01 00:00:00+05:00,\n"),
        ("json", "t.json", '{"breakup": 1, "events": [{"event": "follow", "id": "1", '
         '"time": "0001-01-01T00:00:00+14:00"}]}'),
    ],
)  # fmt: skip
def test_times_out_of_range_once_in_utc_are_refused_naming_the_file(
    kind: str, name: str, text: str, tmp_path: Path, store: Store
) -> None:
    """Regression: these raised OverflowError (a traceback) from the UTC conversion."""
    path = tmp_path / name
    path.write_text(text)
    assert read_and_save(kind, path, store) == "refused on read"


def test_x_archive_created_at_out_of_range_is_refused(tmp_path: Path, store: Store) -> None:
    src = FIXTURES / FIXTURE["x-archive"]
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    tweets = dest / "data" / "tweets.js"
    text = tweets.read_text()
    first = text.index('"created_at" : "') + len('"created_at" : "')
    end = text.index('"', first)
    tweets.write_text(text[:first] + "Mon Jan 01 00:00:00 +1400 0001" + text[end:])
    assert read_and_save("x-archive", dest, store) == "refused on read"


# -- the generic JSON document: any value of any type in any place (issue 14 item 6) -------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["\ud800", "a\udfff", "9" * 5000]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _places(doc: object, at: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value in *doc*."""
    found: list[tuple[object, ...]] = [at] if at else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += _places(v, (*at, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _places(v, (*at, i))
    return found


@SETTINGS
@given(where=st.integers(min_value=0), value=json_values)
def test_generic_json_takes_any_value_anywhere_or_refuses_it(
    where: int, value: object, fresh: Callable[[], Path], store: Store
) -> None:
    """Replacing any value of the documented example with any JSON value either imports or
    is refused in one line; and what imports never stores a Python repr as a name, id or
    text (the old reader did ``str()`` of whatever it found)."""
    import json

    doc = json.loads((FIXTURES / FIXTURE["json"]).read_text())
    places = _places(doc)
    path_to = places[where % len(places)]
    target = doc
    for key in path_to[:-1]:
        target = target[key]  # type: ignore[index]
    target[path_to[-1]] = value  # type: ignore[index]
    path = fresh() / "doc.json"
    path.write_text(json.dumps(doc))
    if read_and_save("json", path, store) != "imported":
        return
    stored = store.con.execute(
        "SELECT external_id FROM people UNION ALL SELECT handle FROM person_names "
        "UNION ALL SELECT display_name FROM person_names UNION ALL SELECT text FROM posts "
        "UNION ALL SELECT external_id FROM posts UNION ALL SELECT identity FROM accounts "
        "UNION ALL SELECT handle FROM accounts"
    ).fetchall()
    reprs = [v for (v,) in stored if isinstance(v, str) and v[:1] in "{[" and v[-1:] in "}]"]
    assert not reprs, f"{path_to} = {value!r} stored as {reprs}"
