"""Exports: every table in CSV, JSON and Parquet; formula cells neutralized in CSV."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from breakup.errors import InvalidInput
from breakup.export import export_rows, neutralize, post_scores, to_csv, write_export
from breakup.left import who_left
from breakup.report import Filters
from breakup.store import Store

from .reportkit import CLOCK, FORMULA_HANDLE, golden_store


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return golden_store(tmp_path_factory.mktemp("export"))


def test_neutralize_formula_starts_only() -> None:
    for risky in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralize(risky) == "'" + risky
    assert neutralize("plain <b>text</b>") == "plain <b>text</b>"
    assert neutralize(-5) == -5 and neutralize(None) is None


def test_departures_csv_is_formula_safe(db: Path) -> None:
    with Store(db, clock=CLOCK, read_only=True) as store:
        rows = export_rows(store, "departures")
        assert len(rows) == len(who_left(store))
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    handles = {r["handle"] for r in parsed}
    assert "'" + FORMULA_HANDLE in handles and FORMULA_HANDLE not in handles
    assert "'@SUM(1+1)" in {r["display_name"] for r in parsed}
    campaigns = {r["campaign"] for r in parsed if r["account"] == "news"}
    assert all(c.startswith("'=HYPERLINK") for c in campaigns if "HYPERLINK" in c)
    assert any("HYPERLINK" in c for c in campaigns)
    for r in parsed:  # nothing a spreadsheet would evaluate
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in r.values())


def test_every_table_in_every_format(db: Path, tmp_path: Path) -> None:
    tables = ["departures", "spans", "posts"]
    if importlib.util.find_spec("breakup.fans"):
        tables.append("fans")
    with Store(db, clock=CLOCK, read_only=True) as store:
        spans = store.scalar(
            "SELECT count(*) FROM spans JOIN accounts USING (account_id) WHERE role = 'own'"
        )
        for table in tables:
            rows = export_rows(store, table)
            if table == "spans":
                assert len(rows) == spans
            parquet = tmp_path / f"{table}.parquet"
            write_export(rows, "parquet", parquet)
            assert pq.read_table(parquet).num_rows == len(rows)
            as_json = write_export(rows, "json", None)
            assert as_json is not None and len(json.loads(as_json)) == len(rows)
            as_csv = write_export(rows, "csv", None)
            assert as_csv is not None and len(
                list(csv.DictReader(io.StringIO(as_csv.decode())))
            ) == len(rows)


def test_posts_carry_departures_and_why_scores(db: Path) -> None:
    with Store(db, clock=CLOCK, read_only=True) as store:
        rows = export_rows(store, "posts", Filters(account="news"))
    left = {r["text"][:20]: r["left_after"] for r in rows}
    assert left['=HYPERLINK("http://x'] == 2
    from breakup.why.attribution import Attribution, PostAttribution

    post = PostAttribution(account="news", post="c2", kind="campaign",
                           created_at=datetime(2025, 5, 13, tzinfo=UTC), text="sale",
                           observed=3.0, expected=1.0, excess=2.0, rate_ratio=3.0, ci_low=1.1,
                           ci_high=8.0, p_value=0.01, p_adjusted=0.02, adjusted_ci_low=1.05,
                           break_up=True, exact=True)  # fmt: skip
    att = Attribution(window_hours=48.0, alpha=0.05, correction="holm", posts_tested=1,
                      posts=[post])  # fmt: skip
    scores = post_scores(SimpleNamespace(attribution=att))  # type: ignore[arg-type]
    assert scores[("news", "c2")]["score_rate_ratio"] == 3.0
    assert scores[("news", "c2")]["score_break_up"] is True


def test_filters_and_refusals(db: Path) -> None:
    with Store(db, clock=CLOCK, read_only=True) as store:
        recent = export_rows(store, "departures", Filters(since=datetime(2025, 5, 20, tzinfo=UTC)))
        only = export_rows(store, "departures", Filters(channel="email"))
        with pytest.raises(InvalidInput, match="no export table"):
            export_rows(store, "everything")
    assert recent and all(r["left_latest"] >= "2025-05-20" for r in recent)
    assert {r["platform"] for r in only} == {"email"}
    with pytest.raises(InvalidInput, match="--out"):
        write_export([], "parquet", None)
    with pytest.raises(InvalidInput, match="format"):
        write_export([], "xlsx", None)


def test_cli_export(db: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "breakup", "--db", str(db), "export", *args],
            capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip

    out = run("departures", "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert "'" + FORMULA_HANDLE in out.stdout
    target = tmp_path / "spans.parquet"
    assert run("spans", "-f", "parquet", "-o", str(target)).returncode == 0
    assert pq.read_table(target).num_rows > 0
    refused = run("departures", "--format", "parquet")
    assert refused.returncode == 1 and "--out" in refused.stderr
