"""Smoke test of benchmarks/run.py at a tiny scale: the cases run and return sane numbers.

No timing bars here: those are for ``make bench`` on a quiet machine, at 10M followers.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from benchmarks import run

N = 20_000
CHURN = int(N * run.CHURN)


def test_audience_churns_one_percent_a_day() -> None:
    days = [set(m.tolist()) for m in run.audience(N, 3)]
    assert all(len(d) == N for d in days)
    for before, after in pairwise(days):
        assert len(before - after) == len(after - before) == CHURN
    ids = run.snapshot_ids(N, 0)
    assert len(set(ids.to_pylist())) == N


def test_diff_agrees_with_sets() -> None:
    result = run.bench_diff(N)
    assert result["joined"] == result["left"] == CHURN
    assert result["seconds"] > 0 and result["baseline"] > 0
    assert result["baseline_duckdb"] > 0  # _duckdb_diff raises if its counts disagree


def test_ingest_first_and_churned_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "bench.duckdb"
    first = run.bench_ingest(N, db, 0)
    assert (first["members"], first["opened"], first["closed"]) == (N, N, 0)
    second = run.bench_ingest(N, db, 1)
    assert (second["members"], second["opened"], second["closed"]) == (N, CHURN, CHURN)
    assert first["seconds"] > 0 and second["seconds"] > 0


def test_sqlite_baseline_upserts(tmp_path: Path) -> None:
    db = tmp_path / "baseline.sqlite"
    assert run.bench_sqlite(N, db, 0)["rows"] == N
    assert run.bench_sqlite(N, db, 1)["rows"] == N + CHURN


def test_storage_grows(tmp_path: Path) -> None:
    result = run.bench_storage(N, tmp_path / "storage.duckdb", days=3)
    assert result["bytes"] > 0
    assert result["per_follower_snapshot"] == pytest.approx(result["bytes"] / (N * 3))
    assert len(result["free_bytes_by_day"]) == 3
    parts = result["per_follower_snapshot_by_part"]
    assert parts["people"] > 0 and parts["spans"] > 0
    # the parts are the file's blocks (a block shared by two tables counts for both)
    assert sum(parts.values()) >= 0.5 * result["per_follower_snapshot"]


def test_runner_prints_the_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    run.main(["--followers", "2000", "--days", "2", "--events", "20000", "--out", str(out_json)])
    out = capsys.readouterr().out
    rows = (
        "diff, 1% churn",
        "diff, vs DuckDB anti-join",
        "ingest, first snapshot",
        "ingest, 1% churn",
        "storage",
        "why, 2,000 followers",
        "jetstream replay, 20,000",
        "import X archive, 2,000 followers",
    )
    for row in rows:
        assert row in out
    saved = json.loads(out_json.read_text())
    assert set(saved["cases"]) == set(run.CASES)
    assert saved["cases"]["jetstream"]["correct"] is True


def test_runner_refuses_an_unknown_case(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run.main(["--only", "diff,nope"])
    assert "unknown case(s): nope" in capsys.readouterr().err


def test_scaling_updates_only_the_measured_part_of_the_doc(tmp_path: Path) -> None:
    from benchmarks import scaling

    results: dict[str, dict[int, dict[str, object]]] = {}
    for case in ("diff", "ingest-0", "ingest-1", "sqlite-0", "sqlite-1", "storage", "why"):
        (tmp_path / case).mkdir()
        results[case] = {2000: scaling.run_case(case, 2000, tmp_path / case)}
        results[case][2000]["peak_rss"] = 10**8
    results["accounts"] = {2: {**scaling.bench_accounts(2, tmp_path / "a.duckdb"),
                               "peak_rss": 10**8}}  # fmt: skip
    doc = tmp_path / "performance.md"
    old = f"{scaling.BEGIN}\nold\n{scaling.END}"
    doc.write_text(f"# Title\n\nprose before\n\n{old}\n\nprose after\n")
    scaling.update_doc(doc, scaling.table(results), "measured here")
    text = doc.read_text()
    assert text.startswith("# Title\n\nprose before\n") and text.endswith("\nprose after\n")
    assert "old" not in text and "measured here" in text
    assert "| 2,000 |" in text and "| 2 |" in text
    scaling.chart(results, tmp_path / "performance.png")
    assert (tmp_path / "performance.png").stat().st_size > 10_000


def test_scaling_refuses_a_doc_without_markers(tmp_path: Path) -> None:
    from benchmarks import scaling

    doc = tmp_path / "performance.md"
    doc.write_text("# hand-written only\n")
    with pytest.raises(SystemExit, match="no <!-- scaling:begin -->"):
        scaling.update_doc(doc, "table", "machine")
    assert doc.read_text() == "# hand-written only\n"


def test_the_committed_performance_doc_has_its_measured_section() -> None:
    from benchmarks import scaling

    text = (Path(__file__).parent.parent / "docs" / "performance.md").read_text()
    assert text.index(scaling.BEGIN) < text.index(scaling.END)
    assert "## Where one machine stops being enough" in text


def test_import_bench_archive_is_read_whole_and_both_tools_run(tmp_path: Path) -> None:
    from benchmarks import bench_import
    from breakup.sources import ReadOptions, get_source

    archive = bench_import.make_archive(tmp_path / "a.zip", 3_000, 200, 50)
    batch = get_source("x-archive").read(archive, ReadOptions())
    assert batch.notes == []
    sizes = {s.direction.value: (len(s.members), s.reported_count) for s in batch.snapshots}
    assert sizes == {"followers": (3_000, 3_000), "following": (200, 200)}
    assert len(batch.posts) == 50
    result = bench_import.run(3_000, tmp_path, following=200, tweets=50)
    assert (result["members"], result["people"], result["posts"]) == (3_200, 3_100, 50)
    assert result["seconds"] > 0 and result["breakup_peak_rss"] > 0
    if result["baseline"] is not None:  # twitter-to-sqlite is in the bench extra
        assert result["speedup"] > 0 and result["baseline_peak_rss"] > 0


def test_instagram_bench_export_is_read_whole_and_imported(tmp_path: Path) -> None:
    """The generated export reads as a complete, all-time one (no date-range note), every
    follower with an exact follow time, and the benchmark imports it through the CLI."""
    from benchmarks import bench_import_instagram as bench
    from breakup.sources import ReadOptions, get_source

    export = bench.make_export(tmp_path / "ig.zip", 3_000, 40)
    batch = get_source("instagram").read(export, ReadOptions())
    assert batch.notes == []
    sizes = {s.direction.value: len(s.members) for s in batch.snapshots}
    assert sizes == {"followers": 3_000, "following": 40}
    assert all(s.complete_since is None for s in batch.snapshots)
    assert len(batch.events) == 3_040
    result = bench.run(3_000, tmp_path, following=40)
    assert (result["people"], result["events"]) == (3_040, 3_040)
    assert result["seconds"] > 0 and result["peak_rss"] > 0
