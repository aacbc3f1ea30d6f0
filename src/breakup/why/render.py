"""``breakup why`` for the terminal: the why analysis' blocks (:mod:`breakup.analyses.why`),
the same ones the HTML report and the dashboard show, fitted to the terminal's width.
Plain words first; the statistics behind them (intervals, p-values, the Cox model) with
``--verbose``, every figure with ``--json``."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from ..analyses.why import WHY
from .report import WhyReport


def why_report(report: WhyReport, *, verbose: bool = False) -> RenderableType:
    from ..report.terminal import blocks_view

    parts: list[RenderableType] = [blocks_view(WHY.blocks(report), verbose=verbose)]
    if verbose:
        parts.append(Text(f"analysed in {report.seconds:.1f} s", style="dim"))
    return Group(*parts)
