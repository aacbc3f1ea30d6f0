"""The report: assembled once from the analyses, rendered to the terminal and to one
offline HTML file; hostile names and posts are shown as text; golden files pin the output.

Regenerate the golden files with ``BREAKUP_REGEN_GOLDEN=1 pytest tests/test_report.py``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from breakup.report import (
    Filters,
    Report,
    build_report,
    post_detail,
    render_html,
    render_terminal,
)
from breakup.store import Store

from .browser import browser_page, chart_traces
from .reportkit import CLOCK, EVIL_POST, IMG_NAME, SCRIPT_HANDLE, golden_store, kit_store

GOLDEN = Path(__file__).parent / "golden"
REGEN = bool(os.environ.get("BREAKUP_REGEN_GOLDEN"))


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit_store(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def report(kit: Path) -> Report:
    with Store(kit, clock=CLOCK, read_only=True) as store:
        return build_report(store)


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The hand-written store's report without the why/fans analyses, whose own tests pin
    their numbers: the golden files pin this module's rendering."""
    with Store(golden_store(tmp_path_factory.mktemp("golden")), clock=CLOCK) as store:
        return build_report(store, with_analyses=False)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN or not path.exists():
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not REGEN:
            pytest.fail(f"golden file {name} was missing; written, check it in")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed (BREAKUP_REGEN_GOLDEN=1)"


def terminal_text(report: Report, width: int = 120) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None, record=True)
    console.print(render_terminal(report))
    return console.export_text()


def test_terminal_report_golden(golden: Report) -> None:
    check_golden("report.txt", terminal_text(golden))


def test_html_report_golden(golden: Report) -> None:
    check_golden("report.html", render_html(golden, plotlyjs="/* plotly.js */"))


def test_golden_attribution(golden: Report) -> None:
    left = {(p.account, p.text[:20]): p.left_after for p in golden.top_posts}
    # Unsubscribes count for the campaign they name, whatever was posted in between.
    assert left[("news", '=HYPERLINK("http://x')] == 2
    assert left[("news", "Still thinking about")] == 1
    # Departures seen in a snapshot count for the last post before that snapshot.
    assert left[("social", "Thanks for 30 follow")] == 3


def test_sections_of_installed_analyses(report: Report) -> None:
    """Each analysis this breakup has gets its section (its result, or why it has none)."""
    import importlib.util

    if importlib.util.find_spec("breakup.why"):
        assert report.why is not None
        assert 'id="why"' in render_html(report, plotlyjs="")
    if importlib.util.find_spec("breakup.fans"):
        assert set(report.fans) == {"top_fans", "at_risk", "hygiene", "unanswered"}
        page = render_html(report, plotlyjs="")
        assert all(f'<section id="{name}">' in page for name in report.fans)


def test_series_agree_with_status_and_departures(report: Report) -> None:
    followers = {s.account: s.followers for s in report.status}
    for series in report.series:
        assert series.points, series.account
        assert series.points[-1].followers == followers[series.account]
        days = {p.day for p in series.points}
        seen = [
            d
            for d in report.departures
            if d.account == series.account and d.left_latest.date() in days
        ]
        assert sum(p.lost for p in series.points) == len(seen)


def test_left_after_matches_the_drill_down(kit: Path, report: Report) -> None:
    top = report.top_posts[0]
    assert top.left_after > 0
    with Store(kit, clock=CLOCK, read_only=True) as store:
        detail = post_detail(store, top.post_id)
    assert detail.post.post_id == top.post_id
    assert len(detail.left) == top.left_after
    assert all(d.left_latest >= top.created_at for d in detail.left)


def test_filters_narrow_every_section(kit: Path) -> None:
    with Store(kit, clock=CLOCK, read_only=True) as store:
        every = build_report(store, with_analyses=False)
        bsky = build_report(store, Filters(channel="bsky"), with_analyses=False)
        one = build_report(store, Filters(account="evil"), with_analyses=False)
    assert len(every.accounts) == 4
    assert bsky.accounts == ["bsky:brand.bsky.social"]
    assert {d.account for d in bsky.departures} == {"bsky:brand.bsky.social"}
    assert {p.account for p in bsky.posts} == {"bsky:brand.bsky.social"}
    assert 0 < len(bsky.departures) < len(every.departures)
    assert [s.account for s in one.status] == ["evil"]
    assert len(one.departures) == 2


def test_hostile_text_is_shown_as_text(report: Report) -> None:
    page = render_html(report, plotlyjs="")
    for hostile in (SCRIPT_HANDLE, IMG_NAME, "<script>window.__pwned=3"):
        assert hostile not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=" in page
    text = terminal_text(report, width=200)
    assert SCRIPT_HANDLE in text  # rich shows it literally, not as markup
    assert EVIL_POST.split(" ")[0] in text


def test_html_report_opens_offline_with_charts(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    assert "<script src=" not in path.read_text(encoding="utf-8")
    with browser_page(allowed=("file://",)) as p:
        p.page.goto(path.as_uri())
        assert chart_traces(p.page, "followers") >= 4
        assert chart_traces(p.page, "timeline") >= 4
        assert p.page.evaluate("window.__pwned") is None
        names = p.page.locator("#departures .person").all_inner_texts()
        assert SCRIPT_HANDLE in names
        p.screenshot("report")
        assert p.errors == []
        assert p.offsite == []


def test_cli_report_writes_html_and_prints_path(kit: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "breakup",
            "--db",
            str(kit),
            "report",
            "-a",
            "evil",
            "--html",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert f"HTML report: {out}" in proc.stdout
    assert "Recent departures" in proc.stdout
    assert "Plotly" in out.read_text(encoding="utf-8")


HOLDER = """
import sys
from breakup.store import Store
store = Store(sys.argv[1])
print("open", flush=True)
sys.stdin.readline()
store.close()
"""


def test_cli_report_while_another_process_writes(tmp_path: Path) -> None:
    db = golden_store(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "open"
        proc = subprocess.run(
            [sys.executable, "-m", "breakup", "--db", str(db), "report", "-a", "news", "--json"],
            capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)["departures"]) == 3
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
