"""Rich renderings of results for the terminal, designed for 80 columns and wider.

Each view answers its question in a few columns; a table that would not fit drops its least
important columns (and says which) instead of folding numbers and names across lines, and
free text (names, posts) is cut with an ellipsis on one line. ``verbose`` brings back the
details. Every text from a source is shown as :class:`~rich.text.Text`, never as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from .ingest import ImportResult
from .left import POST_LOOKBACK_DAYS, Departure, LeftSummary
from .status import AccountStatus
from .store import Account

# -- building blocks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a :class:`FitTable`.

    ``drop``: 0 is always shown; when the table does not fit, columns are dropped highest
    ``drop`` first. ``shrink``: 0 never shrinks (numbers, dates, names you must type); a
    positive value lets the column shrink down to that many characters, cutting its text
    with an ellipsis (``wrap``: folding it at words instead, for a description that is
    read whole). ``want``: a shrinking column that gets this much room (or its longest
    cell's, if shorter) before any droppable column is kept — the table drops columns
    rather than squeeze it below that (the names in "who").
    """

    header: str
    justify: str = "left"
    drop: int = 0
    shrink: int = 0
    style: str | None = None
    widest: int | None = None  # never wider than this (a shrinking column)
    wrap: bool = False  # a shrinking column's text wraps at words instead of being cut
    want: int = 0  # room kept for this shrinking column before droppable ones (0: shrink)


Cell = str | Text


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


class FitTable:
    """A table that fits the width it is rendered at (see :class:`Column`)."""

    def __init__(
        self,
        columns: Sequence[Column],
        rows: Sequence[Sequence[Cell]],
        *,
        title: str | None = None,
    ) -> None:
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]
        self.title = title

    def _room(self, i: int, spare: int) -> int:
        """What column *i* is given when it has a ``want``: that and half the *spare* width
        of the terminal (the other columns that shrink get the rest), or its longest cell
        if shorter."""
        c = self.columns[i]
        cells = [cell_len(_plain(r[i])) for r in self.rows]
        return min(c.want + max(spare, 0) // 2, max([len(c.header), *cells]))

    def _table(self, keep: list[int], measuring: bool, spare: int | None = None) -> Table:
        table = Table(
            title=self.title,
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
            header_style="bold",
        )
        for i in keep:
            c = self.columns[i]
            table.add_column(
                c.header,
                justify=c.justify,  # type: ignore[arg-type]
                style=c.style,
                no_wrap=not c.shrink,
                max_width=(c.want or c.shrink) if (measuring and c.shrink) else c.widest,
                min_width=min(c.shrink, len(c.header)) if c.shrink else None,
                width=self._room(i, spare) if (spare is not None and c.want) else None,
            )
        for row in self.rows:
            cells: list[Text] = []
            for i in keep:
                cell = row[i]
                text = cell.copy() if isinstance(cell, Text) else Text(cell)
                if self.columns[i].shrink and not self.columns[i].wrap:
                    text.no_wrap = True
                    text.overflow = "ellipsis"
                cells.append(text)
            table.add_row(*cells)
        return table

    def fit(self, console: Console, options: ConsoleOptions) -> tuple[Table, list[str]]:
        """The table at *options*' width, and the headers of the columns left out."""
        keep = list(range(len(self.columns)))
        droppable = sorted(
            (i for i, c in enumerate(self.columns) if c.drop),
            key=lambda i: (-self.columns[i].drop, -i),
        )
        wide = options.update_width(10_000)

        def spare() -> int:
            """The width left over with the kept columns at their least (``want`` met)."""
            natural = Measurement.get(console, wide, self._table(keep, measuring=True)).maximum
            return options.max_width - natural

        while droppable and spare() < 0:
            keep.remove(droppable.pop(0))
        left = spare()
        table = self._table(keep, measuring=False, spare=left if left >= 0 else None)
        dropped = [self.columns[i].header for i in range(len(self.columns)) if i not in keep]
        return table, dropped

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table, dropped = self.fit(console, options)
        yield table
        if dropped and self.rows:
            yield Text(f"({', '.join(dropped)}: wider terminal, or --json)", style="dim")


class Phrases:
    """*head* then *items* joined by ", ", wrapped only between items (never "13" at the
    end of one line and "unknown" on the next); continuation lines are indented."""

    def __init__(self, head: str, items: Sequence[str], style: str | None = None) -> None:
        self.head = head
        self.items = list(items)
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        lines: list[str] = []
        line = self.head
        for i, item in enumerate(self.items):
            piece = item + ("," if i < len(self.items) - 1 else "")
            start = line == self.head or line == "  "
            if not start and cell_len(f"{line} {piece}") > width:
                lines.append(line)
                line = "  " + piece
            else:
                line += piece if start else f" {piece}"
        lines.append(line)
        for text in lines:
            yield Text(text, style=self.style or "")


def phrases(head: str, items: Sequence[str], style: str | None = None) -> Phrases:
    return Phrases(head, items, style)


ALL_HINT = "`--limit 0` for all"


def cut_note(shown: int, total: int, hint: str = ALL_HINT) -> Text | None:
    """'…and 179 more; `--limit 0` for all' when a list was cut, else None."""
    if total <= shown:
        return None
    return Text(f"…and {total - shown:,} more; {hint}", style="dim")


def day(t: datetime, now: datetime | None = None) -> str:
    """A short date: '03 Dec' in the current year, else '2025-12-03'."""
    if now is not None and t.year == now.year:
        return t.strftime("%d %b")
    return t.strftime("%Y-%m-%d")


def moment(t: datetime, now: datetime | None = None) -> str:
    """A short date and time: '03 Dec 14:05' in the current year, else '2025-12-03 14:05'."""
    return f"{day(t, now)} {t:%H:%M}"


def span(earliest: datetime, latest: datetime, now: datetime | None = None) -> str:
    """A window between two days, as short as it reads: '02–03 Dec', '30 Nov–03 Dec'."""
    if earliest.date() == latest.date():
        return day(latest, now)
    if now is not None and earliest.year == latest.year == now.year:
        if earliest.month == latest.month:
            return f"{earliest:%d}–{latest:%d %b}"
        return f"{earliest:%d %b}–{latest:%d %b}"
    return f"{earliest:%Y-%m-%d}…{latest:%m-%d}"


def duration(days: float) -> str:
    """'5h', '12d', '7mo', '2.1y'."""
    if days < 1:
        return f"{days * 24:.0f}h"
    if days < 60:
        return f"{days:.0f}d"
    if days < 730:
        return f"{days / 30.44:.0f}mo"
    return f"{days / 365.25:.1f}y"


def channel_labels(names: Iterable[str], platforms: dict[str, str]) -> dict[str, str]:
    """A short label per account: its platform where no other account shares it, else
    its full name (names are what ``--account`` takes)."""
    names = list(dict.fromkeys(names))
    count: dict[str, int] = {}
    for n in names:
        count[platforms.get(n, n)] = count.get(platforms.get(n, n), 0) + 1
    return {n: platforms.get(n, n) if count[platforms.get(n, n)] == 1 else n for n in names}


def who(handle: str | None, external_id: str, name: str | None = None) -> Text:
    label = handle or (external_id if not external_id.startswith("h:") else "(hashed email)")
    text = Text(label)  # Text never interprets markup: names are attacker-controlled
    if name:
        text.append(f"  {name}", style="dim")
    return text


def one_line(text: str) -> str:
    return " ".join(text.split())


# The helpers the report's terminal rendering (report/terminal.py) reuses, unchanged.


def _who(handle: str | None, name: str | None, external_id: str) -> Text:
    label = handle or (external_id if not external_id.startswith("h:") else "(hashed address)")
    text = Text(label)
    if name:
        text.append(f"  {name}", style="dim")
    return text


def _tenure(d: Departure) -> str:
    days = d.tenure_days
    amount = f"{days:.0f}d" if days >= 1 else f"{days * 24:.0f}h"
    return f"≥ {amount}" if d.followed_before_tracking or not d.exact else amount


def _snippet(text: str, width: int = 48) -> str:
    flat = one_line(text)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _window(d: Departure) -> str:
    if d.exact:
        return f"{d.left_latest:%Y-%m-%d %H:%M}"
    return f"{d.left_earliest:%Y-%m-%d %H:%M} … {d.left_latest:%Y-%m-%d %H:%M}"


# -- left ------------------------------------------------------------------------------------

_KIND_STYLE = {"unfollowed": "red", "unsubscribed": "red", "unknown": "yellow"}


def _when(d: Departure, now: datetime | None) -> str:
    if d.exact:
        return moment(d.left_latest, now)
    return span(d.left_earliest, d.left_latest, now)


def _followed(d: Departure) -> str:
    amount = duration(d.tenure_days)
    return f"≥{amount}" if d.followed_before_tracking or not d.exact else amount


def _after(d: Departure, now: datetime | None) -> Text:
    """The reason they gave, if any, and what came just before the departure: the
    campaign they unsubscribed from, else the last post (its time on the day they left,
    else its day: the text gets the room)."""
    out = Text()
    if d.reason:
        out.append(f"“{one_line(d.reason)}” ", style="italic")
    if d.campaign:
        out.append(f"campaign: {one_line(d.campaign)}")
    elif d.last_posts:
        p = d.last_posts[0]
        same_day = p.created_at.date() == d.left_latest.date()
        when = f"{p.created_at:%H:%M}" if same_day else day(p.created_at, now)
        out.append(f"{when} {one_line(p.text)}")
    if not out.plain:
        out.append("—", style="dim")
    return out


def departures_view(
    rows: Sequence[Departure],
    *,
    title: str = "Who left",
    now: datetime | None = None,
    summary: LeftSummary | None = None,
    verbose: bool = False,
    all_hint: str = ALL_HINT,
    status: Sequence[AccountStatus] | None = None,
) -> RenderableType:
    """One line per departure (newest first): when, who, how, how long they had followed,
    and what came just before it; then the count by kind and the reasons unsubscribers
    gave, and how many more there are when the list was cut. ``verbose``: each departure
    on a line of its own, followed by the last posts before it, one a line. With
    ``status`` (of the accounts asked about), an empty list says whether anyone could have
    been seen leaving at all."""
    parts: list[RenderableType] = []
    if rows and verbose:
        parts.append(Text(title, style="bold"))
        parts.extend(_departure_lines(d, now) for d in rows)
    elif rows:
        parts.append(_departures_table(rows, title, now))
    elif status is not None and not status:
        parts.append(_NO_ACCOUNTS)
    elif summary is None or summary.total == 0:
        parts.append(Text(f"{title}: nobody in this period.", style="bold"))
        if status is not None and now is not None:
            parts.extend(_guidance(status, now))
    if summary is not None:
        parts.extend(_left_summary(summary, len(rows), all_hint))
    return Group(*parts)


def _clip(text: Text) -> Text:
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _departure_lines(d: Departure, now: datetime | None) -> RenderableType:
    head = Text(f"{_when(d, now)}  ", style="bold")
    head.append_text(who(d.handle, d.external_id, d.display_name))
    head.append(f"  {d.kind}", style=_KIND_STYLE.get(d.kind, "dim"))
    head.append(f"  followed {_followed(d)}  {d.account}", style="dim")
    lines = [_clip(head)]
    if d.reason:
        lines.append(_clip(Text(f"    their reason: “{one_line(d.reason)}”", style="italic")))
    if d.campaign:
        lines.append(_clip(Text(f"    campaign: {one_line(d.campaign)}")))
    for p in d.last_posts:
        lines.append(_clip(Text(f"    {moment(p.created_at, now)}  {one_line(p.text)}")))
    if not d.reason and not d.campaign and not d.last_posts:
        lines.append(Text(f"    no post in the {POST_LOOKBACK_DAYS} days before", style="dim"))
    return Group(*lines)


def _departures_table(
    rows: Sequence[Departure], title: str, now: datetime | None
) -> RenderableType:
    platforms = {d.account: d.platform for d in rows}
    labels = channel_labels(platforms, platforms)
    several = len(labels) > 1
    columns = [
        Column("left (UTC)"),
        Column("who", shrink=18, want=30),
        Column("how"),
        Column("followed", drop=2, justify="right"),
    ]
    if several:
        columns.append(Column("account", drop=3))
    columns.append(Column("just before", shrink=18, drop=1))
    table_rows: list[list[Cell]] = []
    for d in rows:
        row: list[Cell] = [
            _when(d, now),
            who(d.handle, d.external_id),
            Text(d.kind, style=_KIND_STYLE.get(d.kind, "dim")),
            _followed(d),
        ]
        if several:
            row.append(Text(labels[d.account]))
        row.append(_after(d, now))
        table_rows.append(row)
    return FitTable(columns, table_rows, title=title)


def _left_summary(s: LeftSummary, shown: int, all_hint: str) -> list[RenderableType]:
    out: list[RenderableType] = []
    note = cut_note(shown, s.total, all_hint)
    if note is not None:
        out.append(note)
    if s.total:
        out.append(phrases(f"{s.total:,} left: ", [f"{n:,} {k}" for k, n in s.by_kind.items()]))
    if s.reasons:
        unsubscribed = s.by_kind.get("unsubscribed", 0)
        out.append(
            Text(f"Their own reasons ({s.stated:,} of {unsubscribed:,} unsubscribers gave one):")
        )
        for reason, n in s.reasons[:8]:
            line = Text(f"  {n:>5,}  ")
            line.append(one_line(reason))
            line.no_wrap = True
            line.overflow = "ellipsis"
            out.append(line)
        if len(s.reasons) > 8:
            out.append(Text(f"  …and {len(s.reasons) - 8} other reasons (--json)", style="dim"))
    return out


def departures_table(rows: Sequence[Departure], title: str = "Who left") -> RenderableType:
    """The departures alone (kept for callers of the old name)."""
    return departures_view(rows, title=title)


_NO_ACCOUNTS = Text(
    "No accounts yet. Import an export (`breakup import x-archive ARCHIVE.zip`), "
    "poll a live account (`breakup track bsky:HANDLE`), or try `breakup demo`."
)


# -- status ----------------------------------------------------------------------------------


def _change(gained: int, lost: int) -> str:
    return f"+{gained:,} −{lost:,}"


def _history_days(s: AccountStatus, now: datetime) -> float | None:
    if s.first_observation is None:
        return None
    return (now - s.first_observation).total_seconds() / 86400


def status_view(
    rows: Sequence[AccountStatus], *, now: datetime, verbose: bool = False
) -> RenderableType:
    """Followers now and the change over 7, 30 and 365 days per account; periods longer
    than the history are marked, and an account with too little data says what to do.
    ``verbose`` adds when the history starts and how many snapshots and events it holds."""
    if not rows:
        return _NO_ACCOUNTS
    periods = [p.name for p in rows[0].periods]
    columns = [Column("account"), Column("followers", justify="right")]
    for name in periods:
        columns.append(Column(name, justify="right", drop=2 if name == "365d" else 0))
    columns += [
        Column("following", justify="right", drop=3),
        Column("last data", drop=1),
    ]
    if verbose:
        columns += [
            Column("history from", drop=4),
            Column("snapshots", justify="right", drop=5),
            Column("events", justify="right", drop=6),
        ]
    short = False
    table_rows: list[list[Cell]] = []
    for s in rows:
        history = _history_days(s, now)
        cells: list[Cell] = [
            Text(s.account + ("" if s.role == "own" else f" ({s.role})")),
            f"{s.followers:,}",
        ]
        for p in s.periods:
            days = (now - p.since).total_seconds() / 86400
            mark = history is not None and history < days - 0.5
            short = short or mark
            cells.append(Text(_change(p.gained, p.lost) + ("*" if mark else " ")))
        cells += [
            f"{s.following:,}",
            "—" if s.last_observation is None else moment(s.last_observation, now),
        ]
        if verbose:
            first = s.first_observation
            cells += [
                "—" if first is None else day(first, now),
                f"{s.snapshots:,}",
                f"{s.events:,}",
            ]
        table_rows.append(cells)
    parts: list[RenderableType] = [FitTable(columns, table_rows, title="Followers")]
    if short:
        parts.append(
            Text(
                "* the history is shorter than the period: these count only the days "
                "observed, they are not a rate for the whole period",
                style="dim",
            )
        )
    parts.extend(_guidance(rows, now))
    return Group(*parts)


def _guidance(rows: Sequence[AccountStatus], now: datetime) -> list[Text]:
    """What an account with too little history can and cannot show yet."""
    out: list[Text] = []
    for s in rows:
        if s.role != "own":
            continue
        name = Text(s.account, style="bold")
        if s.snapshots == 0 and s.events == 0:
            out.append(
                name
                + Text(
                    ": no followers observed yet; import a follower export or `breakup track` it"
                )
            )
        elif s.snapshots == 1 and s.events == 0:
            seen = "" if s.first_observation is None else f" ({day(s.first_observation, now)})"
            out.append(
                name
                + Text(
                    f": one snapshot only{seen}, so nobody can be seen leaving yet; "
                    "import a later export (or `breakup track` it again) to see who left"
                )
            )
        else:
            history = _history_days(s, now)
            if history is not None and history < 7:
                hours, days = round(history * 24), round(history)
                span_text = (
                    f"{hours} hour{'s' if hours != 1 else ''}"
                    if history < 1
                    else f"{days} day{'s' if days != 1 else ''}"
                )
                out.append(
                    name
                    + Text(
                        f": only {span_text} of history; wait a few weeks before "
                        "reading churn into these numbers"
                    )
                )
    return out


def status_tables(rows: Sequence[AccountStatus]) -> RenderableType:
    """The boxed status table the report's terminal rendering uses."""
    table = Table(title="Status")
    for col in ("account", "followers", "following", "7d +/−", "30d +/−", "365d +/−", "last seen"):
        table.add_column(col, justify="right" if col not in ("account", "last seen") else "left")
    for s in rows:
        cells = [f"+{p.gained}/−{p.lost}" for p in s.periods]
        name = Text(s.account + ("" if s.role == "own" else f" ({s.role})"))
        last = "—" if s.last_observation is None else f"{s.last_observation:%Y-%m-%d %H:%M}"
        table.add_row(name, f"{s.followers:,}", f"{s.following:,}", *cells, last)
    if not rows:
        table.caption = "no accounts yet: import something or run `breakup demo`"
    return table


# -- accounts ----------------------------------------------------------------------------------


def accounts_view(rows: Sequence[Account], *, verbose: bool = False) -> RenderableType:
    """Account names in full (they are what ``--account`` takes), role and platform."""
    if not rows:
        return Text(
            "No accounts yet: `breakup import`, `breakup track` or `breakup demo` add some."
        )
    columns = [
        Column("name"),
        Column("role"),
        Column("platform", drop=1),
        Column("handle", drop=2, shrink=12),
    ]
    if verbose:
        columns.append(Column("identity", drop=3, shrink=12))
    table_rows: list[list[Cell]] = []
    for a in rows:
        row: list[Cell] = [Text(a.name), a.role, a.platform, Text(a.handle or "—")]
        if verbose:
            row.append(Text(a.identity or "—"))
        table_rows.append(row)
    hint = Text(
        "--account takes a name, or any part of one that no other name contains", style="dim"
    )
    return Group(FitTable(columns, table_rows, title="Accounts"), hint)


def peers_view(rows: Sequence[Account]) -> RenderableType:
    """Peer accounts (other brands tracked to compare churn with): names in full, as
    ``--account`` takes them."""
    if not rows:
        return Text(
            "No peers yet: `breakup peers add NAME` marks an account (e.g. "
            "bsky:rival.bsky.social) whose churn `breakup why` compares with yours."
        )
    columns = [
        Column("name"),
        Column("platform", drop=1),
        Column("handle", drop=2, shrink=12),
        Column("identity", drop=3, shrink=12),
    ]
    table_rows: list[list[Cell]] = [
        [Text(a.name), a.platform, Text(a.handle or "—"), Text(a.identity or "—")] for a in rows
    ]
    hint = Text("imports and `breakup track` of these names fill them", style="dim")
    return Group(FitTable(columns, table_rows, title="Peers"), hint)


# -- kinds ---------------------------------------------------------------------------------


def kinds_view(rows: Mapping[str, Mapping[str, str]]) -> RenderableType:
    """The import kinds: the name ``breakup import`` takes, the platform, and what it reads
    (whole, folded at words)."""
    columns = [Column("kind"), Column("platform"), Column("what it reads", shrink=24, wrap=True)]
    table_rows: list[list[Cell]] = [
        [name, row["platform"], Text(one_line(row["summary"]))] for name, row in rows.items()
    ]
    hint = Text("`breakup import KIND PATH…` reads one; --account names the account", style="dim")
    return Group(FitTable(columns, table_rows, title="Import kinds"), hint)


def accounts_table(rows: Sequence[Account]) -> RenderableType:
    """The accounts view (kept for callers of the old name)."""
    return accounts_view(rows)


# -- imports -----------------------------------------------------------------------------------


def _source_name(path: str | None) -> str:
    """The file an import read (not its folders), or the target a poll read."""
    if not path:
        return ""
    return path.rstrip("/").rsplit("/", 1)[-1] or path


def import_summary(r: ImportResult, *, when: str | None = None) -> RenderableType:
    """What an import or a poll saved, in a few short lines that fit 80 columns: the
    account and what was read (cut with an ellipsis, never wrapped), then the counts.
    ``when`` (a time) starts the first line, for the log of ``watch``."""
    head = Text(f"{when} ", style="dim") if when else Text()
    head.append(r.account, style="bold")
    name = _source_name(r.path)
    if name and name != r.account:
        head.append(f" ← {name}")
    lines: list[RenderableType] = [_clip(head)]
    if r.skipped:
        lines.append(Text("  already imported; nothing changed"))
        return Group(*lines)
    lines.append(
        Text(
            f"  {r.snapshots:,} snapshot(s), {r.people:,} people; follows "
            f"+{r.opened:,} began, {r.closed:,} ended"
        )
    )
    lines.append(
        Text(
            f"  {r.events:,} events, {r.posts:,} posts, {r.interactions:,} interactions, "
            f"{r.checks:,} checks"
        )
    )
    if r.rebuilt:
        lines.append(Text("  replayed from the start: older data arrived", style="dim"))
    lines += [Hanging("  note: ", n, style="yellow") for n in r.notes]
    return Group(*lines)


@dataclass(frozen=True)
class Hanging:
    """*label* then *text* wrapped at words, its further lines under its first word (a
    hanging indent), not back at the margin."""

    label: str
    text: str
    style: str = ""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        indent = cell_len(self.label)
        body = Text(self.text, style=self.style)
        for i, line in enumerate(body.wrap(console, max(options.max_width - indent, 8))):
            out = Text(self.label if i == 0 else " " * indent, style=self.style)
            out.append_text(line)
            out.rstrip()
            yield out
