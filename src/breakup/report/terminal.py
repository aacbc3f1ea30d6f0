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


def weekly_table(series: list[Series], weeks: int = WEEKS) -> RenderableType:
    """Followers at the end of each of the last weeks, with gains and losses."""
    if not series or not any(s.points for s in series):
        return Text("Followers over time: no follower history yet.")
    several = len(series) > 1
    columns = [
        *([base.Column("account", drop=1)] if several else []),
        base.Column("week ending"),
        base.Column("followers", justify="right"),
        base.Column("gained", justify="right"),
        base.Column("lost", justify="right"),
    ]
    rows: list[list[base.Cell]] = []
    for s in series:
        points = s.points
        ends = list(range(len(points) - 1, -1, -7))[:weeks][::-1]
        for end in ends:
            chunk = points[max(0, end - 6) : end + 1]
            rows.append(
                [
                    *([Text(s.account)] if several else []),
                    points[end].day.isoformat(),
                    f"{points[end].followers:,}",
                    f"+{sum(p.gained for p in chunk):,}",
                    f"−{sum(p.lost for p in chunk):,}",
                ]
            )
    title = "Followers over time (weekly)" + ("" if several else f" — {series[0].account}")
    return base.FitTable(columns, rows, title=title)


def posts_table(
    posts: list[PostRow], title: str = "Posts most departures followed"
) -> RenderableType:
    if not posts:
        return Text(f"{title}: no departures followed a post in this period.")
    columns = [
        base.Column("posted (UTC)"),
        base.Column("account", drop=2),
        base.Column("kind", drop=1),
        base.Column("left after", justify="right"),
        base.Column("text", shrink=20),
    ]
    rows: list[list[base.Cell]] = [
        [
            f"{p.created_at:%Y-%m-%d %H:%M}",
            Text(p.account),
            p.kind,
            str(p.left_after),
            Text(base.one_line(p.text)),
        ]
        for p in posts
    ]
    return base.FitTable(columns, rows, title=title)


def departures_table(rows: list[Departure], title: str = "Recent departures") -> RenderableType:
    """One line per departure: the last post before it (or the campaign named)."""
    return base.departures_view(rows, title=title, now=None)


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
    now = report.generated_at
    shown = report.departures[:DEPARTURES]
    parts: list[RenderableType] = [
        head,
        base.status_view(report.status, now=now),
        weekly_table(report.series),
        base.departures_view(shown, title="Recent departures", now=now),
    ]
    if len(report.departures) > len(shown):
        more = len(report.departures) - len(shown)
        parts.append(Text(f"…and {more:,} more; `breakup left` lists them all", style="dim"))
    parts.append(posts_table(report.top_posts))
    for _, title, blocks in analysis_sections(report):
        parts.append(Rule(title))
        parts += [block_renderable(b, titled=b.title != title) for b in blocks]
    return Group(*parts)
