"""The documented generic CSV and JSON formats (docs/formats.md)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from breakup.errors import InvalidExport
from breakup.ingest import save_batch
from breakup.sources import ReadOptions, get_source
from breakup.sources.generic import CsvSource
from breakup.store import Store
from tests.conftest import table_counts

FIX = Path(__file__).parent / "fixtures" / "generic"


def _read(kind: str, name: str | Path, at: str | None = None) -> object:
    opts = ReadOptions(at=datetime.fromisoformat(at).replace(tzinfo=UTC) if at else None)
    return get_source(kind).read(FIX / name if isinstance(name, str) else name, opts)


def test_csv_snapshots_and_events(store: Store) -> None:
    for name, at in (
        ("followers_2025-01-01.csv", "2025-01-01"),
        ("followers_2025-01-08.csv", "2025-01-08"),
    ):
        save_batch(store, _read("csv", name, at), account="site")  # type: ignore[arg-type]
    save_batch(store, _read("csv", "events.csv"), account="site")  # type: ignore[arg-type]
    rows = dict(
        store.con.execute(
            "SELECT p.external_id, "
            "s.end_kind || '@' || strftime(s.end_latest, '%Y-%m-%d %H:%M:%S.%f')"
            " FROM spans s JOIN people p USING (person_id) WHERE s.end_latest IS NOT NULL"
        ).fetchall()
    )
    assert rows == {
        "1002": "unknown@2025-01-08 00:00:00.000000",
        "1005": "unfollowed@2025-01-03 17:45:12.123456",
        "1006": "unsubscribed@2025-01-04 06:00:00.000000",  # +02:00 stored as UTC
    }
    handles = store.con.execute(
        "SELECT handle FROM person_names JOIN people USING (person_id) "
        "WHERE external_id = '1003' ORDER BY seen_at"
    ).fetchall()
    assert handles == [("cy",), ("cy_new",)]


def test_json_document(store: Store) -> None:
    result = save_batch(store, _read("json", "channel.json"))  # type: ignore[arg-type]
    assert result.account == "youtube:brandtube"
    assert (result.snapshots, result.events, result.posts, result.interactions, result.checks) == (
        2,
        1,
        1,
        1,
        1,
    )
    kinds = store.con.execute(
        "SELECT p.external_id, s.end_kind FROM spans s JOIN people p USING (person_id) "
        "WHERE s.end_latest IS NOT NULL ORDER BY 1"
    ).fetchall()
    # u2 vanished between the snapshots; the check shows a suspension, u9 was never seen
    # again after following: a departure too (not in the complete snapshot of 02-08)
    assert kinds == [("u2", "suspended"), ("u9", "unknown")]
    assert store.scalar("SELECT value FROM post_metrics WHERE metric = 'likes'") == 10


BAD_CSV = {
    "no_id.csv": ("handle\nada\n", "lacks column(s) id"),
    "bad_time.csv": ("event,time,id\nfollow,yesterday,1\n", "line 2: 'yesterday' is not an ISO"),
    "bad_event.csv": ("event,time,id\nliked,2025-01-01,1\n", "'liked' is not one of"),
    "empty_id.csv": ("id,handle\n,ada\n", "line 2: missing id"),
    "latin1.csv": (b"id,handle\n1,Jos\xe9\n", "not UTF-8"),
    "ragged.csv": ("id,handle\n1,a,extra\n", "extra fields"),
    "empty.csv": ("", "lacks column(s) id"),
    "truncated.csv": ("id,handle,display_name\n1,ada,Ada\n2,bo", "line 3: missing fields"),
}


@pytest.mark.parametrize("name", sorted(BAD_CSV))
def test_bad_csv_is_one_line_error_and_changes_nothing(
    store: Store, tmp_path: Path, name: str
) -> None:
    content, message = BAD_CSV[name]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    save_batch(store, _read("csv", "events.csv"), account="site")  # type: ignore[arg-type]
    before = table_counts(store)
    with pytest.raises(InvalidExport) as err:
        batch = _read("csv", path, "2025-01-01")
        save_batch(store, batch, account="site")  # type: ignore[arg-type]
    assert str(err.value).startswith(str(path)) and message in str(err.value)
    assert "\n" not in str(err.value)
    assert table_counts(store) == before


BAD_JSON = {
    "not_json.json": ("{nope", "not valid JSON"),
    "wrong_doc.json": ('{"followers": []}', 'needs "breakup": 1'),
    "bad_members.json": (
        '{"breakup": 1, "snapshots": [{"observed_at": "2025-01-01", "members": 5}]}',
        "members must be a list",
    ),
    "bad_state.json": (
        '{"breakup": 1, "checks": [{"id": "a", "time": "2025-01-01", "state": "sleepy"}]}',
        "'sleepy' is not one of",
    ),
    "nothing.json": ('{"breakup": 1}', "nothing to import"),
    "string_flag.json": (
        '{"breakup": 1, "snapshots": [{"observed_at": "2025-01-01", "complete": "false",'
        ' "members": []}]}',
        "'false' is not true or false",
    ),
    "truncated.json": ('{"breakup": 1, "events": [{"event": "follow", "ti', "not valid JSON"),
}


@pytest.mark.parametrize("name", sorted(BAD_JSON))
def test_bad_json_is_one_line_error(tmp_path: Path, name: str) -> None:
    content, message = BAD_JSON[name]
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidExport) as err:
        _read("json", path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_snapshot_csv_needs_a_time() -> None:
    with pytest.raises(InvalidExport, match="needs --at"):
        _read("csv", "followers_2025-01-01.csv")


def test_the_same_file_at_another_time_is_another_snapshot(store: Store) -> None:
    name = "followers_2025-01-01.csv"
    runs = [
        save_batch(store, _read("csv", name, at), account="site")  # type: ignore[arg-type]
        for at in ("2025-01-01", "2025-01-01", "2025-02-01")
    ]
    assert [r.skipped for r in runs] == [False, True, False]
    assert store.scalar("SELECT count(*) FROM observations") == 2


def test_platform_names_are_normalized_and_email_is_hashed(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text(
        '{"breakup": 1, "snapshots": [{"observed_at": "2025-01-01",'
        ' "members": [{"id": "A@x.org"}, {"id": "b@y.org"}]}]}'
    )
    batch = get_source("json").read(path, ReadOptions(platform="Email"))
    assert batch.platform == "email" and batch.ids_are_emails
    save_batch(store, batch, account="list")
    assert store.scalar("SELECT count(*) FROM people") == 2
    assert store.scalar("SELECT count(*) FROM people WHERE external_id LIKE '%@%'") == 0


def test_import_summary_counts_what_tracking_opened(store: Store) -> None:
    name = "followers_2025-01-01.csv"
    result = save_batch(store, _read("csv", name, "2025-01-01"), account="site")  # type: ignore[arg-type]
    assert result.opened == result.members > 0
    summary = json.loads(store.scalar("SELECT summary FROM imports"))
    assert summary["opened"] == result.opened


def test_snapshot_columns_read_each_row_as_person_does(tmp_path: Path) -> None:
    """The columnar snapshot reader strips ids and empties names exactly as the per-row
    reader (_person) does, Unicode spaces included."""
    from breakup.sources.generic import _person

    rows = [
        {"id": " a\x1c", "handle": "", "display_name": "Ann "},
        {"id": "\u3000b\u2028", "handle": "bee", "display_name": ""},
        {"id": "c", "handle": " ", "display_name": "\u00a0"},
    ]
    path = tmp_path / "snap.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, ["id", "handle", "display_name"])
        writer.writeheader()
        writer.writerows(rows)
    batch = CsvSource().read(path, ReadOptions(at=datetime(2025, 1, 1, tzinfo=UTC)))
    members = batch.snapshots[0].members.to_pylist()
    expected = [_person(r, path, "") for r in rows]
    assert members == [
        {"external_id": p.external_id, "handle": p.handle, "display_name": p.display_name}
        for p in expected
    ]
    assert [m["external_id"] for m in members] == ["a", "b", "c"]
    blank = tmp_path / "blank.csv"
    blank.write_text("id,handle\nx,\n \u2003,y\n", encoding="utf-8")
    with pytest.raises(InvalidExport, match="line 3: missing id"):
        CsvSource().read(blank, ReadOptions(at=datetime(2025, 1, 1, tzinfo=UTC)))


def test_the_space_list_is_pythons() -> None:
    from breakup.sources.generic import _PY_SPACE

    assert set(_PY_SPACE) == {c for c in map(chr, range(0x110000)) if c.isspace()}
