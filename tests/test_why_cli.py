"""`breakup why` and `breakup peers` through the CLI."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from benchmarks.bench_why import T0, build
from breakup.cli import app
from breakup.clock import fixed_clock
from breakup.store import Store


def test_why_json_and_table(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    with Store(db, clock=fixed_clock(T0 + timedelta(days=40))) as store:
        build(store, followers=2000, days=40, posts=80, planted={30: 6.0}, seed=1)
    runner = CliRunner()
    out = runner.invoke(app, ["--db", str(db), "why", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert set(data) >= {"attribution", "diagnosis", "triage", "retention"}
    assert data["attribution"]["posts"][0]["post"].endswith("/p30")
    table = runner.invoke(app, ["--db", str(db), "why", "--since", "2025-01-10"])
    assert table.exit_code == 0, table.output
    assert "posts" in table.output and "Triage" in table.output and "Retention" in table.output


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
