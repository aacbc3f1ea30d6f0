"""``analyze(until=…)``: the store as it stood then — posts tested up to it, and nothing
observed later leaks into any model (attribution, diagnosis, triage, retention)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from benchmarks.why_worlds import T0, Effect, World, save_world
from breakup.clock import fixed_clock, to_db
from breakup.store import Store
from breakup.why import WhyReport, analyze, attribution_only

WORLD = World(10 * 24, post_every_hours=4, effects=[Effect(30, 40, 0.5)], seed=1)
NOW = T0 + timedelta(hours=WORLD.hours + 1)
BEFORE = T0 + timedelta(hours=100)  # before the planted post p30 (hour 120)
AFTER = T0 + timedelta(hours=200)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("until") / "s.duckdb"
    with Store(path, clock=fixed_clock(NOW)) as store:
        save_world(store, WORLD)
    return path


def _analyze(path: Path, **kw: object) -> WhyReport:
    with Store(path, clock=fixed_clock(NOW), read_only=True) as store:
        return analyze(store, **kw)  # type: ignore[arg-type]


def test_posts_tested_and_history_stop_at_until(db: Path) -> None:
    full = _analyze(db)
    then = _analyze(db, until=BEFORE)
    assert then.until == BEFORE and full.until is None
    assert then.attribution.posts and all(p.created_at <= BEFORE for p in then.attribution.posts)
    assert "p30" not in {p.post for p in then.attribution.posts}
    assert then.attribution.posts_tested < full.attribution.posts_tested
    assert then.attribution.accounts[0].hours <= 101 < full.attribution.accounts[0].hours
    for curve in then.retention.curves:
        assert max(d for d, _ in curve.points) <= 101 / 24
    later = _analyze(db, until=AFTER)
    top = later.attribution.posts[0]
    assert top.post == "p30" and top.break_up
    assert [p.post for p in attribution_only_at(db, AFTER).posts] == [
        p.post for p in later.attribution.posts
    ]


def attribution_only_at(path: Path, until: object) -> object:
    with Store(path, clock=fixed_clock(NOW), read_only=True) as store:
        return attribution_only(store, until=until)  # type: ignore[arg-type]


def _truncated(db: Path, folder: Path) -> Path:
    """A copy of the store with everything after BEFORE physically removed: what it
    would have held had it been imported then."""
    copy = folder / "then.duckdb"
    shutil.copy(db, copy)
    at = to_db(BEFORE)
    with Store(copy, clock=fixed_clock(NOW)) as store:
        con = store.con
        for table, col in [
            ("posts", "created_at"),
            ("observations", "observed_at"),
            ("events", "occurred_at"),
            ("interactions", "occurred_at"),
        ]:
            con.execute(f"DELETE FROM {table} WHERE {col} > ?", [at])  # fmt: skip
        con.execute("DELETE FROM spans WHERE start_latest > ?", [at])
        con.execute(
            "UPDATE spans SET end_earliest = NULL, end_latest = NULL, end_exact = NULL, "
            "end_kind = NULL, end_campaign = NULL, end_reason = NULL WHERE end_latest > ?",
            [at],
        )
    return copy


def test_nothing_after_until_leaks_in(db: Path, tmp_path: Path) -> None:
    then = _analyze(db, until=BEFORE)
    real = _analyze(_truncated(db, tmp_path))

    def key(r: WhyReport) -> object:
        return (
            [(p.post, round(p.observed, 9), round(p.expected, 6)) for p in r.attribution.posts],
            [(t.cause, t.outcome, t.statement) for t in r.diagnosis.tests],
            r.triage.verdict,
            [(c.cohort, c.followers, c.departures, c.points) for c in r.retention.curves],
        )

    assert key(then) == key(real)
