"""The report for the terminal (rich). Every text from a source is shown as text."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from .. import terminal as base
from ..left import Departure
from .generic import Block
from .model import PostRow, Report, Series
from .sections import analysis_sections

WEEKS = 8
DEPARTURES = 15


def weekly_table(series: list[Series], weeks: int = WEEKS) -> Table:
    """Followers at the end of each of the last weeks, with gains and losses."""
    table = Table(title="Followers over time (weekly)")
    for col in ("account", "week ending", "followers", "gained", "lost"):
        table.add_column(col, justify="left" if col in ("account", "week ending") else "right")
    for s in series:
        points = s.points
        ends = list(range(len(points) - 1, -1, -7))[:weeks][::-1]
        for end in ends:
            chunk = points[max(0, end - 6) : end + 1]
            table.add_row(
                Text(s.account),
                points[end].day.isoformat(),
                f"{points[end].followers:,}",
                f"+{sum(p.gained for p in chunk):,}",
                f"−{sum(p.lost for p in chunk):,}",
            )
    if not series or not any(s.points for s in series):
        table.caption = "no follower history yet"
    return table


def posts_table(posts: list[PostRow], title: str = "Posts most departures followed") -> Table:
    table = Table(title=title)
    for col in ("account", "posted (UTC)", "kind", "left after", "text"):
        table.add_column(col, justify="right" if col == "left after" else "left", overflow="fold")
    for p in posts:
        table.add_row(
            Text(p.account),
            f"{p.created_at:%Y-%m-%d %H:%M}",
            p.kind,
            str(p.left_after),
            Text(base._snippet(p.text, 60)),
        )
    if not posts:
        table.caption = "no departures followed a post in this period"
    return table


def departures_table(rows: list[Departure], title: str = "Recent departures") -> Table:
    """One line per departure: the last post before it (or the campaign named)."""
    table = Table(title=title)
    for col in ("account", "who", "kind", "left (UTC)", "followed", "last post before"):
        table.add_column(col, overflow="fold")
    for d in rows:
        last = d.last_posts[0] if d.last_posts else None
        before = (
            f"campaign: {base._snippet(d.campaign, 40)}"
            if d.campaign
            else (f"{last.created_at:%m-%d %H:%M} {base._snippet(last.text, 40)}" if last else "")
        )
        table.add_row(
            Text(d.account),
            base._who(d.handle, d.display_name, d.external_id),
            d.kind,
            base._window(d),
            base._tenure(d),
            Text(before),
        )
    if not rows:
        table.caption = "nobody has left in this period"
    return table


def block_renderable(block: Block, level: int = 0, titled: bool = True) -> RenderableType:
    parts: list[RenderableType] = []
    if titled:
        parts.append(Text(block.title, style="bold" if level == 0 else "italic"))
    if block.note:
        parts.append(Text(f"  {block.note}", style="dim"))
    for name, value in block.fields:
        parts.append(Text(f"  {name}: {value}"))
    if block.columns:
        table = Table(*block.columns)
        for row in block.rows:
            table.add_row(*(Text(c) for c in row))
        if block.more:
            table.caption = f"… and {block.more} more"
        parts.append(table)
    parts += [block_renderable(child, level + 1) for child in block.children]
    return Group(*parts)


def render(report: Report) -> RenderableType:
    """The whole report, section by section."""
    head = Text(
        f"breakup report — {report.filters.describe()} — as of "
        f"{report.generated_at:%Y-%m-%d %H:%M} UTC",
        style="bold",
    )
    parts: list[RenderableType] = [
        head,
        base.status_tables(report.status),
        weekly_table(report.series),
        departures_table(report.departures[:DEPARTURES]),
        posts_table(report.top_posts),
    ]
    for _, title, blocks in analysis_sections(report):
        parts.append(Rule(title))
        parts += [block_renderable(b, titled=b.title != title) for b in blocks]
    return Group(*parts)
