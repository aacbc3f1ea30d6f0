"""The report for the terminal (rich). Every text from a source is shown as text."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.rule import Rule
from rich.text import Text

from .. import terminal as base
from ..analyses.blocks import Block
from ..left import Departure
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


def _table(block: Block, verbose: bool) -> RenderableType:
    """A block's table, fitted to the terminal: columns dropped or shrunk by their hints,
    statistics only with *verbose*."""
    keep = [i for i, c in enumerate(block.columns) if verbose or not block.hint(c).verbose]
    columns = []
    for i in keep:
        h = block.hint(block.columns[i])
        columns.append(
            base.Column(
                block.columns[i],
                justify=h.justify,
                drop=h.drop,
                shrink=h.shrink,
                widest=h.widest,
                wrap=h.wrap,
            )
        )
    rows: list[list[base.Cell]] = [[Text(row[i]) for i in keep] for row in block.rows]
    return base.FitTable(columns, rows)


def block_renderable(
    block: Block, level: int = 0, titled: bool = True, *, verbose: bool = False
) -> RenderableType:
    """A block for the terminal (the same block the HTML report shows): its title, its
    sentences and fields, its table fitted to the width, then its sub-blocks. Names and
    texts from a source stay text (never markup)."""
    parts: list[RenderableType] = []
    if titled:
        parts.append(Text(block.title, style="bold" if level == 0 else "italic"))
    if block.note:
        parts.append(Text(f"  {block.note}", style="dim"))
    fields = block.fields + (block.details if verbose else [])
    for name, value in fields:
        line = Text()
        if name:
            line.append(f"{name}: ", style="dim")
        line.append(value)
        parts.append(Padding(line, (0, 0, 0, 2)))
    if block.columns and block.rows:
        parts.append(_table(block, verbose))
    if block.more:
        parts.append(Text(f"  … and {block.more} more", style="dim"))
    parts += [block_renderable(c, level + 1, verbose=verbose) for c in block.children]
    return Group(*parts)


def blocks_view(blocks: list[Block], *, verbose: bool = False) -> RenderableType:
    """An analysis' blocks, one after the other (``breakup why``, ``breakup fans``)."""
    parts: list[RenderableType] = []
    for i, b in enumerate(blocks):
        if i:
            parts.append(Text(""))
        parts.append(block_renderable(b, verbose=verbose))
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
