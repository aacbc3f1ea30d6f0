"""Digests: composed from the analyses, delivered to a real SMTP server (aiosmtpd) and to a
local webhook receiver on 127.0.0.1, retried on failure, never sent twice for a period."""

from __future__ import annotations

import email
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from breakup.clock import fixed_clock
from breakup.digest import (
    DigestScheduler,
    Senders,
    compose,
    discord_payload,
    load_targets,
    send_digests,
    slack_payload,
    targets_from_raw,
)
from breakup.errors import InvalidInput
from breakup.store import Store
from breakup.watch import Watch, WatchConfig
from breakup.why.attribution import PostAttribution

from .reportkit import CLOCK, IMG_NAME, SCRIPT_HANDLE, golden_store

UNSUB_DAY = date(2025, 5, 13)  # two unsubscribes naming the =HYPERLINK campaign
EVIL_DAY = date(2025, 5, 27)  # the hostile names' departures were seen this day


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    with Store(golden_store(tmp_path), clock=CLOCK) as store:
        yield store


# -- a real SMTP server and a webhook receiver -------------------------------------------


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    reject_first: int = 0  # refuse this many messages first

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reject_first > 0:
            self.reject_first -= 1
            return "451 4.3.0 try again later"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        box.logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"pw")

    with socket.socket() as probe:  # a free port (aiosmtpd's Controller cannot take 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
        ready_timeout=10,
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@dataclass
class Hook:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many requests first


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.fail_first > 0:
                state.fail_first -= 1
                self.send_response(500)
            else:
                state.bodies.append(json.loads(body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def no_sleep(log: list[float]) -> Senders:
    return Senders(env={}, sleep=log.append)


# -- config ------------------------------------------------------------------------------


def test_config_tables() -> None:
    targets = targets_from_raw(
        {
            "digest": [
                {"email": ["a@x.example", "b@x.example"], "smtp": "mail.example:465"},
                {"webhook": "https://discord.com/api/webhooks/1/abc", "at": "07:30"},
                {"webhook_env": "HOOK", "account": "social", "retries": 1},
            ]
        }
    )
    mail, discord, slack = targets
    assert mail.kind == "email" and mail.tls and not mail.starttls and mail.smtp_port == 465
    assert mail.key == "email:a@x.example,b@x.example"
    assert discord.format == "discord" and discord.at == time(7, 30)
    assert "abc" not in discord.key  # the secret URL never becomes a stored key
    assert slack.format == "slack" and slack.key == "webhook:HOOK" and slack.account == "social"
    for bad in (
        {"digest": [{"to": "nobody"}]},
        {"digest": [{"email": "not-an-address"}]},
        {"digest": [{"webhook": "https://x", "webhook_env": "Y"}]},
        {"digest": [{"webhook": "https://x", "format": "teams"}]},
        {"digest": [{"webhook": "https://x", "at": "noon"}]},
        {"digest": [{"webhook": "https://x"}, {"webhook": "https://x"}]},
        {"digest": {"webhook": "https://x"}},
    ):
        with pytest.raises(InvalidInput):
            targets_from_raw(bad)


# -- composing ---------------------------------------------------------------------------


def test_compose_names_the_campaign_an_unsubscribe_named(db: Store) -> None:
    digest = compose(db, UNSUB_DAY)
    assert [(i.account, i.kind) for i in digest.items] == [("news", "unsubscribed")] * 2
    assert digest.kinds == {"unsubscribed": 2}
    for item in digest.items:
        assert item.post is not None and item.post.named
        assert item.post.text.startswith("=HYPERLINK")
        assert item.post.confidence == "named by the unsubscribe itself"


def test_compose_without_statistics_says_so(db: Store) -> None:
    digest = compose(db, date(2025, 5, 26), why=None)
    (item,) = digest.items
    assert (item.who, item.kind, item.exact) == ("f29.example (Person f29)", "unfollowed", True)
    assert item.post is not None and item.post.text == "Cold brew recipe for the weekend."
    assert item.post.confidence == "last post before; no statistics"
    assert compose(db, date(2025, 5, 2)).items == []


def attribution(text: str, at: datetime, rr: float, lo: float, named: bool) -> Any:
    return PostAttribution(
        account="social", post=text, kind="post", created_at=at, text=text, observed=4 * rr,
        expected=4.0, excess=4 * rr - 4, rate_ratio=rr, ci_low=lo, ci_high=rr * 2,
        p_value=0.001 if named else 0.5, p_adjusted=0.01 if named else 0.9,
        adjusted_ci_low=lo, break_up=named, exact=True, excess_ci_low=4 * lo - 4,
        excess_ci_high=8 * rr - 4, significant=named,
    )  # fmt: skip


def test_compose_blames_the_post_the_why_analysis_names(db: Store) -> None:
    why = SimpleNamespace(
        attribution=SimpleNamespace(
            window_hours=48.0,
            posts=[
                attribution("Cold brew recipe", datetime(2025, 5, 23, 16, 15, tzinfo=UTC), 1.2,
                            0.6, False),
                attribution("Flash sale", datetime(2025, 5, 25, 9, 0, tzinfo=UTC), 4.0, 1.8,
                            True),
                attribution("Too old", datetime(2025, 5, 20, 9, 0, tzinfo=UTC), 9.0, 5.0, True),
            ],
        )
    )  # fmt: skip
    (item,) = compose(db, date(2025, 5, 26), why=why).items
    assert item.post is not None and item.post.text == "Flash sale" and item.post.named
    assert item.post.confidence == (
        "break-up post: cost about 12 followers (3–28); unlikely to be chance"
    )


# -- delivery ----------------------------------------------------------------------------


def test_email_to_a_real_smtp_server_once(db: Store, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    (target,) = targets_from_raw(
        {
            "digest": [
                {"email": "me@brand.example", "from": "bot@brand.example",
                 "smtp": f"127.0.0.1:{port}", "starttls": False}
            ]
        }
    )  # fmt: skip
    senders = Senders(env={"BREAKUP_SMTP_USER": "me", "BREAKUP_SMTP_PASSWORD": "pw"})
    (result,) = send_digests(db, [target], EVIL_DAY, senders=senders)
    assert (result.status, result.departures, result.attempts) == ("sent", 2, 1)
    assert box.logins == [(b"me", b"pw")]
    (msg,) = box.messages
    assert msg["Subject"] == "breakup: 2 left on 2025-05-27"
    assert msg["To"] == "me@brand.example"
    text, html = (part.get_payload(decode=True).decode() for part in msg.walk()
                  if part.get_content_maintype() == "text")  # fmt: skip
    assert f"{SCRIPT_HANDLE} ({IMG_NAME}) unknown evil" in text
    assert 'after "</script><script>window.__pwned=3</script>' in text
    assert SCRIPT_HANDLE not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    again = send_digests(db, [target], EVIL_DAY, senders=senders)
    assert [r.status for r in again] == ["already sent"]
    assert len(box.messages) == 1
    assert db.scalar("SELECT count(*) FROM digests_sent WHERE period = '2025-05-27'") == 1


def test_smtp_refusals_are_retried_then_reported(db: Store, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    (target,) = targets_from_raw(
        {"digest": [{"email": "me@brand.example", "smtp": f"127.0.0.1:{port}",
                     "starttls": False, "retries": 2}]}
    )  # fmt: skip
    slept: list[float] = []
    senders = Senders(env={}, sleep=slept.append)
    box.reject_first = 3
    (result,) = send_digests(db, [target], UNSUB_DAY, senders=senders)
    assert (result.status, result.attempts) == ("failed", 3)
    assert result.error is not None and "SMTPDataError" in result.error
    assert slept == [1.0, 2.0] and box.messages == [] and box.logins == []
    assert db.scalar("SELECT count(*) FROM digests_sent") == 0
    box.reject_first = 1
    (result,) = send_digests(db, [target], UNSUB_DAY, senders=senders)
    assert (result.status, result.attempts) == ("sent", 2)
    assert len(box.messages) == 1


def test_webhook_retried_until_delivered_slack(db: Store, hook: Hook) -> None:
    hook.fail_first = 2
    (target,) = targets_from_raw({"digest": [{"webhook": hook.url}]})
    slept: list[float] = []
    (result,) = send_digests(db, [target], EVIL_DAY, senders=no_sleep(slept))
    assert (result.status, result.attempts) == ("sent", 3) and slept == [1.0, 2.0]
    (body,) = hook.bodies
    assert body["text"].startswith("breakup: 2 left on 2025-05-27")
    section = body["blocks"][2]["text"]["text"]
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in section
    assert "<script>" not in json.dumps(body)
    assert [r.status for r in send_digests(db, [target], EVIL_DAY)] == ["already sent"]


def test_webhook_failing_every_time_is_not_recorded(db: Store, hook: Hook) -> None:
    hook.fail_first = 10
    (target,) = targets_from_raw({"digest": [{"webhook": hook.url, "retries": 1}]})
    (result,) = send_digests(db, [target], UNSUB_DAY, senders=no_sleep([]))
    assert (result.status, result.error) == ("failed", "webhook " + target.key + ": HTTP 500")
    hook.fail_first = 0
    (result,) = send_digests(db, [target], UNSUB_DAY, senders=no_sleep([]))
    assert result.status == "sent" and len(hook.bodies) == 1


def test_discord_payload_pings_nobody(db: Store) -> None:
    body = discord_payload(compose(db, EVIL_DAY))
    assert body["allowed_mentions"] == {"parse": []}
    assert len(body["content"]) <= 2000
    assert "@\u200bSUM" in body["content"]  # a display name cannot mention
    slack = json.dumps(slack_payload(compose(db, EVIL_DAY)))
    assert "<img" not in slack


def test_nothing_to_send_unless_asked(db: Store, hook: Hook) -> None:
    (target,) = targets_from_raw({"digest": [{"webhook": hook.url}]})
    quiet = date(2025, 5, 2)
    assert [r.status for r in send_digests(db, [target], quiet)] == ["nothing to send"]
    sent = send_digests(db, [target], quiet, send_empty=True)
    assert [r.status for r in sent] == ["sent"]
    assert hook.bodies[0]["text"].startswith("breakup: 0 left on 2025-05-02")


def test_scheduler_sends_yesterday_once_when_due(db: Store, hook: Hook) -> None:
    (target,) = targets_from_raw({"digest": [{"webhook": hook.url, "at": "08:00"}]})
    now = [datetime(2025, 5, 28, 7, 0, tzinfo=UTC)]
    events: list[str] = []
    scheduler = DigestScheduler(
        [target], clock=lambda: now[0], report=lambda e, d: events.append(e)
    )
    assert scheduler.tick(db) == []  # 07:00: not due yet
    now[0] = datetime(2025, 5, 28, 8, 1, tzinfo=UTC)
    (result,) = scheduler.tick(db)
    assert (result.period, result.status) == (EVIL_DAY, "sent")
    assert scheduler.tick(db) == [] and events == ["digest sent"] and len(hook.bodies) == 1


def test_watch_sends_digests_between_polls(tmp_path: Path, hook: Hook) -> None:
    db = golden_store(tmp_path)
    config = WatchConfig(jobs=[], raw={"digest": [{"webhook": hook.url, "at": "00:00"}]})
    clock = fixed_clock(datetime(2025, 5, 28, 9, 0, tzinfo=UTC))
    with Store(db, clock=clock) as store:
        watch = Watch(store, config, clock=clock)
        watch.wait = lambda seconds: watch.stop.set()  # one round
        watch.run()
        assert store.scalar("SELECT period FROM digests_sent") == "2025-05-27"
    assert len(hook.bodies) == 1


def test_cli_digest_sends_now_and_not_twice(tmp_path: Path, hook: Hook) -> None:
    db = golden_store(tmp_path)
    config = tmp_path / "watch.toml"
    config.write_text(f'[[digest]]\nwebhook = "{hook.url}"\n', encoding="utf-8")
    assert load_targets(config)[0].kind == "webhook"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "breakup", "--db", str(db), "digest", str(config), *args],
            capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip

    first = run("--period", "2025-05-13", "--json")
    assert first.returncode == 0, first.stderr
    assert [r["status"] for r in json.loads(first.stdout)] == ["sent"]
    second = run("--period", "2025-05-13", "--json")
    assert [r["status"] for r in json.loads(second.stdout)] == ["already sent"]
    assert len(hook.bodies) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[[digest]]\nto = 1\n", encoding="utf-8")
    failed = run_bad = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(db), "digest", str(bad)],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert failed.returncode == 1 and "[[digest]] #1" in run_bad.stderr


def test_cli_digest_while_watch_holds_the_store(tmp_path: Path, hook: Hook) -> None:
    db = golden_store(tmp_path)
    config = tmp_path / "watch.toml"
    config.write_text(f'[[digest]]\nwebhook = "{hook.url}"\n', encoding="utf-8")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from breakup.store import Store; "
         "s = Store(sys.argv[1]); print('open', flush=True); sys.stdin.readline()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "open"
        proc = subprocess.run(
            [sys.executable, "-m", "breakup", "--db", str(db), "digest", str(config)],
            capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert proc.returncode == 1
        assert "breakup watch" in proc.stderr and hook.bodies == []
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)


def test_a_digest_computes_only_what_it_shows(
    db: Store, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never the report nor the whole why analysis: the day's departures, and the break-up
    posts step only when a departure's likely post is to be judged (not on a quiet day)."""
    import breakup.digest.schedule as schedule
    import breakup.report.build as build
    import breakup.why.report as why_report

    calls: list[str] = []
    real = schedule.attribution_only

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("break-up posts")
        return real(*args, **kwargs)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a digest ran the report or the whole why analysis")

    monkeypatch.setattr(schedule, "attribution_only", counted)
    monkeypatch.setattr(why_report, "_analyze", forbidden)
    monkeypatch.setattr(build, "build_report", forbidden)
    (target,) = targets_from_raw({"digest": [{"webhook": hook.url}]})
    quiet = send_digests(db, [target], date(2025, 5, 2), send_empty=True)
    assert [r.status for r in quiet] == ["sent"] and calls == []
    (busy,) = send_digests(db, [target], EVIL_DAY)
    assert busy.status == "sent" and busy.departures > 0 and calls == ["break-up posts"]
