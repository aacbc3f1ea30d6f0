"""Reports: one set of analysis results, rendered for the terminal, an HTML file and the
dashboard.

``build_report(store, Filters(...))`` runs every analysis once; :func:`render_terminal`
and :func:`render_html` only render what it returned.
"""

from __future__ import annotations

from ..filters import Filters
from .analyses import post_verdicts
from .build import build_report
from .html import render_html, write_html
from .model import DayPoint, PersonHistory, PostDetail, PostRow, Report, Series
from .queries import person_history, post_detail
from .sections import Verdicts
from .terminal import render as render_terminal

__all__ = [
    "DayPoint",
    "Filters",
    "PersonHistory",
    "PostDetail",
    "PostRow",
    "Report",
    "Series",
    "Verdicts",
    "build_report",
    "person_history",
    "post_detail",
    "post_verdicts",
    "render_html",
    "render_terminal",
    "write_html",
]
