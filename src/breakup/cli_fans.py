"""CLI commands for the fans analyses; they register on the shared Typer app on import.

``breakup fans`` (top fans, ``--at-risk``, ``--codes``, ``--unanswered``, ``--deal-seekers``),
``breakup link`` and ``breakup hygiene``: each parses options, calls one function of
:mod:`breakup.fans`, and renders the result (or prints it as JSON with ``--json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from . import fans as lib
from .cli import AccountOpt, JsonOpt, _ctx, _emit, app
from .errors import InvalidInput
from .fans.codes import check_prefix
from .fans.hygiene import INACTIVE_DAYS
from .store import default_db_path

__all__ = ["app"]


@app.command("fans")
def fans_(
    ctx: typer.Context,
    account: AccountOpt = None,
    top: Annotated[int, typer.Option(help="How many people to list.")] = 20,
    at_risk: Annotated[
        bool, typer.Option("--at-risk", help="Followers most likely to leave in 30 days.")
    ] = False,
    codes: Annotated[
        str | None,
        typer.Option(help="Issue a reward code with this prefix to each of the top fans."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="With --codes: write the codes to this CSV file.")
    ] = None,
    unanswered: Annotated[
        bool, typer.Option("--unanswered", help="Replies and mentions never answered.")
    ] = False,
    deal_seekers: Annotated[
        bool, typer.Option("--deal-seekers", help="Promotion joiners and how fast they left.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Your most engaged fans across channels (replies and mentions weigh most, recent more
    than old), with the evidence; or who is at risk of leaving, who was never answered,
    how promotion joiners fared; and reward codes for the top fans."""
    if top < 1:
        raise InvalidInput("--top must be at least 1")
    if out is not None and codes is None:
        raise InvalidInput("--out needs --codes PREFIX")
    c = _ctx(ctx)
    if codes is not None:
        prefix = check_prefix(codes)
        with lib.open_store_waiting(c.db or default_db_path(), clock=c.clock) as store:
            best = lib.top_fans(store, account, top)
            issued = lib.issue_codes(store, prefix, [f.person_id for f in best])
        if out is not None:
            lib.write_codes_csv(issued, out)
        _emit(as_json, issued, _codes_table(issued, out))
        return
    with c.store(read_only=True) as store:
        if at_risk:
            risk = lib.at_risk(store, account, top)
            _emit(as_json, risk, _risk_view(risk))
        elif unanswered:
            heard = lib.listening(store, account, limit=top)
            _emit(as_json, heard, _listening_view(heard))
        elif deal_seekers:
            deals = lib.deal_seekers(store, account)
            _emit(as_json, deals, _deals_view(deals, top))
        else:
            best = lib.top_fans(store, account, top)
            _emit(as_json, best, _fans_table(best))


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
    inactive_days: Annotated[
        int, typer.Option(help="Inactive: no post for this many days.")
    ] = INACTIVE_DAYS,
    limit: Annotated[int, typer.Option(help="People listed per kind.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Dead weight: followers and followed accounts that are inactive, never posted or look
    like bots; the real audience next to the raw count; who doesn't follow back; mutuals."""
    with _ctx(ctx).store(read_only=True) as store:
        rows = lib.hygiene(store, account, inactive_days=inactive_days, limit=limit)
    _emit(as_json, rows, _hygiene_view(rows))


# -- renderings (names are attacker-controlled: always Text, never markup) ----------------


def _who(handle: str | None, external_id: str) -> Text:
    return Text(handle or (external_id if not external_id.startswith("h:") else "(hashed)"))


def _fans_table(rows: Sequence[lib.TopFan]) -> Table:
    table = Table(title="Top fans")
    for col in ("#", "who", "score", "interactions", "last", "channels", "evidence"):
        table.add_column(col, overflow="fold")
    for f in rows:
        who = _who(f.handle, f.members[0].external_id if f.members else "")
        if len(f.members) > 1:
            who.append(f"  (+{len(f.members) - 1} linked)", style="dim")
        evidence = ", ".join(f"{e.count} {e.kind}" for e in f.evidence[:4])
        table.add_row(
            str(f.rank),
            who,
            f"{f.score:.1f}",
            str(f.interactions),
            f"{f.last_at:%Y-%m-%d}",
            Text(", ".join(f.accounts)),
            evidence,
        )
    if not rows:
        table.caption = "no interactions recorded yet"
    return table


def _codes_table(rows: Sequence[lib.RewardCode], out: Path | None) -> RenderableType:
    table = Table(title="Reward codes" + (f" (written to {out})" if out else ""))
    for col in ("code", "who", "platform", "new"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.code, _who(r.handle, r.external_id), r.platform, "yes" if r.new else "")
    return table


def _risk_view(r: lib.AtRisk) -> RenderableType:
    table = Table(title=f"Fans at risk of leaving within {r.horizon_days} days")
    for col in ("#", "account", "who", "P(leave)", "eng. 30d / before", "why"):
        table.add_column(col, overflow="fold")
    for f in r.fans:
        table.add_row(
            str(f.rank),
            Text(f.account),
            _who(f.handle, f.external_id),
            f"{f.probability:.1%}",
            f"{f.engagement_30d:g} / {f.engagement_prev_30d:g}",
            Text("; ".join(f.reasons)),
        )
    lines = [
        f"trained on {r.trained_rows:,} monthly follower snapshots, "
        f"{r.trained_events:,} departures (base rate {r.base_rate:.2%} per 30 days)"
    ]
    b = r.backtest
    if b is not None:
        lines.append(
            f"backtest {b.test_from:%Y-%m-%d}…{b.test_to:%Y-%m-%d}: AUC {b.auc:.3f} "
            f"(95% CI {b.auc_low:.3f}–{b.auc_high:.3f}), Brier {b.brier:.4f} vs "
            f"{b.brier_base_rate:.4f} for the base rate (skill {b.brier_skill:+.3f})"
        )
    return Group(table, *(Text(x, style="dim") for x in lines))


def _listening_view(r: lib.Listening) -> RenderableType:
    head = Text(
        f"{r.answered:,} of {r.asked:,} replies and mentions answered ({r.answer_rate:.0%}). "
        f"Departures per 1,000 follower-days: never answered "
        f"{r.unanswered_people.per_1000_days:.2f} ({r.unanswered_people.people:,} people), "
        f"answered {r.answered_people.per_1000_days:.2f} ({r.answered_people.people:,}); "
        f"rate ratio {r.rate_ratio:.2f} (95% CI {r.rate_ratio_low:.2f}–{r.rate_ratio_high:.2f})"
    )
    table = Table(title="Never answered, oldest first")
    for col in ("when", "account", "who", "kind", "still follows", "their post"):
        table.add_column(col, overflow="fold")
    for u in r.oldest_unanswered:
        table.add_row(
            f"{u.at:%Y-%m-%d %H:%M}",
            Text(u.account),
            _who(u.handle, u.external_id),
            u.kind,
            "yes" if u.still_follows else "no",
            Text(u.ref),
        )
    return Group(head, table)


def _deals_view(d: lib.DealSeekers, top: int = 20) -> RenderableType:
    table = Table(title=f"Joiners within {d.window_hours}h of a promotion (most joined first)")
    for col in ("when", "account", "post", "joined", f"left ≤{d.horizon_days}d", "95% CI"):
        table.add_column(col, overflow="fold")
    shown = sorted(d.promotions, key=lambda p: (-p.cohort.joined, p.at))[:top]
    for p in shown:
        c = p.cohort
        table.add_row(
            f"{p.at:%Y-%m-%d}",
            Text(p.account),
            Text(p.text),
            str(c.joined),
            f"{c.share_left:.0%}",
            f"{c.share_low:.0%}–{c.share_high:.0%}",
        )
    lines: list[Any] = [table]
    for cohort in (d.promo_joiners, d.other_joiners):
        if cohort is not None:
            c = cohort
            lines.append(
                Text(
                    f"{c.label}: {c.left}/{c.joined} left within {d.horizon_days} days "
                    f"({c.share_left:.1%}, 95% CI {c.share_low:.1%}–{c.share_high:.1%})"
                )
            )
    if d.difference is not None:
        lines.append(
            Text(
                f"difference {d.difference:+.1%} "
                f"(95% CI {d.difference_low:+.1%} to {d.difference_high:+.1%})"
            )
        )
    return Group(*lines)


def _hygiene_view(rows: Sequence[lib.Hygiene]) -> RenderableType:
    table = Table(title="Audience hygiene")
    cols = (
        "account",
        "followers",
        "real audience",
        "inactive",
        "never posted",
        "bot-like",
        "never engaged",
        "no profile",
        "following",
        "mutuals",
        "not following back",
    )
    for col in cols:
        table.add_column(col, justify="left" if col == "account" else "right")
    for h in rows:
        table.add_row(
            Text(h.account),
            f"{h.followers:,}",
            f"{h.real_audience:,} ({h.real_share:.0%})",
            f"{h.inactive:,}",
            f"{h.never_posted:,}",
            f"{h.bot_like:,}",
            f"{h.never_engaged:,}",
            f"{h.unprofiled:,}",
            f"{h.following:,}",
            f"{h.mutuals:,}",
            f"{h.not_following_back:,}",
        )
    people = Table(title="Dead weight (first listed)")
    for col in ("account", "who", "direction", "why"):
        people.add_column(col, overflow="fold")
    for h in rows:
        for f in h.dead_weight:
            people.add_row(
                Text(h.account), _who(f.handle, f.external_id), f.direction, ", ".join(f.reasons)
            )
    return Group(table, people)
