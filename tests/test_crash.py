"""Crash-safety: real ``breakup import``, ``track``, ``stream`` and ``watch`` processes are
killed with SIGKILL at seeded random moments, then restarted, and the store is compared
with the store of an uninterrupted run.

What is checked at every kill point:

* right after the kill, the store opens (DuckDB replays its log) and is either as it was
  before the command or as a committed step left it — never half a step: every
  observation has its bitmap, no person has two open spans in one direction, tracking has
  folded in every import, no event is stored twice;
* after the restart the store says what an uninterrupted run's says: the same events
  (exact times), spans, follow records, checks, people and stream cursor. Columns that
  legitimately depend on when a poll ran or how saves were batched (import ids, import and
  poll times, window ends of polled departures) are left out of the comparison.

A handful of kill points per command by default; ``BREAKUP_CRASH_POINTS=N`` runs N each
(``BREAKUP_CRASH_SEED`` changes the moments).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakup.jetstream import REWIND_US
from breakup.store import Store

from .servers.jetstream import Jetstream, follow, tid, unfollow, us_of
from .servers.xrpc import AppView

POINTS = int(os.environ.get("BREAKUP_CRASH_POINTS", "2"))
SEED = int(os.environ.get("BREAKUP_CRASH_SEED", "8"))
ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
BRAND = "did:plc:brandcrash2test4aaaaaaaa"


def breakup(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "breakup", "--db", str(db), *args]


def run(db: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        breakup(db, *args), capture_output=True, text=True, timeout=timeout, env=ENV
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def killed_after(db: Path, delay: float, *args: str) -> bool:
    """Run a command and SIGKILL it after *delay* seconds; whether it was still running."""
    proc = subprocess.Popen(
        breakup(db, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
    )
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return True


def kill_points(name: str, longest: float) -> list[float]:
    rng = random.Random(f"{SEED}:{name}")
    return sorted(rng.uniform(0.2, longest) for _ in range(POINTS))


def timed(fn: Callable[[], Any]) -> float:
    began = time.monotonic()
    fn()
    return time.monotonic() - began


# -- what a store says, and what must always hold ------------------------------------------

QUERIES = {
    "events": """
        SELECT a.name, p.external_id, e.direction, e.kind, e.occurred_at, e.ref, e.campaign
        FROM events e JOIN people p USING (person_id) JOIN accounts a USING (account_id)""",
    "spans": """
        SELECT a.name, p.external_id, s.direction, s.start_exact,
               CASE WHEN s.start_exact THEN s.start_latest END, s.start_earliest IS NULL,
               s.end_latest IS NULL, s.end_exact, CASE WHEN s.end_exact THEN s.end_latest END,
               s.end_kind
        FROM spans s JOIN people p USING (person_id) JOIN accounts a USING (account_id)""",
    "follow_records": """
        SELECT a.name, p.external_id, r.rkey, r.created_at FROM follow_records r
        JOIN people p USING (person_id) JOIN accounts a USING (account_id)""",
    "checks": """
        SELECT DISTINCT a.name, p.external_id, c.state, c.follows FROM checks c
        JOIN people p USING (person_id) JOIN accounts a USING (account_id)""",
    "posts": """
        SELECT a.name, p.external_id, p.kind, p.created_at, p.text FROM posts p
        JOIN accounts a USING (account_id)""",
    "interactions": """
        SELECT DISTINCT a.name, p.external_id, i.kind, i.occurred_at, i.post_external_id
        FROM interactions i JOIN people p USING (person_id) JOIN accounts a USING (account_id)""",
    "people": "SELECT platform, external_id FROM people",
    "accounts": "SELECT name, platform, identity FROM accounts",
    "cursors": "SELECT name, position FROM cursors WHERE name NOT LIKE 'watch:%'",
}

INVARIANTS = {
    "an observation without exactly one bitmap": """
        SELECT o.observation_id FROM observations o
        LEFT JOIN snapshot_members m USING (observation_id)
        GROUP BY o.observation_id HAVING count(m.observation_id) <> 1""",
    "a bitmap without its observation": """
        SELECT m.observation_id FROM snapshot_members m
        LEFT JOIN observations o USING (observation_id) WHERE o.observation_id IS NULL""",
    "two open spans of one person": """
        SELECT account_id, person_id, direction FROM spans WHERE end_latest IS NULL
        GROUP BY ALL HAVING count(*) > 1""",
    "an import tracking has not folded in": """
        SELECT i.account_id FROM imports i WHERE NOT EXISTS (
            SELECT 1 FROM tracking_state t
            WHERE t.account_id = i.account_id AND t.applied_through >= i.import_id)
          AND (EXISTS (SELECT 1 FROM observations o WHERE o.import_id = i.import_id)
               OR EXISTS (SELECT 1 FROM events e WHERE e.import_id = i.import_id))""",
    "rows of an import that is not recorded": """
        SELECT import_id FROM observations WHERE import_id NOT IN (SELECT import_id FROM imports)
        UNION ALL
        SELECT import_id FROM events WHERE import_id NOT IN (SELECT import_id FROM imports)""",
    "an event stored twice": """
        SELECT account_id, person_id, kind, occurred_at, ref FROM events
        GROUP BY ALL HAVING count(*) > 1""",
    "a person interned twice": """
        SELECT platform, external_id FROM people GROUP BY ALL HAVING count(*) > 1""",
}


def contents(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with Store(db, read_only=True) as store:
        return {k: sorted(store.con.execute(q).fetchall(), key=repr) for k, q in QUERIES.items()}


def check_invariants(db: Path) -> None:
    with Store(db, read_only=True) as store:
        broken = {
            what: rows
            for what, q in INVARIANTS.items()
            if (rows := store.con.execute(q).fetchall())
        }
    assert not broken, broken


def counts(db: Path) -> dict[str, int]:
    from .conftest import table_counts

    with Store(db, read_only=True) as store:
        return table_counts(store)


# -- import ----------------------------------------------------------------------------------

DAY1 = datetime(2025, 1, 1, tzinfo=UTC)
DAY2 = datetime(2025, 1, 8, tzinfo=UTC)


def follower_csv(path: Path, ids: range, drop: set[int]) -> Path:
    lines = ["id,handle,display_name"]
    lines += [f"{i},h{i},Name {i}" for i in ids if i not in drop]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def import_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A store with one 20k-follower snapshot, the next week's export, and the store an
    uninterrupted import of that export gives."""
    root = tmp_path_factory.mktemp("crash-import")
    first = follower_csv(root / "week1.csv", range(20_000), set())
    second = follower_csv(root / "week2.csv", range(200, 20_200), set(range(3000, 3100)))
    base = root / "base.duckdb"
    run(base, "import", "csv", str(first), "--account", "yt", "--platform", "youtube",
        "--at", DAY1.isoformat())  # fmt: skip
    whole = root / "whole.duckdb"
    shutil.copy(base, whole)
    took = timed(lambda: run(whole, *import_args(second)))
    return {"base": base, "second": second, "whole": whole, "took": Path(str(took))}


def import_args(path: Path) -> tuple[str, ...]:
    return ("import", "csv", str(path), "--account", "yt", "--platform", "youtube",
            "--at", DAY2.isoformat())  # fmt: skip


def test_killed_import_commits_all_or_nothing_and_a_rerun_completes_it(
    import_world: dict[str, Path], tmp_path: Path
) -> None:
    base, whole = import_world["base"], import_world["whole"]
    before, after = contents(base), contents(whole)
    assert before != after
    longest = float(str(import_world["took"])) * 1.2
    outcomes = []
    for n, delay in enumerate(kill_points("import", longest)):
        db = tmp_path / f"k{n}.duckdb"
        shutil.copy(base, db)
        killed = killed_after(db, delay, *import_args(import_world["second"]))
        check_invariants(db)
        state = contents(db)
        assert state in (before, after), f"half an import after a kill at {delay:.2f}s"
        outcomes.append((killed, state == after))
        run(db, *import_args(import_world["second"]))  # the user runs it again
        check_invariants(db)
        assert contents(db) == after
        assert counts(db) == counts(whole)  # nothing duplicated, not even imports
    assert any(killed for killed, _ in outcomes), "no kill landed while the import ran"


# -- track ------------------------------------------------------------------------------------


def fdid(n: int) -> str:
    return f"did:plc:crash{n:05d}aaaaaaaaaa"


@pytest.fixture(scope="module")
def appview() -> Iterator[AppView]:
    now = datetime.now(UTC)
    with AppView() as view:
        view.add_actor(BRAND, "brand.test", "Brand")
        for i in range(500):
            view.add_actor(fdid(i), f"f{i}.test", f"Follower {i}")
            view.follow(fdid(i), BRAND, now - timedelta(days=40) + timedelta(minutes=i))
        view.post(BRAND, "hello", now - timedelta(days=2))
        yield view


@pytest.fixture(scope="module")
def track_world(appview: AppView, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store that polled the brand when 16 more people followed; since then 8 unfollowed
    and 8 deactivated, so the next poll finds 16 departures and re-checks them (few enough
    that the AppView's count, which still includes deactivated followers, stays within
    the tolerance that lets the snapshot be diffed)."""
    root = tmp_path_factory.mktemp("crash-track")
    view = appview
    now = datetime.now(UTC)
    extra = [fdid(5000 + i) for i in range(16)]
    for i, did in enumerate(extra):
        view.add_actor(did, f"x{i}.test")
        view.follow(did, BRAND, now - timedelta(days=3))
    base = root / "base.duckdb"
    run(base, "track", "bsky:brand.test", "--appview", view.url)
    for did in extra[:8]:
        view.unfollow(did, BRAND)
    for did in extra[8:]:
        view.actors[did].status = "deactivated"
    whole = root / "whole.duckdb"
    shutil.copy(base, whole)
    took = timed(lambda: run(whole, "track", "bsky:brand.test", "--appview", view.url))
    return {"base": base, "whole": whole, "took": took}


def test_killed_track_keeps_whole_polls_only_and_a_rerun_completes_it(
    appview: AppView, track_world: dict[str, Any], tmp_path: Path
) -> None:
    base, whole = track_world["base"], track_world["whole"]
    before, after = contents(base), contents(whole)
    assert {r[-1] for r in after["spans"]} >= {"unfollowed", "deleted"}
    base_obs = counts(base)["observations"]
    killed_any = False
    for n, delay in enumerate(kill_points("track", track_world["took"] * 1.2)):
        db = tmp_path / f"k{n}.duckdb"
        shutil.copy(base, db)
        killed_any |= killed_after(db, delay, "track", "bsky:brand.test", "--appview", appview.url)
        check_invariants(db)
        # A poll is saved whole (both snapshots) or not at all; its re-check is saved after.
        assert counts(db)["observations"] in (base_obs, base_obs + 2)
        state = contents(db)
        if counts(db)["observations"] == base_obs:
            assert state == before
        run(db, "track", "bsky:brand.test", "--appview", appview.url)
        check_invariants(db)
        assert contents(db) == after, f"differs after a kill at {delay:.2f}s"
    assert killed_any


# -- stream -------------------------------------------------------------------------------------


def fan(n: int) -> str:
    return f"did:plc:fan{n:05d}bbbbbbbbbb"


def firehose(n: int, start: int) -> list[dict[str, Any]]:
    """Follows of the brand, and every fifth frame the follower of 41 frames ago leaving."""
    events = []
    for k in range(n):
        us = start + k * 1000
        if k % 5 == 4 and k >= 41:
            events.append(unfollow(fan(k - 41), us, tid(start + (k - 41) * 1000)))
        else:
            events.append(follow(fan(k), us, tid(us), BRAND))
    return events


STREAM_EVENTS = 800
PACE = 0.004  # seconds between frames: a run takes long enough to be killed mid-stream


def seeded_store(db: Path, start: int) -> None:
    """The brand is tracked and the stream has a position just before the events."""
    with Store(db) as store:
        store.ensure_account("bsky:brand.test", "bsky", BRAND, "brand.test")
        with store.transaction():
            store.set_cursor("jetstream", start - 1)


def frames_from(events: list[dict[str, Any]], cursor: int) -> int:
    """How many frames a connection resuming at *cursor* is sent (the rewind included)."""
    return sum(1 for e in events if int(e["time_us"]) >= max(0, cursor - REWIND_US))


def stream_to_end(db: Path, js: Jetstream, events: list[dict[str, Any]]) -> None:
    with Store(db, read_only=True) as store:
        cursor = store.cursor("jetstream")
    assert cursor is not None
    remaining = frames_from(events, cursor)
    run(db, "stream", "--jetstream", js.url, "--max-events", str(remaining), timeout=180)


def test_killed_stream_resumes_from_its_cursor_losing_and_repeating_nothing(
    tmp_path: Path,
) -> None:
    start = us_of(datetime.now(UTC) - timedelta(hours=2))
    events = firehose(STREAM_EVENTS, start)
    whole = tmp_path / "whole.duckdb"
    seeded_store(whole, start)
    with Jetstream(events, pace=PACE) as js:
        took = timed(lambda: stream_to_end(whole, js, events))
    after = contents(whole)
    assert len(after["events"]) == STREAM_EVENTS  # every unfollow resolved
    killed_any = False
    for n, delay in enumerate(kill_points("stream", took * 1.1)):
        db = tmp_path / f"k{n}.duckdb"
        seeded_store(db, start)
        with Jetstream(events, pace=PACE) as js:
            killed_any |= killed_after(db, delay, "stream", "--jetstream", js.url,
                                       "--max-events", str(STREAM_EVENTS))  # fmt: skip
            check_invariants(db)
            partial = contents(db)
            # Whatever was committed is a prefix of the stream, saved with its cursor.
            saved = partial["events"]
            assert set(saved) <= set(after["events"])
            cursor = dict(partial["cursors"])["jetstream"]
            assert all(e[4] <= _naive_us(cursor) for e in saved)
            assert len(saved) == sum(1 for e in after["events"] if e[4] <= _naive_us(cursor)), (
                "events up to the saved cursor are missing"
            )
            stream_to_end(db, js, events)
        check_invariants(db)
        assert contents(db) == after, f"differs after a kill at {delay:.2f}s"
    assert killed_any


def _naive_us(us: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(microseconds=us)


# -- watch ------------------------------------------------------------------------------------


class Watcher:
    """A ``breakup watch`` process whose output is collected as it comes."""

    def __init__(self, db: Path, config: Path) -> None:
        self.proc = subprocess.Popen(
            breakup(db, "watch", str(config)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=ENV,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, done: Callable[[], bool], timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            if done():
                return
            time.sleep(0.05)
        raise AssertionError(f"watch did not get there in {timeout}s: {''.join(self.lines)}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0, "".join(self.lines)


def watch_to_end(db: Path, config: Path, js: Jetstream) -> None:
    """Run watch until it has polled (unless its schedule says it polled already) and a
    stream connection of its own was sent every event, then stop it as a user would
    (SIGTERM: it saves what it holds)."""
    with Store(db, read_only=True) as store:
        polled = store.cursor("watch:bsky:brand.test") is not None
    first_connection = len(js.requests)
    w = Watcher(db, config)
    if not polled:
        w.wait_for(lambda: any("snapshot(s)" in line for line in w.lines), timeout=90)
    w.wait_for(lambda: any(n >= first_connection for n in js.caught_up), timeout=90)
    w.stop()


def test_killed_watch_resumes_without_losing_or_repeating(appview: AppView, tmp_path: Path) -> None:
    start = us_of(datetime.now(UTC) - timedelta(hours=2))
    events = firehose(400, start)

    def config(db: Path, js: Jetstream) -> Path:
        path = db.with_suffix(".toml")
        path.write_text(
            f'[[track]]\ntarget = "bsky:brand.test"\nbase_url = "{appview.url}"\n'
            f'every = "6h"\n\n[stream]\nurl = "{js.url}"\n'
        )
        return path

    whole = tmp_path / "whole.duckdb"
    seeded_store(whole, start)
    with Jetstream(events, pace=PACE) as js:
        took = timed(lambda: watch_to_end(whole, config(whole, js), js))
    after = contents(whole)
    check_invariants(whole)
    assert len(after["events"]) == len(events)
    killed_any = False
    for n, delay in enumerate(kill_points("watch", took)):
        db = tmp_path / f"k{n}.duckdb"
        seeded_store(db, start)
        with Jetstream(events, pace=PACE) as js:
            cfg = config(db, js)
            w = Watcher(db, cfg)
            time.sleep(delay)
            killed_any |= w.proc.poll() is None
            w.kill()
            check_invariants(db)
            assert set(contents(db)["events"]) <= set(after["events"])
            watch_to_end(db, cfg, js)
        check_invariants(db)
        got = contents(db)
        assert got == after, f"differs after a kill at {delay:.2f}s: " + str(
            {k: (len(got[k]), len(after[k])) for k in got if got[k] != after[k]}
        )
    assert killed_any
