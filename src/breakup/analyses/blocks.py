"""The block: what an analysis gives every output to render.

A :class:`Block` is a titled part of a result: sentences and named fields, a table, and
sub-blocks. The terminal renders it to fit its width (``breakup why``, ``breakup fans``,
``breakup report``), the HTML report and the dashboard render it as HTML; the strings
are the same in each, so the views cannot disagree. Statistics a manager need not read
first (p-values, intervals, model details) are marked ``verbose``: the terminal shows
them with ``--verbose``, the HTML report always.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

MAX_ROWS = 15


@dataclass(frozen=True)
class Hint:
    """How a terminal lays out one column (see :class:`breakup.terminal.Column`)."""

    justify: str = "left"
    drop: int = 0  # dropped when the table does not fit, highest first (0: never)
    shrink: int = 0  # may shrink to this many characters (0: never)
    widest: int | None = None
    wrap: bool = False  # a shrinking column wraps at words instead of being cut
    verbose: bool = False  # a statistic: in the terminal only with --verbose


@dataclass
class Block:
    """A titled part of a result: scalar fields, a table, and sub-blocks.

    A field whose name is empty is a sentence of its own. ``details`` are the statistics
    behind the fields (the terminal shows them with ``--verbose``)."""

    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    more: int = 0  # rows left out
    people: list[int | None] = field(default_factory=list)  # person of each row, if any
    children: list[Block] = field(default_factory=list)
    note: str | None = None
    hints: dict[str, Hint] = field(default_factory=dict)  # by column name
    details: list[tuple[str, str]] = field(default_factory=list)

    def hint(self, column: str) -> Hint:
        return self.hints.get(column, Hint(shrink=10))


def table(
    block: Block,
    columns: list[str],
    rows: list[list[str]],
    people: list[int | None] | None = None,
    *,
    limit: int | None = MAX_ROWS,
    empty: str = "none",
    hints: dict[str, Hint] | None = None,
) -> Block:
    """Fill *block*'s table: at most *limit* rows (None: all), the rest counted."""
    cut = len(rows) if limit is None else limit
    block.columns = columns
    block.rows = rows[:cut]
    block.people = list((people or [None] * len(rows))[:cut])
    block.more = max(0, len(rows) - cut)
    block.hints = dict(hints or {})
    if not rows:
        block.note = empty
    return block


def when(t: datetime | None) -> str:
    return "—" if t is None else t.strftime("%Y-%m-%d %H:%M")


def num(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{float(x):.{digits}f}"


def ci(lo: float | None, hi: float | None, digits: int = 2) -> str:
    return "—" if lo is None or hi is None else f"[{num(lo, digits)}, {num(hi, digits)}]"


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * float(x):.1f}%"
