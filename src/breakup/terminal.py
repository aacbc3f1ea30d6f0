"""Rich renderings of results for the terminal. Every text from a source is shown as text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .ingest import ImportResult
from .left import Departure
from .status import AccountStatus
from .store import Account


def _when(t: datetime | None) -> str:
    return "—" if t is None else t.strftime("%Y-%m-%d %H:%M")


def _window(d: Departure) -> str:
    if d.exact:
        return _when(d.left_latest)
    return f"{_when(d.left_earliest)} … {_when(d.left_latest)}"


def _tenure(d: Departure) -> str:
    days = d.tenure_days
    amount = f"{days:.0f}d" if days >= 1 else f"{days * 24:.0f}h"
    return f"≥ {amount}" if d.followed_before_tracking or not d.exact else amount


def _who(handle: str | None, name: str | None, external_id: str) -> Text:
    label = handle or (external_id if not external_id.startswith("h:") else "(hashed address)")
    text = Text(label)  # Text never interprets markup: names are attacker-controlled
    if name:
        text.append(f"  {name}", style="dim")
    return text


def _snippet(text: str, width: int = 48) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def departures_table(rows: Sequence[Departure], title: str = "Who left") -> Table:
    table = Table(title=title, show_lines=False, expand=False)
    for col in ("account", "who", "kind", "left (UTC)", "followed", "last posts before"):
        table.add_column(col, overflow="fold")
    kind_style = {"unfollowed": "red", "unsubscribed": "red", "unknown": "yellow"}
    for d in rows:
        posts = "\n".join(f"{p.created_at:%m-%d %H:%M} {_snippet(p.text)}" for p in d.last_posts)
        if d.campaign:
            posts = f"campaign: {d.campaign}" + (f"\n{posts}" if posts else "")
        table.add_row(
            Text(d.account),
            _who(d.handle, d.display_name, d.external_id),
            Text(d.kind, style=kind_style.get(d.kind, "dim")),
            _window(d),
            _tenure(d),
            Text(posts),
        )
    if not rows:
        table.caption = "nobody has left in this period"
    return table


def status_tables(rows: Sequence[AccountStatus]) -> RenderableType:
    table = Table(title="Status")
    for col in ("account", "followers", "following", "7d +/−", "30d +/−", "365d +/−", "last seen"):
        table.add_column(col, justify="right" if col not in ("account", "last seen") else "left")
    for s in rows:
        cells = [f"+{p.gained}/−{p.lost}" for p in s.periods]
        name = Text(s.account + ("" if s.role == "own" else f" ({s.role})"))
        table.add_row(
            name,
            f"{s.followers:,}",
            f"{s.following:,}",
            *cells,
            _when(s.last_observation),
        )
    if not rows:
        table.caption = "no accounts yet: import something or run `breakup demo`"
    return table


def accounts_table(rows: Sequence[Account]) -> Table:
    table = Table(title="Accounts")
    for col in ("name", "platform", "identity", "handle", "role"):
        table.add_column(col)
    for a in rows:
        table.add_row(
            Text(a.name), a.platform, Text(a.identity or "—"), Text(a.handle or "—"), a.role
        )
    return table


def import_summary(r: ImportResult) -> RenderableType:
    if r.skipped:
        return Text(f"{r.path}: already imported into {r.account}; nothing changed")
    line = Text(
        f"{r.path}: {r.account} ← {r.snapshots} snapshot(s) ({r.members:,} people), "
        f"{r.events:,} events, {r.posts:,} posts, {r.interactions:,} interactions, "
        f"{r.checks:,} checks; spans +{r.opened:,} opened, {r.closed:,} ended"
        + (" (replayed from the start: older data arrived)" if r.rebuilt else "")
    )
    notes = [Text(f"  note: {n}", style="yellow") for n in r.notes]
    return Group(line, *notes)
