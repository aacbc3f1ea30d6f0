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
PAGE = FIXTURES / "subscribers.csv"  # the Subscribers page export of every type
FULL = FIXTURES / "export"  # the full data export today: subscribers (every type), emails
OLD = FIXTURES / "export-2023"  # before 2025: subscribers, unsubscribers, emails
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


def write_rows(tmp: Path, keep: Callable[[dict[str, str]], bool]) -> Path:
    """The page export narrowed as a filter on the Subscribers page narrows it."""
    with PAGE.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = [r for r in reader if keep(r)]
        header = list(reader.fieldnames or [])
    path = tmp / "subscribers.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_page_export_of_every_type_is_the_full_list(store: Store) -> None:
    result = import_(store, PAGE)
    assert snapshot(store) == (NEWEST, True, 3)  # liz, jenna, pete
    assert not any("may be filtered" in n for n in result.notes)
    assert any("taken as the full list" in n for n in result.notes)
    assert any("newest time" in n for n in result.notes)
    # Undeliverable with no date: gone by the export, how is named by the type.
    (kenneth,) = spans_of(store, "kenneth@example.com")
    assert kenneth["end_latest"] == NEWEST and not kenneth["end_exact"]
    assert kenneth["end_kind"] == "deleted"


def test_page_export_filtered_by_type_is_partial(store: Store, tmp_path: Path) -> None:
    path = write_rows(tmp_path, lambda r: r["subscriber_type"] in ("regular", "premium"))
    result = save_batch(store, read(path), account="news", path=str(path))
    assert snapshot(store) == (NEWEST, False, 3)
    assert any("may be filtered" in n for n in result.notes)


def test_undeliverable_in_a_filtered_export_stays_open_with_a_note(
    store: Store, tmp_path: Path
) -> None:
    path = write_rows(tmp_path, lambda r: r["subscriber_type"] == "undeliverable")
    result = save_batch(store, read(path), account="news", path=str(path))
    # A filtered list cannot say when kenneth's address stopped working: his span stays
    # open rather than being closed at a guessed time, and the note says why.
    (kenneth,) = spans_of(store, "kenneth@example.com")
    assert kenneth["end_latest"] is None
    assert any("1 subscriber(s) of a departed type" in n for n in result.notes)


def test_full_export_without_unsubscribers_is_complete(store: Store) -> None:
    """Buttondown's export has no unsubscribers collection any more: its subscribers.csv
    holds every type, and blocked / upcoming are types, not unknowns."""
    at = datetime(2024, 6, 1, tzinfo=UTC)
    result = save_batch(store, read(FULL, at), account="news")
    assert snapshot(store) == (datetime(2024, 6, 1), True, 4)  # liz, jenna, pete, gabe
    assert not any("may be filtered" in n or "unknown" in n for n in result.notes)
    (liz,) = spans_of(store, "liz@example.com")
    assert liz["end_latest"] is None


def test_departed_types_end_with_the_right_kind(store: Store) -> None:
    at = datetime(2024, 6, 1, tzinfo=UTC)
    save_batch(store, read(FULL, at), account="news")
    (jack,) = spans_of(store, "jack@example.com")  # unsubscribed, with the date
    assert jack["end_latest"] == datetime(2024, 4, 8, 17, 9, 32, 596959) and jack["end_exact"]
    assert jack["end_kind"] == "unsubscribed"
    ends = {}
    for who in ("kenneth", "dan", "rosa"):
        (span,) = spans_of(store, f"{who}@example.com")
        assert span["end_latest"] == datetime(2024, 6, 1) and not span["end_exact"]
        ends[who] = span["end_kind"]
    # undeliverable and removed by the newsletter: involuntary; a spam complaint: their own
    assert ends == {"kenneth": "deleted", "dan": "deleted", "rosa": "unsubscribed"}
    # Stopped at sign-up by the firewall, not yet started, never confirmed: never joined.
    for who in ("x9k2q@example.net", "uma@example.com", "tracy@example.com"):
        assert spans_of(store, who) == []


def test_blocked_after_being_on_the_list_ends_as_blocked(store: Store, tmp_path: Path) -> None:
    first = datetime(2024, 5, 15, tzinfo=UTC)
    save_batch(store, read(FULL, first), account="news")
    dest = Path(shutil.copytree(FULL, tmp_path / "later"))
    edit(dest / "subscribers.csv", "Met in NYC.,regular", ",blocked")
    save_batch(store, read(dest, datetime(2024, 6, 1, tzinfo=UTC)), account="news")
    (liz,) = spans_of(store, "liz@example.com")
    assert (liz["end_earliest"], liz["end_latest"]) == (datetime(2024, 5, 15), datetime(2024, 6, 1))
    assert liz["end_kind"] == "blocked"


def test_dated_endings_are_exact(store: Store, tmp_path: Path) -> None:
    """An undeliverability_date (a column the Subscribers page offers) and a complaint's
    unsubscription date end the span at that time."""
    dest = Path(shutil.copytree(FULL, tmp_path / "dated"))
    sub = dest / "subscribers.csv"
    edit(
        sub,
        "198.51.100.27,2024-01-09 11:20:00+00:00,,,{}",
        "198.51.100.27,2024-01-09 11:20:00+00:00,2024-03-03 08:00:00+00:00,,{}",
    )
    lines = sub.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",undeliverability_date"] + [
        line + (",2024-04-02 10:00:00+00:00" if "kenneth@" in line else ",") for line in lines[1:]
    ]
    sub.write_text("\n".join(lines) + "\n", encoding="utf-8")
    save_batch(store, read(dest, datetime(2024, 6, 1, tzinfo=UTC)), account="news")
    (kenneth,) = spans_of(store, "kenneth@example.com")
    assert kenneth["end_latest"] == datetime(2024, 4, 2, 10) and kenneth["end_exact"]
    assert kenneth["end_kind"] == "deleted"
    (rosa,) = spans_of(store, "rosa@example.com")
    assert rosa["end_latest"] == datetime(2024, 3, 3, 8) and rosa["end_exact"]
    assert rosa["end_kind"] == "unsubscribed"


def test_old_export_with_unsubscribers_is_still_complete(store: Store) -> None:
    at = datetime(2024, 6, 1, tzinfo=UTC)
    result = save_batch(store, read(OLD, at), account="news")
    assert snapshot(store) == (datetime(2024, 6, 1), True, 3)
    assert not any("may be filtered" in n for n in result.notes)
    (kenneth,) = spans_of(store, "kenneth@example.com")
    assert kenneth["end_latest"] == datetime(2024, 6, 1) and not kenneth["end_exact"]
    assert kenneth["end_kind"] == "deleted"  # named by his type, not left unknown
    (jack,) = spans_of(store, "jack@example.com")  # from unsubscribers.csv
    assert jack["end_latest"] == datetime(2024, 4, 8, 17, 9, 32, 596959) and jack["end_exact"]


def test_an_unknown_type_still_makes_the_list_partial(store: Store, tmp_path: Path) -> None:
    dest = Path(shutil.copytree(FULL, tmp_path / "odd"))
    edit(dest / "subscribers.csv", ",gifted,", ",frozen,")
    result = save_batch(store, read(dest, datetime(2024, 6, 1, tzinfo=UTC)), account="news")
    assert snapshot(store)[1] is False
    assert any("unknown subscriber_type frozen" in n for n in result.notes)


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
    full = list(csv.DictReader((FULL / "subscribers.csv").open(encoding="utf-8")))
    return {r["email"] for r in rows + full}


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
