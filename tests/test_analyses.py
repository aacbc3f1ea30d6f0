"""One store per analysis: the terminal, the HTML report and the JSON show the same
figures, because they render one result through one set of blocks (breakup.analyses).
The `breakup why` view is golden-tested at 80 and 120 columns."""

from __future__ import annotations

import html
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console, RenderableType

from benchmarks.why_worlds import T0, Effect, World, save_world
from breakup.analyses import analyses
from breakup.analyses.fans import TOP_FANS
from breakup.analyses.why import WHY
from breakup.cli.terminal_fans import fans_view
from breakup.clock import fixed_clock
from breakup.filters import Filters
from breakup.report import build_report, render_html
from breakup.serialize import dumps
from breakup.store import Store
from breakup.why import words
from breakup.why.render import why_report

from .reportkit import CLOCK, golden_store
from .test_terminal import check


def text(view: RenderableType, width: int = 120) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None, record=True)
    console.print(view)
    return console.export_text()


@pytest.fixture(scope="module")
def why_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("why") / "s.duckdb"
    world = World(10 * 24, post_every_hours=4, effects=[Effect(30, 40, 0.5)], seed=1)
    with Store(db, clock=fixed_clock(T0 + timedelta(hours=world.hours + 1))) as store:
        save_world(store, world)
    return db


def test_registry_names_every_analysis() -> None:
    assert [a.name for a in analyses()] == ["why", "top_fans", "at_risk", "hygiene",
                                            "unanswered"]  # fmt: skip


def test_why_terminal_html_json_agree(why_db: Path) -> None:
    with Store(why_db, clock=fixed_clock(T0 + timedelta(hours=241)), read_only=True) as store:
        result = WHY.run(store, Filters())
        report = build_report(store)
    data = json.loads(dumps(result))
    top = next(p for p in data["attribution"]["posts"] if p["break_up"])
    cost = f"cost about {words.about(top['excess'])}"
    interval = f"({words.about(top['excess_ci_low'])}–{words.about(top['excess_ci_high'])})"
    term = text(why_report(result))
    page = html.unescape(render_html(report, plotlyjs=""))
    for view in (term, page):
        assert f"{cost} followers {interval}" in view
    assert "p=" not in term and "p (Holm)" not in term  # statistics behind --verbose
    assert "p (Holm)" in text(why_report(result, verbose=True)) and "p (Holm)" in page


@pytest.mark.parametrize("width", (80, 120))
def test_why_golden(why_db: Path, width: int) -> None:
    with Store(why_db, clock=fixed_clock(T0 + timedelta(hours=241)), read_only=True) as store:
        result = WHY.run(store, Filters())
    out = text(why_report(result), width)
    assert max(len(line) for line in out.splitlines()) <= width
    check("why", out, width)


def test_top_fans_terminal_html_json_agree(tmp_path: Path) -> None:
    with Store(golden_store(tmp_path), clock=CLOCK, read_only=True) as store:
        fans = TOP_FANS.run(store, Filters())
        report = build_report(store)
    best = json.loads(dumps(fans))[0]
    score = f"{best['score']:.1f}"
    term = text(fans_view(fans))
    page = render_html(report, plotlyjs="")
    section = page.split('<section id="top_fans">', 1)[1].split("</section>", 1)[0]
    assert best["handle"] in term and score in term
    assert best["handle"] in section and f">{score}<" in section
    row = next(line for line in term.splitlines() if best["handle"] in line)
    assert score in row


@pytest.mark.parametrize("name", ["at_risk", "hygiene", "unanswered"])
def test_fans_sections_are_the_analysis_blocks(tmp_path: Path, name: str) -> None:
    """The report's section of each fans analysis is that analysis' blocks of its result,
    and its JSON is the same result."""
    from breakup.analyses import get

    with Store(golden_store(tmp_path), clock=CLOCK, read_only=True) as store:
        report = build_report(store)
        section = get(name).section(store, Filters())
    (mine,) = [s for s in report.sections if s.name == name]
    assert mine.blocks == section.blocks
    assert dumps(report.fans[name]) == dumps(section.result)
