"""A local Bluesky AppView: the public XRPC read API over real HTTP on 127.0.0.1.

It answers ``GET /xrpc/<nsid>?…`` the way the public AppView does, from an in-memory world
a test builds and edits (even between two pages of one walk, through :attr:`AppView.hooks`):

* bodies shaped as the ``app.bsky.*`` lexicons say (profileView / profileViewDetailed,
  ``$type``-tagged union members such as ``app.bsky.graph.defs#notFoundActor``);
* keyset cursors (a position, not an offset), pages newest first, no cursor on the last;
* parameters validated as the lexicons bound them (limit ≤ 100, ≤ 25 actors, ≤ 30 others),
  answered with 400 ``InvalidRequest`` otherwise;
* accounts that are gone answer as the AppView does: getProfile fails with 400
  ``AccountDeactivated`` / ``AccountTakedown`` / ``InvalidRequest`` "Profile not found";
  getProfiles, getFollowers and getFollows leave them out;
* injected faults: 429 ``RateLimitExceeded`` with ``RateLimit-*`` headers (and optionally
  Retry-After), 500 ``InternalServerError``, a cursor that never moves; and, with status
  200, the real answer late (``delay``) or cut short (``cut``: "json" sends half the JSON
  with an honest Content-Length, "body" promises the whole and closes halfway).

Use as a context manager; every request is logged in :attr:`AppView.requests`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Query = dict[str, list[str]]
Answer = tuple[int, Any, dict[str, str]]

_B32 = "234567abcdefghijklmnopqrstuvwxyz"
FILTERS = {
    "posts_with_replies",
    "posts_no_replies",
    "posts_with_media",
    "posts_and_author_threads",
    "posts_with_video",
}
LIMIT = 3000  # the rate limit the server advertises
WINDOW = 300


def tid(at: datetime, clock_id: int = 0) -> str:
    """A record key as atproto writes them: (microseconds << 10 | clock id), base32-sortable."""
    micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    value = (micros << 10) | (clock_id & 0x3FF)
    return "".join(_B32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@dataclass
class Actor:
    did: str
    handle: str
    display_name: str | None = None
    status: str = "active"  # active | deactivated | takendown | deleted
    created_at: datetime = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Follow:
    seq: int  # position in the index: later follows sort first
    author: str  # the follower: the record lives in their repository
    subject: str
    rkey: str


@dataclass
class FeedPost:
    seq: int
    uri: str
    author: str
    text: str
    created_at: datetime  # what the record claims
    indexed_at: datetime
    reply_parent: str | None = None
    quote_of: str | None = None
    repost_of: FeedPost | None = None  # set on a repost by `author` of someone's post
    likes: list[tuple[str, datetime]] = field(default_factory=list)
    reposted_by: list[str] = field(default_factory=list)


@dataclass
class Fault:
    """Fail matching requests ``times`` times (None: forever) with ``status``."""

    method: str
    status: int
    times: int | None = 1
    when: Callable[[Query], bool] | None = None
    retry_after: str | None = None  # Retry-After header (the AppView itself sends none)
    reset_in: float = 60.0  # RateLimit-Reset = now + reset_in, in epoch seconds
    delay: float = 0.0  # status 200: wait this long, then answer
    cut: str | None = None  # status 200: "json" or "body", see the module's docstring


class AppView:
    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.actors: dict[str, Actor] = {}
        self.follows: list[Follow] = []
        self.posts: list[FeedPost] = []
        self.blocks: set[tuple[str, str]] = set()  # (blocker, blocked)
        self.faults: list[Fault] = []
        self.stuck: set[str] = set()  # methods whose cursor never moves
        self.dropped: set[str] = set()  # DIDs graph listings silently leave out (a lossy index)
        self.hooks: list[Callable[[str, Query], None]] = []  # run before each answer
        self.requests: list[tuple[str, Query]] = []
        self._seq = 0
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- the world ---------------------------------------------------------------------

    def add_actor(self, did: str, handle: str, name: str | None = None) -> Actor:
        actor = Actor(did, handle, name)
        self.actors[did] = actor
        return actor

    def follow(
        self, author: str, subject: str, at: datetime | None = None, seq: int | None = None
    ) -> Follow:
        """A follow record; *seq* places it in the index out of order, as a record whose
        client backdated it sorts among older ones."""
        self._seq += 1
        record = Follow(seq or self._seq, author, subject, tid(at or self.clock(), self._seq))
        self.follows.append(record)
        return record

    def unfollow(self, author: str, subject: str) -> None:
        self.follows = [f for f in self.follows if (f.author, f.subject) != (author, subject)]

    def post(self, author: str, text: str, at: datetime, **kw: Any) -> FeedPost:
        self._seq += 1
        uri = f"at://{author}/app.bsky.feed.post/{tid(at, self._seq)}"
        indexed = kw.pop("indexed_at", at)
        item = FeedPost(self._seq, uri, author, text, at, indexed, **kw)
        self.posts.append(item)
        return item

    def repost(self, author: str, of: FeedPost, at: datetime) -> FeedPost:
        self._seq += 1
        uri = f"at://{author}/app.bsky.feed.repost/{tid(at, self._seq)}"
        item = FeedPost(self._seq, uri, author, of.text, at, at, repost_of=of)
        self.posts.append(item)
        of.reposted_by.append(author)
        return item

    def calls(self, method: str) -> list[Query]:
        return [q for m, q in self.requests if m == method]

    # -- serving -----------------------------------------------------------------------

    def __enter__(self) -> AppView:
        view = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                effect = view.effect(self.path)
                if effect is not None and effect.delay:
                    time.sleep(effect.delay)
                status, body, headers = view.answer(self.path)
                data = json.dumps(body).encode()
                length = len(data)
                if effect is not None and effect.cut == "json":
                    data = data[: len(data) // 2]
                    length = len(data)
                elif effect is not None and effect.cut == "body":
                    data = data[: len(data) // 2]
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(length))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                if effect is not None and effect.cut == "body":
                    self.wfile.flush()
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/xrpc"

    def answer(self, raw_path: str) -> Answer:
        parts = urlsplit(raw_path)
        if not parts.path.startswith("/xrpc/"):
            return 404, {"error": "NotFound", "message": "Not Found"}, {}
        method = parts.path[len("/xrpc/") :]
        query: Query = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(k, []).append(v)
        with self._lock:
            self.requests.append((method, query))
            for hook in list(self.hooks):
                hook(method, query)
            fault = self._fault(method, query)
            if fault is not None:
                return fault
            handler = getattr(self, "_" + method.rsplit(".", 1)[-1], None)
            if not method.startswith("app.bsky.") or handler is None:
                return (
                    501,
                    {"error": "MethodNotImplemented", "message": "Method Not Implemented"},
                    {},
                )
            try:
                status, body = handler(query)
            except _Invalid as exc:
                status, body = 400, {"error": exc.name, "message": exc.message}
        return status, body, self._limit_headers(LIMIT - 1)

    def effect(self, raw_path: str) -> Fault | None:
        """The status-200 fault (a delay, a cut) that applies to this request, if any."""
        parts = urlsplit(raw_path)
        method = parts.path[len("/xrpc/") :]
        query: Query = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(k, []).append(v)
        with self._lock:
            for fault in self.faults:
                if fault.status != 200 or fault.method != method:
                    continue
                if (fault.when and not fault.when(query)) or fault.times == 0:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def _fault(self, method: str, query: Query) -> Answer | None:
        for fault in self.faults:
            if fault.status == 200:
                continue  # applied by effect()
            if fault.method != method or (fault.when and not fault.when(query)):
                continue
            if fault.times is not None:
                if fault.times <= 0:
                    continue
                fault.times -= 1
            if fault.status == 429:
                headers = self._limit_headers(0, fault.reset_in)
                if fault.retry_after is not None:
                    headers["Retry-After"] = fault.retry_after
                return (
                    429,
                    {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                    headers,
                )
            return (
                fault.status,
                {"error": "InternalServerError", "message": "Internal Server Error"},
                {},
            )
        return None

    def _limit_headers(self, remaining: int, reset_in: float = WINDOW) -> dict[str, str]:
        reset = int(self.clock().timestamp() + reset_in)
        return {
            "RateLimit-Limit": str(LIMIT),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": f"{LIMIT};w={WINDOW}",
        }

    # -- views (shapes from app.bsky.actor.defs / feed.defs) ---------------------------

    def _resolve(self, ident: str) -> Actor | None:
        if ident.startswith("did:"):
            return self.actors.get(ident)
        return next((a for a in self.actors.values() if a.handle == ident), None)

    def _hosted(self, did: str) -> bool:
        actor = self.actors.get(did)
        return actor is not None and actor.status == "active"

    def profile_basic(self, actor: Actor) -> dict[str, Any]:
        view: dict[str, Any] = {"did": actor.did, "handle": actor.handle, "labels": []}
        if actor.display_name is not None:
            view["displayName"] = actor.display_name
        view["createdAt"] = iso(actor.created_at)
        return view

    def profile_view(self, actor: Actor) -> dict[str, Any]:
        return {**self.profile_basic(actor), "indexedAt": iso(actor.created_at)}

    def profile_detailed(self, actor: Actor) -> dict[str, Any]:
        # Counts come from the aggregates, which still include gone accounts' records.
        known = {d for d, a in self.actors.items() if a.status != "deleted"}
        return {
            **self.profile_view(actor),
            "followersCount": sum(
                f.subject == actor.did and f.author in known for f in self.follows
            ),
            "followsCount": sum(f.author == actor.did and f.subject in known for f in self.follows),
            "postsCount": sum(p.author == actor.did for p in self.posts),
            "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False},
        }

    def post_view(self, post: FeedPost) -> dict[str, Any]:
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": post.text,
            "createdAt": iso(post.created_at),
            "langs": ["en"],
        }
        if post.reply_parent:
            ref = {"uri": post.reply_parent, "cid": "bafyreiparent"}
            record["reply"] = {"root": ref, "parent": ref}
        if post.quote_of:
            record["embed"] = {
                "$type": "app.bsky.embed.record",
                "record": {"uri": post.quote_of, "cid": "bafyreiquoted"},
            }
        return {
            "$type": "app.bsky.feed.defs#postView",
            "uri": post.uri,
            "cid": f"bafyrei{post.seq:010d}",
            "author": self.profile_basic(self.actors[post.author]),
            "record": record,
            "replyCount": 0,
            "repostCount": len(post.reposted_by),
            "likeCount": len(post.likes),
            "quoteCount": 0,
            "indexedAt": iso(post.indexed_at),
            "labels": [],
        }

    # -- endpoints -------------------------------------------------------------------

    def _getProfile(self, q: Query) -> tuple[int, Any]:
        actor = self._resolve(_one(q, "actor"))
        if actor is None or actor.status == "deleted":
            raise _Invalid("Profile not found")
        if actor.status == "takendown":
            raise _Invalid("Account has been suspended", "AccountTakedown")
        if actor.status == "deactivated":
            raise _Invalid("Account is deactivated", "AccountDeactivated")
        return 200, self.profile_detailed(actor)

    def _getProfiles(self, q: Query) -> tuple[int, Any]:
        idents = _many(q, "actors", 25)
        found = [self._resolve(i) for i in idents]
        profiles = [self.profile_detailed(a) for a in found if a and a.status == "active"]
        return 200, {"profiles": profiles}

    def _getFollowers(self, q: Query) -> tuple[int, Any]:
        return self._graph(q, "followers")

    def _getFollows(self, q: Query) -> tuple[int, Any]:
        return self._graph(q, "follows")

    def _graph(self, q: Query, key: str) -> tuple[int, Any]:
        ident = _one(q, "actor")
        actor = self._resolve(ident)
        if actor is None or actor.status != "active":
            raise _Invalid(f"Actor not found: {ident}")
        mine = (
            (lambda f: f.subject == actor.did)
            if key == "followers"
            else (lambda f: f.author == actor.did)
        )
        skeleton = sorted(((f.seq, f) for f in self.follows if mine(f)), key=lambda r: -r[0])
        page, cursor = self._page(q, skeleton, f"app.bsky.graph.get{key.title()}")
        people = []
        for f in page:
            other = f.author if key == "followers" else f.subject
            if (
                not self._hosted(other)
                or other in self.dropped
                or (other, actor.did) in self.blocks
                or (
                    actor.did,
                    other,
                )
                in self.blocks
            ):
                continue  # gone accounts and blocked pairs are hidden, as on the AppView
            people.append(self.profile_view(self.actors[other]))
        body: dict[str, Any] = {"subject": self.profile_view(actor), key: people}
        if cursor:
            body["cursor"] = cursor
        return 200, body

    def _getRelationships(self, q: Query) -> tuple[int, Any]:
        actor = self._resolve(_one(q, "actor"))
        others = _many(q, "others", 30, required=False)
        rels: list[dict[str, Any]] = []
        for other in others:
            them = self._resolve(other)
            if actor is None or them is None or them.status == "deleted":
                rels.append(
                    {"$type": "app.bsky.graph.defs#notFoundActor", "actor": other, "notFound": True}
                )
                continue
            rel: dict[str, Any] = {"$type": "app.bsky.graph.defs#relationship", "did": them.did}
            for f in self.follows:
                if (f.author, f.subject) == (actor.did, them.did):
                    rel["following"] = f"at://{actor.did}/app.bsky.graph.follow/{f.rkey}"
                if (f.author, f.subject) == (them.did, actor.did):
                    rel["followedBy"] = f"at://{them.did}/app.bsky.graph.follow/{f.rkey}"
            if (actor.did, them.did) in self.blocks:
                rel["blocking"] = f"at://{actor.did}/app.bsky.graph.block/3kblock{them.did[-6:]}"
            if (them.did, actor.did) in self.blocks:
                rel["blockedBy"] = f"at://{them.did}/app.bsky.graph.block/3kblock{actor.did[-6:]}"
            rels.append(rel)
        return 200, {"actor": actor.did if actor else None, "relationships": rels}

    def _getAuthorFeed(self, q: Query) -> tuple[int, Any]:
        ident = _one(q, "actor")
        flt = (q.get("filter") or ["posts_with_replies"])[0]
        if flt not in FILTERS:
            raise _Invalid(f"Invalid filter: {flt}")
        actor = self._resolve(ident)
        if actor is None or actor.status != "active":
            raise _Invalid("Profile not found")
        mine = [p for p in self.posts if p.author == actor.did]
        if flt == "posts_no_replies":
            mine = [p for p in mine if not p.reply_parent]
        skeleton = sorted(((p.seq, p) for p in mine), key=lambda r: -r[0])
        page, cursor = self._page(q, skeleton, "app.bsky.feed.getAuthorFeed")
        feed = []
        for p in page:
            if p.repost_of is not None:
                feed.append(
                    {
                        "post": self.post_view(p.repost_of),
                        "reason": {
                            "$type": "app.bsky.feed.defs#reasonRepost",
                            "by": self.profile_basic(actor),
                            "uri": p.uri,
                            "cid": f"bafyrei{p.seq:010d}",
                            "indexedAt": iso(p.indexed_at),
                        },
                    }
                )
                continue
            item: dict[str, Any] = {"post": self.post_view(p)}
            if p.reply_parent:
                gone = {
                    "$type": "app.bsky.feed.defs#notFoundPost",
                    "uri": p.reply_parent,
                    "notFound": True,
                }
                item["reply"] = {"root": gone, "parent": gone}
            feed.append(item)
        body: dict[str, Any] = {"feed": feed}
        if cursor:
            body["cursor"] = cursor
        return 200, body

    def _getLikes(self, q: Query) -> tuple[int, Any]:
        post = self._post(_one(q, "uri"))
        likes = sorted(post.likes, key=lambda like: like[1], reverse=True) if post else []
        page, cursor = self._page(q, _positions(likes), "app.bsky.feed.getLikes")
        body: dict[str, Any] = {
            "uri": _one(q, "uri"),
            "likes": [
                {
                    "actor": self.profile_view(self.actors[did]),
                    "createdAt": iso(at),
                    "indexedAt": iso(at),
                }
                for did, at in page
                if self._hosted(did)
            ],
        }
        if cursor:
            body["cursor"] = cursor
        return 200, body

    def _getRepostedBy(self, q: Query) -> tuple[int, Any]:
        post = self._post(_one(q, "uri"))
        dids = list(reversed(post.reposted_by)) if post else []
        page, cursor = self._page(q, _positions(dids), "app.bsky.feed.getRepostedBy")
        body: dict[str, Any] = {
            "uri": _one(q, "uri"),
            "repostedBy": [self.profile_view(self.actors[d]) for d in page if self._hosted(d)],
        }
        if cursor:
            body["cursor"] = cursor
        return 200, body

    # -- helpers -----------------------------------------------------------------------

    def _post(self, uri: str) -> FeedPost | None:
        return next((p for p in self.posts if p.uri == uri), None)

    def _page(
        self, q: Query, keyed: list[tuple[int, Any]], method: str
    ) -> tuple[list[Any], str | None]:
        """A keyset page of (key, row) sorted by descending key: the cursor names the last
        key served, so rows removed meanwhile shift nothing. A stuck method ignores it."""
        limit = _limit(q)
        raw = (q.get("cursor") or [""])[0]
        if raw and method not in self.stuck:
            try:
                after = int(raw.split("::")[0])
            except ValueError:
                raise _Invalid("Malformed cursor") from None
            keyed = [r for r in keyed if r[0] < after]
        page = keyed[:limit]
        more = len(keyed) > limit or method in self.stuck
        return [row for _, row in page], cursor_for(page[-1][0]) if more and page else None


class _Invalid(Exception):
    def __init__(self, message: str, name: str = "InvalidRequest") -> None:
        super().__init__(message)
        self.message = message
        self.name = name


def _one(q: Query, name: str) -> str:
    values = q.get(name)
    if not values or not values[0]:
        raise _Invalid(f'Error: Params must have the property "{name}"')
    return values[0]


def _many(q: Query, name: str, most: int, *, required: bool = True) -> list[str]:
    values = q.get(name) or []
    if required and not values:
        raise _Invalid(f'Error: Params must have the property "{name}"')
    if len(values) > most:
        raise _Invalid(f"Error: {name} must not have more than {most} elements")
    return values


def _limit(q: Query) -> int:
    raw = (q.get("limit") or ["50"])[0]
    try:
        limit = int(raw)
    except ValueError:
        raise _Invalid("Error: limit must be an integer") from None
    if not 1 <= limit <= 100:
        raise _Invalid(
            f"Error: limit can not be {'greater than 100' if limit > 100 else 'less than 1'}"
        )
    return limit


def cursor_for(key: int) -> str:
    """The cursor the server hands out after the row with *key* (sortAt::cid-like)."""
    return f"{key:012d}::bafyreicursor"


def _positions(rows: list[Any]) -> list[tuple[int, Any]]:
    return [(len(rows) - n, row) for n, row in enumerate(rows)]
