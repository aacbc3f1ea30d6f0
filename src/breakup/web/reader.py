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
from contextlib import contextmanager
from pathlib import Path

import duckdb

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
    """Consistent read-only snapshots of the store at *path*."""

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
    ) -> None:
        self.path = Path(path)
        self.wal = self.path.with_name(self.path.name + ".wal")
        self.clock = clock
        self.max_age = max_age
        self.attempts = attempts
        self.monotonic = monotonic
        self.sleep = sleep
        self.store_class = store_class
        reclaim_stale_copies()
        self.folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        self._lock = threading.RLock()
        self._in_use: dict[Path, int] = {}  # copies requests are opening or reading
        self._generation = 0
        self._current: Path | None = None
        self._signature: Signature | None = None
        self._checked = float("-inf")

    def _sign(self) -> Signature:
        return (_stat(self.path), _stat(self.wal))

    def snapshot(self) -> Path:
        """The path of a consistent copy no older than ``max_age`` seconds."""
        with self._lock:
            now = self.monotonic()
            if self._current is not None and now - self._checked < self.max_age:
                return self._current
            self._checked = now
            if self._current is not None and self._sign() == self._signature:
                return self._current
            return self._copy()

    def _copy(self) -> Path:
        for attempt in range(self.attempts):
            before = self._sign()
            if before[0] is None:
                raise StoreError(f"{self.path}: no store here yet (import something first)")
            self._generation += 1
            target = self.folder / f"snapshot-{self._generation}.duckdb"
            shutil.copyfile(self.path, target)
            if before[1] is not None:
                shutil.copyfile(self.wal, target.with_name(target.name + ".wal"))
            if self._sign() == before:
                self._settle(target)
                self._forget_old()
                self._current, self._signature = target, before
                return target
            self._discard(target)
            self.sleep(min(0.05 * 2**attempt, 1.0))  # a writer is busy: try again shortly
        if self._current is not None:
            return self._current  # serve the last consistent copy
        raise StoreError(f"{self.path}: the store kept changing while it was being read")

    @staticmethod
    def _settle(target: Path) -> None:
        """Fold the copied log into the copy, so read-only opens need not replay it."""
        try:
            duckdb.connect(str(target)).close()
        except duckdb.Error as exc:
            raise StoreError(f"cannot read a copy of the store: {exc}") from None

    def _discard(self, target: Path) -> None:
        for f in (target, target.with_name(target.name + ".wal")):
            f.unlink(missing_ok=True)

    def _forget_old(self) -> None:
        """Remove copies two generations back that no request is using."""
        for old in self.folder.glob("snapshot-*.duckdb"):
            number = int(old.stem.split("-")[1])
            if number < self._generation - 1 and not self._in_use.get(old):
                self._discard(old)

    @contextmanager
    def store(self) -> Iterator[Store]:
        """A read-only Store over the latest snapshot, for one request."""
        with self._lock:
            path = self.snapshot()
            self._in_use[path] = self._in_use.get(path, 0) + 1
        try:
            store = self.store_class(path, clock=self.clock, read_only=True)
            try:
                yield store
            finally:
                store.close()
        finally:
            with self._lock:
                self._in_use[path] -= 1
                if not self._in_use[path]:
                    del self._in_use[path]

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
