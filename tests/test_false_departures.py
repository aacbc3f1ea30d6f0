"""Departures that the evidence does not support are never recorded as real ones.

* A complete snapshot that shrank implausibly (under half the previous one, with no
  platform count vouching for it) is kept but not diffed, with a note; a second snapshot
  showing the same shrink confirms it.
* A re-check that finds the follow still in place withdraws the departure: the span is
  open again, as if the absence had never been seen, while every observation stays.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from breakup.clock import fixed_clock
from breakup.ingest import save_batch
from breakup.models import Batch, Direction, Person, Snapshot
from breakup.sources import ReadOptions, get_source
from breakup.store import Store

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def day(d: int) -> datetime:
    return datetime(2025, 1, d, tzinfo=UTC)


def import_csv(store: Store, path: Path, ids: range | list[int], at: datetime) -> list[str]:
    path.write_text("id\n" + "".join(f"{i}\n" for i in ids))
    batch = get_source("csv").read(path, ReadOptions(at=at, clock=fixed_clock(NOW)))
    return save_batch(store, batch, account="acct", path=str(path)).notes


def departures(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM departures"))


def test_an_implausible_shrink_is_kept_but_not_diffed_until_confirmed(
    tmp_path: Path, store: Store
) -> None:
    import_csv(store, tmp_path / "a.csv", range(100), day(1))
    notes = import_csv(store, tmp_path / "b.csv", range(3), day(2))
    assert departures(store) == 0
    assert any("down from 100" in n and "not used to detect departures" in n for n in notes)
    assert store.con.execute(
        "SELECT complete, diffable, member_count FROM observations ORDER BY observed_at"
    ).fetchall() == [(True, True, 100), (True, False, 3)]
    # Another export showing the same list: the audience really shrank.
    notes = import_csv(store, tmp_path / "c.csv", range(3), day(3))
    assert departures(store) == 97
    assert any("taken as real" in n for n in notes)
    windows = store.con.execute(
        "SELECT DISTINCT end_earliest, end_latest FROM departures"
    ).fetchall()
    assert windows == [(datetime(2025, 1, 1), datetime(2025, 1, 3))]


def test_ordinary_churn_is_diffed_at_once(tmp_path: Path, store: Store) -> None:
    import_csv(store, tmp_path / "a.csv", range(100), day(1))
    import_csv(store, tmp_path / "b.csv", range(40, 100), day(2))  # 40% gone: plausible
    assert departures(store) == 40


def test_a_shrink_the_platform_count_vouches_for_is_diffed(store: Store) -> None:
    def snap(n: int, at: datetime, reported: int | None) -> Batch:
        people = [Person(str(i)) for i in range(n)]
        return Batch(
            source="json",
            platform="custom",
            source_ref=f"r{n}{at}",
            snapshots=[Snapshot.of(Direction.FOLLOWERS, at, people, reported_count=reported)],
        )

    save_batch(store, snap(100, day(1), 100), account="acct")
    save_batch(store, snap(3, day(2), 3), account="acct")
    assert departures(store) == 97
