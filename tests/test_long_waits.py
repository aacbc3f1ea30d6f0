"""A service that asks to wait longer than breakup waits in one go (15 min): a ``Retry-After``
of a day, or a Mastodon quota reset a day away. The poll does not sit silent for hours: it
stops at once with one clear line saying how long and until when, and ``watch`` comes back
at that time instead of knocking every few minutes. Real local servers (an AppView, a
Mastodon server through Mastodon.py); time is injected."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from breakup.errors import RateLimited
from breakup.live import Connection, get_tracker
from breakup.live.http import MAX_WAIT
from breakup.store import Store
from breakup.watch import TrackJob, Watch, WatchConfig, WatchResult

from .faketime import FakeTime
from .servers import mastodon
from .servers.xrpc import AppView, Fault

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
DAY = 86400


@pytest.fixture
def t() -> FakeTime:
    return FakeTime(T0)


@pytest.fixture
def view(t: FakeTime) -> Iterator[AppView]:
    with AppView(clock=t.clock) as v:
        v.add_actor("did:plc:brand", "brand.test", "Brand")
        yield v


def test_a_retry_after_of_a_day_is_one_clear_error_not_hours_of_silence(
    view: AppView, t: FakeTime
) -> None:
    view.faults.append(Fault("app.bsky.actor.getProfile", 429, 1, retry_after=str(DAY)))
    conn = Connection(base_url=view.url, clock=t.clock, sleep=t.sleep, max_retries=3)
    with pytest.raises(RateLimited) as caught:
        get_tracker("bsky:brand.test", conn).fetch()
    assert t.sleeps == []  # nothing slept: no 15-minute naps repeated
    message = str(caught.value)
    assert "asks to wait 24 h (until 2025-03-02 12:00 UTC)" in message, message
    assert "longer than the 15 min breakup waits" in message and "\n" not in message
    assert caught.value.retry_at == T0 + timedelta(days=1)


def test_a_wait_within_the_cap_is_still_waited_out(view: AppView, t: FakeTime) -> None:
    view.faults.append(Fault("app.bsky.actor.getProfile", 429, 1, retry_after=str(int(MAX_WAIT))))
    conn = Connection(base_url=view.url, clock=t.clock, sleep=t.sleep, max_retries=3)
    get_tracker("bsky:brand.test", conn).fetch()
    assert t.sleeps[0] == MAX_WAIT


@pytest.fixture
def inst() -> Iterator[mastodon.Instance]:
    with mastodon.serve(mastodon.Instance(clock=T0)) as instance:
        brand = instance.add_account("brand")
        for i in range(3):
            instance.follow(instance.add_account(f"fan{i}"), brand)
        yield instance


def test_a_mastodon_quota_reset_a_day_away_is_one_clear_error(
    inst: mastodon.Instance, t: FakeTime
) -> None:
    inst.faults.append(mastodon.Fault("/api/v1/accounts/lookup", 429, reset_in=DAY))
    conn = Connection(base_url=inst.base_url, clock=t.clock, sleep=t.sleep, max_retries=3)
    with pytest.raises(RateLimited, match=r"asks to wait 24 h \(until 2025-03-02 12:00 UTC\)"):
        get_tracker(f"mastodon:@brand@{inst.domain}", conn).fetch()
    assert all(s < MAX_WAIT for s in t.sleeps), t.sleeps


def test_watch_comes_back_when_the_service_said(
    inst: mastodon.Instance, t: FakeTime, tmp_path: Path
) -> None:
    inst.faults.append(mastodon.Fault("/api/v1/accounts/lookup", 429, reset_in=DAY))
    target = f"mastodon:@brand@{inst.domain}"
    events: list[tuple[str, dict[str, object]]] = []
    with Store(tmp_path / "w.duckdb", clock=t.clock) as store:
        watch = Watch(
            store,
            WatchConfig(jobs=[TrackJob(target, every=timedelta(hours=1))]),
            stop=threading.Event(),
            clock=t.clock,
            report=lambda e, d: events.append((e, d)),
            connect=lambda job: Connection(
                base_url=inst.base_url, clock=t.clock, sleep=t.sleep, max_retries=3
            ),
        )
        result = WatchResult()
        watch.run_due(result)
    (details,) = [d for e, d in events if e == "failed"]
    assert "asks to wait 24 h" in str(details["error"])
    assert details["retry_in"] == timedelta(days=1)  # not 1 minute, then 2, 4 …
    assert watch.due(watch.config.jobs[0], t.now) == T0 + timedelta(days=1)
