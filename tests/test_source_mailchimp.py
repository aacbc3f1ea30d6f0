"""The mailchimp source through the real store, on fixtures shaped like a real audience export."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from breakup.errors import InvalidExport
from breakup.ingest import ImportResult, save_batch
from breakup.sources import ReadOptions, get_source
from breakup.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "mailchimp"
EXPORT = FIXTURES / "members_export_3f9a1c2b7d"
REPORT = FIXTURES / "campaign_report.csv"
SUBSCRIBED = "subscribed_members_export_3f9a1c2b7d.csv"
UNSUBSCRIBED = "unsubscribed_members_export_3f9a1c2b7d.csv"
CLEANED = "cleaned_members_export_3f9a1c2b7d.csv"
MAY = "8e1f2a3b4c"  # the campaign two people left after and one address bounced on


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "s.duckdb")
    yield s
    s.close()


def read(path: Path, at: datetime | None = None) -> Any:
    return get_source("mailchimp").read(path, ReadOptions(at=at))


def import_(store: Store, path: Path, **kw: Any) -> ImportResult:
    return save_batch(store, read(path), account="news", path=str(path), **kw)


def zip_dir(src: Path, dest: Path, *extra: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for f in [*sorted(src.iterdir()), *extra]:
            z.write(f, f.name)
    return dest


def copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXPORT, tmp_path / EXPORT.name))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture no longer contains {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def fixture_emails() -> set[str]:
    found = set()
    for f in FIXTURES.rglob("*.csv"):
        for row in csv.reader(f.open(encoding="utf-8")):
            found |= {c.strip().lower() for c in row if "@" in c}
    assert len(found) == 9
    return found


def table_counts(store: Store) -> dict[str, int]:
    names = [
        r[0]
        for r in store.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()
    ]
    return {n: store.con.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}


def store_text(store: Store) -> str:
    """Every value of every table and view, as one lower-cased string."""
    sql = "SELECT table_name FROM information_schema.tables"
    names = [r[0] for r in store.con.execute(sql).fetchall()]
    rows = [store.con.execute(f'SELECT * FROM "{n}"').fetchall() for n in names]
    return repr(rows).lower()


def spans_by_id(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Spans keyed by the (hashed) person id, so tests look them up by email via hash."""
    cur = store.con.execute(
        "SELECT p.external_id, s.* FROM spans s JOIN people p USING (person_id) "
        "ORDER BY s.start_latest"
    )
    cols = [d[0] for d in cur.description]
    out: dict[str, list[dict[str, Any]]] = {}
    for row in cur.fetchall():
        out.setdefault(row[0], []).append(dict(zip(cols, row, strict=True)))
    return out


def spans_of(store: Store, email: str) -> list[dict[str, Any]]:
    from breakup.ingest import email_hasher

    return spans_by_id(store).get(email_hasher(store)(email), [])


# -- what an import records -------------------------------------------------------------


def test_unsubscribe_ends_the_span_exactly_with_its_campaign_and_reason(store: Store) -> None:
    result = import_(store, EXPORT)
    assert not result.skipped
    (erin,) = spans_of(store, "erin@example.com")
    assert erin["start_latest"] == datetime(2023, 1, 20, 10, 2)  # CONFIRM_TIME
    assert erin["start_exact"]
    assert erin["end_earliest"] == erin["end_latest"] == datetime(2023, 5, 3, 14, 7, 31)
    assert erin["end_exact"]
    assert erin["end_kind"] == "unsubscribed"
    assert erin["end_campaign"] == MAY
    assert erin["end_reason"] == "Other (fill in reason below): Too many emails"
    (heidi,) = spans_of(store, "heidi@example.com")  # unsubscribed by an admin, no campaign
    assert heidi["end_kind"] == "unsubscribed" and heidi["end_campaign"] is None
    (grace,) = spans_of(store, "grace@example.com")  # imported: no opt-in time
    assert grace["start_earliest"] is None and not grace["start_exact"]
    assert grace["end_latest"] == datetime(2023, 6, 12, 9) and grace["end_campaign"] == "c0ffee1234"


def test_cleaned_address_ends_as_deleted(store: Store) -> None:
    import_(store, EXPORT)
    (ivan,) = spans_of(store, "ivan@example.com")
    assert ivan["end_kind"] == "deleted"
    assert ivan["end_latest"] == datetime(2023, 5, 3, 14, 5) and ivan["end_exact"]
    assert ivan["end_campaign"] == MAY


def test_subscribed_members_stay_open_in_one_complete_snapshot(store: Store) -> None:
    result = import_(store, EXPORT)
    for email in ("ada@example.com", "bob@example.org", "chen.wei@example.com", "dave@example.net"):
        (span,) = spans_of(store, email)
        assert span["end_latest"] is None, email
    (dave,) = spans_of(store, "dave@example.net")  # no opt-in or confirm time: seen at export
    assert not dave["start_exact"] and dave["start_latest"] == datetime(2023, 6, 20, 11, 30)
    obs = store.con.execute(
        "SELECT observed_at, complete, diffable, member_count FROM observations"
    ).fetchall()
    assert obs == [(datetime(2023, 6, 20, 11, 30), True, True, 4)]  # newest LAST_CHANGED
    assert any("newest time" in n for n in result.notes)
    names = dict(
        store.con.execute("SELECT display_name, count(*) FROM person_names GROUP BY 1").fetchall()
    )
    assert {"Ada Lovelace", "Bob", "Wei Chen", "Erin Doe"} <= set(names)


def test_campaigns_without_a_report_are_dated_by_their_first_departure(store: Store) -> None:
    result = import_(store, EXPORT)
    posts = store.con.execute(
        "SELECT external_id, kind, created_at, text FROM posts ORDER BY external_id"
    ).fetchall()
    assert posts == [
        (MAY, "campaign", datetime(2023, 5, 3, 14, 5), "May Newsletter: Spring deals"),
        ("c0ffee1234", "campaign", datetime(2023, 6, 12, 9), "June product update"),
    ]
    assert any("without a send time" in n for n in result.notes)


def test_campaign_report_in_the_zip_gives_send_times_and_counts(
    store: Store, tmp_path: Path
) -> None:
    path = zip_dir(EXPORT, tmp_path / "members_export_3f9a1c2b7d.zip", REPORT)
    result = import_(store, path)
    posts = dict(store.con.execute("SELECT external_id, created_at FROM posts").fetchall())
    assert posts == {
        "77aa88bb99": datetime(2023, 4, 14, 10),  # no one left after it: still a post
        MAY: datetime(2023, 5, 3, 14),
        "c0ffee1234": datetime(2023, 6, 12, 8, 30),
    }
    metrics = dict(
        store.con.execute(
            "SELECT m.metric, m.value FROM post_metrics m JOIN posts p USING (post_id) "
            "WHERE p.external_id = ?",
            [MAY],
        ).fetchall()
    )
    assert metrics["recipients"] == 1204 and metrics["unsubscribes"] == 2
    assert not any("without a send time" in n for n in result.notes)
    (erin,) = spans_of(store, "erin@example.com")  # the zip reads like the folder
    assert erin["end_kind"] == "unsubscribed" and erin["end_campaign"] == MAY


def _posts(store: Store) -> dict[str, datetime]:
    return dict(store.con.execute("SELECT external_id, created_at FROM posts").fetchall())


SENT = {
    "77aa88bb99": datetime(2023, 4, 14, 10),
    MAY: datetime(2023, 5, 3, 14),
    "c0ffee1234": datetime(2023, 6, 12, 8, 30),
}


def test_files_under_other_names_are_recognised_by_header(store: Store, tmp_path: Path) -> None:
    """Renamed after download: UNSUB_TIME makes the unsubscribed list, CLEAN_TIME the
    cleaned one, and the rest is the subscribed list."""
    folder = tmp_path / "my mailchimp backup"
    folder.mkdir()
    for name, new in ((SUBSCRIBED, "readers.csv"), (UNSUBSCRIBED, "left.csv")):
        shutil.copy(EXPORT / name, folder / new)
    shutil.copy(EXPORT / CLEANED, folder / "bounced 2023-07.csv")
    import_(store, folder)
    assert store.con.execute("SELECT complete, member_count FROM observations").fetchall() == [
        (True, 4)
    ]
    (erin,) = spans_of(store, "erin@example.com")
    assert erin["end_exact"] and erin["end_kind"] == "unsubscribed" and erin["end_campaign"] == MAY
    (ivan,) = spans_of(store, "ivan@example.com")
    assert ivan["end_exact"] and ivan["end_kind"] == "deleted"


def test_a_single_renamed_unsubscribed_csv_is_read(store: Store, tmp_path: Path) -> None:
    path = Path(shutil.copy(EXPORT / UNSUBSCRIBED, tmp_path / "unsubs.csv"))
    result = import_(store, path)
    (erin,) = spans_of(store, "erin@example.com")
    assert erin["end_kind"] == "unsubscribed" and erin["end_exact"]
    assert any("no subscribed_ file" in n for n in result.notes)


def import_together(store: Store, paths: list[Path], at: datetime) -> list[ImportResult]:
    """As ``breakup import mailchimp PATH...`` does: every path read, then saved in order."""
    options = ReadOptions(at=at, together=tuple(paths))
    batches = [get_source("mailchimp").read(p, options) for p in paths]
    return [
        save_batch(store, b, account="news", path=str(p))
        for p, b in zip(paths, batches, strict=True)
    ]


@pytest.mark.parametrize("report_first", [False, True])
def test_campaign_report_given_beside_the_export(
    store: Store, tmp_path: Path, report_first: bool
) -> None:
    export = zip_dir(EXPORT, tmp_path / "members_export_3f9a1c2b7d.zip")
    report = Path(shutil.copy(REPORT, tmp_path / "campaigns.csv"))
    paths = [report, export] if report_first else [export, report]
    results = import_together(store, paths, datetime(2023, 7, 1, tzinfo=UTC))
    assert _posts(store) == SENT
    assert not any("without a send time" in n for r in results for n in r.notes)
    (erin,) = spans_of(store, "erin@example.com")
    assert erin["end_campaign"] == MAY


def test_campaign_report_beside_the_export_through_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(db), "import", "mailchimp", str(EXPORT),
         str(REPORT), "--account", "news", "--at", "2023-07-01T00:00:00Z"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with Store(db, read_only=True) as s:
        assert _posts(s) == SENT


def test_a_campaign_report_alone_gives_the_campaigns(store: Store) -> None:
    result = import_(store, REPORT)
    assert _posts(store) == SENT
    assert store.scalar("SELECT count(*) FROM observations") == 0
    assert any("import it together" in n for n in result.notes)


def test_export_time_comes_from_at_when_given(store: Store) -> None:
    at = datetime(2023, 7, 1, 12, tzinfo=UTC)
    result = save_batch(store, read(EXPORT, at), account="news")
    assert store.scalar("SELECT observed_at FROM observations") == datetime(2023, 7, 1, 12)
    assert not any("newest time" in n for n in result.notes)


def test_at_before_the_newest_event_is_refused(store: Store) -> None:
    with pytest.raises(InvalidExport, match="before the newest time"):
        read(EXPORT, datetime(2023, 6, 1, tzinfo=UTC))


def test_segment_export_proves_presence_not_absence(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "segment"
    folder.mkdir()
    shutil.copy(EXPORT / SUBSCRIBED, folder / "subscribed_segment_export_3f9a1c2b7d.csv")
    result = import_(store, folder)
    assert store.scalar("SELECT complete FROM observations") is False
    assert any("segment" in n for n in result.notes)


# -- privacy and idempotence -------------------------------------------------------------


def test_no_plain_address_reaches_the_store(store: Store) -> None:
    import_(store, EXPORT)
    text = store_text(store)
    leaked = [e for e in fixture_emails() if e in text]
    assert leaked == []


def test_keep_emails_keeps_them(store: Store) -> None:
    import_(store, EXPORT, keep_emails=True)  # and the scan above would have seen them
    text = store_text(store)
    assert "ada@example.com" in text and "chen.wei@example.com" in text


def test_reimport_is_a_no_op(store: Store, tmp_path: Path) -> None:
    import_(store, EXPORT)
    before = table_counts(store)
    assert import_(store, EXPORT).skipped
    assert import_(store, zip_dir(EXPORT, tmp_path / "a.zip")).skipped  # same files, zipped
    assert table_counts(store) == before


def test_a_later_overlapping_export_adds_only_what_is_new(store: Store, tmp_path: Path) -> None:
    import_(store, EXPORT)
    events = table_counts(store)["events"]
    later = copy(tmp_path)
    bob = (
        'bob@example.org,Bob,,html,2,"2023-02-10 18:00:00",198.51.100.7,"2023-02-10 18:01:30",'
        "198.51.100.7,40.7128000,-74.0060000,-5,-4,america/new_york,us,ny,"
    )
    edit(later / SUBSCRIBED, bob + '"2023-06-20 11:30:00",100002,b2c3d4e5f6,,\n', "")
    with (later / UNSUBSCRIBED).open("a", encoding="utf-8") as f:
        f.write(
            bob + '"2023-07-04 09:00:00","July news",d00d00d00d,"I no longer want to '
            'receive these emails",,100002,b2c3d4e5f6,,\n'
        )
    result = import_(store, later)
    assert not result.skipped
    assert table_counts(store)["events"] == events + 1  # bob's unsubscribe, nothing repeated
    (span,) = spans_of(store, "bob@example.org")
    assert span["end_latest"] == datetime(2023, 7, 4, 9) and span["end_kind"] == "unsubscribed"
    assert store.scalar("SELECT count(*) FROM spans WHERE end_latest IS NULL") == 3


def test_registered_as_an_email_source() -> None:
    src = get_source("mailchimp")
    assert src.platform == "email" and src.summary


# -- broken input: one-line error naming the file, store untouched -----------------------


def _truncated(tmp: Path) -> Path:
    whole = zip_dir(EXPORT, tmp / "whole.zip").read_bytes()
    bad = tmp / "members_export_3f9a1c2b7d.zip"
    bad.write_bytes(whole[: len(whole) // 2])
    return bad


def _wrong_kind(tmp: Path) -> Path:
    return Path(shutil.copytree(FIXTURES.parent / "substack" / "export-2024-03-01", tmp / "x"))


def _missing_column(tmp: Path) -> Path:
    folder = copy(tmp)
    edit(folder / UNSUBSCRIBED, ",UNSUB_TIME,", ",UNSUB_WHEN,")
    return folder


def _bad_date(tmp: Path) -> Path:
    folder = copy(tmp)
    edit(folder / CLEANED, '"2023-05-03 14:05:00"', '"03/05/2023 2pm"')
    return folder


def _not_utf8(tmp: Path) -> Path:
    folder = copy(tmp)
    data = (folder / SUBSCRIBED).read_bytes().replace(b"Lovelace", "Lövelace".encode("latin-1"))
    (folder / SUBSCRIBED).write_bytes(data)
    return folder


def _bad_address(tmp: Path) -> Path:
    folder = copy(tmp)
    edit(folder / SUBSCRIBED, "bob@example.org", "bob at example.org")
    return folder


def _two_audiences(tmp: Path) -> Path:
    folder = copy(tmp)
    shutil.copy(folder / SUBSCRIBED, folder / "subscribed_members_export_0000000000.csv")
    return folder


def _bad_report_count(tmp: Path) -> Path:
    folder = copy(tmp)
    text = REPORT.read_text(encoding="utf-8").replace('"1,204"', '"lots"')
    (folder / "campaign_report.csv").write_text(text, encoding="utf-8")
    return folder


BROKEN: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated zip": (_truncated, "zip"),
    "wrong kind of export": (_wrong_kind, "not a Mailchimp audience export"),
    "missing column": (_missing_column, f"{UNSUBSCRIBED} lacks column.*UNSUB_TIME"),
    "bad date": (_bad_date, f"{CLEANED} line 2 CLEAN_TIME"),
    "not UTF-8": (_not_utf8, f"{SUBSCRIBED} is not UTF-8"),
    "bad address": (_bad_address, f"{SUBSCRIBED} line 3: not an email address"),
    "two audiences": (_two_audiences, "one audience at a time"),
    "bad report count": (_bad_report_count, "campaign_report.csv line 3 Total Recipients"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_input_is_refused_and_changes_nothing(
    case: str, store: Store, tmp_path: Path
) -> None:
    import_(store, EXPORT)
    before = table_counts(store)
    make, problem = BROKEN[case]
    path = make(tmp_path)
    with pytest.raises(InvalidExport, match=problem) as err:
        import_(store, path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert "bob@example.org" not in str(err.value)
    assert table_counts(store) == before
