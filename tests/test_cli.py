"""The CLI as a user runs it: a real process, a real store file, --json output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIX = Path(__file__).parent / "fixtures" / "generic"


def run(db: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cli.duckdb"
    run(
        path,
        "import",
        "csv",
        str(FIX / "followers_2025-01-01.csv"),
        "-a",
        "site",
        "--at",
        "2025-01-01",
    )
    run(
        path,
        "import",
        "csv",
        str(FIX / "followers_2025-01-08.csv"),
        str(FIX / "events.csv"),
        "-a",
        "site",
        "--at",
        "2025-01-08",
    )
    return path


def test_left_json(db: Path) -> None:
    rows = json.loads(run(db, "left", "--json").stdout)
    assert [(r["external_id"], r["kind"], r["exact"]) for r in rows] == [
        ("1002", "unknown", False),
        ("1006", "unsubscribed", True),
        ("1005", "unfollowed", True),
    ]
    bob = rows[0]
    assert bob["handle"] == "bob"
    assert (bob["left_earliest"], bob["left_latest"]) == (
        "2025-01-01T00:00:00Z",
        "2025-01-08T00:00:00Z",
    )
    assert bob["followed_before_tracking"] is True


def test_left_terminal_and_since(db: Path) -> None:
    out = run(db, "left").stdout
    assert "bob" in out and "unsubscribed" in out
    since = json.loads(run(db, "left", "--since", "2025-01-05", "--json").stdout)
    assert [r["external_id"] for r in since] == ["1002"]


def test_status_and_accounts_json(db: Path) -> None:
    status = json.loads(run(db, "status", "--json").stdout)
    assert [(s["account"], s["followers"]) for s in status] == [("site", 3)]
    accounts = json.loads(run(db, "accounts", "--json").stdout)
    assert accounts[0]["name"] == "site"


def test_reimport_is_a_no_op(db: Path) -> None:
    before = run(db, "left", "--json").stdout
    again = json.loads(
        run(db, "import", "csv", str(FIX / "events.csv"), "-a", "site", "--json").stdout
    )
    assert again[0]["skipped"] is True
    assert run(db, "left", "--json").stdout == before


def test_bad_input_is_one_line_nonzero_and_changes_nothing(db: Path, tmp_path: Path) -> None:
    before = db.read_bytes()
    bad = tmp_path / "broken.csv"
    bad.write_text("event,time,id\nfollow,not-a-time,1\n")
    proc = run(db, "import", "csv", str(bad), "-a", "site", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "broken.csv" in proc.stderr and "not-a-time" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert db.read_bytes() == before


def test_unknown_kind_and_account(db: Path) -> None:
    proc = run(db, "import", "tiktok", "x.zip", ok=False)
    assert proc.returncode == 1 and "no import kind 'tiktok'" in proc.stderr
    proc = run(db, "left", "-a", "nobody", ok=False)
    assert proc.returncode == 1 and "no account named 'nobody'" in proc.stderr


def test_kinds_lists_every_registered_source(tmp_path: Path) -> None:
    from breakup.sources import sources

    kinds = json.loads(run(tmp_path / "k.duckdb", "kinds", "--json").stdout)
    assert set(kinds) == set(sources()) and {"csv", "json"} <= set(kinds)


def test_an_import_of_several_paths_is_all_or_nothing(tmp_path: Path) -> None:
    path = tmp_path / "multi.duckdb"
    bad = tmp_path / "bad.csv"
    bad.write_text("id,handle\n1,a\n2,b,extra\n")
    proc = run(
        path, "import", "csv", str(FIX / "followers_2025-01-01.csv"), str(bad),
        "-a", "site", "--at", "2025-01-01", ok=False,
    )  # fmt: skip
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert "\n" not in err and str(bad) in err and "extra fields" in err
    accounts = json.loads(run(path, "accounts", "--json").stdout)
    assert accounts == []


def test_demo_refuses_a_store_with_real_accounts(db: Path) -> None:
    proc = run(db, "demo", ok=False)
    assert proc.returncode == 1
    assert "holds real accounts" in proc.stderr
    status = json.loads(run(db, "status", "--json").stdout)
    assert [s["account"] for s in status] == ["site"]


def test_a_later_path_failing_on_save_undoes_the_earlier_ones(tmp_path: Path) -> None:
    path = tmp_path / "multi.duckdb"
    future = tmp_path / "future.csv"
    future.write_text("event,time,id\nfollow,2099-01-01T00:00:00Z,9\n")
    proc = run(path, "import", "csv", str(FIX / "events.csv"), str(future), "-a", "site", ok=False)
    assert proc.returncode == 1 and "in the future" in proc.stderr
    assert json.loads(run(path, "accounts", "--json").stdout) == []
