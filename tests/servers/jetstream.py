"""A local Jetstream v1: scripted events over a real websocket on 127.0.0.1.

It speaks the way bluesky-social/jetstream's v1 ``/subscribe`` does:

* frames are text messages written as Go's encoder writes them: compact JSON, envelope
  keys in struct order (``did, time_us, kind, commit|account|identity``), ``status`` left
  out of an account event when there is none;
* ``wantedCollections`` filters commits; account and identity events pass regardless;
* ``cursor`` (unix µs) replays from the first event at or after it. Without a cursor a
  connection starts at the *live position*: the first event not yet sent to anyone.

Time in the script moves only as events are sent, except for outages: ``drops[n]`` makes
connection ``n`` end abruptly (no close frame) after that many frames, and ``outage``
events then "happen" while the client is away; :meth:`Jetstream.advance` does the same
between two runs. A client that reconnects without a cursor misses those events.
Every connection's query is kept in :attr:`Jetstream.requests`. ``pace`` (seconds) spaces
frames out, so a client can be killed mid-stream; :attr:`Jetstream.caught_up` holds the
numbers of the connections that were sent every event. With ``mid_frame`` a drop
happens in the middle of a frame: half of its bytes are sent, then the connection ends.
"""

from __future__ import annotations

import bisect
import socket
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

FOLLOW = "app.bsky.graph.follow"
_B32 = "234567abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def tid(micros: int, clock_id: int = 0) -> str:
    """A record key / rev as atproto writes them: base32-sortable (µs << 10 | clock id)."""
    value = (micros << 10) | (clock_id & 0x3FF)
    return "".join(_B32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def us_of(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _iso(micros: int) -> str:
    at = _EPOCH + timedelta(microseconds=micros)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def follow(did: str, us: int, rkey: str, subject: str) -> dict[str, Any]:
    return {
        "did": did,
        "time_us": us,
        "kind": "commit",
        "commit": {
            "rev": tid(us, 1),
            "operation": "create",
            "collection": FOLLOW,
            "rkey": rkey,
            "record": {"$type": FOLLOW, "createdAt": _iso(us - 1500), "subject": subject},
            "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm",
        },
    }


def unfollow(did: str, us: int, rkey: str) -> dict[str, Any]:
    return {
        "did": did,
        "time_us": us,
        "kind": "commit",
        "commit": {"rev": tid(us, 2), "operation": "delete", "collection": FOLLOW, "rkey": rkey},
    }


def account(did: str, us: int, *, active: bool, status: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"active": active, "did": did, "seq": us // 1000}
    if status is not None:
        body["status"] = status
    body["time"] = _iso(us)
    return {"did": did, "time_us": us, "kind": "account", "account": body}


def identity(did: str, us: int, handle: str) -> dict[str, Any]:
    return {
        "did": did,
        "time_us": us,
        "kind": "identity",
        "identity": {"did": did, "handle": handle, "seq": us // 1000, "time": _iso(us)},
    }


def encode(event: dict[str, Any]) -> str:
    return orjson.dumps(event).decode()


class Jetstream:
    def __init__(
        self,
        events: Sequence[dict[str, Any]],
        *,
        drops: Sequence[int] = (),
        outage: int = 0,
        pace: float = 0.0,
        mid_frame: bool = False,
    ) -> None:
        self.events = sorted(events, key=lambda e: int(e["time_us"]))
        self.frames = [encode(e) for e in self.events]
        self.times = [int(e["time_us"]) for e in self.events]
        self.drops = list(drops)
        self.outage = outage
        self.live = 0
        self.pace = pace
        self.mid_frame = mid_frame
        self.caught_up: set[int] = set()
        self.requests: list[dict[str, list[str]]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> Jetstream:
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/subscribe"

    def advance(self, n: int) -> None:
        """*n* events happen while nobody is connected."""
        with self._lock:
            self.live = min(len(self.events), self.live + n)

    # -- one subscriber ------------------------------------------------------------------

    def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        parts = urlsplit(conn.request.path)
        if parts.path != "/subscribe":
            conn.close(1008, "not found")
            return
        query = parse_qs(parts.query)
        with self._lock:
            number = len(self.requests)
            self.requests.append(query)
            if "cursor" in query:
                start = bisect.bisect_left(self.times, int(query["cursor"][0]))
            else:
                start = self.live
        wanted = set(query.get("wantedCollections", []))
        drop = self.drops[number] if number < len(self.drops) else None
        sent = 0
        for i in range(start, len(self.events)):
            event = self.events[i]
            if wanted and event["kind"] == "commit" and event["commit"]["collection"] not in wanted:
                continue
            if drop is not None and sent == drop:
                with self._lock:
                    self.live = max(self.live, min(len(self.events), i + self.outage))
                if self.mid_frame:
                    payload = self.frames[i].encode()
                    conn.socket.sendall(_text_header(len(payload)) + payload[: len(payload) // 2])
                conn.socket.shutdown(socket.SHUT_RDWR)  # a dropped connection, no goodbye
                return
            try:
                conn.send(self.frames[i])
            except ConnectionClosed:
                return
            sent += 1
            with self._lock:
                self.live = max(self.live, i + 1)
            if self.pace:
                time.sleep(self.pace)
        with self._lock:
            self.caught_up.add(number)
        # Caught up: the live tail is quiet until the client leaves or the server stops.
        while not self._stopping.is_set():
            try:
                conn.recv(timeout=0.1)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return


def _text_header(n: int) -> bytes:
    """The header of an unmasked final text frame of *n* bytes (RFC 6455, server side)."""
    if n < 126:
        return bytes([0x81, n])
    if n < 65536:
        return bytes([0x81, 126]) + n.to_bytes(2, "big")
    return bytes([0x81, 127]) + n.to_bytes(8, "big")
