"""The dashboard: the report's sections, filterable by account, channel and dates, with
drill-downs from a post to who left after it and from a person to their history.

Every page renders a result of the library (``build_report``, ``post_detail``,
``post_verdicts``, ``person_history``) with the report's own templates; nothing is
computed here.
"""

from __future__ import annotations

import copy
import logging
import math
import multiprocessing
import re
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, Generic, TypeVar

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from plotly.offline import get_plotlyjs
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..access import read_store
from ..clock import Clock, fixed_clock, parse_time, system_clock
from ..errors import AccountError, BreakupError, InvalidInput
from ..report import (
    Filters,
    Report,
    Verdicts,
    build_report,
    person_history,
    post_detail,
    post_verdicts,
)
from ..report.html import environment, report_context
from ..report.sections import post_attributions
from ..serialize import to_jsonable
from ..store import Store
from .auth import allowed_hosts, token_middleware
from .reader import StoreReader

REPORTS_KEPT = 8
REBUILD_EVERY = 10.0  # seconds between background rebuilds of a report while the store changes
PAGES_KEPT = 256  # rendered pages (index, JSON report, people, posts), least recent out
PLOTLY_JS = Path(str(files("plotly") / "package_data" / "plotly.min.js"))

V = TypeVar("V")


def _filters(
    account: str | None, channel: str | None, since: str | None, until: str | None
) -> Filters:
    return Filters(
        account=account or None,
        channel=channel or None,
        since=_date(since, "since"),
        until=_date(until, "until", end_of_day=True),
    )


def _date(value: str | None, what: str, *, end_of_day: bool = False) -> datetime | None:
    if not value:
        return None
    t = parse_time(value, what=what)
    if end_of_day and len(value.strip()) == 10:  # a plain date covers the whole day
        t = t.replace(hour=23, minute=59, second=59, microsecond=999999)
    return t


def _finite(value: object) -> object:
    """JSON has no NaN or infinity (an analysis may give them): they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class RedactToken(logging.Filter):
    """Access-log lines show ``token=…`` in a URL as ``token=***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True


_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s]*")


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with tokens redacted from the access log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_token"] = {"()": RedactToken}
    config["handlers"]["access"]["filters"] = ["redact_token"]
    return config


def _choices(store: Store) -> dict[str, list[str]]:
    own = store.accounts(role="own")
    return {
        "accounts": [a.name for a in own],
        "channels": sorted({a.platform for a in own}),
    }


class Kept(Generic[V]):
    """Results of one kind (reports, post verdicts) per copy of the store and filters,
    the last *size* of them. Each is built once: concurrent requests for the same copy and
    filters wait for the first instead of building it in parallel. When the store changed
    and a result for the same filters exists, that one is answered at once while the new
    copy's is built in the background, at most every *rebuild_every* seconds (stale, never
    slow); *away*, when given, builds it there (in a worker process, from the copy's path).
    """

    def __init__(
        self,
        read: StoreReader,
        build: Callable[[Store, Filters], V],
        *,
        size: int,
        rebuild_every: float,
        away: Callable[[Path, Filters], V] | None = None,
    ) -> None:
        self.read = read
        self.build = build
        self.away = away
        self.size = size
        self.rebuild_every = rebuild_every
        self.lock = threading.Lock()
        self.done: OrderedDict[tuple[Path, Filters], V] = OrderedDict()
        self.latest: dict[Filters, tuple[int, V]] = {}  # the newest built, per filters
        self.building: dict[tuple[Path, Filters], threading.Lock] = {}
        self.started: dict[Filters, float] = {}  # when the last background build began

    def peek(self, path: Path, filters: Filters) -> V | None:
        """The result for this very copy and filters if it is built, without building it."""
        with self.lock:
            return self.done.get((path, filters))

    def keep(self, key: tuple[Path, Filters], value: V) -> None:
        with self.lock:
            self.done[key] = value
            self.building.pop(key, None)
            order = _generation(key[0])
            if key[1] not in self.latest or self.latest[key[1]][0] <= order:
                self.latest[key[1]] = (order, value)
            while len(self.done) > self.size:
                self.done.popitem(last=False)

    def _build_later(self, key: tuple[Path, Filters]) -> None:
        """Build the result of a newer copy in the background (the copy is held)."""
        try:
            if self.away is not None:
                self.keep(key, self.away(*key))
            else:
                with self.read.store(key[0]) as store:
                    self.keep(key, self.build(store, key[1]))
        except Exception:  # a failed build is tried again by the next request
            logging.getLogger(__name__).exception("building the dashboard's results failed")
            with self.lock:
                self.building.pop(key, None)
        finally:
            self.read.release(key[0])

    def get(self, store: Store, filters: Filters) -> V:
        """The kept result, or build it (see the class)."""
        key = (store.path, filters)
        with self.lock:
            if key in self.done:
                self.done.move_to_end(key)
                return self.done[key]
            older = self.latest.get(filters)
            if older is not None:
                now = time.monotonic()
                due = now - self.started.get(filters, float("-inf")) >= self.rebuild_every
                if due and not any(k[1] == filters for k in self.building):
                    self.started[filters] = now
                    self.building[key] = threading.Lock()
                    self.read.hold(store.path)  # released by _build_later
                    threading.Thread(
                        target=self._build_later, args=(key,), name="breakup-report", daemon=True
                    ).start()
                return older[1]
            single = self.building.setdefault(key, threading.Lock())
        with single:
            with self.lock:
                if key in self.done:
                    return self.done[key]
            value = self.build(store, filters)
            self.keep(key, value)
        return value


def create_app(
    db: Path,
    *,
    token: str | None = None,
    clock: Clock = system_clock,
    reader: StoreReader | None = None,
    analyses: bool = True,
    hosts: Sequence[str] | None = None,
    rebuild_every: float = REBUILD_EVERY,
    workers: Executor | None = None,
) -> FastAPI:
    """The dashboard over the store at *db*; with *token*, every request must carry it.
    Only requests whose ``Host`` is one of *hosts* (default: loopback's names, see
    :func:`.auth.allowed_hosts`) are answered; any other gets 400.

    Reports are kept per snapshot of the store and filters (the last few), so paging
    through the dashboard never runs an analysis twice on the same data. While the store
    keeps changing (a running import or ``watch``), the report shown is rebuilt in the
    background at most every *rebuild_every* seconds and the previous one answered
    meanwhile; with *workers* (a process pool) those rebuilds run there, off this process'
    GIL. ``analyses=False`` leaves out the why and fans sections.

    A post's page shows the why analysis' verdict on it: only the break-up posts step of
    that analysis is run for it (:func:`breakup.report.post_verdicts`, kept per snapshot
    like the reports), or read from the whole-store report when that is already built.
    """
    read = reader or StoreReader(db, clock=clock, background=True)

    def report_away(path: Path, filters: Filters) -> Report:
        assert workers is not None
        return workers.submit(build_in_worker, path, filters, analyses, clock()).result()

    def verdicts_away(path: Path, filters: Filters) -> Verdicts:
        assert workers is not None
        return workers.submit(verdicts_in_worker, path, clock()).result()

    reports: Kept[Report] = Kept(
        read,
        lambda store, filters: build_report(store, filters, with_analyses=analyses),
        size=REPORTS_KEPT,
        rebuild_every=rebuild_every,
        away=report_away if workers is not None else None,
    )
    verdicts: Kept[Verdicts] = Kept(
        read,
        lambda store, _: post_verdicts(store),
        size=REPORTS_KEPT,
        rebuild_every=rebuild_every,
        away=verdicts_away if workers is not None else None,
    )

    def verdicts_for(store: Store) -> Verdicts:
        """The why analysis' verdict on every post of this copy (its whole store): from the
        whole-store report if built (the same analysis), else its break-up posts step."""
        if verdicts.peek(store.path, Filters()) is None:
            report = reports.peek(store.path, Filters())
            if report is not None:
                verdicts.keep((store.path, Filters()), post_attributions(report.why))
        return verdicts.get(store, Filters())

    # Rendered pages, kept with the result they show (if any): a copy of the store never
    # changes, so a page is rendered once per copy (and result), not once per request.
    pages_lock = threading.Lock()
    pages: OrderedDict[tuple[object, ...], tuple[object, bytes]] = OrderedDict()

    def rendered(key: tuple[object, ...], shown: object) -> bytes | None:
        with pages_lock:
            kept = pages.get((*key, id(shown)))
            if kept is not None:
                pages.move_to_end((*key, id(shown)))
        return kept[1] if kept is not None and kept[0] is shown else None

    def remember(key: tuple[object, ...], shown: object, body: bytes | memoryview) -> bytes:
        kept = bytes(body)
        with pages_lock:
            pages[(*key, id(shown))] = (shown, kept)
            while len(pages) > PAGES_KEPT:
                pages.popitem(last=False)
        return kept

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if reader is None:
            read.close()

    app = FastAPI(
        title="breakup", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.reader = read
    env = environment(jinja2.PackageLoader("breakup.web", "templates"))
    if token:
        app.middleware("http")(token_middleware(token))
    # Added last, so it runs first: a foreign Host is refused before anything else.
    app.add_middleware(
        TrustedHostMiddleware, allowed_hosts=list(hosts or allowed_hosts()), www_redirect=False
    )

    def page(request: Request, template: str, **context: object) -> HTMLResponse:
        html = env.get_template(template).render(
            url_prefix=request.scope.get("root_path", ""), links=True, **context
        )
        return HTMLResponse(html)

    @app.exception_handler(BreakupError)
    async def _error(request: Request, exc: BreakupError) -> Response:
        status = 404 if isinstance(exc, AccountError | LookupError) else 400
        if isinstance(exc, InvalidInput) and str(exc).startswith("no "):
            status = 404
        return HTMLResponse(
            env.get_template("error.html.j2").render(status=status, message=str(exc)),
            status_code=status,
        )

    @app.get("/", response_class=HTMLResponse)
    def index(
        request: Request,
        account: str | None = None,
        channel: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> HTMLResponse:
        filters = _filters(account, channel, since, until)
        form = {"account": account or "", "channel": channel or ""}
        form |= {"since": since or "", "until": until or ""}
        with read.store() as store:
            report = reports.get(store, filters)
            key = ("index", store.path, request.scope.get("root_path", ""), *form.values())
            html = rendered(key, report)
            if html is None:
                context = {**_choices(store), **report_context(report)}
                html = remember(
                    key, report, page(request, "index.html.j2", form=form, **context).body
                )
        return HTMLResponse(html)

    @app.get("/posts/{post_id}", response_class=HTMLResponse)
    def post(request: Request, post_id: int) -> HTMLResponse:
        with read.store() as store:
            # The why analysis' verdict on the post (its break-up posts step only, kept).
            shown = verdicts_for(store) if analyses else None
            key = ("post", store.path, request.scope.get("root_path", ""), post_id)
            html = rendered(key, shown)
            if html is None:
                detail = post_detail(store, post_id)
                p = detail.post
                score = shown.get((p.account, p.external_id)) if shown is not None else None
                context = {"detail": detail, "score": score}
                html = remember(key, shown, page(request, "post.html.j2", **context).body)
        return HTMLResponse(html)

    @app.get("/people/{person_id}", response_class=HTMLResponse)
    def person(request: Request, person_id: int) -> HTMLResponse:
        with read.store() as store:  # a copy never changes: its pages can be kept
            key = ("person", store.path, request.scope.get("root_path", ""), person_id)
            html = rendered(key, None)
            if html is None:
                history = person_history(store, person_id)
                html = remember(key, None, page(request, "person.html.j2", person=history).body)
        return HTMLResponse(html)

    @app.get("/api/report")
    def api_report(
        account: str | None = None,
        channel: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Response:
        with read.store() as store:
            report = reports.get(store, _filters(account, channel, since, until))
        body = rendered(("api",), report)
        if body is None:
            body = remember(("api",), report, JSONResponse(_finite(to_jsonable(report))).body)
        return Response(body, media_type="application/json")

    @app.get("/static/plotly.min.js")
    def plotly_js() -> Response:
        if PLOTLY_JS.exists():
            return FileResponse(PLOTLY_JS, media_type="application/javascript")
        return Response(get_plotlyjs(), media_type="application/javascript")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:  # on the event loop: never queued behind pages
        return {"status": "ok"}

    return app


def _generation(path: Path) -> int:
    """The copy's number (``snapshot-12.duckdb`` → 12): newer copies have larger ones."""
    tail = path.stem.rpartition("-")[2]
    return int(tail) if tail.isdigit() else 0


def build_in_worker(path: Path, filters: Filters, analyses: bool, now: datetime) -> Report:
    """A report of the copy at *path* as of *now*, built in a worker process."""
    with read_store(path, clock=fixed_clock(now)) as store:
        return build_report(store, filters, with_analyses=analyses)


def verdicts_in_worker(path: Path, now: datetime) -> Verdicts:
    """The post verdicts of the copy at *path* as of *now*, in a worker process."""
    with read_store(path, clock=fixed_clock(now)) as store:
        return post_verdicts(store)


def serve(
    db: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8377,
    token: str | None = None,
    clock: Clock = system_clock,
    allow_hosts: Sequence[str] = (),
) -> None:
    """Run the dashboard until interrupted (uvicorn). It answers requests naming loopback,
    *host* or one of *allow_hosts* in their ``Host`` header."""
    import uvicorn

    from .auth import check_bind

    check_bind(host, token)
    hosts = allowed_hosts(host, allow_hosts)
    # One worker process rebuilds reports while the store changes (spawned: no fork of a
    # threaded server).
    workers = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        app = create_app(db, token=token, clock=clock, hosts=hosts, workers=workers)
        uvicorn.run(app, host=host, port=port, log_level="info", log_config=_log_config())
    finally:
        workers.shutdown(wait=False, cancel_futures=True)
