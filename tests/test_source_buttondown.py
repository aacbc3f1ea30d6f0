"""The buttondown source through the real store, on fixtures shaped like real exports."""

from __future__ import annotations

import csv
import shutil
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from breakup.errors import InvalidExport
from breakup.ingest import ImportResult, email_hasher, save_batch
from breakup.sources import ReadOptions, get_source
from breakup.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "buttondown"
PAGE = FIXTURES / "subscribers.csv"  # the Subscribers page export: may be filtered
FULL = FIXTURES / "export"  # the full data export: subscribers, unsubscribers, emails
NEWEST = datetime(2024, 5, 1, 6, 45)  # pete's re-subscription: the newest time in both


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "s.duckdb")
    yield s
    s.close()


def read(path: Path, at: datetime | None = None) -> Any:
    return get_source("buttondown").read(path, ReadOptions(at=at))


def import_(store: Store, path: Path, **kw: Any) -> ImportResult:
    return save_batch(store, read(path), account="news", path=str(path), **kw)


def zip_dir(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(src.iterdir()):
            z.write(f, f.name)
    return dest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture no longer contains {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def table_counts(store: Store) -> dict[str, int]:
    names = [
        r[0]
        for r in store.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()
    ]
    return {n: store.con.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}


def store_text(store: Store) -> str:
    sql = "SELECT table_name FROM information_schema.tables"
    names = [r[0] for r in store.con.execute(sql).fetchall()]
    return repr([store.con.execute(f'SELECT * FROM "{n}"').fetchall() for n in names]).lower()


def spans_of(store: Store, email: str) -> list[dict[str, Any]]:
    cur = store.con.execute(
        "SELECT s.* FROM spans s JOIN people p USING (person_id) WHERE p.external_id = ? "
        "ORDER BY s.start_latest",
        [email_hasher(store)(email)],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def snapshot(store: Store) -> tuple[Any, ...]:
    row = store.con.execute("SELECT observed_at, complete, member_count FROM observations")
    return tuple(row.fetchall()[0])


# -- what an import records -------------------------------------------------------------


def test_unsubscription_date_ends_the_span_exactly(store: Store) -> None:
    import_(store, PAGE)
    (jack,) = spans_of(store, "jack@example.com")
    assert jack["start_latest"] == datetime(2024, 1, 5, 8, 31, 40, 554100) and jack["start_exact"]
    assert jack["end_earliest"] == jack["end_latest"] == datetime(2024, 4, 8, 17, 9, 32, 596959)
    assert jack["end_exact"] and jack["end_kind"] == "unsubscribed"


def test_resubscriber_gets_two_spans(store: Store) -> None:
    import_(store, PAGE)
    first, second = spans_of(store, "pete@example.com")
    assert first["end_latest"] == datetime(2024, 3, 1, 18) and first["end_kind"] == "unsubscribed"
    assert second["start_latest"] == NEWEST and second["start_exact"]
    assert second["end_latest"] is None


def test_unconfirmed_subscriber_never_joined(store: Store) -> None:
    import_(store, PAGE)
    assert spans_of(store, "tracy@example.com") == []


def test_page_export_gives_a_partial_snapshot(store: Store) -> None:
    result = import_(store, PAGE)
    assert snapshot(store) == (NEWEST, False, 3)  # liz, jenna, pete
    assert any("may be filtered" in n for n in result.notes)
    assert any("newest time" in n for n in result.notes)
    # Nothing says when kenneth's address stopped working, and a filtered list cannot
    # tell: his span stays open rather than being closed on a guess.
    (kenneth,) = spans_of(store, "kenneth@example.com")
    assert kenneth["end_latest"] is None


def test_full_export_is_complete_and_ends_the_undeliverable(store: Store) -> None:
    at = datetime(2024, 6, 1, tzinfo=UTC)
    result = save_batch(store, read(FULL, at), account="news")
    assert snapshot(store) == (datetime(2024, 6, 1), True, 3)
    assert not any("may be filtered" in n for n in result.notes)
    (kenneth,) = spans_of(store, "kenneth@example.com")
    assert kenneth["end_latest"] == datetime(2024, 6, 1) and not kenneth["end_exact"]
    assert kenneth["end_kind"] == "unknown"  # gone, not yet re-checked
    (jack,) = spans_of(store, "jack@example.com")  # from unsubscribers.csv
    assert jack["end_latest"] == datetime(2024, 4, 8, 17, 9, 32, 596959) and jack["end_exact"]
    (liz,) = spans_of(store, "liz@example.com")
    assert liz["end_latest"] is None


def test_emails_become_campaign_posts(store: Store, tmp_path: Path) -> None:
    import_(store, zip_dir(FULL, tmp_path / "buttondown-export.zip"))
    posts = store.con.execute(
        "SELECT external_id, kind, created_at, text FROM posts ORDER BY created_at"
    ).fetchall()
    assert posts == [
        (
            "0a7b00ee-7c27-4be7-853a-4f3fe3e09c01",
            "campaign",
            datetime(2024, 1, 3, 15),
            "Welcome to Field Notes",
        ),
        (
            "0a7b00ee-7c27-4be7-853a-4f3fe3e09c02",
            "campaign",
            datetime(2024, 4, 8, 16, 0, 5, 343246),
            "Spring migration is here",
        ),
    ]  # the draft, with no publish date, is not a post


def test_at_before_the_newest_event_is_refused() -> None:
    with pytest.raises(InvalidExport, match="before the newest time"):
        read(PAGE, datetime(2024, 4, 1, tzinfo=UTC))


# -- privacy and idempotence -------------------------------------------------------------


def fixture_emails() -> set[str]:
    rows = list(csv.DictReader(PAGE.open(encoding="utf-8")))
    assert len(rows) == 6
    return {r["email"] for r in rows}


def test_no_plain_address_reaches_the_store(store: Store) -> None:
    import_(store, PAGE)
    import_(store, FULL)
    text = store_text(store)
    assert [e for e in fixture_emails() if e in text] == []


def test_keep_emails_keeps_them(store: Store) -> None:
    import_(store, PAGE, keep_emails=True)
    assert "liz@example.com" in store_text(store)


def test_reimport_is_a_no_op(store: Store) -> None:
    import_(store, PAGE)
    before = table_counts(store)
    assert import_(store, PAGE).skipped
    assert table_counts(store) == before


def test_registered_as_an_email_source() -> None:
    src = get_source("buttondown")
    assert src.platform == "email" and src.summary


# -- broken input: one-line error naming the file, store untouched -----------------------


def _copy(tmp: Path) -> Path:
    return Path(shutil.copy(PAGE, tmp / "subscribers.csv"))


def _truncated(tmp: Path) -> Path:
    whole = zip_dir(FULL, tmp / "whole.zip").read_bytes()
    bad = tmp / "buttondown-export.zip"
    bad.write_bytes(whole[: len(whole) // 2])
    return bad


def _wrong_kind(tmp: Path) -> Path:
    return Path(
        shutil.copytree(FIXTURES.parent / "mailchimp" / "members_export_3f9a1c2b7d", tmp / "x")
    )


def _wrong_csv(tmp: Path) -> Path:
    return Path(shutil.copy(FULL / "emails.csv", tmp / "emails.csv"))


def _missing_column(tmp: Path) -> Path:
    path = _copy(tmp)
    edit(path, ",unsubscription_date,", ",unsubscribed_on,")
    return path


def _bad_date(tmp: Path) -> Path:
    path = _copy(tmp)
    edit(path, "2024-04-08 17:09:32.596959+00:00", "April 8th")
    return path


def _not_utf8(tmp: Path) -> Path:
    path = _copy(tmp)
    path.write_bytes(path.read_bytes().replace(b"Met in NYC.", "Met in Zürich.".encode("latin-1")))
    return path


BROKEN: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated zip": (_truncated, "zip"),
    "wrong kind of export": (_wrong_kind, "not a Buttondown export"),
    "wrong CSV": (_wrong_csv, "emails.csv: lacks column"),
    "missing column": (_missing_column, "subscribers.csv: lacks column.*unsubscription_date"),
    "bad date": (_bad_date, "subscribers.csv line 3 unsubscription_date"),
    "not UTF-8": (_not_utf8, "subscribers.csv is not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_input_is_refused_and_changes_nothing(
    case: str, store: Store, tmp_path: Path
) -> None:
    import_(store, PAGE)
    before = table_counts(store)
    make, problem = BROKEN[case]
    path = make(tmp_path)
    with pytest.raises(InvalidExport, match=problem) as err:
        import_(store, path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert table_counts(store) == before
