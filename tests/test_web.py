"""The dashboard: the report's views over HTTP, filters and drill-downs, hostile text shown
as text, the token, and reading a store that another process is writing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from breakup.errors import InvalidInput
from breakup.report import build_report
from breakup.store import Store
from breakup.web import StoreReader, check_bind, create_app, is_loopback

from .browser import browser_page, chart_traces
from .reportkit import CLOCK, EVIL_URL, IMG_NAME, SCRIPT_HANDLE, kit_store
from .webkit import LOCAL, running


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit_store(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def client(kit: Path) -> Iterator[TestClient]:
    with TestClient(create_app(kit, clock=CLOCK, analyses=False), base_url=LOCAL) as c:
        yield c


def departure_accounts(html: str) -> set[str]:
    section = html.split('<section id="departures">', 1)[1].split("</section>", 1)[0]
    cells = section.split('<td data-label="account" class="account">')[1:]
    return {c.split("</td>", 1)[0].replace("<wbr>", "") for c in cells}


def test_index_filters_by_channel_account_and_dates(client: TestClient) -> None:
    every = client.get("/")
    assert every.status_code == 200
    assert len(departure_accounts(every.text)) == 4
    bsky = client.get("/", params={"channel": "bsky"})
    assert departure_accounts(bsky.text) == {"bsky:brand.bsky.social"}
    one = client.get("/", params={"account": "evil"})
    assert departure_accounts(one.text) == {"evil"}
    late = client.get("/api/report", params={"since": "2025-05-25"}).json()
    early = client.get("/api/report", params={"until": "2025-05-10"}).json()
    assert late["departures"] and early["departures"]
    assert all(d["left_latest"] >= "2025-05-25" for d in late["departures"])
    assert all(d["left_earliest"] <= "2025-05-10T23:59:59.999999Z" for d in early["departures"])


def test_api_report_is_the_library_report(client: TestClient, kit: Path) -> None:
    with Store(kit, clock=CLOCK, read_only=True) as store:
        report = build_report(store, with_analyses=False)
    data = client.get("/api/report").json()
    assert len(data["departures"]) == len(report.departures)
    assert [p["post_id"] for p in data["posts"]] == [p.post_id for p in report.posts]


def test_post_drill_down_lists_who_left_after_it(client: TestClient, kit: Path) -> None:
    with Store(kit, clock=CLOCK, read_only=True) as store:
        top = build_report(store, with_analyses=False).top_posts[0]
    page = client.get(f"/posts/{top.post_id}")
    assert page.status_code == 200
    section = page.text.split('<section id="departures">', 1)[1]
    assert section.count('class="person"') == top.left_after > 0


def test_person_page_shows_history_and_hostile_names_as_text(client: TestClient) -> None:
    index = client.get("/", params={"account": "evil"}).text
    assert SCRIPT_HANDLE not in index and IMG_NAME not in index
    links = {part.split('"', 1)[0] for part in index.split('href="/people/')[1:]}
    assert len(links) == 2
    headings = []
    for link in links:
        page = client.get(f"/people/{link}")
        assert page.status_code == 200
        assert SCRIPT_HANDLE not in page.text and IMG_NAME not in page.text
        assert '<section id="spans">' in page.text and 'class="account">evil</td>' in page.text
        headings.append(page.text.split('id="person-name">', 1)[1].split("</h1>", 1)[0])
    assert any(h.startswith("&lt;script&gt;window.__pwned=1&lt;/script&gt;") for h in headings)


def test_a_javascript_url_is_never_a_link(client: TestClient, kit: Path) -> None:
    with Store(kit, clock=CLOCK, read_only=True) as store:
        post_id = store.scalar("SELECT post_id FROM posts WHERE url = ?", [EVIL_URL])
    page = client.get(f"/posts/{post_id}").text
    assert 'href="javascript' not in page.lower()
    assert f'<p id="post-url">{EVIL_URL}</p>' in page
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=3" in page


def test_unknown_things_are_404_and_bad_input_400(client: TestClient) -> None:
    assert client.get("/posts/99999").status_code == 404
    assert client.get("/people/99999").status_code == 404
    assert client.get("/", params={"account": "nope"}).status_code == 404
    assert client.get("/", params={"since": "yesterday-ish"}).status_code == 400


def test_plotly_is_served_locally(client: TestClient) -> None:
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert '<script src="/static/plotly.min.js">' in client.get("/").text


def test_token_is_checked_on_every_request(kit: Path) -> None:
    app = create_app(kit, token="s3cret", clock=CLOCK, analyses=False)
    with TestClient(app, base_url=LOCAL) as c:
        assert c.get("/").status_code == 401
        assert c.get("/static/plotly.min.js").status_code == 401
        assert c.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/healthz", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        first = c.get("/", params={"token": "s3cret"})
        assert first.status_code == 200
        assert c.get("/people/1").status_code == 200  # the cookie set above


def test_binding_beyond_loopback_needs_a_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "tok")
    with pytest.raises(InvalidInput, match="token"):
        check_bind("0.0.0.0", None)
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", "/x.duckdb", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1 and "token" in proc.stderr


WRITER = """
import sys
from breakup.store import Store
store = Store(sys.argv[1])
print("open", flush=True)
for line in sys.stdin:
    name = line.strip()
    if not name:
        break
    with store.transaction():
        store.ensure_account(name, "csv")
    print("committed", flush=True)
store.close()
"""


def test_reads_while_another_process_writes(tmp_path: Path) -> None:
    db = kit_store(tmp_path)
    reader = StoreReader(db, clock=CLOCK, max_age=0.0)
    app = create_app(db, clock=CLOCK, reader=reader, analyses=False)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "open"
        with pytest.raises(Exception, match="lock"):  # what a direct read-only open meets
            Store(db, read_only=True)
        with TestClient(app, base_url=LOCAL) as c:
            assert c.get("/").status_code == 200
            assert "late-account" not in c.get("/").text
            writer.stdin.write("late-account\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "committed"  # not blocked by us
            assert "late-account" in c.get("/").text  # and we see what it committed
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.wait(timeout=30) == 0
    finally:
        writer.kill()
        reader.close()
    # Once the writer is gone, a new one starts even while the dashboard has been reading.
    with TestClient(create_app(db, clock=CLOCK, analyses=False), base_url=LOCAL) as c:
        assert c.get("/").status_code == 200
        with Store(db) as again:
            assert again.account("late-account").platform == "csv"


def test_dashboard_in_the_browser(kit: Path) -> None:
    with running(create_app(kit, clock=CLOCK, analyses=False)) as url, browser_page() as p:
        page = p.page
        page.goto(url + "/")
        assert chart_traces(page, "followers") >= 4
        assert chart_traces(page, "timeline") >= 4
        all_rows = page.locator("#departures tbody tr").count()
        p.screenshot("dashboard-index")

        page.click("details.filters > summary")  # the filters fold away under the headline
        page.select_option("#f-channel", "mastodon")
        page.click("#f-apply")
        page.wait_for_url("**channel=mastodon**")
        accounts = set(page.locator("#departures tbody td.account").all_inner_texts())
        assert accounts == {"mastodon:@brand@mastodon.example"}
        assert 0 < page.locator("#departures tbody tr").count() < all_rows
        assert chart_traces(page, "followers") == 3  # one account: line, gains, losses
        p.screenshot("dashboard-mastodon")

        page.goto(url + "/")
        page.click("details.filters > summary")
        page.fill("#f-since", "2025-05-25")
        page.click("#f-apply")
        page.wait_for_url("**since=2025-05-25**")
        recent = page.locator("#departures tbody tr").count()
        assert 0 < recent < all_rows
        p.screenshot("dashboard-since")

        page.goto(url + "/")
        chart_traces(page, "timeline")
        post_id = page.evaluate(  # a click on a post's marker opens that post
            """() => {
                const el = document.getElementById('chart-timeline');
                const trace = el.data.find(t => t.mode === 'markers');
                el.emit('plotly_click', {points: [{customdata: trace.customdata[0]}]});
                return trace.customdata[0];
            }"""
        )
        page.wait_for_url(f"**/posts/{post_id}")
        assert page.locator("#post-text").count() == 1

        page.goto(url + "/")
        page.locator("#posts a.post").first.click()
        page.wait_for_url("**/posts/**")
        left = page.locator("#departures a.person")
        assert left.count() > 0
        p.screenshot("dashboard-post")
        left.first.click()
        page.wait_for_url("**/people/**")
        assert page.locator("#spans tbody tr").count() >= 1
        p.screenshot("dashboard-person")

        page.goto(url + "/?account=evil")
        page.locator("#departures a.person", has_text=SCRIPT_HANDLE).click()
        page.wait_for_url("**/people/**")
        assert page.locator("#person-name").inner_text().startswith(SCRIPT_HANDLE)
        assert IMG_NAME in page.locator("#names").inner_text()
        assert page.evaluate("window.__pwned") is None
        p.screenshot("dashboard-hostile")
        assert p.errors == []
        assert p.offsite == []


def test_dashboard_with_analyses_in_the_browser(kit: Path) -> None:
    """The why and fans sections render (their results, or why there are none), and
    their people lead to their pages."""
    with running(create_app(kit, clock=CLOCK)) as url, browser_page() as p:
        page = p.page
        page.goto(url + "/")
        assert chart_traces(page, "followers") >= 4
        sections = page.locator("section h2").all_inner_texts()
        assert "Top fans" in sections and "Hygiene" in sections
        if page.locator("#chart-survival").count():
            assert chart_traces(page, "survival") >= 1
        p.screenshot("dashboard-analyses")
        fan = page.locator("#top_fans a.person").first
        fan.click()
        page.wait_for_url("**/people/**")
        assert page.locator("#engagement dt").count() >= 1  # a top fan has engaged
        assert p.errors == []
        assert p.offsite == []


def test_dashboard_with_token_in_the_browser(kit: Path) -> None:
    with (
        running(create_app(kit, token="tok3n", clock=CLOCK, analyses=False)) as url,
        browser_page() as p,
    ):
        assert httpx.get(url + "/").status_code == 401
        p.page.goto(url + "/?token=tok3n")
        assert chart_traces(p.page, "followers") >= 4  # plotly.js loaded with the cookie
        p.page.locator("#posts a.post").first.click()
        p.page.wait_for_url("**/posts/**")
        assert p.page.locator("h1").inner_text().startswith(("Post", "Repost", "Reply", "Camp"))
        assert p.errors == []


def test_a_copy_taken_while_the_store_changes_is_never_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = kit_store(tmp_path)
    slept: list[float] = []
    reader = StoreReader(db, clock=CLOCK, max_age=0.0, attempts=4, sleep=slept.append)
    real_copy = __import__("shutil").copyfile
    busy = {"copies": 2}  # the writer touches the file during the first two copies

    def copy_while_writing(src: Any, dst: Any) -> Any:
        out = real_copy(src, dst)
        if busy["copies"] > 0 and str(src) == str(db):
            busy["copies"] -= 1
            with open(db, "ab") as f:  # grows the file: what a checkpoint would do
                f.write(b"\0")
        return out

    monkeypatch.setattr("breakup.web.reader.shutil.copyfile", copy_while_writing)
    try:
        first = reader.snapshot()
        assert len(slept) == 2  # two inconsistent copies discarded, the third kept
        assert len(list(reader.folder.glob("snapshot-*.duckdb"))) == 1
        with reader.store() as store:
            assert store.path == first and store.accounts()
        busy["copies"] = 99  # now it never settles: the last consistent copy is served
        with open(db, "ab") as f:
            f.write(b"\0")
        assert reader.snapshot() == first
        assert len(slept) == 2 + 4
    finally:
        reader.close()
    assert not reader.folder.exists()


def test_cli_serve_with_a_token_from_the_environment(kit: Path) -> None:
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "breakup", "--db", str(kit), "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin", "BREAKUP_TOKEN": "envtok"},
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(base + "/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
                time.sleep(0.2)
        assert health.status_code == 401  # the token from $BREAKUP_TOKEN is required
        ok = httpx.get(base + "/healthz", headers={"Authorization": "Bearer envtok"}, timeout=10)
        assert ok.json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_concurrent_requests_build_a_report_once(
    kit: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    import breakup.web.app as web_app

    calls: list[int] = []
    real = web_app.build_report

    def slow_build(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(web_app, "build_report", slow_build)
    with TestClient(create_app(kit, clock=CLOCK, analyses=False), base_url=LOCAL) as c:
        codes: list[int] = []
        threads = [
            threading.Thread(target=lambda: codes.append(c.get("/api/report").status_code))
            for _ in range(5)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert codes == [200] * 5
        assert len(calls) == 1


def test_a_post_page_runs_only_the_break_up_posts_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post's page shows the why analysis' verdict on it without building the report or
    running the whole analysis: only its break-up posts step, once per copy of the store
    (kept for the next post), and the page is the one the whole-store report's verdict
    gives, figure for figure."""
    from datetime import timedelta

    import jinja2

    import breakup.web.app as web_app
    import breakup.why.report as why_report
    from benchmarks.why_worlds import T0, Effect, World, save_world
    from breakup.clock import fixed_clock
    from breakup.report import post_detail, post_verdicts
    from breakup.report.html import environment
    from breakup.serialize import dumps

    db = tmp_path / "why.duckdb"
    world = World(10 * 24, post_every_hours=4, effects=[Effect(30, 40, 0.5)], seed=1)
    clock = fixed_clock(T0 + timedelta(hours=world.hours + 1))
    with Store(db, clock=clock) as store:
        save_world(store, world)
    with Store(db, clock=clock, read_only=True) as store:
        report = build_report(store)
        scored = [p for p in report.posts if p.score is not None]
        top = next(p for p in scored if p.score is not None and p.score.break_up)
        other = next(p for p in scored if p.post_id != top.post_id)
        verdicts = post_verdicts(store)
        env = environment(jinja2.PackageLoader("breakup.web", "templates"))
        expected = env.get_template("post.html.j2").render(
            url_prefix="", links=True, detail=post_detail(store, top.post_id), score=top.score
        )
    # The verdicts computed alone are the whole analysis' (every post, every figure).
    assert {k: dumps(v) for k, v in verdicts.items()} == {
        (p.account, p.external_id): dumps(p.score) for p in scored
    }

    calls: list[str] = []

    def spy(name: str, real: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return counted

    monkeypatch.setattr(web_app, "build_report", spy("report", web_app.build_report))
    monkeypatch.setattr(why_report, "_analyze", spy("whole why", why_report._analyze))
    monkeypatch.setattr(
        why_report, "attribution_only", spy("break-up posts", why_report.attribution_only)
    )
    with TestClient(create_app(db, clock=clock), base_url=LOCAL) as c:
        page = c.get(f"/posts/{top.post_id}")
        second = c.get(f"/posts/{other.post_id}")
        assert calls == ["break-up posts"]  # once, for both pages; no report, no analysis
        assert c.get("/").status_code == 200  # the index builds the report …
        assert calls == ["break-up posts", "report", "whole why"]
    assert page.status_code == second.status_code == 200
    assert page.text == expected
    assert "break-up post" in page.text
