"""Faults the existing live and stream tests do not inject: timeouts, truncated JSON (with
an honest Content-Length, and cut mid-body), a Mastodon paging link that loops, a
Jetstream websocket dropped in the middle of a frame, and what the commands report.

The property everywhere: the command retries with backoff, says what happened, and a
snapshot that is missing pages is stored as partial — never as complete, so it never
produces departures. (429 with and without Retry-After, 5xx and a looping AppView cursor
are in test_live_bsky.py / test_live_mastodon.py; see docs/reliability.md.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakup.jetstream import stream
from breakup.live import Connection
from breakup.store import Store
from breakup.track import TrackResult, track

from .faketime import FakeTime
from .servers.jetstream import Jetstream, follow, tid, unfollow, us_of
from .servers.mastodon import Fault as MFault
from .servers.mastodon import Instance, serve
from .servers.xrpc import AppView, Fault, cursor_for

BRAND = "did:plc:brandfaults"
T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def t() -> FakeTime:
    return FakeTime(T0)


@pytest.fixture
def view(t: FakeTime) -> Iterator[AppView]:
    with AppView(clock=t.clock) as v:
        v.add_actor(BRAND, "brand.test", "Brand")
        for i in range(250):  # three pages of followers
            did = f"did:plc:f{i:05d}"
            v.add_actor(did, f"f{i}.test")
            v.follow(did, BRAND, T0 - timedelta(days=30) + timedelta(minutes=i))
        yield v


@pytest.fixture
def store(tmp_path: Path, t: FakeTime) -> Iterator[Store]:
    s = Store(tmp_path / "f.duckdb", clock=t.clock)
    yield s
    s.close()


def poll(store: Store, view: AppView, t: FakeTime, timeout: float = 5.0) -> TrackResult:
    conn = Connection(
        base_url=view.url, clock=t.clock, sleep=t.sleep, max_retries=3, timeout=timeout
    )
    return track(store, "bsky:brand.test", conn)


def followers_obs(store: Store) -> list[tuple[Any, ...]]:
    return store.con.execute(
        "SELECT complete, diffable, member_count FROM observations "
        "WHERE direction = 'followers' ORDER BY observed_at"
    ).fetchall()


def page2(view: AppView) -> Any:
    keys = sorted((f.seq for f in view.follows if f.subject == BRAND), reverse=True)
    return lambda q: q.get("cursor") == [cursor_for(keys[99])]


# -- timeouts -------------------------------------------------------------------------------


def test_a_page_that_times_out_once_is_retried_with_backoff(
    view: AppView, t: FakeTime, store: Store
) -> None:
    view.faults.append(Fault("app.bsky.graph.getFollowers", 200, 1, page2(view), delay=1.0))
    result = poll(store, view, t, timeout=0.3)
    assert t.sleeps == [0.5]  # one backoff, then the page came
    assert followers_obs(store) == [(True, True, 250)]
    assert result.fetched.notes == []


def test_a_page_that_always_times_out_gives_a_partial_snapshot_saying_so(
    view: AppView, t: FakeTime, store: Store
) -> None:
    poll(store, view, t)
    view.unfollow("did:plc:f00001", BRAND)  # a real departure, on the page that hangs
    t.now += timedelta(hours=6)
    view.faults.append(Fault("app.bsky.graph.getFollowers", 200, None, page2(view), delay=0.5))
    result = poll(store, view, t, timeout=0.2)
    assert t.sleeps == [0.5, 1.0, 2.0, 4.0]  # every retry backed off, then it gave up
    assert followers_obs(store)[-1] == (False, False, 100)
    note = next(n for n in result.fetched.notes if n.startswith("followers"))
    assert "page 2 failed" in note and "ReadTimeout" in note and "partial" in note
    assert result.fetched.closed == 0  # missing pages are not departures


# -- truncated JSON ---------------------------------------------------------------------------


def test_json_cut_mid_body_is_retried(view: AppView, t: FakeTime, store: Store) -> None:
    view.faults.append(Fault("app.bsky.graph.getFollowers", 200, 2, page2(view), cut="body"))
    result = poll(store, view, t)
    assert t.sleeps == [0.5, 1.0]
    assert followers_obs(store) == [(True, True, 250)] and result.fetched.notes == []


def test_truncated_json_with_an_honest_length_is_a_partial_snapshot(
    view: AppView, t: FakeTime, store: Store
) -> None:
    poll(store, view, t)
    t.now += timedelta(hours=6)
    view.faults.append(Fault("app.bsky.graph.getFollowers", 200, None, page2(view), cut="json"))
    result = poll(store, view, t)
    assert followers_obs(store)[-1] == (False, False, 100)
    note = next(n for n in result.fetched.notes if n.startswith("followers"))
    assert "not JSON (truncated?)" in note and "partial" in note
    assert result.fetched.closed == 0


def test_truncated_profile_is_a_clean_error_and_stores_nothing(
    view: AppView, t: FakeTime, store: Store
) -> None:
    from breakup.errors import ServiceError

    view.faults.append(Fault("app.bsky.actor.getProfile", 200, None, cut="json"))
    with pytest.raises(ServiceError, match="truncated"):
        poll(store, view, t)
    assert store.scalar("SELECT count(*) FROM observations") == 0


# -- Mastodon: timeouts, truncated JSON, a looping next link -------------------------------------

TOKEN = "tok-faults"


@pytest.fixture
def inst() -> Iterator[Instance]:
    with serve(Instance(clock=T0)) as instance:
        brand = instance.add_account("brand")
        instance.tokens[TOKEN] = brand
        for i in range(200):
            fan = instance.add_account(f"fan{i}", "remote.example")
            instance.follow(fan, brand)
        yield instance


def mastodon_poll(inst: Instance, store: Store, t: FakeTime, timeout: float = 5.0) -> TrackResult:
    conn = Connection(
        base_url=inst.base_url, clock=t.clock, sleep=t.sleep, token=TOKEN,
        timeout=timeout, max_retries=2,
    )  # fmt: skip
    return track(store, f"mastodon:@brand@{inst.domain}", conn)


def followers_path(inst: Instance) -> str:
    brand = inst.tokens[TOKEN]
    return f"/api/v1/accounts/{brand}/followers"


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ({"delay": 0.6}, "timed out"),
        ({"cut": True}, "malformed"),
    ],
)
def test_mastodon_pages_that_time_out_or_come_truncated(
    inst: Instance, store: Store, t: FakeTime, fault: dict[str, Any], problem: str
) -> None:
    # Once: retried and complete.
    inst.faults.append(MFault(followers_path(inst), 200, times=1, paged=True, **fault))
    first = mastodon_poll(inst, store, t, timeout=0.3)
    assert followers_obs(store) == [(True, True, 200)]
    assert any("retried" in n for n in first.notes), first.notes
    # Always: partial, with the reason, and no departures.
    t.now += timedelta(hours=6)
    inst.faults.append(MFault(followers_path(inst), 200, times=99, paged=True, **fault))
    second = mastodon_poll(inst, store, t, timeout=0.3)
    assert followers_obs(store)[-1] == (False, False, 80)
    note = next(n for n in second.notes if n.startswith("followers of"))
    assert "page 2 failed" in note and problem.lower() in note.lower(), note
    assert second.fetched.closed == 0


# -- Jetstream: dropped in the middle of a frame ----------------------------------------------


def test_a_websocket_dropped_mid_frame_is_resumed_without_loss_or_repeat(tmp_path: Path) -> None:
    start = us_of(datetime(2025, 3, 1, tzinfo=UTC))
    events = [follow(f"did:plc:fan{k:04d}", start + k, tid(start + k), BRAND) for k in range(60)]
    events += [unfollow("did:plc:fan0003", start + 100, tid(start + 3))]
    db = tmp_path / "j.duckdb"
    with Store(db) as s:
        s.ensure_account("bsky:brand.test", "bsky", BRAND, "brand.test")
        with s.transaction():
            s.set_cursor("jetstream", start - 1)
    stop = threading.Event()
    with Jetstream(events, drops=[20, 25], mid_frame=True) as js:
        timer = threading.Timer(30, stop.set)
        timer.start()

        def progress(r: Any) -> None:
            if r.cursor is not None and r.cursor >= start + 100:
                stop.set()

        try:
            with Store(db) as s:
                result = stream(
                    s, url=js.url, stop=stop, progress=progress, flush_seconds=0.05, backoff=0.05
                )
        finally:
            timer.cancel()
        assert len(js.requests) == 3
    assert result.connections == 3 and result.malformed == 0  # the half frame never surfaced
    assert len(result.problems) == 2 and all("ConnectionClosed" in p for p in result.problems)
    with Store(db, read_only=True) as s:
        rows = s.con.execute("SELECT kind, count(*) FROM events GROUP BY ALL ORDER BY 1").fetchall()
        assert rows == [("follow", 60), ("unfollow", 1)]
        assert s.cursor("jetstream") == start + 100


def test_the_stream_command_reports_connection_trouble(tmp_path: Path) -> None:
    start = us_of(datetime.now(UTC) - timedelta(hours=1))
    events = [follow(f"did:plc:fan{k:04d}", start + k, tid(start + k), BRAND) for k in range(30)]
    db = tmp_path / "c.duckdb"
    with Store(db) as s:
        s.ensure_account("bsky:brand.test", "bsky", BRAND, "brand.test")
        with s.transaction():
            s.set_cursor("jetstream", start - 1)
    with Jetstream(events, drops=[10], mid_frame=True) as js:
        proc = subprocess.run(
            [sys.executable, "-m", "breakup", "--db", str(db), "stream", "--jetstream", js.url,
             "--max-events", str(30 + 10)],
            capture_output=True, text=True, timeout=120,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "300"},
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "ConnectionClosed" in proc.stderr  # the drop is reported
    assert "30 follow(s)" in proc.stdout or "follow(s)" in proc.stdout
    with Store(db, read_only=True) as s:
        assert s.scalar("SELECT count(*) FROM events") == 30


# -- what track --json says about a degraded poll ------------------------------------------------


def test_track_json_reports_the_partial_snapshot(tmp_path: Path) -> None:
    with AppView() as view:
        view.add_actor(BRAND, "brand.test", "Brand")
        for i in range(150):
            did = f"did:plc:g{i:05d}"
            view.add_actor(did, f"g{i}.test")
            view.follow(did, BRAND)
        keys = sorted((f.seq for f in view.follows), reverse=True)
        view.faults.append(
            Fault(
                "app.bsky.graph.getFollowers",
                200,
                None,
                lambda q: q.get("cursor") == [cursor_for(keys[99])],
                cut="json",
            )
        )
        proc = subprocess.run(
            [sys.executable, "-m", "breakup", "--db", str(tmp_path / "t.duckdb"), "track",
             "bsky:brand.test", "--appview", view.url, "--json"],
            capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    notes = out["fetched"]["notes"]
    assert any("partial" in n and "truncated" in n for n in notes), notes
    assert out["fetched"]["closed"] == 0


def test_a_mastodon_next_link_that_loops_ends_the_walk_as_partial(
    inst: Instance, store: Store, t: FakeTime
) -> None:
    inst.stuck.add(followers_path(inst))
    result = mastodon_poll(inst, store, t)
    pages = [s for s in inst.seen if s.path == followers_path(inst)]
    assert len(pages) == 2  # page 2 names itself as next: seen before, so the walk stops
    note = next(n for n in result.notes if n.startswith("followers of"))
    assert "repeats" in note and "partial" in note
    assert followers_obs(store) == [(False, False, 160)]


def test_a_body_that_does_not_match_its_encoding_is_a_clean_error(tmp_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Garbled(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"this is not gzip"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Garbled)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "breakup", "--db", str(tmp_path / "g.duckdb"), "track",
             "bsky:brand.test", "--appview", f"http://127.0.0.1:{server.server_address[1]}/xrpc"],
            capture_output=True, text=True, timeout=120,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "300"},
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: "), proc.stderr


def test_the_reliability_doc_names_only_tests_that_exist() -> None:
    """docs/reliability.md maps each promise to tests: every one it names must exist."""
    import ast
    import re

    root = Path(__file__).parent.parent
    doc = (root / "docs" / "reliability.md").read_text()
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", doc))
    assert len(named) > 40
    missing = []
    for file, name in sorted(named):
        tree = ast.parse((root / file).read_text())
        found = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        if name not in found:
            missing.append(f"{file}::{name}")
    assert not missing, missing
