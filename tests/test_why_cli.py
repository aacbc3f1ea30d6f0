"""`breakup why` and `breakup peers` through the CLI."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.why_worlds import T0, Effect, World, save_world
from breakup.cli import app
from breakup.clock import fixed_clock
from breakup.store import Store


def test_why_json_and_table(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    world = World(10 * 24, post_every_hours=4, effects=[Effect(30, 40, 0.5)], seed=1)
    with Store(db, clock=fixed_clock(T0 + timedelta(hours=world.hours + 1))) as store:
        save_world(store, world)
    runner = CliRunner()
    out = runner.invoke(app, ["--db", str(db), "why", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert set(data) >= {"attribution", "diagnosis", "triage", "retention"}
    att = data["attribution"]
    top = att["posts"][0]
    # The public shape other tools read, and the fields added to it.
    public = {"post", "break_up", "rate_ratio", "ci_low", "ci_high", "p_adjusted", "exact"}
    assert public <= set(top)
    assert {"excess", "excess_ci_low", "excess_ci_high", "q_value", "ambiguous_with"} <= set(top)
    assert att["posts_tested"] > 50 and att["status"] == "ok"
    assert top["post"] == "p30" and top["break_up"] and top["exact"]
    assert att["accounts"][0]["response_time"]
    table = runner.invoke(app, ["--db", str(db), "why", "--since", "2025-03-05"],
                          env={"COLUMNS": "80"})  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "post cost about" in table.output and "not chance" in table.output
    assert "Triage" in table.output and "Retention" in table.output
    assert max(len(line) for line in table.output.splitlines()) <= 80
    # --account takes a shorthand; --channel keeps one platform's accounts.
    short = json.loads(runner.invoke(app, ["--db", str(db), "why", "-a", "brand",
                                           "--json"]).output)  # fmt: skip
    assert short["accounts"] == ["bsky:brand.example"]
    other = json.loads(runner.invoke(app, ["--db", str(db), "why", "--channel", "email",
                                           "--json"]).output)  # fmt: skip
    assert other["accounts"] == [] and other["attribution"]["posts"] == []


@pytest.mark.parametrize(
    ("since", "status"),
    [("2025-03-03", "ok"), ("2025-03-05", "ok"), ("2025-03-12", "insufficient_history"),
     ("1d", "insufficient_history"), ("7d", "insufficient_history"),
     ("30d", "insufficient_history")],
)  # fmt: skip
def test_why_since_never_fails_and_short_history_says_so(
    tmp_path: Path, since: str, status: str
) -> None:
    """Every --since, down to a window with no post (relative ones count back from today,
    long after this 2025 world), answers in one sentence."""
    db = tmp_path / "s.duckdb"
    world = World(3 * 24, post_every_hours=12, seed=2)
    with Store(db, clock=fixed_clock(T0 + timedelta(hours=world.hours + 1))) as store:
        save_world(store, world)
    out = CliRunner().invoke(app, ["--db", str(db), "why", "--since", since, "--json"])
    assert out.exit_code == 0, out.output
    att = json.loads(out.output)["attribution"]
    assert att["status"] == status
    if att["status"] == "insufficient_history":
        acct = att["accounts"][0]
        assert acct["needed"] and acct["hours"] > 0 and "posts_seen" in acct
        words = CliRunner().invoke(app, ["--db", str(db), "why", "--since", since])
        assert "not enough history" in words.output.lower(), words.output


def test_peers_add_and_list(tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    runner = CliRunner()
    added = runner.invoke(app, ["--db", str(db), "peers", "add", "bsky:rival.bsky.social"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["--db", str(db), "peers", "list", "--json"])
    rows = json.loads(listed.output)
    assert [(r["name"], r["platform"], r["role"]) for r in rows] == [
        ("bsky:rival.bsky.social", "bsky", "peer")
    ]
    bad = runner.invoke(app, ["--db", str(db), "peers", "add", "nameless"])
    assert bad.exit_code != 0


def test_why_until_sees_the_store_as_it_stood_then(tmp_path: Path) -> None:
    """--until: the break-up post after it is not tested, and nothing later is counted."""
    db = tmp_path / "s.duckdb"
    world = World(10 * 24, post_every_hours=4, effects=[Effect(30, 40, 0.5)], seed=1)
    with Store(db, clock=fixed_clock(T0 + timedelta(hours=world.hours + 1))) as store:
        save_world(store, world)
    runner = CliRunner()
    full = json.loads(runner.invoke(app, ["--db", str(db), "why", "--json"]).output)
    cut = T0 + timedelta(hours=100)  # before the planted post's hour 120
    out = runner.invoke(app, ["--db", str(db), "why", "--json", "--until", cut.isoformat()])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["until"].startswith(cut.strftime("%Y-%m-%dT%H:%M"))
    posts = {p["post"] for p in data["attribution"]["posts"]}
    assert "p30" not in posts
    assert 0 < data["attribution"]["posts_tested"] < full["attribution"]["posts_tested"]
