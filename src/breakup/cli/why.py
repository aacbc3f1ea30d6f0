"""CLI commands for the why analyses; they register on the shared Typer app on import."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from ..clock import parse_since
from ..terminal import peers_view
from .common import (
    AccountOpt,
    ChannelOpt,
    JsonOpt,
    VerboseOpt,
    _account,
    _ctx,
    _emit,
    _progress,
    _when,
    app,
)

peers_app = typer.Typer(help="Peer accounts: other brands tracked to compare churn with.")
app.add_typer(peers_app, name="peers")


@app.command()
def why(
    ctx: typer.Context,
    account: AccountOpt = None,
    channel: ChannelOpt = None,
    since: Annotated[
        str | None, typer.Option(help="Test posts from this date, or e.g. 30d, 12w.")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(metavar="WHEN", help="As the store stood then: a date, or e.g. 30d back."),
    ] = None,
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Why they left: break-up posts (excess departures with confidence intervals, Holm
    corrected), diagnosis (too frequent, content, monologue, one-time offers), triage
    (internal, marketplace or users) and retention. In words; --verbose adds the statistics
    (intervals, p-values, the Cox model), --json every figure. --until analyses the store as
    it stood then (nothing later is seen)."""
    from ..why import analyze
    from ..why.render import why_report
    from ..why.report import STEPS

    c = _ctx(ctx)
    with c.reading() as store, _progress(as_json) as bar:  # a copy while `watch` writes
        task = bar.add_task("why", total=len(STEPS))

        def step(name: str) -> None:
            bar.update(task, description=name, completed=STEPS.index(name))

        when = parse_since(since, c.clock) if since else None
        upto = _when(until, c.clock, "--until")
        report = analyze(store, account=_account(store, account), since=when, step=step,
                         channel=channel.strip().lower() if channel else None,
                         until=upto)  # fmt: skip
    _emit(as_json, report, why_report(report, verbose=verbose))


@peers_app.command("add")
def peers_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name, e.g. bsky:rival.bsky.social.")],
    platform: Annotated[str | None, typer.Option(help="Platform, if not in the name.")] = None,
    identity: Annotated[str | None, typer.Option(help="Platform id (DID, account id).")] = None,
    handle: Annotated[str | None, typer.Option(help="Handle, if not in the name.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark an account as a peer (creating it if new): imports and `breakup track` of that
    name then fill it, and `breakup why` compares your churn with it."""
    from ..why.peers import add_peer

    with _ctx(ctx).store() as store:
        acct = add_peer(store, name, platform, identity, handle)
    _emit(as_json, acct, Text(f"{acct.name} is a peer ({acct.platform})"))


@peers_app.command("list")
def peers_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List peer accounts."""
    from ..why.peers import list_peers

    with _ctx(ctx).reading() as store:
        rows = list_peers(store)
    _emit(as_json, rows, peers_view(rows))


__all__ = ["app"]
