"""Attacker-controlled names shown safely: CSV cells a spreadsheet would run as formulas
(including a leading space, line break or invisible character, and the full-width
``＝ ＋ － ＠``) are neutralized; bidi overrides and isolates never reach a terminal, an HTML
report, the dashboard or a digest, while the store keeps the names as they were seen."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from breakup import cli
from breakup.clock import fixed_clock
from breakup.digest.compose import compose
from breakup.digest.render import discord_payload, render_html, render_text, slack_payload
from breakup.export import neutralize, to_csv
from breakup.fans.codes import safe_cell
from breakup.ingest import save_batch
from breakup.models import Batch, Direction, Person, Post, Snapshot
from breakup.report import build_report
from breakup.report.html import render_html as report_html
from breakup.safetext import BIDI_CONTROLS, formula_like, strip_bidi, strip_bidi_json
from breakup.store import Store
from breakup.web import create_app

from .webkit import LOCAL

CLOCK = fixed_clock(datetime(2025, 6, 1, tzinfo=UTC))

# -- CSV -------------------------------------------------------------------------------------

RISKY = [
    "=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx",  # the classic starts
    " =1+1", "\n=1+1", "\r\n=1+1", "  @SUM(A1)",  # trimmed by importers, then a formula
    "\u00a0=1", "\u3000=1", "\ufeff=1", "\u200b=1", "\u202e=1",  # invisible starts
    "＝1+1", "＋1", "－1", "＠SUM(A1)", "﹦1", "\u22121",  # full-width and small forms
]  # fmt: skip
SAFE = ["plain", "Brand Coffee", "a=1", "x-1", "ｂｒａｎｄ", "1+1 fans", "", "'quoted"]


@pytest.mark.parametrize("cell", RISKY)
def test_every_formula_like_start_is_neutralized(cell: str) -> None:
    assert neutralize(cell) == "'" + cell
    assert safe_cell(cell) == "'" + cell  # reward-code CSVs share the rule


@pytest.mark.parametrize("cell", SAFE)
def test_ordinary_text_is_left_alone(cell: str) -> None:
    assert neutralize(cell) == cell
    assert neutralize(-5) == -5 and neutralize(2.5) == 2.5 and neutralize(None) is None


def test_an_exported_csv_has_no_cell_a_spreadsheet_would_run(tmp_path: Path) -> None:
    db = _store(tmp_path, [Person(f"r{i}", handle=h, display_name=h) for i, h in enumerate(RISKY)])
    result = CliRunner().invoke(
        cli.app, ["--db", str(db), "export", "departures", "--format", "csv"]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    handles = [r["handle"] for r in rows]
    assert len(handles) == len(RISKY) and all(h.startswith("'") for h in handles), handles
    assert to_csv([{"a": "＝cmd|' /C calc'!A0"}]).splitlines()[1] == "'＝cmd|' /C calc'!A0"


# -- bidi controls -------------------------------------------------------------------------

SPOOF = "evil\u202egnp.exe"  # shows as "evilexe.png"
NAMES = [
    Person("b1", handle=SPOOF, display_name="\u202dforced LTR"),
    Person("b2", handle="\u2067isolate\u2069 and \u202bembed", display_name="\u2068fsi"),
    Person("b3", handle="عربي", display_name="plain right-to-left"),  # legitimate RTL
]
POST_TEXT = "Flash sale \u202etxet desrever"


def _store(tmp_path: Path, people: list[Person]) -> Path:
    db = tmp_path / "bidi.duckdb"
    day1, day2 = datetime(2025, 5, 20, tzinfo=UTC), datetime(2025, 5, 30, 12, tzinfo=UTC)
    with Store(db, clock=CLOCK) as store:
        for ref, day, members in (("1", day1, [*people, Person("stay")]), ("2", day2, [])):
            save_batch(
                store,
                Batch(
                    source="json", platform="bsky", source_ref=ref, observed_at=day,
                    snapshots=[Snapshot.of(Direction.FOLLOWERS, day, [*members, Person("stay")],
                                           reported_count=len(members) + 1)],
                    posts=[Post("p1", day1, text=POST_TEXT)] if ref == "1" else [],
                ),
                account="bsky:brand\u202e.example",
            )  # fmt: skip
    return db


@pytest.fixture(scope="module")
def bidi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _store(tmp_path_factory.mktemp("bidi"), NAMES)


def _clean(text: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in text if c in BIDI_CONTROLS})
    assert not found, found
    assert "\\u202e" not in text.lower() and "\\u2067" not in text.lower()


def test_the_store_keeps_names_as_seen(bidi: Path) -> None:
    with Store(bidi, read_only=True) as store:
        handles = {r[0] for r in store.con.execute("SELECT handle FROM person_names").fetchall()}
    assert SPOOF in handles


@pytest.mark.parametrize(
    "args", [["left", "--verbose"], ["left"], ["status"], ["accounts"], ["report"]]
)
def test_terminal_output_has_no_bidi_controls(bidi: Path, args: list[str]) -> None:
    result = CliRunner().invoke(cli.app, ["--db", str(bidi), *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    _clean(result.output)
    if args[0] == "left":
        assert "evilgnp.exe" in result.output and "عربي" in result.output


def test_json_output_keeps_the_names_as_data(bidi: Path) -> None:
    result = CliRunner().invoke(cli.app, ["--db", str(bidi), "left", "--json"])
    assert SPOOF in {d["handle"] for d in json.loads(result.stdout)}


def test_html_report_and_its_charts_have_no_bidi_controls(bidi: Path) -> None:
    with Store(bidi, read_only=True, clock=CLOCK) as store:
        html = report_html(build_report(store, with_analyses=False), plotlyjs="")
    _clean(html)
    assert "evilgnp.exe" in html and "Flash sale txet desrever" in html


def test_dashboard_pages_have_no_bidi_controls(bidi: Path) -> None:
    with TestClient(create_app(bidi, clock=CLOCK, analyses=False), base_url=LOCAL) as c:
        for path in ("/", "/people/1", "/people/2", "/posts/1"):
            page = c.get(path)
            assert page.status_code in (200, 404), path
            _clean(page.text)


def test_digests_have_no_bidi_controls(bidi: Path) -> None:
    with Store(bidi, read_only=True, clock=CLOCK) as store:
        digest = compose(store, date(2025, 5, 30), why=None)
    assert digest.items
    for out in (render_text(digest), render_html(digest)):
        _clean(out)
        assert "evilgnp.exe" in out
    _clean(json.dumps(slack_payload(digest), ensure_ascii=False))
    _clean(discord_payload(digest)["content"])


def test_escaped_controls_are_removed_from_json_but_spelled_ones_kept() -> None:
    raw = json.dumps(["a\u202eb", "c\u2066d", "a name that spells \\u202e"])
    assert json.loads(strip_bidi_json(raw)) == ["ab", "cd", "a name that spells \\u202e"]


# -- properties (hypothesis): any text at all -----------------------------------------------

TEXT = st.text(
    st.characters(codec="utf-8")
    | st.sampled_from([*BIDI_CONTROLS, "=", "+", "-", "@", "＝", "\\", "u", "2", "0", "e"])
)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_no_text_survives_neutralizing_as_a_formula(text: str) -> None:
    cell = neutralize(text)
    assert not formula_like(cell)
    assert cell == text or cell == "'" + text


@settings(max_examples=300, deadline=None)
@given(TEXT, st.booleans())
def test_bidi_controls_never_survive_display_or_chart_json(text: str, ascii_only: bool) -> None:
    shown = strip_bidi(text)
    assert not set(shown) & set(BIDI_CONTROLS)
    assert shown == "".join(c for c in text if c not in BIDI_CONTROLS)
    raw = json.dumps({"label": text}, ensure_ascii=ascii_only)
    assert json.loads(strip_bidi_json(raw)) == {"label": shown}
