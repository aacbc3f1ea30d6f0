"""Producing the next pieces of a stream in a thread while the caller works on this one.

For producers that spend their time outside the GIL (zlib inflating a zip member, file
reads): the caller's parsing then overlaps the inflating instead of waiting for it.
"""

from __future__ import annotations

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
