"""CLI commands for the fans analyses; they register on the shared Typer app on import.

``breakup fans`` (top fans, ``--at-risk``, ``--codes``, ``--unanswered``, ``--deal-seekers``),
``breakup link`` and ``breakup hygiene``: each parses options, calls one function of
:mod:`breakup.fans`, and renders the result (or prints it as JSON with ``--json``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from .. import fans as lib
from ..errors import InvalidInput
from ..fans.codes import check_prefix
from ..fans.hygiene import INACTIVE_DAYS
from ..store import Store
from . import terminal_fans as views
from .common import (
    AccountOpt,
    ChannelOpt,
    JsonOpt,
    LimitOpt,
    VerboseOpt,
    _account,
    _ctx,
    _emit,
    _progress,
    _when,
    app,
)

__all__ = ["app"]

AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--until", metavar="WHEN", help="As of this date, or e.g. 30d back (default now)."
    ),
]


def _channel_accounts(store: Store, account: str | None, channel: str | None) -> list[str] | None:
    """The own accounts ``--channel`` (and ``--account``) name, or None without a channel:
    the same filter as ``left``, ``status`` and ``why``."""
    if channel is None:
        return None
    platform = channel.strip().lower()
    name = _account(store, account)
    own = store.accounts(role="own")
    names = [a.name for a in own if a.platform == platform and name in (None, a.name)]
    if not names:
        have = ", ".join(sorted({a.platform for a in own})) or "none yet"
        raise InvalidInput(f"no own account on {platform} (platforms: {have})")
    return names


def _one_account(store: Store, account: str | None, channel: str | None) -> str | None:
    """The one account the fans analyses read (None: every own account)."""
    names = _channel_accounts(store, account, channel)
    if names is None:
        return _account(store, account)
    if len(names) > 1:
        raise InvalidInput(
            f"{channel.strip().lower() if channel else ''} has {len(names)} own accounts "
            f"({', '.join(names)}): name one with --account"
        )
    return names[0]


@app.command("fans")
def fans_(
    ctx: typer.Context,
    account: AccountOpt = None,
    channel: ChannelOpt = None,
    until: AsOfOpt = None,
    limit: LimitOpt = None,
    top: Annotated[int | None, typer.Option("--top", hidden=True, min=0)] = None,
    at_risk: Annotated[
        bool, typer.Option("--at-risk", help="Followers most likely to leave in 30 days.")
    ] = False,
    codes: Annotated[
        str | None,
        typer.Option(
            metavar="PREFIX",
            help="Issue a reward code with this prefix to each of the top fans.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="With --codes: write the codes to this CSV file."),
    ] = None,
    unanswered: Annotated[
        bool, typer.Option("--unanswered", help="Replies and mentions never answered.")
    ] = False,
    deal_seekers: Annotated[
        bool, typer.Option("--deal-seekers", help="Promotion joiners and how fast they left.")
    ] = False,
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Your most engaged fans across channels (replies and mentions weigh most, recent more
    than old), with the evidence; or who is at risk of leaving, who was never answered,
    how promotion joiners fared; and reward codes for the top fans. --limit (default 20)
    says how many people are listed; --top is its old name. --until: as of that date."""
    if out is not None and codes is None:
        raise InvalidInput("--out needs --codes PREFIX")
    n = limit if limit is not None else (top if top is not None else 20)
    everyone = 10**9  # --limit 0
    c = _ctx(ctx)
    if codes is not None:
        if n == 0:
            raise InvalidInput("--codes needs a --limit of at least 1")
        prefix = check_prefix(codes)
        with c.store() as store:
            at = _when(until, c.clock, "--until")
            best = lib.top_fans(store, _one_account(store, account, channel), n, at=at)
            issued = lib.issue_codes(store, prefix, [f.person_id for f in best])
        if out is not None:
            lib.write_codes_csv(issued, out)
        _emit(as_json, issued, views.codes_view(issued, out))
        return
    with c.reading() as store:
        name = _one_account(store, account, channel)
        at = _when(until, c.clock, "--until")
        now = at or store.clock()
        if at_risk:
            with _progress(as_json) as progress:
                progress.add_task("fitting and backtesting the at-risk model", total=None)
                risk = lib.at_risk(store, name, (n or everyone) + 1, at=at)
            more = bool(n) and len(risk.fans) > n
            if more:
                risk = dataclasses.replace(risk, fans=risk.fans[:n])
            _emit(as_json, risk, views.risk_view(risk, verbose=verbose, more=more))
        elif unanswered:
            heard = lib.listening(store, name, limit=n or None, at=at)
            if as_json:  # its oldest_unanswered, as ever
                _emit(True, heard, None)
                return
            newest = lib.unanswered(store, name, limit=n or None, newest_first=True, at=at)
            _emit(
                False, heard, views.listening_view(heard, now=now, verbose=verbose, newest=newest)
            )
        elif deal_seekers:
            deals = lib.deal_seekers(store, name, at=at)
            _emit(as_json, deals, views.deals_view(deals, n, now=now))
        else:
            best = lib.top_fans(store, name, (n or everyone) + 1, at=at)
            more = bool(n) and len(best) > n
            best = best[:n] if n else best
            _emit(as_json, best, views.fans_view(best, now=now, more=more, verbose=verbose))


@app.command("link")
def link(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument(help="platform:id or handle of one person.")],
    other: Annotated[str, typer.Argument(help="platform:id or handle of the same human.")],
    undo: Annotated[bool, typer.Option("--undo", help="Remove this link again.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Say that two people on different channels are one human, so their engagement counts
    together in `breakup fans` (stored as a link made by you; never guessed)."""
    c = _ctx(ctx)
    with c.store() as store:
        if undo:
            removed = lib.unlink_people(store, person, other)
            _emit(as_json, {"removed": removed}, Text("link removed" if removed else "no link"))
            return
        made = lib.link_people(store, person, other)
    text = Text(
        f"linked {made.person.platform}:{made.person.handle or made.person.external_id} "
        f"and {made.linked.platform}:{made.linked.handle or made.linked.external_id}"
    )
    _emit(as_json, made, text)


@app.command("hygiene")
def hygiene_(
    ctx: typer.Context,
    account: AccountOpt = None,
    channel: ChannelOpt = None,
    until: AsOfOpt = None,
    inactive_days: Annotated[
        int, typer.Option(metavar="DAYS", help="Inactive: no post for this many days.")
    ] = INACTIVE_DAYS,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Dead weight: followers and followed accounts that are inactive, never posted or look
    like bots; the real audience next to the raw count; who doesn't follow back; mutuals.
    --limit (default 20) says how many people are listed per account."""
    n = 20 if limit is None else limit
    c = _ctx(ctx)
    with c.reading() as store:
        at = _when(until, c.clock, "--until")
        names = _channel_accounts(store, account, channel)
        rows = [
            row
            for name in (names if names is not None else [_account(store, account)])
            for row in lib.hygiene(store, name, inactive_days=inactive_days, at=at, limit=n or None)
        ]
    _emit(as_json, rows, views.hygiene_view(rows))


# The renderings live in terminal_fans; the old names stay for callers.
_fans_table = views.fans_view
_codes_table = views.codes_view
_risk_view = views.risk_view
_listening_view = views.listening_view
_deals_view = views.deals_view
_hygiene_view = views.hygiene_view
