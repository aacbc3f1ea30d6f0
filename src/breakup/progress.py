"""Progress of long steps, reported to whoever is listening (the CLI draws a bar).

A reader deep inside a source calls :func:`rows_read`; the CLI wraps the call in
:func:`reporting_rows`. Nothing listens by default, and the callback lives in a context
variable, so concurrent imports in other threads or tasks never see each other's bars.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

RowsCallback = Callable[[str, int, int | None], None]  # file name, rows done, rows in all

_ROWS: ContextVar[RowsCallback | None] = ContextVar("breakup_rows_progress", default=None)

EVERY = 5_000  # rows between two reports


@contextmanager
def reporting_rows(callback: RowsCallback) -> Iterator[None]:
    """Send :func:`rows_read` reports made inside the block to *callback*."""
    token = _ROWS.set(callback)
    try:
        yield
    finally:
        _ROWS.reset(token)


def rows_read(name: str, done: int, total: int | None = None) -> None:
    """*done* rows of *name* read (of about *total*), if anyone listens."""
    callback = _ROWS.get()
    if callback is not None:
        callback(name, done, total)
