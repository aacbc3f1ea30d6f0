"""The report and the dashboard as a person reads them: the headline first, who left next
with links to their profiles, and every page usable at a desktop's 1280 px and a phone's
390 px — no sideways scroll, no console errors, tables folded into cards on the phone.

The browser tests save screenshots under tests/artifacts/ (printed by each test; kept by
CI as artifacts): ``<page>-<width>.png`` whole pages, ``…-first-screen.png`` what shows
before any scrolling.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest

from breakup.report import Report, build_report, render_html
from breakup.report.analyses import Unavailable
from breakup.report.charts import SURVIVAL_MAX_DAYS, SURVIVAL_SHOWN, survival_figure
from breakup.report.html import breakable, breakable_words, profile_url, window
from breakup.report.html_headline import headline
from breakup.store import Store
from breakup.web import create_app

from .browser import ARTIFACTS, Page, browser_page, chart_traces
from .reportkit import CLOCK, SCRIPT_HANDLE, golden_store, kit_store
from .test_report_sections import fake_why
from .webkit import running

WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit_store(tmp_path_factory.mktemp("layout"))


@pytest.fixture(scope="module")
def report(kit: Path) -> Report:
    with Store(kit, clock=CLOCK, read_only=True) as store:
        return build_report(store)


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Report:
    with Store(golden_store(tmp_path_factory.mktemp("golden")), clock=CLOCK) as store:
        return build_report(store, with_analyses=False)


# -- what the page says ------------------------------------------------------------------


def test_profile_links_by_platform() -> None:
    assert profile_url("bsky", "did:plc:abc123") == "https://bsky.app/profile/did:plc:abc123"
    assert profile_url("bsky", "alice.bsky.social") == "https://bsky.app/profile/alice.bsky.social"
    assert profile_url("mastodon", "Bob@Mastodon.Social") == "https://mastodon.social/@Bob"
    assert profile_url("x", "783214") == "https://x.com/i/user/783214"
    assert profile_url("instagram", "brand.fan_1") == "https://www.instagram.com/brand.fan_1/"
    # No link for hashed addresses, generic ids, or ids that are not that platform's.
    for platform, ident in [
        ("email", "h:0123abcd"),
        ("csv", "42"),
        ("youtube", "UCevil"),
        ("bsky", "javascript:alert(1)"),
        ("bsky", 'did:plc:x" onmouseover="alert(1)'),
        ("mastodon", "bob@evil.example/@x?"),
        ("x", "123abc"),
        ("instagram", "<script>"),
    ]:
        assert profile_url(platform, ident) is None, (platform, ident)


def test_windows_are_short_and_break_only_at_the_dash() -> None:
    a = datetime(2025, 5, 8, tzinfo=UTC)

    def plain(w: str) -> str:
        return w.replace('<span class="nw">', "").replace("</span>", "")

    assert plain(window(a, a)) == "2025-05-08 00:00"
    assert plain(window(a, a.replace(hour=6))) == "2025-05-08 00:00 – 06:00"
    assert plain(window(a, a.replace(day=15))) == "2025-05-08 00:00 – 05-15 00:00"
    end = datetime(2026, 1, 2, tzinfo=UTC)
    assert plain(window(a, end)) == "2025-05-08 00:00 – 2026-01-02 00:00"
    assert window(a, end) == (
        '<span class="nw">2025-05-08 00:00</span> – <span class="nw">2026-01-02 00:00</span>'
    )


def test_long_handles_break_at_their_parts_and_stay_escaped() -> None:
    assert breakable("@bea@mastodon.example") == "<wbr>@bea<wbr>@mastodon.<wbr>example"
    assert breakable("bsky:brand.bsky.social") == "bsky:<wbr>brand.<wbr>bsky.<wbr>social"
    assert breakable("<b>x.y</b>") == "&lt;b&gt;x.y&lt;/b&gt;"  # not a name: only escaped
    assert breakable(SCRIPT_HANDLE) == "&lt;script&gt;window.__pwned=1&lt;/script&gt;"
    # in a sentence: the names break at their parts, numbers and the rest stay whole
    line = "mastodon:@brand@mastodon.example: 1,622 left ×24.2 at 12:30 <b>"
    assert breakable_words(line) == (
        "mastodon:<wbr>@brand<wbr>@mastodon.<wbr>example: "
        "1,622\u00a0left ×24.2\u00a0at 12:30 &lt;b&gt;"
    )


def test_headline_without_the_why_analysis(golden: Report) -> None:
    cards = {c.key: c for c in headline(golden)}
    assert list(cards) == ["followers", "left", "post", "cause"]
    assert cards["followers"].value == "46"  # evil 1 + news 17 + social 28
    assert cards["followers"].detail == "−7 in the last 30 days (5 joined, 12 left)"
    assert cards["left"].title == "Left in the last 7 days" and cards["left"].value == "3"
    assert cards["left"].detail.startswith("Latest: ")
    # Without statistics the post card says so, and names the plain count it shows.
    assert cards["post"].title == "Post most departures followed"
    assert cards["post"].value == "Thanks for 30 followers!"
    assert "not run" in cards["post"].lines[0]
    assert cards["cause"].value == "—" and "not run" in cards["cause"].detail


def test_headline_reads_the_why_result(golden: Report) -> None:
    from breakup.why import words

    why = fake_why()  # the section tests' stand-in: the why analysis' own result types
    cards = {c.key: c for c in headline(replace(golden, why=why))}
    post = why.attribution.posts[0]
    assert cards["post"].title == "Top break-up post"
    assert cards["post"].value == "<b>Member sale</b>"  # escaped by the template
    said = f"{words.cost(post, 'email')}; {words.chance(post.p_adjusted)}"
    assert cards["post"].detail == f"news, 2025-05-13: {said}"  # the why section's words
    assert cards["cause"].value == "posting too often"
    assert cards["cause"].detail == "social: churn rises above 3 posts a day"
    page = render_html(replace(golden, why=why), plotlyjs="")
    head = page.split('<section id="headline"', 1)[1].split("</section>", 1)[0]
    assert "&lt;b&gt;Member sale&lt;/b&gt;" in head and "<b>" not in head

    calm = replace(post, break_up=False, significant=False)
    quiet = NS(**{**why.__dict__, "attribution": replace(why.attribution, posts=[calm])})
    quiet.diagnosis = NS(findings=[])
    cards = {c.key: c for c in headline(replace(golden, why=quiet))}
    assert cards["post"].value == "none stands out"
    assert cards["post"].detail == words.bottom_line(quiet.attribution)
    assert cards["cause"].value == "no clear cause"

    refused = {c.key: c for c in headline(replace(golden, why=Unavailable("too little data")))}
    assert refused["cause"].detail == "No statistics: too little data"


def test_headline_counts_keep_the_number_with_its_word(golden: Report) -> None:
    """'9 deleted' never breaks into '9' and 'deleted' on a narrow card (the page joins
    them with a no-break space; the cards' own text, which the terminal shows, is plain)."""
    cards = {c.key: c for c in headline(golden)}
    assert "(5 joined, 12 left)" in cards["followers"].detail
    page = render_html(golden, plotlyjs="")
    assert "(5\u00a0joined, 12\u00a0left)" in page
    assert "2\u00a0unknown · 1\u00a0unfollowed" in page
    assert breakable_words("in the last 30 days, 2026-09-27: 1,622 left ×24.2") == (
        "in the last 30\u00a0days, 2026-09-27: 1,622\u00a0left ×24.2"
    )
    assert breakable_words("12 (39–75) x") == "12 (39–75) x"  # only a word right after


def test_headline_with_one_snapshot_asks_for_another(golden: Report) -> None:
    one = replace(
        golden,
        status=[replace(s, imports=1, periods=[]) for s in golden.status],
        departures=[],
        departures_total=0,
    )
    left = {c.key: c for c in headline(one)}["left"]
    assert left.value == "—" and "import a later one" in left.detail


def test_who_left_comes_first_newest_first_with_profile_links(report: Report) -> None:
    page = render_html(report, plotlyjs="")
    sections = [part.split('"', 1)[0] for part in page.split('<section id="')[1:]]
    assert sections[:3] == ["headline", "departures", "followers"]
    shown = report.departures[:50]
    assert [d.left_latest for d in shown] == sorted((d.left_latest for d in shown), reverse=True)
    who_left = page.split('<section id="departures">', 1)[1].split("</section>", 1)[0]
    links = [part.split('"', 1)[0] for part in who_left.split('class="person" href="')[1:]]
    links += [part.split('"', 1)[0] for part in who_left.split('<a href="')[1:]]
    platforms = {d.platform for d in shown}
    assert {"bsky", "mastodon", "email"} <= platforms
    assert any(u.startswith("https://bsky.app/profile/did:") for u in links)
    assert any(u.startswith("https://") and "/@" in u for u in links)  # Mastodon
    hashed = sum(1 for d in shown if d.external_id.startswith("h:") and not d.handle)
    assert who_left.count('<span class="person">(hashed address)</span>') == hashed > 0


def test_survival_chart_draws_only_the_largest_cohorts() -> None:
    curves = [("all", 900, [(0.0, 1.0), (30.0, 0.8)])]
    curves += [(f"joined 2025-{m:02d}", 10 * m, [(0.0, 1.0), (9.0, 0.7)]) for m in range(1, 13)]
    fig = survival_figure(curves)
    drawn = [t for t in fig.data if t.visible is not False and t.visible != "legendonly"]
    assert len(drawn) == SURVIVAL_SHOWN
    listed = sorted(drawn, key=lambda t: t.legendrank)
    assert [t.name for t in listed][:2] == ["all (900)", "joined 2025-12 (120)"]
    assert fig.data[len(drawn) - 1].name == "all (900)"  # drawn last: on top of the others
    grouped = [t for t in fig.data if t.visible == "legendonly"]
    assert len(grouped) == 13 - SURVIVAL_SHOWN
    assert sum(1 for t in grouped if t.showlegend) == 1  # one legend entry for the rest
    assert grouped[0].name == f"{len(grouped)} smaller cohorts"


def test_survival_chart_is_cut_where_the_cohorts_end() -> None:
    """An email list's opt-in dates stretch its cohort (and "all") over years; the x-axis
    stops where the other cohorts end, and says what it cut."""
    curves = [
        ("all", 900, [(0.0, 1.0), (100.0, 0.9), (365.0, 0.8), (1200.0, 0.5), (3540.0, 0.07)]),
        ("email", 500, [(0.0, 1.0), (300.0, 0.85), (500.0, 0.7), (3540.0, 0.07)]),
        ("bsky", 300, [(0.0, 1.0), (365.0, 0.6)]),
        ("mastodon", 100, [(0.0, 1.0), (300.0, 0.6)]),
    ]
    fig = survival_figure(curves)
    ends = {t.name: max(t.x) for t in fig.data}
    assert max(ends.values()) == 365
    assert fig.layout.xaxis.range[0] == 0 and 365 <= fig.layout.xaxis.range[1] < 400
    email = next(t for t in fig.data if t.name.startswith("email"))
    assert list(email.x)[-1] == 365 and list(email.y)[-1] == 0.85  # the step held to the cut
    note = fig.layout.annotations[0].text
    assert "cut at 365 days" in note and "email" in note and "3,540" in note
    # nothing cut: no note, the axis as the data go
    short = survival_figure([("all", 9, [(0.0, 1.0), (30.0, 0.8)]), ("bsky", 9, [(0.0, 1.0)])])
    assert not short.layout.annotations and short.layout.xaxis.range is None
    # one long cohort alone is capped at two years
    alone = survival_figure([("all", 9, [(0.0, 1.0), (3000.0, 0.2)])])
    assert max(alone.data[0].x) == SURVIVAL_MAX_DAYS == 730


# -- in the browser ----------------------------------------------------------------------


def check_layout(p: Page, name: str, width: int, *, headline_cards: int = 4) -> dict[str, Any]:
    """The page fits *width* (no sideways scroll), the headline shows on the first screen,
    and nothing failed; saves the first screen and the whole page."""
    page = p.page
    page.wait_for_load_state("load")
    first = p.screenshot(f"{name}-{width}-first-screen", full_page=False)
    whole = p.screenshot(f"{name}-{width}")
    print(f"screenshots: {first} {whole}")
    size = page.evaluate(
        """() => {
            const wide = [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
                .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                          + (e.className && typeof e.className === 'string'
                             ? '.' + e.className.split(' ').join('.') : ''));
            return {scroll: document.documentElement.scrollWidth, inner: innerWidth,
                    height: innerHeight, wide: wide.slice(0, 5)};
        }"""
    )
    assert size["inner"] == width
    assert size["scroll"] <= size["inner"], f"{name} scrolls sideways at {width}: {size}"
    if headline_cards:
        cards = page.locator("#headline .card")
        assert cards.count() == headline_cards
        for i in range(headline_cards):
            box = cards.nth(i).bounding_box()
            assert box is not None and box["y"] < size["height"], (name, width, i, box)
            assert box["x"] + box["width"] <= width
            assert cards.nth(i).is_visible()
    if width < 700:  # tables are cards of labelled fields
        for table in page.locator("table.cards").all()[:3]:
            assert table.locator("thead").bounding_box()["width"] <= 1  # type: ignore[index]
            row = table.locator("tbody tr").first
            assert row.evaluate("r => getComputedStyle(r).display") in ("block", "flex")
    assert p.errors == [], p.errors
    assert p.offsite == [], p.offsite
    return dict(size)


@pytest.mark.parametrize("width", WIDTHS)
def test_report_file_layout(report: Report, tmp_path: Path, width: int) -> None:
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    with browser_page(allowed=("file://",), width=width) as p:
        p.page.goto(path.as_uri())
        assert chart_traces(p.page, "followers") >= 4
        if p.page.locator("#chart-survival").count():
            drawn = p.page.evaluate(
                "document.getElementById('chart-survival').data"
                ".filter(t => t.visible !== 'legendonly').length"
            )
            assert 1 <= drawn <= SURVIVAL_SHOWN
        check_layout(p, "report", width)
        assert p.page.evaluate("window.__pwned") is None
        # Who left is the next thing down, and its people link out to their profiles.
        head = p.page.locator("#headline").bounding_box()
        left = p.page.locator("#departures").bounding_box()
        assert head is not None and left is not None and left["y"] > head["y"]
        assert p.page.locator("#departures a.person[href^='https://bsky.app/profile/']").count()
        assert SCRIPT_HANDLE in p.page.locator("#departures .person").all_inner_texts()
    print(f"artifacts in {ARTIFACTS}")


@pytest.mark.parametrize("width", WIDTHS)
def test_dashboard_layout(kit: Path, width: int) -> None:
    app = create_app(kit, clock=CLOCK, analyses=False)
    with running(app) as url, browser_page(width=width) as p:
        page = p.page
        page.goto(url + "/")
        assert chart_traces(page, "timeline") >= 4
        check_layout(p, "dashboard", width)
        assert page.locator("#departures a.profile[href^='https://bsky.app/profile/']").count()

        page.click("details.filters > summary")
        page.select_option("#f-channel", "bsky")
        page.click("#f-apply")
        page.wait_for_url("**channel=bsky**")
        chart_traces(page, "followers")
        check_layout(p, "dashboard-bsky", width)

        page.goto(url + "/")
        page.locator("#headline-post a.card-more").click()  # the headline's post, in detail
        page.wait_for_url("**/posts/**")
        check_layout(p, "dashboard-post", width, headline_cards=0)
        page.locator("#departures a.person").first.click()
        page.wait_for_url("**/people/**")
        check_layout(p, "dashboard-person", width, headline_cards=0)

        page.goto(url + "/?account=evil")
        check_layout(p, "dashboard-hostile", width)
        assert page.evaluate("window.__pwned") is None


LONG_NAMES = (
    "mastodon:@the_coffee_roasters_collective@mastodon.social.example",
    "bsky:coffeeroasterscollective.bsky.social",
    "email:newsletter-subscribers@coffee-roasters-collective.example",
)

# A line break inside a word: the characters on both sides of it are letters or digits.
MID_WORD_BREAKS = """(sel) => [...document.querySelectorAll(sel)].flatMap(el => {
    const out = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const chars = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode())
        for (let i = 0; i < n.length; i++) chars.push([n, i]);
    let prev = null;
    for (const [n, i] of chars) {
        const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
        const rect = r.getClientRects()[0];
        const ch = n.data[i];
        if (rect && prev && rect.top > prev.top + 2 && /\\w/.test(prev.ch) && /\\w/.test(ch))
            out.push(el.textContent + ' @ ' + prev.ch + '|' + ch);
        if (rect) prev = {top: rect.top, ch};
    }
    return out;
})"""


def test_headline_lines_break_between_words_on_a_phone(golden: Report, tmp_path: Path) -> None:
    """Long account names on the followers card wrap at their parts (after a dot or colon,
    before an @), never inside a word, and nothing scrolls sideways at 390 px."""
    status = [replace(s, account=name) for s, name in zip(golden.status, LONG_NAMES, strict=False)]
    long = replace(golden, status=status)
    path = tmp_path / "long.html"
    path.write_text(render_html(long), encoding="utf-8")
    with browser_page(allowed=("file://",), width=390) as p:
        p.page.goto(path.as_uri())
        lines = p.page.locator("#headline-followers .card-line")
        assert lines.count() == len(status)
        texts = lines.all_inner_texts()
        assert all(name in " ".join(texts) for name in LONG_NAMES[: len(status)])
        broken = p.page.evaluate(MID_WORD_BREAKS, "#headline .card-line, #headline .card-detail")
        assert broken == [], broken
        check_layout(p, "report-long-names", 390)


def test_favicon_is_inline(report: Report) -> None:
    page = render_html(report, plotlyjs="")
    icon = page.split('<link rel="icon" href="', 1)[1].split('"', 1)[0]
    assert icon.startswith("data:image/svg+xml,") and "%3Csvg" in icon
