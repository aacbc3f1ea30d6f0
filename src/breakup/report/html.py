"""The report as one self-contained HTML file: Jinja2 templates (autoescaped: every name,
bio and post text is shown as text) with plotly.js inlined, so it opens without network."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import Markup, escape
from plotly.offline import get_plotlyjs

from ..analyses.blocks import Block
from ..safetext import display_text
from .charts import report_figures
from .html_headline import Card, headline
from .model import Report
from .sections import analysis_sections

if TYPE_CHECKING:
    from ..why.attribution import PostAttribution

# The favicon: a broken heart, inline (no request, works from a file:// page).
FAVICON = "data:image/svg+xml," + quote(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<path d="M16 29 3.5 16.5A7.5 7.5 0 0 1 14 5.8L16 7.8l-3 6 5 3-3 6 6-7-5-3 2.8-4.5'
    'A7.5 7.5 0 0 1 28.5 16.5Z" fill="#c2573a"/></svg>',
    safe=":/=",
)

_DID = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]+")
_HANDLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,}")
_MASTODON = re.compile(
    r"@?(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]*)@(?P<domain>[A-Za-z0-9.-]+\.[A-Za-z]{2,})"
)
_X_ID = re.compile(r"[0-9]{1,25}")
_INSTAGRAM = re.compile(r"[A-Za-z0-9._]{1,30}")


def environment(*extra: jinja2.BaseLoader) -> jinja2.Environment:
    """Templates of the report, with *extra* loaders first (the dashboard's pages)."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([*extra, jinja2.PackageLoader("breakup.report", "templates")]),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=display_text,  # every printed string without bidi controls (safetext)
    )
    env.filters["when"] = lambda t: "—" if t is None else t.strftime("%Y-%m-%d %H:%M")
    env.filters["snippet"] = _snippet
    env.filters["web_url"] = web_url
    env.filters["profile_url"] = profile_url
    env.filters["window"] = window
    env.filters["breakable"] = breakable
    env.filters["breakable_words"] = breakable_words
    env.filters["why_cost"] = why_cost
    env.globals["favicon"] = FAVICON
    return env


def profile_url(platform: str, external_id: str, handle: str | None = None) -> str | None:
    """The person's public profile page, from their platform id: Bluesky by DID (stable
    across handle changes), Mastodon on their server, X by account id, Instagram by name.
    None where there is none (hashed email addresses, generic ids) or the id does not look
    like one of that platform's: a source's odd id never becomes an odd link."""
    ident = external_id.strip()
    if platform == "bsky":
        if _DID.fullmatch(ident) or _HANDLE.fullmatch(ident):
            return "https://bsky.app/profile/" + quote(ident, safe=":")
        return None
    if platform == "mastodon":
        m = _MASTODON.fullmatch(ident)
        return f"https://{m['domain'].lower()}/@{m['user']}" if m else None
    if platform == "x" and _X_ID.fullmatch(ident):
        return f"https://x.com/i/user/{ident}"
    if platform == "instagram":
        name = handle or ident
        return f"https://www.instagram.com/{name}/" if _INSTAGRAM.fullmatch(name) else None
    return None


def window(earliest: datetime | None, latest: datetime | None) -> Markup:
    """A time window in short form: the latest end, preceded by the earliest where they
    differ — only the parts that differ (``2025-05-08 00:00 – 05-15 00:00``). Each end is
    one unbreakable piece (``<span class="nw">``), so a narrow column breaks the line at
    the dash only, never inside a date."""
    if latest is None:
        return Markup("—")
    if earliest is None or earliest == latest:
        return _nw(f"{latest:%Y-%m-%d %H:%M}")
    if earliest.year != latest.year:
        end = f"{latest:%Y-%m-%d %H:%M}"
    elif earliest.date() != latest.date():
        end = f"{latest:%m-%d %H:%M}"
    else:
        end = f"{latest:%H:%M}"
    return _nw(f"{earliest:%Y-%m-%d %H:%M}") + Markup(" – ") + _nw(end)


def _nw(text: str) -> Markup:
    return Markup('<span class="nw">{}</span>').format(text)


_BREAK_AFTER = re.compile(r"([.:])")
_NAME_LIKE = re.compile(r"[@\w.:+-]+")


def breakable(text: str) -> Markup:
    """*text* escaped; a handle or account name (``@someone@mastodon.example``,
    ``did:plc:…``) also gets break opportunities after each dot and colon and before each
    ``@``, so a narrow column wraps it instead of overflowing."""
    escaped = escape(text)
    if not _NAME_LIKE.fullmatch(text):
        return Markup(escaped)
    marked = _BREAK_AFTER.sub(r"\1<wbr>", str(escaped)).replace("@", "<wbr>@")
    return Markup(marked.replace("<wbr><wbr>", "<wbr>"))


_SPACES = re.compile(r"(\s+)")


def breakable_words(text: str) -> Markup:
    """A sentence escaped, each account name or handle in it (a word with a letter and an
    ``@``, ``:`` or ``.``) made :func:`breakable`: a narrow card wraps a long name at its
    parts, never inside a word. Numbers (``24.2``, ``12:30``) stay whole."""
    out = []
    for part in _SPACES.split(text):
        core = part.rstrip(",;:.)")
        named = any(c.isalpha() for c in core) and any(c in "@:." for c in core)
        if named and _NAME_LIKE.fullmatch(core):
            out.append(str(breakable(core)) + str(escape(part[len(core) :])))
        else:
            out.append(str(escape(part)))
    return Markup(_COUNT_WORD.sub("\u00a0", "".join(out)))


_COUNT_WORD = re.compile(r"(?<=\d) (?=[^\W\d])")


def why_cost(score: PostAttribution | None, platform: str) -> str:
    """The why analysis' verdict on a post in its own words (``breakup.why.words``: what
    the post cost, how unlikely chance is), or "" without one."""
    if score is None:
        return ""
    from ..why import words

    return f"{words.cost(score, platform)}; {words.chance(score.p_adjusted)}"


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


class ReportContext(TypedDict):
    """What the section templates read: the report, its charts (by id, the figure's
    JSON), every analysis' blocks (id, title, blocks) and the headline cards."""

    report: Report
    figures: dict[str, str]
    sections: list[tuple[str, str, list[Block]]]
    headline: list[Card]


def report_context(report: Report) -> ReportContext:
    """What the section templates read: the report, its charts, and the why/fans blocks."""
    return ReportContext(
        report=report,
        figures=report_figures(report),
        sections=analysis_sections(report),
        headline=headline(report),
    )


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
