"""Unattended tracking: polls on schedules, the firehose alongside, and a clean stop.

A watch config (TOML)::

    [defaults]
    every = "6h"              # how often each account is polled (s, m, h, d)

    [[track]]
    target = "bsky:brand.bsky.social"
    every = "1h"
    base_url = "https://public.api.bsky.app/xrpc"   # optional

    [[track]]
    target = "mastodon:@brand@mastodon.social"

    [stream]                  # optional: Jetstream for exact Bluesky follow/unfollow times
    url = "wss://jetstream2.us-east.bsky.network/subscribe"

Each poll's time is remembered in the store, so a restarted watch resumes the schedule
instead of polling everything at once. A failing poll is reported and retried with
backoff; it never stops the others. Everything a poll or the stream committed survives a
kill; what was not committed is fetched again.
"""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .clock import Clock, system_clock
from .credentials import token_for_target
from .errors import BreakupError, InvalidInput, RateLimited
from .live import Connection, split_target
from .store import Store
from .track import TrackResult, track

MIN_RETRY = timedelta(minutes=1)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class TrackJob:
    target: str
    every: timedelta
    base_url: str | None = None


@dataclass(frozen=True)
class WatchConfig:
    jobs: list[TrackJob]
    stream_url: str | None = None
    stream: bool = False
    raw: dict[str, Any] = field(default_factory=dict)  # other sections (digests ...)


def parse_every(value: Any, where: str) -> timedelta:
    text = str(value).strip().lower()
    if len(text) >= 2 and text[:-1].isdigit() and text[-1] in UNITS and int(text[:-1]) > 0:
        return timedelta(seconds=int(text[:-1]) * UNITS[text[-1]])
    raise InvalidInput(f"{where}: every = {value!r}; use e.g. 30m, 6h, 1d")


def load_config(path: Path) -> WatchConfig:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid TOML ({exc})") from None
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise InvalidInput(f"{path}: [defaults] must be a table")
    default_every = parse_every(defaults.get("every", "6h"), f"{path}: [defaults]")
    tracks = doc.get("track", [])
    if not isinstance(tracks, list) or not all(isinstance(t, dict) for t in tracks):
        raise InvalidInput(f"{path}: use [[track]] tables for accounts to poll")
    jobs = []
    for n, entry in enumerate(tracks, start=1):
        where = f"{path}: [[track]] #{n}"
        target = entry.get("target")
        if not isinstance(target, str):
            raise InvalidInput(f'{where}: needs target = "SCHEME:ACCOUNT"')
        try:
            split_target(target)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc}") from None
        every = parse_every(entry["every"], where) if "every" in entry else default_every
        base_url = entry.get("base_url")
        if base_url is not None and not isinstance(base_url, str):
            raise InvalidInput(f"{where}: base_url must be a string")
        jobs.append(TrackJob(target, every, base_url))
    stream = doc.get("stream")
    if stream is not None and not isinstance(stream, dict):
        raise InvalidInput(f"{path}: [stream] must be a table")
    if not jobs and stream is None:
        raise InvalidInput(f"{path}: nothing to watch (no [[track]] and no [stream])")
    return WatchConfig(
        jobs=jobs,
        stream=stream is not None and bool(stream.get("enabled", True)),
        stream_url=(stream or {}).get("url"),
        raw={k: v for k, v in doc.items() if k not in ("defaults", "track", "stream")},
    )


Report = Callable[[str, dict[str, Any]], None]
"""report(event, details): what the watch tells its user (polled, failed, stream ...)."""


def _digest_scheduler(config: WatchConfig, clock: Clock, report: Report) -> Any:
    """The daily digests of the config's [[digest]] tables (breakup.digest), if any."""
    if "digest" not in config.raw:
        return None
    from .digest.schedule import DigestScheduler

    return DigestScheduler.from_raw(config.raw, clock=clock, report=report)


StreamRunner = Callable[[Store, threading.Event], None]


def _ignore(event: str, details: dict[str, Any]) -> None:
    return None


@dataclass
class WatchResult:
    polls: int = 0
    failures: int = 0
    results: list[TrackResult] = field(default_factory=list)


class Watch:
    """Runs a config until ``stop`` is set. The clock and the wait are injectable."""

    def __init__(
        self,
        store: Store,
        config: WatchConfig,
        *,
        stop: threading.Event | None = None,
        clock: Clock = system_clock,
        report: Report = _ignore,
        stream_runner: StreamRunner | None = None,
        connect: Callable[[TrackJob], Connection] | None = None,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.stop = stop or threading.Event()
        self.clock = clock
        self.report = report
        self.stream_runner = stream_runner
        self.connect = connect or self._connection
        self.wait = wait or (lambda seconds: self.stop.wait(timeout=seconds))
        self.failures: dict[str, int] = {}
        self.retry_at: dict[str, datetime] = {}
        self.digests = _digest_scheduler(config, clock, report)

    def _connection(self, job: TrackJob) -> Connection:
        # The token issued by the host this job's requests go to, if any: never another's.
        token = token_for_target(job.target, job.base_url)
        return Connection(base_url=job.base_url, clock=self.clock, token=token)

    def _last_poll(self, job: TrackJob) -> datetime | None:
        micros = self.store.cursor(f"watch:{job.target}")
        return None if micros is None else datetime.fromtimestamp(micros / 1e6, self.clock().tzinfo)

    def due(self, job: TrackJob, now: datetime) -> datetime:
        """When the job should next run: after its interval, or its retry time."""
        if job.target in self.retry_at:
            return self.retry_at[job.target]
        last = self._last_poll(job)
        return now if last is None else last + job.every

    def run_due(self, result: WatchResult) -> None:
        for job in self.config.jobs:
            if self.stop.is_set():
                return
            now = self.clock()
            if self.due(job, now) > now:
                continue
            self.report("polling", {"target": job.target})
            try:
                polled = track(self.store, job.target, self.connect(job))
            except BreakupError as exc:
                # Network trouble, a refusal, a service down: report, back off, carry on.
                n = self.failures.get(job.target, 0) + 1
                self.failures[job.target] = n
                wait = min(job.every, MIN_RETRY * 2 ** (n - 1))
                if isinstance(exc, RateLimited) and exc.retry_at is not None:
                    # The service named when to come back (a long Retry-After): then.
                    wait = max(wait, exc.retry_at - now)
                self.retry_at[job.target] = now + wait
                result.failures += 1
                self.report("failed", {"target": job.target, "error": str(exc), "retry_in": wait})
                continue
            self.failures.pop(job.target, None)
            self.retry_at.pop(job.target, None)
            with self.store.transaction():
                self.store.set_cursor(f"watch:{job.target}", int(now.timestamp() * 1e6))
            result.polls += 1
            result.results.append(polled)
            self.report("polled", {"target": job.target, "result": polled})

    def seconds_until_next(self) -> float:
        now = self.clock()
        if not self.config.jobs:
            return 3600.0
        nxt = min(self.due(job, now) for job in self.config.jobs)
        return max(0.0, (nxt - now).total_seconds())

    def run(self) -> WatchResult:
        result = WatchResult()
        thread = None
        if self.config.stream and self.stream_runner is not None:
            thread_store = self.store.for_thread()
            thread = threading.Thread(
                target=self._stream, args=(thread_store,), name="breakup-stream", daemon=True
            )
            thread.start()
        try:
            while not self.stop.is_set():
                self.run_due(result)
                if self.digests is not None:
                    self.digests.tick(self.store)  # [[digest]] tables: daily, when due
                self.wait(min(self.seconds_until_next(), 60.0))
        finally:
            self.stop.set()
            if thread is not None:
                thread.join(timeout=30)
        return result

    def _stream(self, store: Store) -> None:
        assert self.stream_runner is not None
        try:
            while not self.stop.is_set():
                try:
                    self.stream_runner(store, self.stop)
                except BreakupError as exc:
                    self.report("stream failed", {"error": str(exc)})
                    self.stop.wait(timeout=30)
        finally:
            store.close()
