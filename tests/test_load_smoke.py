"""A short run of benchmarks/bench_load.py: the dashboard (a real ``breakup serve``) answers
10 concurrent clients for 3 s while ``breakup import`` writes the same store, with no
errors. The full run (50 clients, 30 s, latency percentiles) is the benchmark itself."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from benchmarks import bench_load
from breakup.clock import fixed_clock
from breakup.web import create_app

from .webkit import LOCAL


def test_dashboard_serves_concurrent_clients_while_imports_write(tmp_path: Path) -> None:
    # /api/report (which runs the analyses) is checked on its own below.
    result = bench_load.run_load(10, 3.0, tmp_path, writer=True, api=False)
    assert result.errors == 0, result.error_samples
    assert result.imports >= 1 and result.import_failures == 0, result.error_samples
    assert result.requests >= 10
    assert {"index", "people", "posts"} <= set(result.by_path)


def test_api_report_with_analyses_answers(tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    bench_load.build_store(db)
    with TestClient(create_app(db, clock=fixed_clock(bench_load.END)), base_url=LOCAL) as client:
        assert client.get("/api/report").status_code == 200
