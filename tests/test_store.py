"""The store file: migrations, refusal of newer schemas, accounts, email privacy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from breakup.errors import AccountMismatch, SchemaTooNew, UnknownAccount
from breakup.ingest import save_batch
from breakup.models import Batch, Direction, Event, EventKind, Person, Snapshot
from breakup.store import SCHEMA_VERSION, Store
from tests.conftest import NOW, table_counts


def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    Store(path).close()
    with Store(path) as again:
        rows = again.con.execute("SELECT version FROM schema_migrations").fetchall()
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with Store(path) as s:
        s.con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    with pytest.raises(SchemaTooNew, match="newer than this breakup"):
        Store(path)


def test_read_only_store_must_exist(tmp_path: Path) -> None:
    from breakup.errors import StoreError

    with pytest.raises(StoreError, match="no store here yet"):
        Store(tmp_path / "missing.duckdb", read_only=True)


def test_account_identity_mismatch_is_refused_and_changes_nothing(store: Store) -> None:
    mine = Batch(
        source="t",
        platform="x",
        source_ref="1",
        account_identity="111",
        account_handle="me",
        snapshots=[Snapshot.of(Direction.FOLLOWERS, NOW, [Person("a")])],
    )
    save_batch(store, mine, account="brand")
    before = table_counts(store)
    theirs = Batch(
        source="t",
        platform="x",
        source_ref="2",
        account_identity="222",
        snapshots=[Snapshot.of(Direction.FOLLOWERS, NOW, [Person("b")])],
    )
    with pytest.raises(AccountMismatch, match="belongs to id 222"):
        save_batch(store, theirs, account="brand")
    other_platform = Batch(
        source="t",
        platform="bsky",
        source_ref="3",
        events=[Event(Person("c"), EventKind.FOLLOW, NOW)],
    )
    with pytest.raises(AccountMismatch, match="x account, not bsky"):
        save_batch(store, other_platform, account="brand")
    assert table_counts(store) == before
    with pytest.raises(UnknownAccount, match="known: brand"):
        store.account("nope")
    # the same platform id under a second name would split one audience in two
    twin = Batch(
        source="t",
        platform="x",
        source_ref="4",
        account_identity="111",
        snapshots=[Snapshot.of(Direction.FOLLOWERS, NOW, [Person("d")])],
    )
    with pytest.raises(AccountMismatch, match="already tracked as account 'brand'"):
        save_batch(store, twin, account="brand-again")
    assert table_counts(store) == before


def test_account_name_defaults_to_platform_and_handle(store: Store) -> None:
    b = Batch(
        source="t",
        platform="x",
        source_ref="1",
        account_identity="111",
        account_handle="brand",
        events=[Event(Person("a"), EventKind.FOLLOW, NOW)],
    )
    assert save_batch(store, b).account == "x:brand"


def _all_text(store: Store) -> str:
    """Every VARCHAR/JSON/BLOB value in every table, concatenated."""
    out = []
    for (table,) in store.con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
    ).fetchall():
        for row in store.con.execute(f'SELECT * FROM "{table}"').fetchall():
            out.extend(str(v) for v in row)
    return "\n".join(out)


def _email_batch(ref: str) -> Batch:
    return Batch(
        source="t",
        platform="email",
        source_ref=ref,
        ids_are_emails=True,
        events=[
            Event(Person(" Fan@Example.com "), EventKind.FOLLOW, NOW),
            Event(Person("fan@example.com"), EventKind.UNSUBSCRIBE, NOW.replace(hour=5)),
        ],
    )


def test_emails_are_hashed_unless_kept(store: Store) -> None:
    save_batch(store, _email_batch("1"), account="news")
    text = _all_text(store).lower()
    assert "fan@example.com" not in text and "example.com" not in text
    # one person, however the address was written
    assert store.scalar("SELECT count(*) FROM people WHERE platform = 'email'") == 1
    ext = store.scalar("SELECT external_id FROM people")
    assert ext.startswith("h:") and len(ext) == 34


def test_emails_kept_on_request(store: Store) -> None:
    save_batch(store, _email_batch("1"), account="news", keep_emails=True)
    assert store.scalar("SELECT email FROM person_emails") == "Fan@Example.com"
    # the id stays the hash, so matching is the same either way
    assert store.scalar("SELECT external_id FROM people").startswith("h:")


def test_email_hash_differs_between_stores(tmp_path: Path) -> None:
    ids = []
    for name in ("a", "b"):
        with Store(tmp_path / f"{name}.duckdb", clock=lambda: NOW) as s:
            save_batch(s, _email_batch("1"), account="news")
            ids.append(s.scalar("SELECT external_id FROM people"))
    assert ids[0] != ids[1]


def test_same_input_twice_is_a_no_op(store: Store) -> None:
    b = Batch(
        source="t",
        platform="x",
        source_ref="same",
        snapshots=[Snapshot.of(Direction.FOLLOWERS, NOW, [Person("a"), Person("b")])],
    )
    first = save_batch(store, b, account="me")
    before = table_counts(store)
    again = save_batch(store, b, account="me")
    assert not first.skipped and again.skipped
    assert table_counts(store) == before


def test_overlapping_exports_do_not_duplicate_events(store: Store) -> None:
    ev = [
        Event(Person("a"), EventKind.FOLLOW, NOW.replace(hour=1)),
        Event(Person("a"), EventKind.UNFOLLOW, NOW.replace(hour=2)),
    ]
    save_batch(store, Batch(source="t", platform="x", source_ref="1", events=ev[:1]), account="me")
    save_batch(store, Batch(source="t", platform="x", source_ref="2", events=ev), account="me")
    assert store.scalar("SELECT count(*) FROM events") == 2
    assert store.scalar("SELECT count(*) FROM spans") == 1


def test_future_times_are_refused(store: Store) -> None:
    from breakup.errors import InvalidInput

    b = Batch(
        source="t",
        platform="x",
        source_ref="1",
        events=[Event(Person("a"), EventKind.FOLLOW, NOW.replace(year=2031))],
    )
    before = table_counts(store)
    with pytest.raises(InvalidInput, match="in the future"):
        save_batch(store, b, account="me", path="future.csv")
    assert table_counts(store) == before


def test_failure_mid_write_leaves_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from breakup import tracking

    save_batch(
        store,
        Batch(
            source="t",
            platform="x",
            source_ref="0",
            snapshots=[Snapshot.of(Direction.FOLLOWERS, NOW.replace(hour=0), [Person("a")])],
        ),
        account="me",
    )
    before = table_counts(store)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(tracking, "classify", boom)
    b = Batch(
        source="t",
        platform="x",
        source_ref="1",
        snapshots=[Snapshot.of(Direction.FOLLOWERS, NOW, [Person("b")])],
    )
    with pytest.raises(RuntimeError):
        save_batch(store, b, account="me")
    assert table_counts(store) == before


def test_renamed_account_is_found_by_its_platform_id(store: Store) -> None:
    def archive(ref: str, handle: str) -> Batch:
        return Batch(
            source="t",
            platform="x",
            source_ref=ref,
            account_identity="111",
            account_handle=handle,
            events=[Event(Person(ref), EventKind.FOLLOW, NOW)],
        )

    assert save_batch(store, archive("1", "oldname")).account == "x:oldname"
    assert save_batch(store, archive("2", "newname")).account == "x:oldname"
    assert [a.name for a in store.accounts()] == ["x:oldname"]


def test_threads_share_one_database_without_conflicts(store: Store) -> None:
    import threading

    def writer(s: Store, prefix: str) -> None:
        for i in range(15):
            save_batch(
                s,
                Batch(
                    source="t",
                    platform="x",
                    source_ref=f"{prefix}{i}",
                    events=[Event(Person(f"{prefix}{i}"), EventKind.FOLLOW, NOW)],
                ),
                account="me",
            )

    other = store.for_thread()
    t = threading.Thread(target=writer, args=(other, "b"))
    t.start()
    writer(store, "a")
    t.join(timeout=60)
    other.close()
    assert store.scalar("SELECT count(*) FROM imports") == 30
    assert store.scalar("SELECT count(DISTINCT import_id) FROM imports") == 30
    assert store.scalar("SELECT count(*) FROM spans") == 30


def _names(store: Store, ext: str) -> list[tuple[object, ...]]:
    return store.con.execute(
        "SELECT seen_at, handle, display_name FROM person_names JOIN people USING (person_id)"
        " WHERE external_id = ? ORDER BY seen_at",
        [ext],
    ).fetchall()


def test_name_history_compares_with_the_name_in_effect_then(store: Store) -> None:
    def seen(ref: str, hours: int, handle: str | None, name: str | None) -> None:
        at = NOW - timedelta(hours=hours)
        person = Person("a", handle=handle, display_name=name)
        batch = Batch(source="t", platform="x", source_ref=ref,
                      snapshots=[Snapshot.of(Direction.FOLLOWERS, at, [person])])  # fmt: skip
        save_batch(store, batch, account="me")

    seen("1", 48, "ada", "Ada")
    seen("2", 24, "ada_new", "Ada")
    seen("3", 36, "ada", None)  # an older export, without names: nothing new then
    seen("4", 12, "ada_new", None)  # no display name shown is not a removal
    rows = _names(store, "a")
    assert [r[1:] for r in rows] == [("ada", "Ada"), ("ada_new", "Ada")]


def test_names_from_events_are_stamped_with_the_event_time(store: Store) -> None:
    when = NOW - timedelta(days=3)
    batch = Batch(source="t", platform="x", source_ref="e",
                  events=[Event(Person("b", handle="bea"), EventKind.FOLLOW, when)])  # fmt: skip
    save_batch(store, batch, account="me")
    assert _names(store, "b") == [(when.replace(tzinfo=None), "bea", None)]


def test_departures_view_classes_every_ending_as_models_does(store: Store) -> None:
    """The departures view (a migration) and models.VOLUNTARY_ENDS define "left of their
    own choice" alike; the view keeps every column of spans."""
    from breakup.models import VOLUNTARY_ENDS, EndKind

    for i, kind in enumerate(EndKind):
        store.con.execute(
            "INSERT INTO spans VALUES (?, 1, ?, 'followers', NULL, ?, false, ?, ?, false, ?, "
            "NULL, NULL)",
            [i, i, NOW - timedelta(days=9), NOW - timedelta(days=2), NOW, kind.value],
        )
    store.con.execute(  # neither an open span nor a followed account is a departure
        "INSERT INTO spans VALUES (100, 1, 100, 'followers', NULL, ?, false, NULL, NULL, "
        "NULL, NULL, NULL, NULL), (101, 1, 101, 'following', NULL, ?, false, ?, ?, false, "
        "'unfollowed', NULL, NULL)",
        [NOW, NOW, NOW, NOW],
    )
    rows = store.con.execute(
        "SELECT end_kind, voluntary, left_earliest FROM departures ORDER BY span_id"
    ).fetchall()
    assert {k: v for k, v, _ in rows} == {k.value: k in VOLUNTARY_ENDS for k in EndKind}
    assert {t for _, _, t in rows} == {(NOW - timedelta(days=2)).replace(tzinfo=None)}
    spans = [r[0] for r in store.con.execute("DESCRIBE spans").fetchall()]
    view = [r[0] for r in store.con.execute("DESCRIBE departures").fetchall()]
    assert view[: len(spans)] == spans


def test_latest_names_view(store: Store) -> None:
    """Each person's latest handle and latest display name, each the latest known."""
    for day, person in (
        (1, Person("a", handle="old", display_name="Ann")),
        (3, Person("a", handle="new")),
        (2, Person("b", handle="bee", display_name="Bea")),
    ):
        batch = Batch(
            source="t",
            platform="x",
            source_ref=f"n{day}",
            snapshots=[Snapshot.of(Direction.FOLLOWERS, NOW - timedelta(days=9 - day), [person])],
        )
        save_batch(store, batch, account="brand")
    rows = store.con.execute(
        "SELECT p.external_id, n.handle, n.display_name FROM latest_names n "
        "JOIN people p USING (person_id) ORDER BY 1"
    ).fetchall()
    assert rows == [("a", "new", "Ann"), ("b", "bee", "Bea")]


def test_reading_a_store_of_an_older_breakup_upgrades_it_first(tmp_path: Path) -> None:
    """Readers query every migration's views: a read-only open applies the missing ones."""
    import breakup.store as store_module

    path = tmp_path / "old.duckdb"
    older = store_module.MIGRATIONS[:-1]
    original = list(store_module.MIGRATIONS)
    store_module.MIGRATIONS[:] = older
    try:
        Store(path).close()
    finally:
        store_module.MIGRATIONS[:] = original
    with Store(path, read_only=True) as reader:
        assert reader.schema_version == SCHEMA_VERSION
        assert reader.scalar("SELECT count(*) FROM departures WHERE voluntary") == 0
        assert reader.scalar("SELECT count(*) FROM latest_names") == 0


def test_next_id_is_always_max_plus_one(tmp_path: Path) -> None:
    """next_id searches above the last id it saw, and the whole column when nothing is
    left there: after inserts, deletes, rollbacks and another Store's writes it is still
    exactly max + 1."""
    import random

    rng = random.Random(5)
    path = tmp_path / "ids.duckdb"
    with Store(path) as mine, Store.over(mine.con.cursor(), path) as other:
        mine.con.execute("CREATE TABLE t (id BIGINT)")
        for _ in range(300):
            store = rng.choice([mine, other])
            got = store.next_id("t", "id")
            assert got == mine.scalar("SELECT coalesce(max(id), 0) + 1 FROM t")
            action = rng.random()
            if action < 0.5:
                rows = [(got + i,) for i in range(rng.randint(1, 3))]
                store.con.executemany("INSERT INTO t VALUES (?)", rows)
            elif action < 0.7:
                store.con.execute("DELETE FROM t WHERE id >= ?", [rng.randint(0, got)])
            else:
                store.con.execute("BEGIN")
                store.con.execute("INSERT INTO t VALUES (?)", [got + 5])
                store.con.execute("ROLLBACK")
