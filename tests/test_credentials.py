"""A service token is bound to the host that issued it and never sent to another: a watch
tracking an own account and a peer on another server, through the real Mastodon.py client,
against two local Mastodon servers (two hosts: 127.0.0.1 on two ports)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from breakup.credentials import UnboundToken, host_key, token_for, token_for_target
from breakup.live import Connection, get_tracker
from breakup.store import Store
from breakup.watch import TrackJob, Watch, WatchConfig, WatchResult

from .servers.mastodon import Instance, serve

TOKEN = "tok-OWN-7c1d5e2a9b"


@pytest.fixture
def servers() -> Iterator[tuple[Instance, Instance]]:
    now = datetime.now(UTC).replace(microsecond=0)
    with serve(Instance(clock=now)) as own, serve(Instance(clock=now)) as peer:
        brand = own.add_account("brand")
        own.tokens[TOKEN] = brand
        rival = peer.add_account("rival")
        for i in range(4):
            own.follow(own.add_account(f"fan{i}"), brand)
            peer.follow(peer.add_account(f"fan{i}"), rival)
        yield own, peer


def _env(kind: str, own: Instance) -> dict[str, str]:
    if kind == "bare token with its instance":
        return {"BREAKUP_MASTODON_TOKEN": TOKEN, "BREAKUP_MASTODON_INSTANCE": own.domain}
    return {f"BREAKUP_MASTODON_TOKEN__{host_key(own.domain)}": TOKEN}


@pytest.mark.parametrize("kind", ["bare token with its instance", "token named by its host"])
def test_a_watch_sends_the_token_to_its_own_server_only(
    servers: tuple[Instance, Instance],
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own, peer = servers
    monkeypatch.delenv("BREAKUP_MASTODON_TOKEN", raising=False)
    for name, value in _env(kind, own).items():
        monkeypatch.setenv(name, value)
    jobs = [
        TrackJob(f"mastodon:@brand@{own.domain}", every=timedelta(hours=1), base_url=own.base_url),
        TrackJob(
            f"mastodon:@rival@{peer.domain}", every=timedelta(hours=1), base_url=peer.base_url
        ),
    ]
    events: list[str] = []
    with Store(tmp_path / "w.duckdb") as store:
        watch = Watch(
            store, WatchConfig(jobs=jobs), stop=threading.Event(),
            report=lambda e, d: events.append(f"{e} {d.get('error', '')}"),
        )  # fmt: skip
        result = WatchResult()
        watch.run_due(result)
    assert result.polls == 2, events
    assert peer.seen and all(s.authorization is None for s in peer.seen)
    assert any(s.authorization == f"Bearer {TOKEN}" for s in own.seen)
    # The own account's token was its own: notifications were read on its server.
    assert any(s.path == "/api/v1/notifications" for s in own.seen)


def test_a_bare_token_without_its_instance_is_refused_in_one_line(
    servers: tuple[Instance, Instance], tmp_path: Path
) -> None:
    own, _ = servers
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(tmp_path / "t.duckdb"), "track",
         f"mastodon:@brand@{own.domain}", "--base-url", own.base_url],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "BREAKUP_MASTODON_TOKEN": TOKEN},
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: BREAKUP_MASTODON_TOKEN is set but not bound to a server")
    assert "BREAKUP_MASTODON_INSTANCE" in line and TOKEN not in line
    assert own.seen == []  # refused before any request


def test_tokens_are_looked_up_by_the_host_requests_go_to() -> None:
    env = {"breakup_mastodon_token__mastodon_social": "a", "BREAKUP_BSKY_TOKEN__X_Y": "b"}
    assert token_for("mastodon", "mastodon.social", env) == "a"
    assert token_for("mastodon", "mastodon.online", env) is None
    assert token_for("bsky", "x.y", env) == "b"
    bound = {"BREAKUP_MASTODON_TOKEN": "t", "BREAKUP_MASTODON_INSTANCE": "https://Home.example/"}
    assert token_for("mastodon", "home.example", bound) == "t"
    assert token_for("mastodon", "home.example:8443", bound) is None
    assert token_for("mastodon", "other.example", bound) is None
    with pytest.raises(UnboundToken, match="BREAKUP_MASTODON_TOKEN__other_example"):
        token_for("mastodon", "other.example", {"BREAKUP_MASTODON_TOKEN": "t"})
    # The host is the one requests go to: the base URL's when one is given.
    env = {"BREAKUP_MASTODON_TOKEN__proxy_example_8080": "p"}
    assert token_for_target("mastodon:@me@home.example", "http://proxy.example:8080", env) == "p"
    assert token_for_target("mastodon:@me@home.example", None, env) is None
    assert token_for_target("bsky:me.example", None, {}) is None


def test_the_session_drops_the_token_for_any_other_host(
    servers: tuple[Instance, Instance],
) -> None:
    """Belt and braces: whatever URL the client is asked for, only its own host sees the
    token."""
    own, peer = servers
    conn = Connection(base_url=own.base_url, token=TOKEN, timeout=5.0)
    tracker = get_tracker(f"mastodon:@brand@{own.domain}", conn)
    session = tracker.client.api.session  # type: ignore[attr-defined]
    for inst in (own, peer):
        url = f"{inst.base_url}/api/v1/accounts/lookup?acct=brand"
        session.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).close()
    assert own.seen[-1].authorization == f"Bearer {TOKEN}"
    assert peer.seen[-1].authorization is None
