"""Security: attacker-controlled text is rendered as text everywhere it is shown (HTML
report, dashboard pages and error pages, digest email and webhooks), CSV exports are
formula-safe, tokens never reach the store, its log, output or errors, the dashboard
refuses requests without its token, and email addresses are stored hashed by default.

Everything goes through public functions and the CLI; nothing here edits the renderers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from breakup.clock import fixed_clock
from breakup.digest.compose import compose
from breakup.digest.render import discord_payload, render_html, render_text, slack_payload
from breakup.errors import InvalidInput
from breakup.ingest import save_batch
from breakup.models import Batch, Direction, Person, Post, Profile, Snapshot
from breakup.report import build_report
from breakup.report.html import render_html as report_html
from breakup.store import Store
from breakup.web import check_bind, create_app

from .servers.mastodon import Fault, Instance, serve
from .webkit import LOCAL

NOW = datetime(2025, 6, 1, tzinfo=UTC)
CLOCK = fixed_clock(NOW)
ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "200"}

# Payloads that would run if any of them reached a page unescaped.
SCRIPT = "<script>window.__x=1</script>"
IMG = '<img src=x onerror="window.__x=2">'
SVG = "<svg/onload=window.__x=3>"
ATTR = '" onmouseover="window.__x=4'
CLOSE = "</textarea></title></script><script>window.__x=5</script>"
PAYLOADS = [SCRIPT, IMG, SVG, ATTR, CLOSE]
RAW_MARKERS = ["<script>window.__x", "<img src=x", "<svg/onload", '" onmouseover="', "<script>"]
FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1,1)", "-2+3", "@SUM(A1)", "\t=1", "\n=1"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose people, bios, posts and account names are all hostile."""
    db = tmp_path_factory.mktemp("sec") / "hostile.duckdb"
    day1, day2 = datetime(2025, 5, 20, tzinfo=UTC), datetime(2025, 5, 30, 12, tzinfo=UTC)
    people = [
        Person(f"p{i}", handle=p, display_name=PAYLOADS[(i + 1) % len(PAYLOADS)])
        for i, p in enumerate(PAYLOADS)
    ] + [Person(f"f{i}", handle=f, display_name=f) for i, f in enumerate(FORMULAS)]
    with Store(db, clock=CLOCK) as store:
        save_batch(
            store,
            Batch(
                source="json",
                platform="youtube",
                source_ref="day1",
                account_identity="UCevil",
                account_handle=f"brand{IMG}",
                observed_at=day1,
                snapshots=[Snapshot.of(Direction.FOLLOWERS, day1, [*people, Person("stay")])],
                posts=[
                    Post(f"v{i}", day1 + timedelta(days=2 + i), text=f"{FORMULAS[i]} {p}")
                    for i, p in enumerate(PAYLOADS)
                ],
                profiles=[Profile(p, day1, description=f"bio {SCRIPT} {IMG}") for p in people],
            ),
            account=f"evil{SCRIPT}",
        )
        save_batch(
            store,
            Batch(
                source="json",
                platform="youtube",
                source_ref="day2",
                account_identity="UCevil",
                observed_at=day2,
                snapshots=[Snapshot.of(Direction.FOLLOWERS, day2, [Person("stay")])],
            ),
            account=f"evil{SCRIPT}",
        )
    return db


def assert_no_raw_markup(html: str) -> None:
    for payload in PAYLOADS:
        assert payload not in html, payload
    for raw in ("<img src=x", "<svg/onload", 'onmouseover="window', "window.__x=1</script>"):
        at = html.lower().find(raw.lower())
        assert at < 0, f"raw {raw!r} in: {html[max(0, at - 80) : at + 80]!r}"


# -- HTML: report, dashboard, digest -------------------------------------------------------


def test_html_report_shows_hostile_text_as_text(hostile: Path) -> None:
    with Store(hostile, read_only=True, clock=CLOCK) as store:
        report = build_report(store, with_analyses=False)
    html = report_html(report, plotlyjs="/* plotly */")
    assert_no_raw_markup(html)
    assert "&lt;script&gt;window.__x=1&lt;/script&gt;" in html  # shown, as text
    assert "&lt;img src=x" in html


@pytest.fixture(scope="module")
def dashboard(hostile: Path) -> Iterator[TestClient]:
    with TestClient(create_app(hostile, clock=CLOCK, analyses=False), base_url=LOCAL) as client:
        yield client


def test_dashboard_pages_show_hostile_text_as_text(dashboard: TestClient, hostile: Path) -> None:
    with Store(hostile, read_only=True) as store:
        person_ids = [r[0] for r in store.con.execute("SELECT person_id FROM people").fetchall()]
        post_ids = [r[0] for r in store.con.execute("SELECT post_id FROM posts").fetchall()]
    pages = ["/", "/api/report"]
    pages += [f"/people/{i}" for i in person_ids] + [f"/posts/{i}" for i in post_ids]
    seen_escaped = 0
    for url in pages:
        resp = dashboard.get(url)
        assert resp.status_code == 200, url
        if url.startswith("/api"):
            assert resp.headers["content-type"].startswith("application/json")
            continue
        assert resp.headers["content-type"].startswith("text/html")
        assert_no_raw_markup(resp.text)
        seen_escaped += "&lt;script&gt;" in resp.text
    assert seen_escaped >= len(person_ids) // 2  # the names were there, escaped


@pytest.mark.parametrize(
    "query",
    [
        {"account": SCRIPT},
        {"channel": IMG},
        {"since": SVG},
        {"until": CLOSE},
    ],
)
def test_reflected_input_in_error_pages_is_escaped(
    dashboard: TestClient, query: dict[str, str]
) -> None:
    resp = dashboard.get("/", params=query)
    assert resp.status_code in (200, 400, 404)
    assert_no_raw_markup(resp.text)
    bad = dashboard.get(f"/people/{SCRIPT}")
    assert bad.status_code in (404, 422) and SCRIPT not in bad.text


def test_digest_email_and_webhooks_show_hostile_text_as_text(hostile: Path) -> None:
    with Store(hostile, read_only=True, clock=CLOCK) as store:
        digest = compose(store, date(2025, 5, 30), why=None)
    assert len(digest.items) == len(PAYLOADS) + len(FORMULAS)
    html = render_html(digest)
    assert_no_raw_markup(html)
    assert "&lt;script&gt;" in html
    text = render_text(digest)
    assert SCRIPT in text or "<script>" in text  # plain text stays what was written
    slack = json.dumps(slack_payload(digest))
    assert "<script>" not in slack and "<img" not in slack and "&lt;script&gt;" in slack
    discord = discord_payload(digest)
    assert discord["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in discord["content"]


# -- CSV exports ------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["departures", "spans", "posts", "fans"])
def test_csv_exports_neutralize_every_formula_cell(
    hostile: Path, tmp_path: Path, table: str
) -> None:
    db = tmp_path / "copy.duckdb"
    db.write_bytes(hostile.read_bytes())
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(db), "export", table, "--format", "csv"],
        capture_output=True, timeout=180, env=ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    rows = list(csv.reader(io.StringIO(proc.stdout.decode(), newline="")))
    cells = [c for row in rows[1:] for c in row]
    dangerous = [c for c in cells if c[:1] in FORMULA_START and not _number(c)]
    assert not dangerous, dangerous[:5]
    if table in ("departures", "posts"):
        assert any(c.startswith("'") for c in cells), "the hostile cells were not exported"


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_a_carriage_return_inside_a_name_cannot_start_a_formula_row(tmp_path: Path) -> None:
    db = tmp_path / "cr.duckdb"
    day1, day2 = datetime(2025, 5, 20, tzinfo=UTC), datetime(2025, 5, 30, tzinfo=UTC)
    sneaky = Person("cr1", handle="innocent\r=2+5*cmd|calc!A0", display_name="ok")
    with Store(db, clock=CLOCK) as store:
        for ref, day, members in (("1", day1, [sneaky]), ("2", day2, [])):
            save_batch(
                store,
                Batch(source="t", platform="p", source_ref=ref, observed_at=day,
                      snapshots=[Snapshot.of(Direction.FOLLOWERS, day, members,
                                             reported_count=len(members))]),
                account="cr",
            )  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(db), "export", "departures", "--format",
         "csv"],
        capture_output=True, timeout=180, env=ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    rows = list(csv.reader(io.StringIO(proc.stdout.decode(), newline="")))
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if c.startswith("=")], rows


# -- tokens ------------------------------------------------------------------------------------

TOKEN = "tok-SECRET-5f0e9d8c7b6a"


def _track(inst: Instance, db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(db), "track",
         f"mastodon:@brand@{inst.domain}", "--base-url", inst.base_url, *extra],
        capture_output=True, text=True, timeout=180,
        env={**ENV, "BREAKUP_MASTODON_TOKEN": TOKEN, "BREAKUP_MASTODON_INSTANCE": inst.domain},
    )  # fmt: skip


def assert_token_nowhere(db: Path, *outputs: str) -> None:
    for out in outputs:
        assert TOKEN not in out
    for f in (db, db.with_name(db.name + ".wal")):
        if f.exists():
            assert TOKEN.encode() not in f.read_bytes(), f


@pytest.mark.parametrize("failure", [None, "500", "401", "429"])
def test_the_mastodon_token_never_reaches_store_output_or_errors(
    tmp_path: Path, failure: str | None
) -> None:
    with serve(Instance(clock=datetime.now(UTC).replace(microsecond=0))) as inst:
        brand = inst.add_account("brand", display_name=f"Brand {TOKEN[:4]}")
        inst.tokens[TOKEN] = brand
        for i in range(5):
            fan = inst.add_account(f"fan{i}", "remote.example")
            inst.follow(fan, brand)
        if failure == "500":  # fails twice, then the retry gets through
            inst.faults.append(Fault("/api/v1/accounts/lookup", 500, times=2))
        elif failure == "429":
            inst.faults.append(Fault("/api/v1/accounts/lookup", 429, times=99, reset_in=0.1))
        elif failure == "401":
            inst.tokens.clear()  # the token is refused: /notifications answers 401
        db = tmp_path / "t.duckdb"
        for extra in ((), ("--json",)):
            proc = _track(inst, db, *extra)
            if failure == "429":  # rate limited on every retry: a one-line error
                assert proc.returncode == 1 and proc.stderr.startswith("error: "), proc.stderr
            else:
                assert proc.returncode == 0, proc.stderr
            assert "Traceback" not in proc.stderr
            assert_token_nowhere(db, proc.stdout, proc.stderr)
        assert any(s.authorization == f"Bearer {TOKEN}" for s in inst.seen)


def test_a_watch_reporting_a_failing_service_never_prints_the_token(tmp_path: Path) -> None:
    with serve(Instance(clock=datetime.now(UTC).replace(microsecond=0))) as inst:
        inst.tokens[TOKEN] = inst.add_account("brand")
        inst.faults.append(Fault("/api/v1/accounts/lookup", 429, times=10**6, reset_in=0.05))
        config = tmp_path / "w.toml"
        config.write_text(
            f'[[track]]\ntarget = "mastodon:@brand@{inst.domain}"\nbase_url = "{inst.base_url}"\n'
        )
        db = tmp_path / "w.duckdb"
        proc = subprocess.Popen(
            [sys.executable, "-m", "breakup", "--db", str(db), "watch", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**ENV, "BREAKUP_MASTODON_TOKEN": TOKEN, "BREAKUP_MASTODON_INSTANCE": inst.domain},
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any(
            s.path.endswith("lookup") for s in inst.seen[5:]
        ):
            time.sleep(0.2)
        time.sleep(0.5)
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert "failed" in out and "rate limited" in out, out
    assert_token_nowhere(db, out)


def test_the_dashboard_token_is_never_stored_in_the_database(hostile: Path) -> None:
    secret = "dash-SECRET-91c0"
    app = create_app(hostile, token=secret, clock=CLOCK, analyses=False)
    with TestClient(app, base_url=LOCAL) as client:
        assert client.get("/", params={"token": secret}).status_code == 200
    assert secret.encode() not in hostile.read_bytes()


def test_the_dashboard_token_never_appears_in_its_log(hostile: Path, tmp_path: Path) -> None:
    db = tmp_path / "d.duckdb"
    db.write_bytes(hostile.read_bytes())
    secret = "dash-SECRET-77aa"
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "breakup", "--db", str(db), "serve", "--port", str(port),
         "--token", secret],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, params={"token": secret}, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        time.sleep(0.5)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "GET /healthz" in out or "Uvicorn" in out, out
    assert secret not in out


# -- the dashboard's door ----------------------------------------------------------------------


def test_serving_beyond_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::", "192.0.2.10", "example.com"):
        with pytest.raises(InvalidInput, match="token"):
            check_bind(host, None)
        check_bind(host, "t")
    for host in ("127.0.0.1", "::1", "localhost", "127.5.5.5"):
        check_bind(host, None)
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(tmp_path / "x.duckdb"), "serve",
         "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=120, env=ENV,
    )  # fmt: skip
    assert proc.returncode == 1 and "token" in proc.stderr and "Uvicorn" not in proc.stderr


def test_every_route_refuses_a_request_without_the_token(hostile: Path) -> None:
    secret = "s3cr3t-door"
    app = create_app(hostile, token=secret, clock=CLOCK, analyses=False)
    routes = ["/", "/api/report", "/healthz", "/static/plotly.min.js", "/people/1", "/posts/1",
              "/nonexistent"]  # fmt: skip
    with TestClient(app, base_url=LOCAL) as client:
        for url in routes:
            assert client.get(url).status_code == 401, url
            assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert client.get(url, params={"token": secret[:-1]}).status_code == 401
            assert client.get(url, cookies={"breakup_token": "x"}).status_code == 401
            assert client.post(url).status_code == 401, url
        ok = client.get("/healthz", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200


# -- email addresses ---------------------------------------------------------------------------

MAILCHIMP = Path(__file__).parent / "fixtures" / "mailchimp" / "members_export_3f9a1c2b7d"


def addresses() -> list[str]:
    found = []
    for f in MAILCHIMP.glob("*.csv"):
        for row in csv.DictReader(f.open(encoding="utf-8-sig")):
            found.append(row["Email Address"])
    return found


@pytest.mark.parametrize("keep", [False, True])
def test_email_addresses_are_only_stored_hashed_unless_kept(tmp_path: Path, keep: bool) -> None:
    emails = addresses()
    assert len(emails) >= 3
    db = tmp_path / "mail.duckdb"
    args = ["--keep-emails"] if keep else []
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(db), "import", "mailchimp", str(MAILCHIMP),
         "--account", "news", "--json", *args],
        capture_output=True, text=True, timeout=120, env=ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for out in (proc.stdout, proc.stderr):
        assert not any(e in out for e in emails)
    stored = db.read_bytes()
    wal = db.with_name(db.name + ".wal")
    stored += wal.read_bytes() if wal.exists() else b""
    found = [e for e in emails if e.encode() in stored or e.lower().encode() in stored]
    if keep:
        assert found, "--keep-emails should keep the plain addresses"
    else:
        assert found == []
        with Store(db, read_only=True) as store:
            ids = [r[0] for r in store.con.execute("SELECT external_id FROM people").fetchall()]
        assert ids and all(i.startswith("h:") for i in ids)


def test_environment_is_not_leaked_into_json_output(tmp_path: Path) -> None:
    """--json renders results, never the process environment or a Connection's token."""
    Store(tmp_path / "e.duckdb").close()  # read commands never create a store
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(tmp_path / "e.duckdb"), "accounts",
         "--json"],
        capture_output=True, text=True, timeout=120,
        env={**ENV, "BREAKUP_MASTODON_TOKEN": TOKEN, "BREAKUP_TOKEN": TOKEN},
    )  # fmt: skip
    assert proc.returncode == 0 and TOKEN not in proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == []
    assert os.environ.get("BREAKUP_MASTODON_TOKEN") != TOKEN
