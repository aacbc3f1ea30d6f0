"""Producing the next pieces of a stream in a thread while the caller works on this one,
and hashing them in another.

For work done outside the GIL (inflating a zip member, file reads, hashing): the caller's
parsing then overlaps it instead of waiting for it.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_POLL = 0.05  # seconds a blocked producer waits before checking whether it was stopped


def readahead(items: Iterator[T], depth: int = 4) -> Generator[T, None, None]:
    """*items* in order, produced by a thread up to *depth* ahead of the caller. An error
    of the producer is raised here, where the item would have come; closing this generator
    stops the thread (and closes *items*) before it returns."""
    pieces: queue.Queue[tuple[bool, object]] = queue.Queue(depth)
    stop = threading.Event()

    def put(done: bool, value: object) -> bool:
        while not stop.is_set():
            try:
                pieces.put((done, value), timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(False, item):
                    return
            put(True, None)
        except BaseException as exc:  # handed to the caller, who raises it
            put(True, exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="breakup-readahead", daemon=True)
    worker.start()
    try:
        while True:
            done, value = pieces.get()
            if done:
                if isinstance(value, BaseException):
                    raise value
                return
            yield value  # type: ignore[misc]  # an item of *items*
    finally:
        stop.set()
        worker.join()


class BackgroundHash:
    """A SHA-256 fed by a thread of its own. hashlib lets go of the GIL on large pieces,
    so a big member is hashed beside being inflated and parsed rather than after each
    piece is inflated (0.09 s of the 0.6 s reading a million X followers takes)."""

    def __init__(self, depth: int = 16) -> None:
        self._hash = hashlib.sha256()
        self._pieces: queue.Queue[bytes | None] = queue.Queue(depth)
        self._worker = threading.Thread(target=self._run, name="breakup-hash", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while (piece := self._pieces.get()) is not None:
            self._hash.update(piece)

    def update(self, data: bytes, /) -> None:
        if not self._worker.is_alive():
            raise ValueError("the hash was already finished")
        self._pieces.put(data)

    def close(self) -> None:
        """Stop the thread (whatever it has not hashed yet is dropped with it)."""
        if self._worker.is_alive():
            self._pieces.put(None)
            self._worker.join()

    def hexdigest(self) -> str:
        """The digest of every piece given; no more can be given after."""
        self.close()
        return self._hash.hexdigest()
