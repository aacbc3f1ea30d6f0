"""Opening the store: one way to read it, one way to write it.

DuckDB lets one process open a file read-write, and then no other process may open it at
all, not even read-only. So:

* :func:`read_store` opens the file read-only; if another process holds it (a running
  ``breakup watch``, an import), it reads a consistent private copy instead (see
  :class:`breakup.web.reader.StoreReader`), removed when the block ends. Reads never wait
  for a writer and never block one.
* :func:`write_store` opens it read-write; if another process holds it, it waits up to
  *wait* seconds for it, then raises :class:`~breakup.errors.StoreLocked`.

:class:`~breakup.store.Store` is the only place that recognises DuckDB's lock error; it
raises ``StoreLocked``, which everything else catches by type.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .clock import Clock, system_clock
from .errors import StoreError, StoreLocked
from .store import Store, default_db_path

__all__ = ["open_read_only", "read_store", "write_store"]


def open_read_only(
    path: Path | str, *, clock: Clock = system_clock, store_class: type[Store] = Store
) -> Store:
    """The store at *path* opened read-only, for a caller that keeps it open and closes it
    (the dashboard's shared connection to its private copy); :class:`StoreLocked` while
    another process holds the file. Anything else reads through :func:`read_store`."""
    where = Path(path)
    if not where.exists():
        raise StoreError(f"{where}: no store here yet (import something first)")
    return store_class(where, clock=clock, read_only=True)


@contextmanager
def read_store(
    path: Path | str | None = None,
    *,
    clock: Clock = system_clock,
    store_class: type[Store] = Store,
) -> Iterator[Store]:
    """The store at *path* (default: :func:`default_db_path`) for reading, whoever holds
    it: read-only, or a consistent copy while another process writes it."""
    where = Path(path) if path is not None else default_db_path()
    try:
        store = open_read_only(where, clock=clock, store_class=store_class)
    except StoreLocked:
        from .web.reader import StoreReader

        reader = StoreReader(where, clock=clock, store_class=store_class)
        try:
            with reader.store() as copy:
                yield copy
        finally:
            reader.close()
        return
    try:
        yield store
    finally:
        store.close()


@contextmanager
def write_store(
    path: Path | str | None = None,
    *,
    clock: Clock = system_clock,
    wait: float = 0.0,
    store_class: type[Store] = Store,
    sleep: Callable[[float], object] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[Store]:
    """The store at *path* for writing (created if missing). While another process holds
    it, waits up to *wait* seconds; then :class:`StoreLocked`."""
    deadline = monotonic() + wait
    delay = 0.05
    while True:
        try:
            store = store_class(path, clock=clock)
            break
        except StoreLocked:
            if monotonic() >= deadline:
                raise
        sleep(min(delay, max(0.0, deadline - monotonic())))
        delay = min(delay * 2, 0.5)
    try:
        yield store
    finally:
        store.close()
