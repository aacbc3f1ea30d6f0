"""JSON over HTTP with retries: backoff on 5xx, timeouts and dropped connections; waits as
told on 429 (Retry-After, or RateLimit-Reset / X-RateLimit-Reset); a client-side budget so a
poll stays under the service's published limit instead of discovering it."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ..errors import RateLimited, ServiceError
from .base import Connection

MAX_WAIT = 15 * 60.0  # never sleep longer than this on one answer


def too_long(service: str, what: str, seconds: float, now: datetime) -> RateLimited:
    """The error for a service asking us to wait more than MAX_WAIT: we do not sit silent
    for hours; the caller (``watch``) comes back at the time the service named."""
    until = now + timedelta(seconds=seconds)
    return RateLimited(
        service,
        f"{what}: rate limited; the service asks to wait {_duration(seconds)} (until "
        f"{until:%Y-%m-%d %H:%M} UTC), longer than the {MAX_WAIT / 60:.0f} min breakup "
        "waits: try again then",
        429,
        retry_at=until,
    )


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 60:.0f} min"


class Budget:
    """At most ``limit`` requests per ``window`` seconds (sliding), by the injected clock."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.sent: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        while self.sent and now - self.sent[0] >= self.window:
            self.sent.popleft()
        if len(self.sent) < self.limit:
            return 0.0
        return self.window - (now - self.sent[0])

    def record(self, now: float) -> None:
        self.sent.append(now)


class ServiceAnswer(Exception):
    """A definite non-retryable answer (4xx other than 429), for the caller to interpret."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body

    @property
    def error(self) -> str | None:
        """XRPC-style ``{"error": "AccountDeactivated"}`` name, when there is one."""
        return self.body.get("error") if isinstance(self.body, dict) else None


class JsonClient:
    """GET JSON from one service, with retries, backoff and rate limits."""

    def __init__(self, service: str, base_url: str, conn: Connection, budget: Budget) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.conn = conn
        self.budget = budget
        self.http = conn.client or httpx.Client(timeout=conn.timeout)
        self.retries = 0  # how many times we retried, for the report
        self.waited = 0.0

    def _now(self) -> float:
        return self.conn.clock().timestamp()

    def _sleep(self, seconds: float) -> None:
        seconds = max(0.0, min(seconds, MAX_WAIT))
        self.waited += seconds
        self.conn.sleep(seconds)

    def get(
        self, path: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None
    ) -> tuple[Any, httpx.Headers]:
        url = f"{self.base_url}/{path.lstrip('/')}"
        headers = {"Authorization": f"Bearer {self.conn.token}"} if self.conn.token else {}
        last = "no attempt"
        for attempt in range(self.conn.max_retries + 1):
            wait = self.budget.wait_time(self._now())
            if wait > 0:
                self._sleep(wait)
            self.budget.record(self._now())
            try:
                resp = self.http.get(url, params=params, headers=headers)
            except (
                httpx.TimeoutException,
                httpx.NetworkError,
                httpx.RemoteProtocolError,
                httpx.DecodingError,  # a body that does not match its Content-Encoding
            ) as exc:
                last = f"{type(exc).__name__}"
                self._backoff(attempt)
                continue
            if resp.status_code == 429:
                last = "rate limited (429)"
                asked = retry_after(resp.headers, self._now())
                if asked is not None and asked > MAX_WAIT:
                    raise too_long(self.service, path, asked, self.conn.clock())
                self._sleep(asked or _backoff_delay(attempt))
                self.retries += 1
                continue
            if resp.status_code >= 500:
                last = f"server error {resp.status_code}"
                self._backoff(attempt)
                continue
            body = _json(resp, self.service)
            if resp.status_code >= 400:
                raise ServiceAnswer(resp.status_code, body)
            return body, resp.headers
        if last.startswith("rate limited"):
            raise RateLimited(self.service, f"still {last} after {self.retries} retries")
        raise ServiceError(self.service, f"{url}: {last} after {self.conn.max_retries} retries")

    def _backoff(self, attempt: int) -> None:
        self.retries += 1
        self._sleep(_backoff_delay(attempt))


def _backoff_delay(attempt: int) -> float:
    return float(min(60.0, 0.5 * 2.0**attempt))


def _json(resp: httpx.Response, service: str) -> Any:
    try:
        return resp.json()
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        if resp.status_code >= 400:
            return None
        raise ServiceError(
            service, f"{resp.request.url}: answer is not JSON (truncated?)", resp.status_code
        ) from None


def retry_after(headers: httpx.Headers, now: float) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date) or a reset header."""
    value = headers.get("retry-after")
    if value:
        if value.strip().isdigit():
            return float(value)
        try:
            return float(parsedate_to_datetime(value).timestamp()) - now
        except (TypeError, ValueError):
            pass
    for name in ("ratelimit-reset", "x-ratelimit-reset"):
        value = headers.get(name)
        if not value:
            continue
        try:
            reset = float(value)
        except ValueError:
            try:
                reset = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
        # Epoch seconds (Bluesky) or seconds from now (the IETF draft).
        return reset - now if reset > 10**9 else reset
    return None
