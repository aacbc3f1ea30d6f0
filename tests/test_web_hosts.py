"""The dashboard answers only requests naming a trusted host: a page on another domain that
was re-pointed at 127.0.0.1 (DNS rebinding) sends its own name in ``Host`` and gets 400,
so it cannot read ``/api/report`` from a token-less loopback dashboard."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from breakup.web import create_app
from breakup.web.auth import allowed_hosts

from .reportkit import CLOCK, kit_store
from .webkit import LOCAL, running


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit_store(tmp_path_factory.mktemp("hosts"))


@pytest.fixture(scope="module")
def client(kit: Path) -> Iterator[TestClient]:
    with TestClient(create_app(kit, clock=CLOCK, analyses=False), base_url=LOCAL) as c:
        yield c


@pytest.mark.parametrize("path", ["/api/report", "/", "/healthz", "/static/plotly.min.js"])
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8377", "127.0.0.1.evil.example"])
def test_a_foreign_host_gets_400(client: TestClient, path: str, host: str) -> None:
    answer = client.get(path, headers={"Host": host})
    assert answer.status_code == 400
    assert "Brand" not in answer.text and "followers" not in answer.text


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8377", "localhost:8377", "[::1]:8377"])
def test_loopback_names_are_answered(client: TestClient, host: str) -> None:
    assert client.get("/api/report", headers={"Host": host}).status_code == 200


def test_the_host_check_comes_before_the_token(kit: Path) -> None:
    app = create_app(kit, token="s3cret", clock=CLOCK, analyses=False)
    with TestClient(app, base_url=LOCAL) as c:
        auth = {"Authorization": "Bearer s3cret"}
        assert c.get("/healthz", headers=auth).status_code == 200
        assert c.get("/healthz", headers={**auth, "Host": "evil.example"}).status_code == 400


def test_the_hosts_served() -> None:
    loopback = ["localhost", "127.0.0.1", "[::1]"]
    assert allowed_hosts() == loopback
    assert allowed_hosts("127.0.0.1") == loopback
    assert allowed_hosts("192.168.1.5") == [*loopback, "192.168.1.5"]
    assert allowed_hosts("::1", ["Dash.Example"]) == [*loopback, "dash.example"]
    assert allowed_hosts("fd00::5") == [*loopback, "[fd00::5]"]
    # Bound to every interface (which needs a token): any name, unless told which.
    assert allowed_hosts("0.0.0.0") == ["*"]
    assert allowed_hosts("::", ["dash.example"]) == [*loopback, "dash.example"]


def test_configured_hosts_over_real_http(kit: Path) -> None:
    app = create_app(kit, clock=CLOCK, analyses=False, hosts=allowed_hosts(None, ["dash.lan"]))
    with running(app) as url:
        for host, status in (("dash.lan", 200), ("evil.example", 400), (None, 200)):
            headers = {"Host": host} if host else {}
            assert httpx.get(f"{url}/api/report", headers=headers).status_code == status


def test_breakup_serve_allow_host(kit: Path) -> None:
    """The command: ``--allow-host`` adds a name; anything else is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "breakup", "--db", str(kit), "serve", "--port", str(port),
         "--allow-host", "dash.lan"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
                time.sleep(0.2)

        def status(host: str) -> int:
            return httpx.get(f"{base}/healthz", headers={"Host": host}, timeout=30).status_code

        codes = [status(h) for h in ("dash.lan", f"localhost:{port}", "evil.example")]
        assert codes == [200, 200, 400]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
