"""A Mastodon server on 127.0.0.1 speaking the REST API that breakup's tracker reads.

Shapes follow docs.joinmastodon.org: Account, Status, Notification and Relationship
entities; ``Link: <…max_id=…>; rel="next", <…since_id=…>; rel="prev"`` paging keyed on the
follow / status / notification id, newest first, with ``next`` only after a full page (as
Api::V1::Accounts::FollowerAccountsController does); ``X-RateLimit-Limit / -Remaining /
-Reset`` (ISO 8601 with microseconds) on every answer, against a ``Date`` header from the
server's own clock; 404 ``{"error": "Record not found"}`` for an account whose record is
gone; ``suspended: true`` with an emptied profile for a suspended one; 401 ``{"error":
"The access token is invalid"}`` where a user token is required and missing.

Tests change the state between polls (follow, unfollow, suspend, delete, move) and plant
:class:`Fault` answers (5xx, 429, an exhausted quota) to see how the tracker copes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class Fault:
    """Spoil the answers to GET *path*: ``status`` 5xx or 429 instead of the real answer,
    or 200 to answer normally but report the quota used up (``X-RateLimit-Remaining: 0``).

    ``paged`` limits it to requests with ``max_id`` (True) or without (False); ``skip`` lets
    that many matching requests through first; ``times`` is how many it spoils. With
    ``delay`` the answer comes that many seconds late; with ``cut`` (status 200) the real
    answer's JSON is cut in half, with an honest Content-Length."""

    path: str
    status: int
    times: int = 1
    paged: bool | None = None
    skip: int = 0
    reset_in: float = 30.0  # seconds from the server's clock to X-RateLimit-Reset
    delay: float = 0.0
    cut: bool = False


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    authorization: str | None


@dataclass
class _Account:
    id: str
    username: str
    domain: str | None  # None: an account of this server
    display_name: str
    bot: bool = False
    created_at: str = "2024-01-15T00:00:00.000Z"
    statuses_count: int = 10
    last_status_at: str | None = "2026-04-30"
    suspended: bool = False
    moved_to: str | None = None  # id of the account it moved to


@dataclass
class Instance:
    """The server's state; the handler reads it under :attr:`lock`."""

    clock: datetime = datetime(2026, 5, 1, 12, tzinfo=UTC)  # the server's own time
    domain: str = ""  # host:port, set by serve()
    lock: threading.Lock = field(default_factory=threading.Lock)
    accounts: dict[str, _Account] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # records destroyed: 404
    follows: dict[tuple[str, str], int] = field(default_factory=dict)  # (who, whom) -> id
    blocks: set[tuple[str, str]] = field(default_factory=set)  # (who, whom)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> account id
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    stuck: set[str] = field(default_factory=set)  # paths whose next link never moves on
    remaining: int = 300
    _ids: int = 100_000

    @property
    def base_url(self) -> str:
        return f"http://{self.domain}"

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- what tests do -------------------------------------------------------------------

    def add_account(self, username: str, domain: str | None = None, **kw: Any) -> str:
        ident = str(self.next_id())
        name = kw.pop("display_name", username.title())
        self.accounts[ident] = _Account(ident, username, domain, name, **kw)
        return ident

    def follow(self, who: str, whom: str) -> None:
        self.follows[(who, whom)] = self.next_id()

    def unfollow(self, who: str, whom: str) -> None:
        del self.follows[(who, whom)]

    def suspend(self, ident: str) -> None:
        # Suspension severs the account's follows (DeleteAccountService's purge).
        self.accounts[ident].suspended = True
        self.follows = {k: v for k, v in self.follows.items() if ident not in k}

    def delete(self, ident: str) -> None:
        self.gone.add(ident)
        self.follows = {k: v for k, v in self.follows.items() if ident not in k}

    def move(self, ident: str, to: str) -> None:
        self.accounts[ident].moved_to = to
        self.follows = {k: v for k, v in self.follows.items() if ident != k[0]}

    def add_status(self, author: str, at: datetime, text: str, **kw: Any) -> str:
        ident = str(self.next_id())
        status = {
            "id": ident,
            "created_at": _iso(at),
            "in_reply_to_id": kw.get("in_reply_to_id"),
            "in_reply_to_account_id": kw.get("in_reply_to_account_id"),
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public",
            "language": "en",
            "uri": f"https://{self.domain}/users/x/statuses/{ident}",
            "url": f"https://{self.domain}/@x/{ident}",
            "replies_count": kw.get("replies", 0),
            "reblogs_count": kw.get("reblogs", 0),
            "favourites_count": kw.get("favourites", 0),
            "edited_at": None,
            "content": f"<p>{text}</p>",
            "reblog": kw.get("reblog"),
            "account_id": author,  # rendered as the Account entity on the way out
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }
        self.statuses.append(status)
        return ident

    def notify(self, kind: str, who: str, at: datetime, status: str | None = None) -> None:
        self.notifications.append(
            {"id": str(self.next_id()), "type": kind, "at": at, "who": who, "status": status}
        )

    # -- entities ------------------------------------------------------------------------

    def account_json(self, ident: str) -> dict[str, Any]:
        a = self.accounts[ident]
        acct = a.username if a.domain is None else f"{a.username}@{a.domain}"
        home = a.domain or self.domain
        followers = sum(1 for who, whom in self.follows if whom == ident)
        following = sum(1 for who, whom in self.follows if who == ident)
        body: dict[str, Any] = {
            "id": a.id,
            "username": a.username,
            "acct": acct,
            "display_name": a.display_name,
            "locked": False,
            "bot": a.bot,
            "discoverable": True,
            "group": False,
            "created_at": a.created_at,
            "note": "<p>hello</p>",
            "url": f"https://{home}/@{a.username}",
            "avatar": f"https://{self.domain}/avatars/original/missing.png",
            "avatar_static": f"https://{self.domain}/avatars/original/missing.png",
            "header": f"https://{self.domain}/headers/original/missing.png",
            "header_static": f"https://{self.domain}/headers/original/missing.png",
            "followers_count": followers,
            "following_count": following,
            "statuses_count": a.statuses_count,
            "last_status_at": a.last_status_at,
            "emojis": [],
            "fields": [],
        }
        if a.suspended:  # what AccountSerializer renders for a suspended account
            body.update(
                display_name="",
                note="",
                discoverable=False,
                followers_count=0,
                following_count=0,
                statuses_count=0,
                last_status_at=None,
                suspended=True,
            )
        if a.moved_to:
            body["moved"] = self.account_json(a.moved_to)
        return body

    def status_json(self, status: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in status.items() if k != "account_id"}
        out["account"] = self.account_json(status["account_id"])
        if isinstance(out.get("reblog"), str):
            original = next(s for s in self.statuses if s["id"] == out["reblog"])
            out["reblog"] = self.status_json(original)
        return out

    def relationship_json(self, me: str, other: str) -> dict[str, Any]:
        return {
            "id": other,
            "following": (me, other) in self.follows,
            "showing_reblogs": (me, other) in self.follows,
            "notifying": False,
            "languages": None,
            "followed_by": (other, me) in self.follows,
            "blocking": (me, other) in self.blocks,
            "blocked_by": (other, me) in self.blocks,
            "muting": False,
            "muting_notifications": False,
            "requested": False,
            "requested_by": False,
            "domain_blocking": False,
            "endorsed": False,
            "note": "",
        }


class _Handler(BaseHTTPRequestHandler):
    instance: ClassVar[Instance]
    timeout = 10  # a stuck client cannot hold a server thread for ever

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def date_time_string(self, timestamp: float | None = None) -> str:
        return format_datetime(self.instance.clock, usegmt=True)

    def do_GET(self) -> None:
        inst = self.instance
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        with inst.lock:
            inst.seen.append(Seen(url.path, query, self.headers.get("Authorization")))
            fault = self._fault(url.path, query)
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            if fault is not None and fault.status != 200:
                if fault.status == 429:
                    return self._send(429, {"error": "Too many requests"}, fault, remaining=0)
                return self._send(fault.status, None, fault)
            try:
                status, body, link = self._route(url.path, query)
            except KeyError:
                status, body, link = 404, {"error": "Record not found"}, None
            quota = fault is not None and not (fault.cut or fault.delay)
            self._send(status, body, fault, link=link, remaining=0 if quota else None)

    def _fault(self, path: str, query: dict[str, list[str]]) -> Fault | None:
        for f in self.instance.faults:
            if f.path != path or (f.paged is not None and f.paged != ("max_id" in query)):
                continue
            if f.skip:
                f.skip -= 1
                continue
            if f.times:
                f.times -= 1
                return f
        return None

    def _route(
        self, path: str, q: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, dict[str, str]] | None]:
        inst = self.instance
        parts = path.strip("/").split("/")
        if parts[:3] != ["api", "v1", "accounts"] and path != "/api/v1/notifications":
            return 404, {"error": "Not Found"}, None
        viewer = inst.tokens.get(
            (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        )
        if path == "/api/v1/notifications":
            if viewer is None:
                return 401, {"error": "The access token is invalid"}, None
            return self._notifications(viewer, q)
        rest = parts[3:]
        if rest == ["lookup"]:
            return 200, inst.account_json(self._lookup(q["acct"][0])), None
        if rest == ["verify_credentials"]:
            if viewer is None:
                return 401, {"error": "The access token is invalid"}, None
            return 200, {**inst.account_json(viewer), "source": {"privacy": "public"}}, None
        if rest == ["relationships"]:
            if viewer is None:
                return 401, {"error": "The access token is invalid"}, None
            ids = [i for i in q.get("id[]", []) if i in inst.accounts and i not in inst.gone]
            return 200, [inst.relationship_json(viewer, i) for i in ids], None
        ident = rest[0]
        if ident not in inst.accounts or ident in inst.gone:
            raise KeyError(ident)
        if len(rest) == 1:
            return 200, inst.account_json(ident), None
        if rest[1] in ("followers", "following"):
            return self._graph(ident, rest[1], q)
        if rest[1] == "statuses":
            mine = [s for s in inst.statuses if s["account_id"] == ident]
            page, link = _page(mine, lambda s: int(s["id"]), q, 20, 40, path)
            return 200, [inst.status_json(s) for s in page], link
        raise KeyError(path)

    def _lookup(self, acct: str) -> str:
        inst = self.instance
        user, _, domain = acct.lstrip("@").partition("@")
        home = None if domain in ("", inst.domain) else domain
        for a in inst.accounts.values():
            if a.username.lower() == user.lower() and a.domain == home and a.id not in inst.gone:
                return a.id
        raise KeyError(acct)

    def _graph(
        self, ident: str, which: str, q: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, dict[str, str]] | None]:
        inst = self.instance
        if which == "followers":
            rows = [(fid, who) for (who, whom), fid in inst.follows.items() if whom == ident]
        else:
            rows = [(fid, whom) for (who, whom), fid in inst.follows.items() if who == ident]
        path = f"/api/v1/accounts/{ident}/{which}"
        page, link = _page(rows, lambda r: r[0], q, 40, 80, path)
        if path in inst.stuck and "max_id" in q and "next" in link:
            # A broken server: the next link of every later page names the same page again.
            link["next"]["path"] = link["next"]["path"].replace(
                f"max_id={page[-1][0]}", f"max_id={q['max_id'][0]}"
            )
        return 200, [inst.account_json(other) for _, other in page], link

    def _notifications(
        self, viewer: str, q: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, dict[str, str]] | None]:
        inst = self.instance
        types = set(q.get("types[]", [])) or None
        rows = [n for n in inst.notifications if types is None or n["type"] in types]
        page, link = _page(rows, lambda n: int(n["id"]), q, 40, 80, "/api/v1/notifications")
        out = []
        for n in page:
            entity: dict[str, Any] = {
                "id": n["id"],
                "type": n["type"],
                "created_at": _iso(n["at"]),
                "group_key": f"ungrouped-{n['id']}",
                "account": inst.account_json(n["who"]),
            }
            if n["status"] is not None:
                status = next(s for s in inst.statuses if s["id"] == n["status"])
                entity["status"] = inst.status_json(status)
            out.append(entity)
        return 200, out, link

    def _send(
        self,
        status: int,
        body: Any,
        fault: Fault | None,
        *,
        link: dict[str, dict[str, str]] | None = None,
        remaining: int | None = None,
    ) -> None:
        inst = self.instance
        inst.remaining = max(0, inst.remaining - 1)
        reset = inst.clock + timedelta(seconds=fault.reset_in if fault else 300.0)
        if body is None:
            raw, kind = b"<html><body>We're sorry, but something went wrong.</body></html>", "html"
        else:
            raw, kind = json.dumps(body).encode(), "json"
            if fault is not None and fault.cut:
                raw = raw[: len(raw) // 2]
        self.send_response(status)
        self.send_header("Content-Type", f"application/{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("X-RateLimit-Limit", "300")
        self.send_header("X-RateLimit-Remaining", str(inst.remaining if remaining is None else 0))
        self.send_header("X-RateLimit-Reset", reset.isoformat(timespec="microseconds"))
        if link:
            base = f"http://{inst.domain}"
            self.send_header(
                "Link",
                ", ".join(f'<{base}{u["path"]}>; rel="{rel}"' for rel, u in link.items()),
            )
        self.end_headers()
        self.wfile.write(raw)


def _page(
    rows: list[Any], key: Any, q: dict[str, list[str]], default: int, most: int, path: str
) -> tuple[list[Any], dict[str, dict[str, str]]]:
    """Newest first below ``max_id`` / above ``since_id``; ``next`` after a full page."""
    limit = min(int(q.get("limit", [default])[0]), most)
    below = int(q["max_id"][0]) if "max_id" in q else None
    above = int(q["since_id"][0]) if "since_id" in q else None
    chosen = sorted(
        (
            r
            for r in rows
            if (below is None or key(r) < below) and (above is None or key(r) > above)
        ),
        key=key,
        reverse=True,
    )[:limit]
    link: dict[str, dict[str, str]] = {}
    kept = [(k, v) for k, vs in q.items() if k not in ("max_id", "since_id", "min_id") for v in vs]
    if len(chosen) == limit:
        link["next"] = {"path": f"{path}?{urlencode([*kept, ('max_id', key(chosen[-1]))])}"}
    if chosen:
        link["prev"] = {"path": f"{path}?{urlencode([*kept, ('since_id', key(chosen[0]))])}"}
    return chosen, link


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextmanager
def serve(instance: Instance) -> Iterator[Instance]:
    """Run *instance* on 127.0.0.1 (a free port) in a thread, until the block ends."""
    handler = type("MastodonHandler", (_Handler,), {"instance": instance})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    instance.domain = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield instance
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
