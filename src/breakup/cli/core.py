"""The core commands: import, track, watch, stream and demo bring data in; kinds,
accounts, left and status read it. Each parses options, calls one library function, and
renders the result (rich) or prints it as JSON (``--json``); they register on the shared
Typer app (:mod:`breakup.cli.common`) on import."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from .. import serialize, terminal
from ..clock import Clock, parse_time
from ..errors import InvalidInput
from ..ingest import ImportResult, save_batch
from ..left import left_summary, who_left
from ..progress import reporting_rows
from ..sources import ReadOptions, get_source, sources
from ..status import account_status
from ..store import Store, default_db_path
from .common import (
    AccountOpt,
    ChannelOpt,
    JsonOpt,
    LimitOpt,
    SinceOpt,
    UntilOpt,
    VerboseOpt,
    _account,
    _Ctx,
    _ctx,
    _emit,
    _progress,
    _when,
    app,
    console,
    err_console,
)


@app.command("import")
def import_(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="Import kind, e.g. x-archive (see `breakup kinds`).")],
    paths: Annotated[list[Path], typer.Argument(help="Export files or folders.")],
    account: AccountOpt = None,
    at: Annotated[
        str | None, typer.Option(help="When the export was taken (ISO-8601), if not in it.")
    ] = None,
    platform: Annotated[
        str | None, typer.Option(help="Platform of the ids, for the generic csv/json kinds.")
    ] = None,
    keep_emails: Annotated[
        bool, typer.Option(help="Also keep plain email addresses (default: hashed only).")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE",
            help="The first day of an export limited to a custom date range (instagram): "
            "only follows since then are judged.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import exports into the store. Each path is read completely before anything is
    written, and saved in one transaction; re-importing the same export changes nothing."""
    c = _ctx(ctx)
    source = get_source(kind)
    if since is not None and not source.date_limited:
        raise InvalidInput(f"--since: {kind} exports are not limited to a date range")
    options = ReadOptions(
        at=parse_time(at, what="--at") if at else None,
        clock=c.clock,
        platform=platform,
        together=tuple(paths),
        since=parse_time(since, what="--since") if since else None,
    )
    results: list[ImportResult] = []
    with c.store() as store, _progress(as_json) as progress:
        batches = []
        for path in paths:  # every file is read (and checked) before anything is written
            task = progress.add_task(f"reading {path.name}", total=None)

            def rows(name: str, done: int, total: int | None, task: Any = task) -> None:
                total = max(total or 0, done)
                progress.update(task, completed=done, total=total, count=f"{done:,}/{total:,} rows")

            with reporting_rows(rows):
                batches.append(source.read(path, options))
            progress.remove_task(task)
        with store.transaction():  # all paths or none
            for path, batch in zip(paths, batches, strict=True):
                task = progress.add_task(f"saving {path.name}", total=None)
                results.append(
                    save_batch(
                        store, batch, account=account, path=str(path), keep_emails=keep_emails
                    )
                )
                progress.remove_task(task)
    if as_json:
        _emit(True, results, None)
        return
    for result in results:
        console.print(terminal.import_summary(result))


@app.command()
def track(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            help="SCHEME:ACCOUNT, e.g. bsky:brand.bsky.social or mastodon:@brand@mastodon.social."
        ),
    ],
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", "--appview", help="Service base URL (self-hosted, tests)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Poll a live account once: followers and following, posts and who engaged, and a
    re-check of everyone seen leaving (unfollowed, or deleted / suspended / blocked)."""
    from ..credentials import token_for_target
    from ..live import Connection
    from ..track import track as track_once

    c = _ctx(ctx)
    conn = Connection(base_url=base_url, clock=c.clock, token=token_for_target(target, base_url))
    with c.store() as store, _progress(as_json) as progress:
        tasks: dict[str, Any] = {}

        def report(what: str, done: int, total: int | None) -> None:
            if what not in tasks:
                tasks[what] = progress.add_task(what, total=total)
            progress.update(tasks[what], completed=done, total=total)

        result = track_once(store, target, conn, report)
    if as_json:
        _emit(True, result, None)
        return
    console.print(terminal.import_summary(result.fetched))
    if result.checks is not None:
        console.print(f"re-checked {result.rechecked} departed account(s)")


@app.command()
def watch(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Watch config (TOML): accounts, schedules.")],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="One JSON object a line per event, and a last one when it stops."
        ),
    ] = False,
) -> None:
    """Run unattended: poll each configured account on its schedule and stream Bluesky
    follows alongside, until Ctrl-C or SIGTERM. Restarting resumes where it stopped."""
    import json
    import signal
    import threading

    from ..watch import Watch, load_config

    c = _ctx(ctx)
    cfg = load_config(config)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        err_console.print(f"stopping ({signal.Signals(signum).name}) …")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def emit_line(value: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(serialize.to_jsonable(value), ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def report(event: str, details: dict[str, Any]) -> None:
        if as_json:
            emit_line({"event": event, "at": c.clock(), **details})
            return
        now = c.clock().strftime("%Y-%m-%d %H:%M:%S")
        if event == "polled":
            console.print(terminal.import_summary(details["result"].fetched, when=now))
        else:
            text = " ".join(f"{k}={v}" for k, v in details.items())
            console.print(f"{now} {event} {text}", markup=False, highlight=False)

    with c.store() as store:
        runner = _stream_runner(cfg.stream_url, c.clock) if cfg.stream else None
        result = Watch(
            store, cfg, stop=stop, clock=c.clock, report=report, stream_runner=runner
        ).run()
    if as_json:
        emit_line({"event": "stopped", "at": c.clock(), "result": result})
        return
    console.print(f"stopped after {result.polls} poll(s), {result.failures} failure(s)")


@app.command()
def stream(
    ctx: typer.Context,
    jetstream: Annotated[
        str | None,
        typer.Option("--jetstream", help="Jetstream websocket URL (default the public one)."),
    ] = None,
    max_events: Annotated[
        int | None, typer.Option("--max-events", help="Stop after this many frames.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Follow the Bluesky firehose (Jetstream) for every tracked Bluesky account: exact
    follow and unfollow times, account deactivations. Runs until Ctrl-C; resumes from the
    saved cursor."""
    import signal
    import threading

    from ..jetstream import stream as consume

    c = _ctx(ctx)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with c.store() as store, _progress(as_json) as progress:
        task = progress.add_task("jetstream frames", total=max_events)

        def report(result: Any) -> None:
            progress.update(task, completed=result.frames)

        result = consume(
            store,
            url=jetstream,
            clock=c.clock,
            stop=stop,
            max_events=max_events,
            progress=report,
        )
    if as_json:
        _emit(True, result, None)
        return
    console.print(
        f"{result.frames} frame(s): {result.follows} follow(s), {result.unfollows} "
        f"unfollow(s), {result.account_events} account event(s); "
        f"{result.untracked} untracked and {result.unresolved} unresolved dropped; "
        f"cursor {result.cursor}",
        highlight=False,
    )
    for problem in result.problems[-5:]:
        err_console.print(f"[yellow]{problem}[/yellow]")


def _stream_runner(url: str | None, clock: Clock) -> Any:
    """The Jetstream consumer, if this breakup has one."""
    try:
        from ..jetstream import stream as consume
    except ImportError:
        return None

    def run(store: Store, stop: Any) -> None:
        consume(store, url=url, clock=clock, stop=stop)

    return run


@app.command()
def kinds(as_json: JsonOpt = False) -> None:
    """List the import kinds this breakup knows."""
    rows = {
        name: {"platform": cls.platform, "summary": cls.summary} for name, cls in sources().items()
    }
    _emit(as_json, rows, terminal.kinds_view(rows))


@app.command()
def accounts(ctx: typer.Context, verbose: VerboseOpt = False, as_json: JsonOpt = False) -> None:
    """List tracked accounts (your own and peers), with the names --account takes."""
    with _ctx(ctx).reading() as store:
        rows = store.accounts()
    _emit(as_json, rows, terminal.accounts_view(rows, verbose=verbose))


@app.command()
def left(
    ctx: typer.Context,
    account: AccountOpt = None,
    channel: ChannelOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: LimitOpt = None,
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Who left, newest first: when (exact, or the window between two observations), who,
    how (unfollowed, unsubscribed, deleted …), how long they had followed, the reason they
    gave and what came just before; then the counts. --verbose adds the last posts."""
    c = _ctx(ctx)
    with c.reading() as store:
        filters: dict[str, Any] = {
            "account": _account(store, account),
            "since": _when(since, c.clock, "--since"),
            "until": _when(until, c.clock, "--until"),
            "channel": channel,
        }
        shown = limit if limit is not None else (0 if as_json else 50)
        rows = who_left(store, limit=shown, **filters)
        if as_json:
            _emit(True, rows, None)
            return
        summary = left_summary(store, **filters)
        now = store.clock()
        # Nobody left: say whether anyone could have been seen leaving at all.
        status = None
        if not rows:
            status = [
                s
                for s in account_status(store, account=filters["account"])
                if s.role == "own" and channel in (None, s.platform)
            ]
    console.print(
        terminal.departures_view(rows, now=now, summary=summary, verbose=verbose, status=status)
    )


@app.command()
def status(
    ctx: typer.Context,
    account: AccountOpt = None,
    channel: ChannelOpt = None,
    weeks: Annotated[
        int, typer.Option(metavar="N", help="Weeks of weekly gains/losses in --json.")
    ] = 12,
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Per account: followers now, gained and lost in the last 7, 30 and 365 days, and when
    data last came in; says what is missing when there is too little history."""
    with _ctx(ctx).reading() as store:
        rows = account_status(store, account=_account(store, account), weeks=weeks)
        now = store.clock()
    if channel is not None:
        rows = [r for r in rows if r.platform == channel.strip().lower()]
    _emit(as_json, rows, terminal.status_view(rows, now=now, verbose=verbose))


@app.command()
def demo(
    ctx: typer.Context,
    seed: Annotated[
        int, typer.Option(help="Simulation seed; the same seed gives the same brand.")
    ] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Simulate a year of a brand (two social channels and an email list) into the store,
    then show its status and recent departures. Needs no account and no network."""
    from ..simulate import SimParams, save_simulation, simulate

    c = _ctx(ctx)
    if c.db is None:
        # Never mix a simulated brand into the user's real audience store.
        c = _Ctx(default_db_path().with_name("demo.duckdb"), c.clock)
    today = datetime.combine(c.clock().date(), time(0), tzinfo=UTC)
    sim = simulate(SimParams(seed=seed, end=today))
    with c.store() as store:
        if store.scalar(
            "SELECT count(*) FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM simulations)"
        ):
            raise InvalidInput(
                f"{store.path}: holds real accounts; run the demo into another file (--db)"
            )
        with _progress(as_json) as progress:
            names = save_simulation(store, sim, progress=progress)
        demo_clock = lambda: today  # noqa: E731 - report as of the simulated "now"
        store.clock = demo_clock
        rows = account_status(store)
        recent = who_left(store, limit=None if as_json else 15)
        summary = left_summary(store) if not as_json else None
    if as_json:
        _emit(True, {"accounts": names, "status": rows, "left": recent}, None)
        return
    console.print(f"Simulated seed {seed} into {c.db}")
    console.print(terminal.status_view(rows, now=today))
    console.print(
        terminal.departures_view(
            recent,
            title="Recent departures",
            now=today,
            summary=summary,
            all_hint=f"`breakup --db {c.db} left` lists them",
        )
    )
    console.print(
        Text(f"Next, with --db {c.db}: why, fans, report --html report.html", style="dim")
    )


__all__ = ["app"]
