"""Read commands work while another process writes the store (``breakup watch``): a real
second process holds DuckDB's write lock on a real store file while ``status``, ``left``,
``accounts``, ``why``, ``fans``, ``hygiene``, ``peers list``, ``report`` and ``export``
run. Writers wait for the lock, then fail with ``StoreLocked``; copies never outlive their
reader, even one killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from breakup import cli
from breakup.access import read_store, write_store
from breakup.errors import StoreLocked
from breakup.store import Store
from breakup.web.reader import PREFIX, reclaim_stale_copies

from .reportkit import kit_store

HOLD = """
import sys, time
from breakup.store import Store
store = Store(sys.argv[1], read_only=sys.argv[2] == "ro")
print("open", flush=True)
time.sleep(float(sys.argv[3]))
store.close()
"""


@contextmanager
def held(db: Path, mode: str = "rw", seconds: float = 300.0) -> Iterator[subprocess.Popen[str]]:
    """Another process with the store open (``rw``: as ``watch`` holds it)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), mode, str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "open"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit_store(tmp_path_factory.mktemp("concurrent"))


@pytest.fixture
def tmpdir_for_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


READS = [
    ["status"],
    ["status", "--json"],
    ["left", "--limit", "5"],
    ["left", "--json"],
    ["accounts"],
    ["why", "--json"],
    ["fans", "--top", "5"],
    ["fans", "--unanswered", "--json"],
    ["hygiene", "--json"],
    ["peers", "list"],
    ["report", "--json"],
    ["export", "departures", "--format", "csv"],
]


def test_read_commands_succeed_while_another_process_writes(
    kit: Path, tmpdir_for_copies: Path
) -> None:
    runner = CliRunner()
    with held(kit):
        with pytest.raises(StoreLocked, match=r"PID \d+"):
            Store(kit, read_only=True)  # what a direct open meets
        for args in READS:
            result = runner.invoke(cli.app, ["--db", str(kit), *args])
            assert result.exit_code == 0, (args, result.output, result.exception)
            assert result.exception is None
        accounts = runner.invoke(cli.app, ["--db", str(kit), "accounts", "--json"])
    assert {a["name"] for a in json.loads(accounts.output)} >= {"bsky:brand.bsky.social", "evil"}
    assert list(tmpdir_for_copies.iterdir()) == []  # every copy removed by its reader


def test_a_writer_waits_for_the_lock_then_fails_in_one_line(
    kit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.common, "WRITE_WAIT", 0.5)
    src = tmp_path / "more.csv"
    src.write_text("id\nnew-person\n", encoding="utf-8")
    with held(kit):
        began = time.monotonic()
        result = CliRunner().invoke(
            cli.app, ["--db", str(kit), "import", "csv", str(src), "--account", "csv:more"]
        )
        waited = time.monotonic() - began
    assert isinstance(result.exception, StoreLocked), result.output
    assert "locked by another process" in str(result.exception) and waited >= 0.5


def test_a_writer_gets_the_store_once_a_reader_lets_go(kit: Path) -> None:
    """A read-only holder blocks writers in DuckDB; writers wait for it instead of failing."""
    with held(kit, mode="ro", seconds=1.5):
        began = time.monotonic()
        with write_store(kit, wait=60) as store:
            assert store.accounts()
        assert time.monotonic() - began > 0.2
    with held(kit, mode="ro", seconds=60), pytest.raises(StoreLocked), write_store(kit, wait=0.3):
        pass


def test_read_store_reads_the_file_itself_when_nobody_holds_it(
    kit: Path, tmpdir_for_copies: Path
) -> None:
    with read_store(kit) as store:
        assert store.path == kit
        names = [a.name for a in store.accounts()]
    with held(kit), read_store(kit) as copy:
        assert copy.path != kit and copy.path.is_relative_to(tmpdir_for_copies)
        assert [a.name for a in copy.accounts()] == names


def test_copies_of_a_killed_dashboard_are_reclaimed_on_the_next_start(
    kit: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "tmp"
    folder.mkdir()
    env = {**os.environ, "TMPDIR": str(folder)}

    def serve() -> tuple[subprocess.Popen[bytes], str]:
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "breakup", "--db", str(kit), "serve", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                return proc, base
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)

    first, base = serve()
    try:
        assert httpx.get(f"{base}/people/1", timeout=120).status_code in (200, 404)
        (left,) = folder.glob(f"{PREFIX}*")
        assert list(left.glob("snapshot-*.duckdb"))  # the copy it was reading
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert left.exists()  # a SIGKILL leaves it behind ...
    second, _ = serve()
    try:
        assert not left.exists()  # ... and the next start removes it
        assert len(list(folder.glob(f"{PREFIX}*"))) == 1  # its own
    finally:
        second.terminate()
        second.wait(timeout=30)


def test_only_copies_of_dead_processes_are_reclaimed(tmp_path: Path) -> None:
    mine = tmp_path / f"{PREFIX}{os.getpid()}-abc"
    dead = tmp_path / f"{PREFIX}999999999-abc"
    old = tmp_path / "breakup-serve-x1y2z3"
    recent = tmp_path / "breakup-serve-q9w8e7"
    other = tmp_path / "unrelated-999999999-abc"
    for d in (mine, dead, old, recent, other):
        d.mkdir()
        (d / "snapshot-1.duckdb").write_bytes(b"x")
    os.utime(old, (time.time() - 8 * 86400,) * 2)
    removed = reclaim_stale_copies(tmp_path)
    assert sorted(removed) == sorted([dead, old])
    assert mine.exists() and recent.exists() and other.exists()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
