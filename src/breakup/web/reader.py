"""Reading a store that another process is writing, without ever taking its lock.

DuckDB lets one process hold a file read-write, and then no other process may open it at
all — not even read-only. ``breakup watch`` keeps its store open for as long as it runs,
and a dashboard holding even a read-only connection would stop ``watch`` or ``import``
from starting. So the dashboard never opens the user's file: it reads a private copy.

A copy is taken when the file (or its write-ahead log) has changed since the last one,
at most every ``max_age`` seconds. It is consistent when neither file changed while it was
copied (same size and modification time before and after), which is checked and retried;
until a consistent copy exists the previous one is served. The copy is then opened once
read-write to fold its log in, and each request opens it read-only.

Copies live in a folder of the temp dir named after the process that made it
(``breakup-copy-<pid>-…``). :meth:`StoreReader.close` removes it; a process killed before
that (``kill -9``) leaves it behind, and the next reader to start removes every such
folder whose process is gone (:func:`reclaim_stale_copies`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from ..access import open_read_only, write_store
from ..clock import Clock, system_clock
from ..errors import StoreError
from ..store import Store

Signature = tuple[tuple[int, int] | None, tuple[int, int] | None]
PREFIX = "breakup-copy-"  # + "<pid>-<random>"
LEGACY_PREFIX = "breakup-serve-"  # folders of older versions, named without their pid
LEGACY_AGE = 7 * 86400.0  # seconds untouched before such a folder counts as stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def reclaim_stale_copies(
    folder: Path | None = None,
    *,
    alive: Callable[[int], bool] = _alive,
    now: Callable[[], float] = time.time,
) -> list[Path]:
    """Remove the copy folders (in *folder*, default the temp dir) of readers whose
    process is gone; returns what was removed. Only our own user's folders are touched."""
    root = Path(folder or tempfile.gettempdir())
    removed = []
    for path in [*root.glob(f"{PREFIX}*"), *root.glob(f"{LEGACY_PREFIX}*")]:
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if not path.is_dir() or path.is_symlink() or st.st_uid != os.getuid():
            continue
        if path.name.startswith(PREFIX):
            pid, sep, _ = path.name[len(PREFIX) :].partition("-")
            stale = bool(sep) and pid.isdigit() and not alive(int(pid))
        else:
            stale = now() - st.st_mtime > LEGACY_AGE
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns)


class StoreReader:
    """Consistent read-only snapshots of the store at *path*.

    Requests share one read-only connection per copy (each request gets a cursor of it:
    opening a DuckDB file costs ~0.1 s, a cursor nothing). With ``background`` (the
    dashboard), a changed store is copied by a thread while requests go on reading the
    previous copy; without it (one-shot readers, tests) the caller waits for the copy.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = system_clock,
        max_age: float = 2.0,
        attempts: int = 20,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        store_class: type[Store] = Store,
        background: bool = False,
    ) -> None:
        self.path = Path(path)
        self.wal = self.path.with_name(self.path.name + ".wal")
        self.clock = clock
        self.max_age = max_age
        self.attempts = attempts
        self.monotonic = monotonic
        self.sleep = sleep
        self.store_class = store_class
        self.background = background
        reclaim_stale_copies()
        self.folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        self._lock = threading.RLock()  # the state below; never held while copying
        self._copying = threading.Lock()  # one copy at a time
        self._in_use: dict[Path, int] = {}  # copies requests are opening or reading
        self._conns: dict[Path, duckdb.DuckDBPyConnection] = {}  # shared, per copy
        self._generation = 0
        self._current: Path | None = None
        self._signature: Signature | None = None
        self._checked = float("-inf")
        self._refreshing = False

    def _sign(self) -> Signature:
        return (_stat(self.path), _stat(self.wal))

    def snapshot(self) -> Path:
        """The path of a consistent copy no older than ``max_age`` seconds (in the
        background mode: the latest one finished, while a newer one is being made)."""
        with self._lock:
            now = self.monotonic()
            current = self._current
            if current is not None and now - self._checked < self.max_age:
                return current
            self._checked = now
            if current is not None and self._sign() == self._signature:
                return current
            if current is not None and self.background:
                if not self._refreshing:
                    self._refreshing = True
                    threading.Thread(target=self._refresh, name="breakup-copy", daemon=True).start()
                return current
        return self._copy()

    def _refresh(self) -> None:
        try:
            self._copy()
        except (StoreError, OSError):
            pass  # the last consistent copy is still served; the next check tries again
        finally:
            with self._lock:
                self._refreshing = False

    def _copy(self) -> Path:
        with self._copying:
            with self._lock:  # someone else may have copied this very state meanwhile
                if self._current is not None and self._sign() == self._signature:
                    return self._current
            for attempt in range(self.attempts):
                before = self._sign()
                if before[0] is None:
                    raise StoreError(f"{self.path}: no store here yet (import something first)")
                with self._lock:
                    self._generation += 1
                    target = self.folder / f"snapshot-{self._generation}.duckdb"
                shutil.copyfile(self.path, target)
                if before[1] is not None:
                    shutil.copyfile(self.wal, target.with_name(target.name + ".wal"))
                if self._sign() == before:
                    self._settle(target)
                    with self._lock:
                        self._current, self._signature = target, before
                        self._forget_old()
                    return target
                self._discard(target)
                self.sleep(min(0.05 * 2**attempt, 1.0))  # a writer is busy: try again shortly
            with self._lock:
                if self._current is not None:
                    return self._current  # serve the last consistent copy
            raise StoreError(f"{self.path}: the store kept changing while it was being read")

    def _settle(self, target: Path) -> None:
        """Fold the copied log into the copy (opening it once for writing, as any writer
        does: an older store's copy gets its missing migrations too), so read-only opens
        need not replay it."""
        with write_store(target, clock=self.clock, store_class=self.store_class):
            pass

    def _discard(self, target: Path) -> None:
        for f in (target, target.with_name(target.name + ".wal")):
            f.unlink(missing_ok=True)

    def _forget_old(self) -> None:
        """Remove copies two generations back that no request is using (under the lock)."""
        for old in self.folder.glob("snapshot-*.duckdb"):
            number = int(old.stem.split("-")[1])
            if number < self._generation - 1 and not self._in_use.get(old):
                if (con := self._conns.pop(old, None)) is not None:
                    con.close()
                self._discard(old)

    def _connection(self, path: Path) -> duckdb.DuckDBPyConnection:
        """The shared read-only connection to the copy at *path* (opened once, through
        :func:`breakup.access.open_read_only`, so the schema version is checked)."""
        with self._lock:
            con = self._conns.get(path)
        if con is not None:
            return con
        opened = open_read_only(path, clock=self.clock, store_class=self.store_class)
        with self._lock:
            con = self._conns.setdefault(path, opened.con)
        if con is not opened.con:
            opened.close()
        return con

    def hold(self, path: Path | None = None) -> Path:
        """Keep the copy at *path* (default: the latest snapshot) until :meth:`release`:
        it is not removed meanwhile. Returns its path."""
        while True:
            held = path or self.snapshot()
            with self._lock:
                if held.exists():  # not discarded since (discards happen under the lock)
                    self._in_use[held] = self._in_use.get(held, 0) + 1
                    return held
            if path is not None:
                raise StoreError(f"{path}: this copy of the store is gone")

    def release(self, path: Path) -> None:
        with self._lock:
            self._in_use[path] -= 1
            if not self._in_use[path]:
                del self._in_use[path]

    @contextmanager
    def store(self, path: Path | None = None) -> Iterator[Store]:
        """A read-only Store over the latest snapshot (or the held copy at *path*), for
        one request or one background job."""
        held = self.hold(path)
        try:
            cursor = self._connection(held).cursor()
            try:
                yield self.store_class.over(cursor, held, clock=self.clock)
            finally:
                cursor.close()
        finally:
            self.release(held)

    def close(self, wait: float = 30.0) -> None:
        """Close the shared connections and remove the copies, once the requests and
        background jobs reading them are done (waiting up to *wait* seconds)."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                if not self._in_use or time.monotonic() >= deadline:
                    conns = list(self._conns.values())
                    self._conns.clear()
                    break
            time.sleep(0.05)
        for con in conns:
            # A job that outlived the wait may still use it: the process is ending anyway.
            with suppress(duckdb.Error):
                con.close()
        shutil.rmtree(self.folder, ignore_errors=True)
