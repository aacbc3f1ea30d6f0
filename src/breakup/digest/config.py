"""Digest targets from the watch config's ``[[digest]]`` tables.

::

    [[digest]]                        # by email (SMTP)
    email = "me@example.com"          # or a list
    from = "breakup@example.com"
    smtp = "smtp.example.com:587"     # host:port; STARTTLS, or TLS on port 465
    account = "bsky:brand.bsky.social"   # optional: one account (default: all your own)
    at = "08:00"                      # optional: when (UTC) yesterday's digest is due

    [[digest]]                        # by webhook: Slack- or Discord-compatible JSON
    webhook_env = "BREAKUP_SLACK_WEBHOOK"   # the URL is a secret: keep it in the environment
    format = "slack"                  # or "discord" (default: from the URL's host)

SMTP credentials come from ``$BREAKUP_SMTP_USER`` / ``$BREAKUP_SMTP_PASSWORD`` (or the
variables named by ``username_env`` / ``password_env``); nothing secret is stored.

The SMTP server's certificate and host name are always verified (TLS on port 465 and
STARTTLS alike) against the system's trusted CAs, or against ``tls_ca = "/path/ca.pem"``
for a server with its own CA. ``tls_verify = false`` turns verification off: for a local
test server with a self-signed certificate only — anyone on the path could then read the
password. It is off (verification on) unless set.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidInput

FORMATS = ("slack", "discord")


@dataclass(frozen=True)
class DigestTarget:
    """Where one digest goes. ``key`` names it in ``digests_sent`` (never a secret)."""

    key: str
    kind: str  # "email" or "webhook"
    account: str | None = None
    at: time = time(8, 0)
    retries: int = 3
    # email
    to: tuple[str, ...] = ()
    sender: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    starttls: bool = True
    tls: bool = False
    username_env: str = "BREAKUP_SMTP_USER"
    password_env: str = "BREAKUP_SMTP_PASSWORD"
    tls_verify: bool = True  # False only for a self-signed test server
    tls_ca: str | None = None  # a CA file to trust instead of the system's
    # webhook
    url: str | None = None
    url_env: str | None = None
    format: str = "slack"

    def webhook_url(self, env: Mapping[str, str] | None = None) -> str:
        env = os.environ if env is None else env
        url = self.url or (env.get(self.url_env) if self.url_env else None)
        if not url:
            raise InvalidInput(f"digest {self.key}: ${self.url_env} is not set")
        return url


def _str(entry: dict[str, Any], key: str, where: str, default: str | None = None) -> str | None:
    value = entry.get(key, default)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{where}: {key} must be a string")
    return value


def _time(value: Any, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{where}: at = {value!r}; use HH:MM (UTC)") from None


def _email(entry: dict[str, Any], where: str, common: dict[str, Any]) -> DigestTarget:
    to = entry["email"]
    recipients = (to,) if isinstance(to, str) else tuple(to)
    if not recipients or not all(isinstance(r, str) and "@" in r for r in recipients):
        raise InvalidInput(f"{where}: email must be an address or a list of addresses")
    smtp = _str(entry, "smtp", where, "localhost") or "localhost"
    host, _, port_text = smtp.rpartition(":") if ":" in smtp else (smtp, "", "")
    try:
        port = int(port_text) if port_text else 587
    except ValueError:
        raise InvalidInput(f"{where}: smtp = {smtp!r}; use host:port") from None
    tls = port == 465 if "tls" not in entry else bool(entry["tls"])
    verify = entry.get("tls_verify", True)
    if not isinstance(verify, bool):
        raise InvalidInput(f"{where}: tls_verify must be true or false")
    return DigestTarget(
        key=str(entry.get("name") or "email:" + ",".join(recipients)),
        kind="email",
        to=recipients,
        sender=_str(entry, "from", where, "breakup@localhost") or "breakup@localhost",
        smtp_host=host,
        smtp_port=port,
        tls=tls,
        starttls=bool(entry.get("starttls", not tls)),
        username_env=_str(entry, "username_env", where, "BREAKUP_SMTP_USER") or "",
        password_env=_str(entry, "password_env", where, "BREAKUP_SMTP_PASSWORD") or "",
        tls_verify=verify,
        tls_ca=_str(entry, "tls_ca", where),
        **common,
    )


def _webhook(entry: dict[str, Any], where: str, common: dict[str, Any]) -> DigestTarget:
    url = _str(entry, "webhook", where)
    url_env = _str(entry, "webhook_env", where)
    if bool(url) == bool(url_env):
        raise InvalidInput(f"{where}: give webhook = URL or webhook_env = VARIABLE (one)")
    fmt = _str(entry, "format", where)
    if fmt is None:
        host = (urlsplit(url).hostname or "") if url else ""
        fmt = "discord" if host.endswith(("discord.com", "discordapp.com")) else "slack"
    if fmt not in FORMATS:
        raise InvalidInput(f"{where}: format = {fmt!r}; use slack or discord")
    ident = url_env or hashlib.sha256((url or "").encode()).hexdigest()[:12]
    return DigestTarget(
        key=str(entry.get("name") or f"webhook:{ident}"),
        kind="webhook",
        url=url,
        url_env=url_env,
        format=fmt,
        **common,
    )


def targets_from_raw(raw: Mapping[str, Any], where: str = "watch config") -> list[DigestTarget]:
    """The ``[[digest]]`` tables of a parsed config (``WatchConfig.raw``)."""
    entries = raw.get("digest", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidInput(f"{where}: use [[digest]] tables for digests")
    targets = []
    for n, entry in enumerate(entries, start=1):
        here = f"{where}: [[digest]] #{n}"
        retries = entry.get("retries", 3)
        if not isinstance(retries, int) or not 0 <= retries <= 10:
            raise InvalidInput(f"{here}: retries must be a whole number from 0 to 10")
        common = {
            "account": _str(entry, "account", here),
            "at": _time(entry.get("at", "08:00"), here),
            "retries": retries,
        }
        if "email" in entry:
            targets.append(_email(entry, here, common))
        elif "webhook" in entry or "webhook_env" in entry:
            targets.append(_webhook(entry, here, common))
        else:
            raise InvalidInput(f"{here}: needs email = ADDRESS or webhook / webhook_env")
    keys = [t.key for t in targets]
    if len(set(keys)) != len(keys):
        raise InvalidInput(f"{where}: two [[digest]] tables send to the same place; name them")
    return targets


def load_targets(path: Path) -> list[DigestTarget]:
    """The digest targets of a watch config file (which may hold only digests)."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid TOML ({exc})") from None
    targets = targets_from_raw(doc, str(path))
    if not targets:
        raise InvalidInput(f"{path}: no [[digest]] tables")
    return targets
