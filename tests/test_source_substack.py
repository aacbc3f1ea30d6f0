"""The substack source through the real store, on fixtures shaped like real exports."""

from __future__ import annotations

import csv
import shutil
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from breakup.errors import AccountMismatch, InvalidExport
from breakup.ingest import ImportResult, email_hasher, save_batch
from breakup.sources import ReadOptions, get_source
from breakup.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "substack"
MARCH = FIXTURES / "export-2024-03-01"  # ana, ben, cara, dan
APRIL = FIXTURES / "export-2024-04-01"  # dan gone, eve new, one more post
MARCH_AT = datetime(2024, 3, 1, 12, tzinfo=UTC)
APRIL_AT = datetime(2024, 4, 1, 12, tzinfo=UTC)
LIST = "email_list.fieldnotes.csv"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "s.duckdb")
    yield s
    s.close()


def read(path: Path, at: datetime | None = None) -> Any:
    return get_source("substack").read(path, ReadOptions(at=at))


def import_(store: Store, path: Path, at: datetime | None = None, **kw: Any) -> ImportResult:
    return save_batch(store, read(path, at), account="news", path=str(path), **kw)


def zip_dir(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(src).as_posix())
    return dest


def copy(tmp: Path, src: Path = MARCH) -> Path:
    return Path(shutil.copytree(src, tmp / src.name))


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


# -- what an import records -------------------------------------------------------------


def test_two_exports_give_a_window_ending(store: Store) -> None:
    import_(store, MARCH, MARCH_AT)
    (dan,) = spans_of(store, "dan@example.com")
    assert dan["start_latest"] == datetime(2024, 1, 15, 21, 30) and dan["start_exact"]
    assert dan["end_latest"] is None
    result = import_(store, APRIL, APRIL_AT)
    assert result.closed == 1
    (dan,) = spans_of(store, "dan@example.com")
    assert dan["end_earliest"] == datetime(2024, 3, 1, 12)
    assert dan["end_latest"] == datetime(2024, 4, 1, 12)
    assert not dan["end_exact"] and dan["end_kind"] == "unknown"
    (eve,) = spans_of(store, "eve@example.com")
    assert eve["start_latest"] == datetime(2024, 3, 20, 11, 11, 11) and eve["start_exact"]
    for stayed in ("ana@example.com", "ben@example.com", "cara@example.com"):
        (span,) = spans_of(store, stayed)
        assert span["end_latest"] is None, stayed


def test_import_order_does_not_matter(store: Store, tmp_path: Path) -> None:
    import_(store, APRIL, APRIL_AT)
    import_(store, MARCH, MARCH_AT)
    (dan,) = spans_of(store, "dan@example.com")
    assert (dan["end_earliest"], dan["end_latest"]) == (
        datetime(2024, 3, 1, 12),
        datetime(2024, 4, 1, 12),
    )


def test_snapshot_is_complete_and_counts_everyone_subscribed(store: Store) -> None:
    result = import_(store, MARCH, MARCH_AT)
    # cara has email turned off and ana does not pay: both are still subscribers.
    rows = store.con.execute("SELECT observed_at, complete, member_count FROM observations")
    assert rows.fetchall() == [(datetime(2024, 3, 1, 12), True, 4)]
    assert any("no unsubscribe dates" in n for n in result.notes)


def test_without_at_the_export_is_placed_at_its_newest_time(store: Store) -> None:
    result = import_(store, MARCH)
    newest = datetime(2024, 2, 20, 7, 30, 2, 100000)  # the last email sent
    assert store.scalar("SELECT observed_at FROM observations") == newest
    assert any("newest time" in n for n in result.notes)


def test_emailed_posts_become_campaigns(store: Store, tmp_path: Path) -> None:
    import_(store, zip_dir(MARCH, tmp_path / "fieldnotes.zip"), MARCH_AT)
    posts = store.con.execute(
        "SELECT external_id, kind, created_at, text, url FROM posts ORDER BY created_at"
    ).fetchall()
    assert posts == [
        (
            "123401.first-light",
            "campaign",
            datetime(2024, 1, 10, 15, 0, 4, 812000),
            "First light\nNotes from the shore",
            "https://fieldnotes.substack.com/p/first-light",
        ),
        (
            "123404.tide-tables",
            "campaign",
            datetime(2024, 2, 20, 7, 30, 2, 100000),
            "Tide tables\nWhy the water comes and goes, twice a day",
            "https://fieldnotes.substack.com/p/tide-tables",
        ),
    ]  # the page and the draft were never emailed


def _add_posts(folder: Path, *rows: str) -> None:
    with (folder / "posts.csv").open("a", encoding="utf-8") as f:
        f.write("".join(r + "\n" for r in rows))


def test_pages_and_threads_are_not_campaigns(store: Store, tmp_path: Path) -> None:
    """type says what a post is: a page or a thread with an email_sent_at was not an
    emailed issue; a podcast episode was."""
    folder = copy(tmp_path)
    _add_posts(
        folder,
        "123406.talk-to-us,2024-02-22T10:00:00.000Z,true,2024-02-22T10:00:01.000Z,,thread,"
        "everyone,Talk to us,,",
        "123407.about-us,2024-02-23T10:00:00.000Z,true,2024-02-23T10:00:01.000Z,,page,"
        "everyone,About us,Learn about us,",
        "123408.shore-sounds,2024-02-24T10:00:00.000Z,true,2024-02-24T10:00:02.000Z,,podcast,"
        "everyone,Shore sounds,,https://example.com/shore.mp3",
    )
    import_(store, folder, MARCH_AT)
    rows = store.con.execute("SELECT external_id FROM posts ORDER BY created_at").fetchall()
    ids = [r[0] for r in rows]
    assert ids == ["123401.first-light", "123404.tide-tables", "123408.shore-sounds"]


def test_html_entities_in_titles_are_unescaped(store: Store, tmp_path: Path) -> None:
    folder = copy(tmp_path)
    _add_posts(
        folder,
        "123409.tom-and-jerry,2024-02-25T10:00:00.000Z,true,2024-02-25T10:00:02.000Z,,newsletter,"
        'everyone,Tom &amp; Jerry&#8217;s tide,"&lt;b&gt;not bold&lt;/b&gt; &quot;quoted&quot;",',
    )
    import_(store, folder, MARCH_AT)
    text = store.scalar("SELECT text FROM posts WHERE external_id = '123409.tom-and-jerry'")
    assert text == 'Tom & Jerry\u2019s tide\n<b>not bold</b> "quoted"'


PAID = FIXTURES / "paid_subscribers.csv"  # email_list columns, no created_at


def test_paid_subscribers_csv_is_accepted_with_a_window(store: Store) -> None:
    import_(store, MARCH, MARCH_AT)
    result = import_(store, PAID, APRIL_AT)
    # fay is new: with no created_at her start is the window since the March export.
    (fay,) = spans_of(store, "fay@example.com")
    assert fay["start_earliest"] == datetime(2024, 3, 1, 12)
    assert fay["start_latest"] == datetime(2024, 4, 1, 12) and not fay["start_exact"]
    # Only the paying readers: the free ones are not gone for missing from it.
    for stayed in ("ana@example.com", "cara@example.com", "dan@example.com"):
        (span,) = spans_of(store, stayed)
        assert span["end_latest"] is None, stayed
    complete = store.con.execute("SELECT complete FROM observations ORDER BY observed_at")
    assert [r[0] for r in complete.fetchall()] == [True, False]
    assert any("without created_at" in n for n in result.notes)


def test_paid_subscribers_csv_alone_needs_at() -> None:
    with pytest.raises(InvalidExport, match="pass --at"):
        read(PAID)


def test_publication_names_the_account(store: Store) -> None:
    import_(store, MARCH, MARCH_AT)
    assert store.con.execute("SELECT identity, handle FROM accounts").fetchall() == [
        ("fieldnotes", "fieldnotes")
    ]
    # Without --account the publication finds the account it already belongs to.
    assert save_batch(store, read(MARCH, MARCH_AT)).account == "news"


def test_publication_names_a_new_account(store: Store) -> None:
    assert save_batch(store, read(MARCH, MARCH_AT)).account == "email:fieldnotes"


def test_another_publication_is_not_mixed_in(store: Store, tmp_path: Path) -> None:
    import_(store, MARCH, MARCH_AT)
    other = copy(tmp_path, APRIL)
    (other / LIST).rename(other / "email_list.otherpub.csv")
    with pytest.raises(AccountMismatch):
        import_(store, other, APRIL_AT)


def test_at_before_the_newest_time_is_refused() -> None:
    with pytest.raises(InvalidExport, match="before the newest time"):
        read(MARCH, datetime(2024, 2, 1, tzinfo=UTC))


# -- privacy and idempotence -------------------------------------------------------------


def fixture_emails() -> set[str]:
    found = set()
    for export in (MARCH, APRIL):
        found |= {r["email"] for r in csv.DictReader((export / LIST).open(encoding="utf-8"))}
    assert len(found) == 5
    return found


def test_no_plain_address_reaches_the_store(store: Store) -> None:
    import_(store, MARCH, MARCH_AT)
    import_(store, APRIL, APRIL_AT)
    text = store_text(store)
    assert [e for e in fixture_emails() if e in text] == []


def test_keep_emails_keeps_them(store: Store) -> None:
    import_(store, MARCH, MARCH_AT, keep_emails=True)
    assert "ana@example.com" in store_text(store)


def test_reimport_is_a_no_op(store: Store, tmp_path: Path) -> None:
    import_(store, MARCH, MARCH_AT)
    import_(store, APRIL, APRIL_AT)
    before = table_counts(store)
    assert import_(store, MARCH, MARCH_AT).skipped
    assert import_(store, zip_dir(APRIL, tmp_path / "april.zip"), APRIL_AT).skipped
    assert table_counts(store) == before


def test_registered_as_an_email_source() -> None:
    src = get_source("substack")
    assert src.platform == "email" and src.summary


# -- broken input: one-line error naming the file, store untouched -----------------------


def _truncated(tmp: Path) -> Path:
    whole = zip_dir(APRIL, tmp / "whole.zip").read_bytes()
    bad = tmp / "fieldnotes.zip"
    bad.write_bytes(whole[: len(whole) // 2])
    return bad


def _wrong_kind(tmp: Path) -> Path:
    src = FIXTURES.parent / "mailchimp" / "members_export_3f9a1c2b7d"
    return Path(shutil.copytree(src, tmp / "x"))


def _two_lists(tmp: Path) -> Path:
    folder = copy(tmp)
    shutil.copy(folder / LIST, folder / "email_list.otherpub.csv")
    return folder


def _missing_column(tmp: Path) -> Path:
    folder = copy(tmp)
    edit(folder / LIST, "email,active_subscription,", "address,active_subscription,")
    return folder


def _bad_date(tmp: Path) -> Path:
    folder = copy(tmp)
    edit(folder / LIST, "2023-12-24T06:00:00.000Z", "Christmas Eve")
    return folder


def _bad_flag(tmp: Path) -> Path:
    folder = copy(tmp)
    edit(folder / "posts.csv", "2024-02-01T09:00:00.000Z,false", "2024-02-01T09:00:00.000Z,maybe")
    return folder


def _not_utf8(tmp: Path) -> Path:
    folder = copy(tmp)
    data = (folder / "posts.csv").read_bytes().replace(b"First light", "Première".encode("cp1252"))
    (folder / "posts.csv").write_bytes(data)
    return folder


BROKEN: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated zip": (_truncated, "zip"),
    "wrong kind of export": (_wrong_kind, "not a Substack export"),
    "two publications": (_two_lists, "one publication at a time"),
    "missing column": (_missing_column, f"{LIST} lacks column.*email"),
    "bad date": (_bad_date, f"{LIST} line 4 created_at"),
    "bad flag": (_bad_flag, "posts.csv line 4 is_published"),
    "not UTF-8": (_not_utf8, "posts.csv is not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_input_is_refused_and_changes_nothing(
    case: str, store: Store, tmp_path: Path
) -> None:
    import_(store, MARCH, MARCH_AT)
    before = table_counts(store)
    make, problem = BROKEN[case]
    path = make(tmp_path)
    with pytest.raises(InvalidExport, match=problem) as err:
        import_(store, path, APRIL_AT)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert table_counts(store) == before
