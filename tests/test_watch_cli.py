"""`breakup watch` as a user runs it: a real process polling a local AppView on its schedule
while it streams a local Jetstream, stopped by SIGTERM, then restarted where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from breakup.store import Store

from .servers.jetstream import Jetstream, follow, tid, unfollow, us_of
from .servers.xrpc import AppView

BRAND = "did:plc:brand"
NOW = datetime.now(UTC)


def fan(n: int) -> str:
    return f"did:plc:fan{n:04d}"


def start_watch(db: Path, config: Path) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "breakup", "--db", str(db), "watch", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def wait_for(lines: list[str], text: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(text in line for line in lines):
            return
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} within {timeout}s: {''.join(lines)}")


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def test_watch_polls_streams_stops_on_sigterm_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "watch.duckdb"
    base = us_of(NOW - timedelta(minutes=10))
    sec = 1_000_000
    events = [follow(fan(i), base + i * sec, tid(base + i * sec), BRAND) for i in range(1, 6)]
    events.append(unfollow(fan(1), base + 10 * sec, tid(base + sec)))
    with AppView() as view, Jetstream(events) as js:
        view.add_actor(BRAND, "brand.test", "Brand")
        for i in range(1, 4):
            view.add_actor(fan(100 + i), f"old{i}.test", f"Old {i}")
            view.follow(fan(100 + i), BRAND, NOW - timedelta(days=30))
        with Store(db) as store:  # tracked before: the stream knows the account at once
            store.ensure_account("bsky:brand.test", "bsky", BRAND, "brand.test")
        config = tmp_path / "watch.toml"
        config.write_text(
            f'[[track]]\ntarget = "bsky:brand.test"\nbase_url = "{view.url}"\nevery = "1h"\n\n'
            f'[stream]\nurl = "{js.url}"\n'
        )
        proc, lines = start_watch(db, config)
        wait_for(lines, "snapshot(s)")  # the first poll's summary line
        deadline = time.monotonic() + 30
        while js.live < len(events) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert js.live == len(events), "the stream never read the burst"
        time.sleep(6)  # the consumer saves at least every 5 s
        assert stop(proc) == 0, "".join(lines)
        assert any("stopped after 1 poll(s)" in line for line in lines), "".join(lines)
        polls_before = len(view.calls("app.bsky.graph.getFollowers"))

        with Store(db, read_only=True) as store:
            got = store.con.execute(
                "SELECT p.external_id, e.kind FROM events e JOIN people p USING (person_id) "
                "ORDER BY e.occurred_at"
            ).fetchall()
            cursor = store.cursor("jetstream")
            snapshots = store.scalar("SELECT count(*) FROM observations")
        assert got == [(fan(i), "follow") for i in range(1, 6)] + [(fan(1), "unfollow")]
        assert cursor == base + 10 * sec
        assert snapshots >= 1

        # Restarted, it neither polls again before the hour is up nor repeats an event.
        proc, lines = start_watch(db, config)
        deadline = time.monotonic() + 30
        while len(js.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(js.requests) == 2 and "cursor" in js.requests[1]
        time.sleep(3)
        assert stop(proc) == 0, "".join(lines)
        assert len(view.calls("app.bsky.graph.getFollowers")) == polls_before
        with Store(db, read_only=True) as store:
            assert store.scalar("SELECT count(*) FROM events") == len(got)
    assert os.path.exists(db)
