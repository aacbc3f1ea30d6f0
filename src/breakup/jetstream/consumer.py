"""The consumer: frames in, batches saved with their cursor, and the websocket loop around it.

:class:`Consumer` is everything but the socket (resolve, batch, save), so a replay of
recorded frames (the benchmark) runs exactly the code the live loop runs. :func:`stream`
connects, resumes ``rewind_us`` before the saved cursor, reconnects with backoff when the
connection drops, and saves what it holds before every reconnect and before it returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from websockets.exceptions import InvalidURI, WebSocketException
from websockets.sync.client import connect

from ..clock import Clock, system_clock
from ..errors import ServiceError
from ..ingest import FUTURE_SLACK
from ..store import Store
from .frames import DEFAULT_URL, MAX_MESSAGE, subscribe_url, time_us
from .resolver import Resolver, StreamResult
from .save import save

CURSOR = "jetstream"
REWIND_US = 5_000_000  # Jetstream's advice: rewind a few seconds, process idempotently
POLL = 0.2  # seconds a receive waits before looking at `stop` and the flush timer

Progress = Callable[[StreamResult], None]
"""progress(result): called after every save with the running totals."""
Stop = threading.Event | Callable[[], bool]


class Consumer:
    """Resolves frames and saves them every *flush_every* items or *flush_seconds*."""

    def __init__(
        self,
        store: Store,
        *,
        cursor_name: str = CURSOR,
        clock: Clock = system_clock,
        flush_every: int = 20_000,
        flush_seconds: float = 5.0,
        progress: Progress | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cursor_name = cursor_name
        self.clock = clock
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.progress = progress
        self.timer = timer
        self.result = StreamResult(cursor=store.cursor(cursor_name))
        self.resolver = Resolver(self.result)
        self.resolver.max_us = self._horizon()
        self.resolver.refresh(store)
        # The window since the last save, kept as frames: time_us is read from two frames
        # per save instead of from every frame.
        self._first: str | None = None
        self._last: str | None = None
        self._due = timer() + flush_seconds

    def _horizon(self) -> int:
        """The latest frame time the store will take (an hour inside its slack)."""
        return int((self.clock() + FUTURE_SLACK - timedelta(hours=1)).timestamp() * 1_000_000)

    def resume_at(self, rewind_us: int = REWIND_US) -> int | None:
        """Where to reconnect: a little before the saved cursor (None: live tail)."""
        saved = self.store.cursor(self.cursor_name)
        return None if saved is None else max(0, saved - rewind_us)

    def feed(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):  # we never ask for binary (compressed) frames
            try:
                frame = frame.decode()
            except UnicodeDecodeError:
                self.result.frames += 1
                self.result.malformed += 1
                return
        if self._first is None:
            self._first = frame
        self._last = frame
        self.resolver.feed(frame)
        if len(self.resolver.pending) >= self.flush_every or self.timer() >= self._due:
            self.flush()

    def tick(self) -> None:
        """Save if the time has come (an idle stream still moves its cursor)."""
        if self.timer() >= self._due:
            self.flush()

    def flush(self) -> None:
        """Save the pending items with the cursor of the last frame, in one transaction."""
        self._due = self.timer() + self.flush_seconds
        if self._last is None:
            return
        last = _last_time(self._first, self._last)
        if last is None:  # nothing in the window had a time: nothing to resume from
            self._first = self._last = None
            return
        horizon = self._horizon()
        last = min(last, horizon)
        first = min((time_us(self._first) if self._first else None) or last, horizon)
        # While a reconnect replays the rewound seconds, the frames are older than the
        # saved cursor, and everything up to it is committed: never move it back.
        last = max(last, self.result.cursor or 0)
        items = self.resolver.pending
        saved = save(
            self.store,
            items,
            self.resolver.subjects,
            cursor_name=self.cursor_name,
            first_us=first,
            last_us=last,
            observed_at=self.clock(),
        )
        # Only now forget them: a failed save leaves them (and the cursor) where they were.
        self.resolver.pending = []
        self._first = self._last = None
        result = self.result
        result.saved_events += saved.events
        result.saved_checks += saved.checks
        result.saved_records += saved.records
        result.flushes += 1
        result.cursor = last
        self.resolver.refresh(self.store)
        self.resolver.max_us = self._horizon()
        if self.progress is not None:
            self.progress(result)


def _last_time(first: str | None, last: str) -> int | None:
    found = time_us(last)
    if found is None and first is not None:
        found = time_us(first)
    return found


def stream(
    store: Store,
    *,
    url: str | None = None,
    clock: Clock = system_clock,
    stop: Stop | None = None,
    max_events: int | None = None,
    progress: Progress | None = None,
    cursor_name: str = CURSOR,
    rewind_us: int = REWIND_US,
    flush_every: int = 20_000,
    flush_seconds: float = 5.0,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    open_timeout: float = 10.0,
) -> StreamResult:
    """Follow Jetstream into *store* until *stop* is set or *max_events* frames are processed.

    Every Bluesky account in the store with a DID is tracked: follows of it become FOLLOW
    events at their exact time (with the record key, remembered as a follow record),
    deletes of known records become UNFOLLOW events, and a follower's account going
    inactive becomes a check (never an unfollow). Resumes ``rewind_us`` before the saved
    cursor; a dropped connection is retried with exponential backoff, forever (raise
    *stop* to end). Raises :class:`~breakup.errors.ServiceError` only for a URL that can
    never work.
    """
    should_stop = _stopper(stop)
    consumer = Consumer(
        store,
        cursor_name=cursor_name,
        clock=clock,
        flush_every=flush_every,
        flush_seconds=flush_seconds,
        progress=progress,
    )
    result = consumer.result
    base = url or DEFAULT_URL
    failures = 0

    def done() -> bool:
        return should_stop() or (max_events is not None and result.frames >= max_events)

    try:
        while not done():
            address = subscribe_url(base, consumer.resume_at(rewind_us))
            before = result.frames
            try:
                # No permessage-deflate: follow frames are small, and inflating every frame
                # would cost the CPU a catch-up replay needs. A deep queue lets the reader
                # thread keep draining the socket while a save holds this one.
                with connect(
                    address,
                    open_timeout=open_timeout,
                    compression=None,
                    max_size=2 * MAX_MESSAGE,
                    max_queue=4096,
                    close_timeout=2.0,
                ) as ws:
                    result.connections += 1
                    while not done():
                        try:
                            frame = ws.recv(timeout=POLL)
                        except TimeoutError:
                            consumer.tick()
                            continue
                        consumer.feed(frame)
            except InvalidURI:
                raise ServiceError("jetstream", f"{base}: not a ws:// or wss:// URL") from None
            except (OSError, TimeoutError, WebSocketException) as exc:
                _note(result, f"{_now(clock)} {type(exc).__name__}: {exc}")
            # Save before reconnecting: the saved cursor is where the next connection resumes.
            consumer.flush()
            if done():
                break
            failures = 0 if result.frames > before else failures + 1
            _wait(stop, should_stop, min(max_backoff, backoff * (2**failures - 1)))
    finally:
        consumer.flush()
    return result


def _stopper(stop: Stop | None) -> Callable[[], bool]:
    if stop is None:
        return lambda: False
    if isinstance(stop, threading.Event):
        return stop.is_set
    return stop


def _wait(stop: Stop | None, should_stop: Callable[[], bool], seconds: float) -> None:
    """Sleep *seconds*, waking early when stop is raised."""
    if isinstance(stop, threading.Event):
        stop.wait(seconds)
        return
    end = time.monotonic() + seconds
    while not should_stop() and (left := end - time.monotonic()) > 0:
        time.sleep(min(POLL, left))


def _note(result: StreamResult, problem: str) -> None:
    result.problems.append(problem)
    del result.problems[:-20]  # the latest few are what a user needs


def _now(clock: Clock) -> str:
    at: datetime = clock()
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
