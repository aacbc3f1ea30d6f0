"""Unattended watching: schedules, failures with backoff, resume after restart, config errors."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakup.errors import InvalidInput, ServiceError
from breakup.live import Connection, register
from breakup.live.base import Progress, Tracker, no_progress
from breakup.models import Batch, Check, Direction, Person, Snapshot
from breakup.store import Store
from breakup.watch import TrackJob, Watch, WatchConfig, load_config

START = datetime(2026, 3, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


# A scripted service: each poll returns the next follower list, or fails when told to.
SCRIPT: dict[str, list[Any]] = {}


@register
class ScriptedTracker(Tracker):
    scheme = "scripted"
    platform = "scripted"
    summary = "test service"

    def fetch(self, progress: Progress = no_progress) -> Batch:
        step = SCRIPT[self.ident].pop(0)
        if isinstance(step, Exception):
            raise step
        return Batch(
            source="scripted",
            platform="scripted",
            source_ref=f"{self.ident}:{self.conn.clock().isoformat()}",
            snapshots=[
                Snapshot.of(Direction.FOLLOWERS, self.conn.clock(), [Person(p) for p in step])
            ],
        )

    def recheck(self, external_ids: Sequence[str], progress: Progress = no_progress) -> list[Check]:
        return []


def make_watch(
    store: Store,
    clock: Clock,
    jobs: list[TrackJob],
    stop_after: timedelta,
    events: list[tuple[str, dict[str, Any]]],
) -> Watch:
    stop = threading.Event()
    end = clock.now + stop_after

    def wait(seconds: float) -> None:  # time passes only when the watch waits
        clock.now += timedelta(seconds=max(seconds, 1.0))
        if clock.now >= end:
            stop.set()

    return Watch(
        store,
        WatchConfig(jobs=jobs),
        stop=stop,
        clock=clock,
        report=lambda e, d: events.append((e, d)),
        wait=wait,
        connect=lambda job: Connection(clock=clock),
    )


def test_polls_on_schedule_and_backs_off_on_failure(tmp_path: Path) -> None:
    clock = Clock()
    SCRIPT["a"] = [
        ["x", "y"],
        ServiceError("svc", "down"),
        ServiceError("svc", "down"),
        ["x"],
        ["x"],
        ["x"],
        ["x"],
    ]
    events: list[tuple[str, dict[str, Any]]] = []
    with Store(tmp_path / "w.duckdb", clock=clock) as store:
        watch = make_watch(
            store,
            clock,
            [TrackJob("scripted:a", timedelta(hours=1))],
            timedelta(hours=3, minutes=30),
            events,
        )
        result = watch.run()
        kinds = [e for e, _ in events]
        # first poll at once; the next fails twice (retry after 1 min, then 2 min), then
        # succeeds and the hourly schedule resumes
        assert kinds[:6] == ["polling", "polled", "polling", "failed", "polling", "failed"]
        fails = [d["retry_in"] for e, d in events if e == "failed"]
        assert fails == [timedelta(minutes=1), timedelta(minutes=2)]
        assert result.failures == 2 and result.polls == 4
        gone = store.con.execute(
            "SELECT p.external_id FROM spans s JOIN people p USING (person_id) "
            "WHERE end_latest IS NOT NULL"
        ).fetchall()
        assert gone == [("y",)]


def test_restart_resumes_schedule_instead_of_polling_at_once(tmp_path: Path) -> None:
    clock = Clock()
    SCRIPT["b"] = [["x"], ["x"], ["x"]]
    job = TrackJob("scripted:b", timedelta(hours=6))
    with Store(tmp_path / "w.duckdb", clock=clock) as store:
        events: list[tuple[str, dict[str, Any]]] = []
        make_watch(store, clock, [job], timedelta(minutes=30), events).run()
        assert [e for e, _ in events] == ["polling", "polled"]
    clock.now += timedelta(hours=2)  # restarted two hours later
    with Store(tmp_path / "w.duckdb", clock=clock) as store:
        events = []
        watch = make_watch(store, clock, [job], timedelta(hours=5), events)
        assert watch.due(job, clock.now) == START + timedelta(hours=6)
        watch.run()
        polls = [e for e, _ in events if e == "polled"]
        assert len(polls) == 1  # at hour 6, not at the restart
    assert SCRIPT["b"] == [["x"]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[track]\n", "not valid TOML"),
        ('[[track]]\ntarget = "bsky:a"\nevery = "often"\n', "every = 'often'"),
        ('[[track]]\nevery = "1h"\n', "needs target"),
        ('[[track]]\ntarget = "nocolon"\n', "expected SCHEME:ACCOUNT"),
        ('[defaults]\nevery = "1h"\n', "nothing to watch"),
    ],
)
def test_bad_config_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(text)
    with pytest.raises(InvalidInput) as err:
        load_config(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_config_jobs_and_stream(tmp_path: Path) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(
        '[defaults]\nevery = "2h"\n[[track]]\ntarget = "bsky:brand.test"\n'
        '[[track]]\ntarget = "mastodon:@b@m.test"\nevery = "30m"\n'
        'base_url = "http://127.0.0.1:1"\n[stream]\nurl = "ws://127.0.0.1:2/subscribe"\n'
    )
    cfg = load_config(path)
    assert [(j.target, j.every, j.base_url) for j in cfg.jobs] == [
        ("bsky:brand.test", timedelta(hours=2), None),
        ("mastodon:@b@m.test", timedelta(minutes=30), "http://127.0.0.1:1"),
    ]
    assert cfg.stream and cfg.stream_url == "ws://127.0.0.1:2/subscribe"
