"""Sending a digest by email (smtplib). Credentials come from the environment only.

TLS (``SMTP_SSL`` on port 465, or ``STARTTLS``) always uses :func:`tls_context`: the
server's certificate chain and host name are verified unless the target opts out
(``tls_verify = false``, for self-signed test servers only)."""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ..errors import InvalidInput, ServiceError
from .compose import Digest
from .config import DigestTarget
from .render import render_html, render_text

SmtpFactory = Callable[..., smtplib.SMTP]
TIMEOUT = 30.0


def message(target: DigestTarget, digest: Digest) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = digest.title
    msg["From"] = target.sender
    msg["To"] = ", ".join(target.to)
    msg["Date"] = formatdate(digest.generated_at.timestamp(), usegmt=True)
    msg["Message-ID"] = make_msgid(domain="breakup.local")
    msg.set_content(render_text(digest))
    msg.add_alternative(render_html(digest), subtype="html")
    return msg


def tls_context(target: DigestTarget) -> ssl.SSLContext:
    """The TLS settings for *target*'s server: verified against the system's CAs (or its
    ``tls_ca``), or — only when it says ``tls_verify = false`` — not verified at all."""
    try:
        context = ssl.create_default_context(cafile=target.tls_ca)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput(f"digest {target.key}: tls_ca {target.tls_ca}: {exc}") from None
    if not target.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def send_email(
    target: DigestTarget,
    digest: Digest,
    *,
    smtp: SmtpFactory | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Deliver *digest* to the target's SMTP server; ServiceError if it refuses or fails."""
    env = os.environ if env is None else env
    factory: SmtpFactory = smtp or (smtplib.SMTP_SSL if target.tls else smtplib.SMTP)
    user = env.get(target.username_env) if target.username_env else None
    password = env.get(target.password_env) if target.password_env else None
    where = f"smtp {target.smtp_host}:{target.smtp_port}"
    context = tls_context(target)
    host, port = target.smtp_host, target.smtp_port
    try:
        opened = (
            factory(host, port, timeout=TIMEOUT, context=context)
            if target.tls
            else factory(host, port, timeout=TIMEOUT)
        )
        with opened as conn:
            if target.starttls and not target.tls:
                conn.starttls(context=context)
            if user and password:
                conn.login(user, password)
            conn.send_message(message(target, digest))
    except (smtplib.SMTPException, OSError) as exc:
        raise ServiceError(where, f"{type(exc).__name__}: {exc}") from None
