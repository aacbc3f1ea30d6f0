"""CLI commands for reports, the dashboard, digests and exports; they register on the shared
Typer app on import. Each parses options, calls one library function and renders it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ..clock import Clock, parse_time
from ..errors import StoreLocked
from ..filters import Filters
from ..store import Store
from .common import (
    AccountOpt,
    ChannelOpt,
    JsonOpt,
    SinceOpt,
    UntilOpt,
    _account,
    _ctx,
    _emit,
    _progress,
    _when,
    app,
    console,
)

__all__ = ["app"]


def _filters(
    store: Store,
    account: str | None,
    channel: str | None,
    since: str | None,
    until: str | None,
    clock: Clock,
) -> Filters:
    return Filters(
        account=_account(store, account),
        channel=channel,
        since=_when(since, clock, "--since"),
        until=_when(until, clock, "--until"),
    )


@contextmanager
def _reading(ctx: typer.Context) -> Iterator[Store]:
    """The store read-only; while another process (``watch``) holds it, a consistent copy
    (see :func:`breakup.access.read_store`), so reports never wait for or block a writer."""
    with _ctx(ctx).reading() as store:
        yield store


@app.command()
def report(
    ctx: typer.Context,
    account: AccountOpt = None,
    channel: ChannelOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The report: status, followers over time, departures on the post timeline, the
    break-up posts, why they left and your fans — in the terminal, and as one HTML file
    that opens offline (--html)."""
    from ..report import build_report, render_terminal, write_html

    c = _ctx(ctx)
    with _reading(ctx) as store, _progress(as_json) as progress:
        progress.add_task("building the report (status, departures, why, fans)", total=None)
        filters = _filters(store, account, channel, since, until, c.clock)
        result = build_report(store, filters)
    _emit(as_json, result, render_terminal(result))
    if html is not None:
        write_html(result, html)
        # With --json, stdout is the JSON document: the path goes to stderr.
        print(f"HTML report: {html.resolve()}", file=sys.stderr if as_json else sys.stdout)


@app.command()
def export(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="departures, spans, posts or fans.")],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", metavar="FORMAT", help="csv, json or parquet.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="PATH", help="File (default stdout).")
    ] = None,
    account: AccountOpt = None,
    channel: ChannelOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Export departures, spans, posts (with their scores when the why analysis is there)
    or fans as CSV (the default), JSON or Parquet. CSV cells that a spreadsheet would run
    as a formula are neutralized."""
    from ..errors import InvalidInput
    from ..export import export_rows, write_export

    if as_json and fmt not in (None, "json"):
        raise InvalidInput(f"--json and --format {fmt} disagree: give one")
    fmt = "json" if as_json else (fmt or "csv")
    c = _ctx(ctx)
    with _reading(ctx) as store:
        rows = export_rows(store, table, _filters(store, account, channel, since, until, c.clock))
    payload = write_export(rows, fmt, out)
    if payload is not None:
        sys.stdout.buffer.write(payload)
    else:
        console.print(f"{len(rows)} row(s) of {table} → {out}", highlight=False, markup=False)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to bind (anything but loopback needs a token).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8377,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="BREAKUP_TOKEN", help="Token every request must carry.", show_default=False
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Also answer requests for this host name (repeatable); loopback's names "
            "and the bound address always work, any other Host header gets 400.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Announce the address as one JSON line.")
    ] = False,
) -> None:
    """The web dashboard: the report's views, filterable by account, channel and dates,
    from a post to who left after it and from a person to their history. Reads a copy of
    the store, so a running `breakup watch` or import is never blocked."""
    from ..store import default_db_path
    from ..web import check_bind
    from ..web import serve as run

    c = _ctx(ctx)
    check_bind(host, token)
    c._check_exists()  # a dashboard of a mistyped --db would be empty
    shown = "[::1]" if host == "::1" else host
    url = f"http://{shown}:{port}/"
    if as_json:
        print(json.dumps({"url": url, "host": host, "port": port, "db": str(c.path)}), flush=True)
    else:
        console.print(f"dashboard on {url}", highlight=False, markup=False)
    run(
        c.db or default_db_path(),
        host=host,
        port=port,
        token=token,
        clock=c.clock,
        allow_hosts=allow_host or (),
    )


@app.command()
def digest(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Watch config (TOML) with [[digest]] tables.")],
    period: Annotated[
        str | None, typer.Option(help="The day (UTC) to send, e.g. 2025-05-31 (default yesterday).")
    ] = None,
    send_empty: Annotated[bool, typer.Option(help="Send even when nobody left that day.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Send the daily digest now — who left, how, and the likely post with its confidence —
    to every [[digest]] target (email, Slack/Discord webhook) that has not had that day's.
    `breakup watch` sends them by itself when due."""
    from rich.table import Table
    from rich.text import Text

    from ..digest import load_targets, send_digests

    c = _ctx(ctx)
    c._check_exists()  # sending a digest never creates a store
    targets = load_targets(config)
    day = parse_time(period, what="--period").date() if period else None
    try:
        with c.store() as store:
            results = send_digests(store, targets, day, send_empty=send_empty)
    except StoreLocked as exc:
        hint = "a running watch sends the [[digest]] tables of its own config when due"
        raise StoreLocked(exc.path, "; ".join(filter(None, [exc.detail, hint]))) from None
    table = Table(title="Digests")
    for col in ("target", "period", "status", "left", "attempts", "error"):
        table.add_column(col)
    for r in results:
        cells = (r.target, r.period.isoformat(), r.status, str(r.departures), str(r.attempts))
        table.add_row(*(Text(c) for c in (*cells, r.error or "")))
    _emit(as_json, results, table)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)
