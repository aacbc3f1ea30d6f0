"""Digest email over TLS verifies the server: a real aiosmtpd server speaking TLS on
connect (port-465 style) or STARTTLS, with a self-signed certificate made by ``openssl``
for this test. By default the password never reaches it; ``tls_verify = false`` (for test
servers only) or ``tls_ca`` naming its certificate lets the digest through."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from breakup.digest import Senders, send_digests, targets_from_raw
from breakup.errors import InvalidInput
from breakup.store import Store

from .reportkit import CLOCK, golden_store
from .test_digest import EVIL_DAY

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def make_cert(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for *name*: an IP address or a DNS name."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    san = f"IP:{name}" if name[0].isdigit() else f"DNS:{name}"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", f"/CN={name}", "-addext",
         f"subjectAltName={san}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@dataclass
class Box:
    messages: list[bytes] = field(default_factory=list)
    passwords: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@dataclass
class Server:
    box: Box
    port: int
    cert: Path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("certs")
    return {name: make_cert(folder, name) for name in ("127.0.0.1", "mail.other.example")}


def _serve(mode: str, cert: Path, key: Path) -> Iterator[Server]:
    box = Box()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        box.passwords.append(data.password)
        return AuthResult(success=True)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    with socket.socket() as probe:  # a free port (aiosmtpd's Controller cannot take 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tls: dict[str, Any] = (
        # TLS from the first byte; aiosmtpd only counts STARTTLS as TLS for AUTH
        {"ssl_context": context, "auth_require_tls": False}
        if mode == "tls"
        else {"tls_context": context, "require_starttls": True}
    )
    controller = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=authenticate,
        ready_timeout=10, **tls,
    )  # fmt: skip
    controller.start()
    try:
        yield Server(box, port, cert)
    finally:
        controller.stop()


@pytest.fixture(params=["tls", "starttls"])
def server(request: pytest.FixtureRequest, certs: dict[str, tuple[Path, Path]]) -> Iterator[Server]:
    yield from _serve(request.param, *certs["127.0.0.1"])


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    with Store(golden_store(tmp_path), clock=CLOCK) as store:
        yield store


def _send(db: Store, server: Server, **options: Any) -> Any:
    entry = {"email": "me@brand.example", "smtp": f"127.0.0.1:{server.port}", "retries": 0}
    (target,) = targets_from_raw({"digest": [{**entry, **options}]})
    senders = Senders(env={"BREAKUP_SMTP_USER": "me", "BREAKUP_SMTP_PASSWORD": "pw-SECRET"})
    (result,) = send_digests(db, [target], EVIL_DAY, senders=senders)
    return result


def _mode(server: Server, request: pytest.FixtureRequest) -> dict[str, Any]:
    is_tls = request.node.callspec.params["server"] == "tls"
    return {"tls": True} if is_tls else {"tls": False, "starttls": True}


def test_a_self_signed_server_is_refused_by_default(
    db: Store, server: Server, request: pytest.FixtureRequest
) -> None:
    result = _send(db, server, **_mode(server, request))
    assert result.status == "failed"
    assert result.error is not None and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert server.box.passwords == [] and server.box.messages == []
    assert db.scalar("SELECT count(*) FROM digests_sent") == 0


def test_tls_verify_false_accepts_a_self_signed_server(
    db: Store, server: Server, request: pytest.FixtureRequest
) -> None:
    result = _send(db, server, tls_verify=False, **_mode(server, request))
    assert result.status == "sent", result.error
    assert server.box.passwords == [b"pw-SECRET"] and len(server.box.messages) == 1


def test_tls_ca_trusts_the_servers_own_certificate(
    db: Store, server: Server, request: pytest.FixtureRequest
) -> None:
    result = _send(db, server, tls_ca=str(server.cert), **_mode(server, request))
    assert result.status == "sent", result.error
    assert len(server.box.messages) == 1


def test_a_trusted_certificate_for_another_name_is_refused(
    db: Store, certs: dict[str, tuple[Path, Path]]
) -> None:
    """The host name is checked, not only the chain."""
    cert, key = certs["mail.other.example"]
    for srv in _serve("tls", cert, key):
        result = _send(db, srv, tls=True, tls_ca=str(cert))
        assert result.status == "failed"
        assert result.error is not None and "match" in result.error.lower(), result.error
        assert srv.box.passwords == []


def test_tls_verify_must_be_a_boolean() -> None:
    with pytest.raises(InvalidInput, match="tls_verify must be true or false"):
        targets_from_raw({"digest": [{"email": "a@b.example", "tls_verify": "no"}]})
