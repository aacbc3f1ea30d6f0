"""The why/fans sections render documented result fields (here from stand-in results, so
these tests pin the rendering whatever the analyses compute), and fall back when a
result has another shape."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from breakup.analyses import Unavailable
from breakup.analyses.blocks import Block
from breakup.report import Report, build_report, render_html, render_terminal
from breakup.report.sections import analysis_sections
from breakup.store import Store
from breakup.web import create_app
from breakup.why.attribution import AccountAttribution, Attribution, PostAttribution

from .reportkit import CLOCK, golden_store
from .webkit import LOCAL

T = datetime(2025, 5, 13, 10, 0, tzinfo=UTC)


def fake_why(post: str = "c2") -> Any:
    attribution = Attribution(
        window_hours=48.0, alpha=0.05, correction="holm", posts_tested=11,
        accounts=[AccountAttribution(
            account="news", platform="email", mode="campaign", posts_tested=11, departures=9,
            exact_share=1.0, resolution_hours=0.0, dispersion=1.0,
            baseline_per_1k_per_day=0.5, named=1)],
        posts=[PostAttribution(account="news", post=post, kind="campaign", created_at=T,
                  text="<b>Member sale</b>", observed=2.0, expected=0.5, excess=1.5,
                  rate_ratio=4.0, ci_low=1.5, ci_high=9.0, p_value=0.001, p_adjusted=0.01,
                  adjusted_ci_low=1.2, break_up=True, exact=True, peers_rate_ratio=None,
                  excess_ci_low=0.4, excess_ci_high=7.2, significant=True)],
    )  # fmt: skip
    return NS(
        attribution=attribution,
        diagnosis=NS(findings=[NS(account="social", cause="too_frequent",
                                  statement="churn rises above 3 posts a day", estimate=1.4,
                                  ci_low=1.1, ci_high=1.8, p_value=0.002)],
                   tests=[]),
        triage=NS(verdict="internal", excess={"internal": 3.0, "users": 0.0},
                  summary="mostly internal",
                  accounts=[NS(account="social", departures=8, user_side=1, user_share=0.125,
                               user_share_ci=(0.02, 0.47), excess={"internal": 3.0})]),
        retention=NS(median_lifetime_days=120.0, cox=None,
                     curves=[NS(cohort="all", followers=50, departures=12, median_days=None,
                                median_ci=(None, None), points=[(0.0, 1.0), (10.0, 0.9)])],
                     churn=[NS(account="news", platform="email",
                               measure="unsubscribes per campaign", value=0.05, ci_low=0.01,
                               ci_high=0.1, benchmark=0.0025, warning=True)]),
        notes=["a stand-in result"],
    )  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return golden_store(tmp_path_factory.mktemp("sections"))


@pytest.fixture
def with_fake_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("breakup.report.build.why_result", lambda store, filters: fake_why())
    monkeypatch.setattr("breakup.report.build.fans_results", lambda store, filters: [])
    # Its break-up posts step alone (what the dashboard's post page runs), the same.
    monkeypatch.setattr(
        "breakup.why.report.attribution_only", lambda store, *a, **k: fake_why().attribution
    )


def report_of(db: Path) -> Report:
    with Store(db, clock=CLOCK, read_only=True) as store:
        return build_report(store)


def test_why_sections_in_terminal_and_html(db: Path, with_fake_why: None) -> None:
    report = report_of(db)
    (scored,) = [p for p in report.posts if p.score is not None]
    assert scored.external_id == "c2" and scored.left_after == 2
    console = Console(width=200, file=io.StringIO(), color_system=None, record=True)
    console.print(render_terminal(report))
    text = console.export_text()
    for expected in ("Break-up posts: departures beyond normal churn",
                     "cost about 2 subscribers (0.4–7); unlikely to be chance",
                     "churn rises above 3 posts a day", "verdict: internal",
                     "1 (12.5%)", "median follower lifetime: 120 days",
                     "warning", "a stand-in result"):  # fmt: skip
        assert expected in text, expected
    page = render_html(report, plotlyjs="")
    assert 'id="chart-survival"' in page and "break-up posts (named by the why analysis)" in page
    # What the break-up post cost, as a chart beside the words.
    assert 'id="chart-breakups"' in page
    assert "<b>Member sale</b>" not in page and "&lt;b&gt;Member sale&lt;/b&gt;" in page


def test_dashboard_post_page_shows_the_verdict(db: Path, with_fake_why: None) -> None:
    scored = next(p for p in report_of(db).posts if p.score is not None)
    with TestClient(create_app(db, clock=CLOCK), base_url=LOCAL) as client:
        page = client.get(f"/posts/{scored.post_id}").text
    score = page.split('id="post-score"', 1)[1].split("</dl>", 1)[0]
    assert "break-up post" in score and "4.00 (95% CI 1.50–9.00)" in score


def test_refusals_degrade_one_section(db: Path) -> None:
    """An analysis that declines shows its message in place of its section; the rest of
    the report stands."""
    from breakup.analyses import Section
    from breakup.report.analyses import why_section

    report = report_of(db)
    refused = Unavailable("not enough data")
    odd = Report(
        **{**report.__dict__, "why": refused,
           "sections": [why_section(refused),
                        Section("top_fans", "Top fans", refused, [Block("Top fans",
                                                                        note="nope")])]}
    )  # fmt: skip
    sections = {sid: blocks for sid, _, blocks in analysis_sections(odd)}
    assert sections["why"][0].note == "not enough data"
    assert sections["top_fans"][0].note == "nope"
    assert "not enough data" in render_html(odd, plotlyjs="")


def test_causes_have_one_wording(db: Path, with_fake_why: None) -> None:
    """The headline, the report's diagnosis and the terminal `why` name a cause in the
    same words, from one list (breakup.why.words), never by its code name."""
    import breakup.report.html_headline as headline_module
    from breakup.report.html_headline import headline
    from breakup.why import words
    from breakup.why.render import why_report

    assert "CAUSES" not in vars(headline_module)  # no list of its own
    said = {
        code: words.cause(code)
        for code in ("too_frequent", "boring", "repetitive", "needy", "monologue", "one_time_offer")
    }
    assert said["needy"] == "too much self-promotion" and said["boring"].startswith("boring")
    assert all("_" not in label for label in said.values())
    assert words.cause("something_new") == "something new"
    report = report_of(db)
    cards = {c.key: c for c in headline(report)}
    assert cards["cause"].value == said["too_frequent"]
    console = Console(width=200, file=io.StringIO(), color_system=None, record=True)
    console.print(render_terminal(report))
    console.print(why_report(fake_why()))
    text = console.export_text()
    assert text.count(said["too_frequent"]) == 2 and "too_frequent" not in text
    page = render_html(report, plotlyjs="")
    assert page.count(said["too_frequent"]) >= 2  # the headline card and the diagnosis table
    assert "too frequent<" not in page
