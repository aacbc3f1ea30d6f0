"""The report as one self-contained HTML file: Jinja2 templates (autoescaped: every name,
bio and post text is shown as text) with plotly.js inlined, so it opens without network."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from plotly.offline import get_plotlyjs

from .charts import report_figures
from .model import Report
from .sections import analysis_sections


def environment(*extra: jinja2.BaseLoader) -> jinja2.Environment:
    """Templates of the report, with *extra* loaders first (the dashboard's pages)."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([*extra, jinja2.PackageLoader("breakup.report", "templates")]),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda t: "—" if t is None else t.strftime("%Y-%m-%d %H:%M")
    env.filters["snippet"] = _snippet
    env.filters["web_url"] = web_url
    return env


def web_url(url: str | None) -> str | None:
    """*url* if it is an http(s) link, else None: a source's ``javascript:`` URL must not
    become a link (autoescaping does not stop that)."""
    if not url:
        return None
    scheme = urlsplit(url.strip()).scheme.lower()
    return url if scheme in ("http", "https") else None


def _snippet(text: str, width: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def report_context(report: Report) -> dict[str, Any]:
    """What the section templates read: the report, its charts, and the why/fans blocks."""
    return {
        "report": report,
        "figures": report_figures(report),
        "sections": analysis_sections(report),
    }


@cache
def _env() -> jinja2.Environment:
    return environment()


def render_html(report: Report, *, plotlyjs: str | None = None) -> str:
    """The standalone page. *plotlyjs* replaces the bundled library (golden tests)."""
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            **report_context(report),
            plotlyjs=get_plotlyjs() if plotlyjs is None else plotlyjs,
            links=False,
        )
    )


def write_html(report: Report, path: Path) -> Path:
    path.write_text(render_html(report), encoding="utf-8")
    return path
