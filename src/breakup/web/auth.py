"""Who may use the dashboard: anyone on this machine when it binds to loopback; with a
token, only requests that carry it (header, cookie, or once in the URL). Either way only
requests naming a trusted host in ``Host`` (:func:`allowed_hosts`): a web page whose
domain was re-pointed at 127.0.0.1 (DNS rebinding) names its own and gets 400."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Sequence

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse

from ..errors import InvalidInput

COOKIE = "breakup_token"
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")  # as in a Host header: IPv6 bracketed
WILDCARD_BINDS = ("", "0.0.0.0", "::")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind: str | None = None, extra: Sequence[str] = ()) -> list[str]:
    """The ``Host`` names the dashboard answers: loopback's, the address it binds to, and
    *extra* (``serve --allow-host``). Bound to every interface (``0.0.0.0``, ``::``) with
    no *extra*, any name is let through: the token that binding requires is the guard."""
    hosts = [*LOOPBACK_HOSTS, *extra]
    if bind is not None:
        if bind.strip() in WILDCARD_BINDS and not extra:
            return ["*"]
        if bind.strip() not in WILDCARD_BINDS:
            hosts.append(bind)
    bare = (h.strip().lower().strip("[]") for h in hosts)
    return list(dict.fromkeys(f"[{h}]" if ":" in h else h for h in bare if h))


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise InvalidInput(
            f"serving on {host} exposes your audience data: give a token "
            "(--token or $BREAKUP_TOKEN), or bind to 127.0.0.1"
        )


def token_middleware(
    token: str,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Every request must carry *token*: ``Authorization: Bearer``, the cookie this sets,
    or ``?token=`` (which sets the cookie, so the page's own links keep working)."""
    expected = token.encode()

    def matches(value: str | None) -> bool:
        return value is not None and secrets.compare_digest(value.encode(), expected)

    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        header = request.headers.get("authorization", "")
        bearer = header[7:] if header.lower().startswith("bearer ") else None
        from_query = request.query_params.get("token")
        if matches(bearer) or matches(request.cookies.get(COOKIE)):
            return await call_next(request)
        if matches(from_query):
            response = await call_next(request)
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response
        return PlainTextResponse(
            "401 unauthorized: this dashboard needs its token", status_code=401
        )

    return middleware
