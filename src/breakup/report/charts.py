"""Plotly figures of a report, as JSON the pages hand to the bundled plotly.js.

Texts that come from sources (post texts, names) go into hover labels HTML-escaped:
plotly.js reads a few tags in labels, and a name must show as the text it is.

Figures carry no title (the page's heading names each chart) and no width: they fill their
container, and the page gives narrow screens a lower height and tighter margins.
"""

from __future__ import annotations

import html
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from ..analyses import Unavailable
from ..safetext import strip_bidi_json
from .model import PostRow, Report
from .sections import survival_curves

if TYPE_CHECKING:
    from ..why.report import WhyReport

PALETTE = ("#3b6ea8", "#c2573a", "#4f9a5b", "#8a5aa8", "#b08a2e", "#4a9aa8")
SURVIVAL_SHOWN = 6  # cohort curves drawn; the others are one legend entry, hidden at first
SURVIVAL_MAX_DAYS = 730  # the survival chart's x-axis never runs further than this
OTHERS_COLOR = "#b5b5b5"
_LAYOUT: dict[str, Any] = {
    "template": None,
    "autosize": True,
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "margin": {"l": 50, "r": 20, "t": 20, "b": 40},
    "plot_bgcolor": "#fafafa",
    "legend": {"orientation": "h", "y": -0.15},
    "height": 420,
}


def _label(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    flat = flat if len(flat) <= width else flat[: width - 1] + "…"
    return html.escape(flat)


def followers_figure(report: Report) -> go.Figure:
    """Followers per account (top) over daily gains and losses (bottom)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35])
    for i, s in enumerate(report.series):
        color = PALETTE[i % len(PALETTE)]
        days = [p.day.isoformat() for p in s.points]
        name = html.escape(s.account)
        fig.add_trace(
            go.Scatter(
                x=days,
                y=[p.followers for p in s.points],
                name=name,
                mode="lines",
                line={"color": color},
                legendgroup=name,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Bar(
                x=days,
                y=[p.gained for p in s.points],
                name=f"{name} gained",
                marker={"color": color},
                legendgroup=name,
                showlegend=False,
            ),
            row=2,
            col=1,
        )
        fig.add_trace(
            go.Bar(
                x=days,
                y=[-p.lost for p in s.points],
                name=f"{name} lost",
                marker={"color": color, "opacity": 0.55},
                legendgroup=name,
                showlegend=False,
            ),
            row=2,
            col=1,
        )
    fig.update_layout(**_LAYOUT, barmode="relative")
    fig.update_yaxes(title_text="followers", row=1, col=1)
    fig.update_yaxes(title_text="gained / lost", row=2, col=1)
    return fig


def _post_markers(
    posts: list[PostRow], hover: list[str], name: str, marker: dict[str, Any]
) -> go.Scatter:
    """Posts as markers at their time and departures after them; a click gives the post."""
    return go.Scatter(
        x=[p.created_at.isoformat() for p in posts],
        y=[p.left_after for p in posts],
        customdata=[p.post_id for p in posts],
        hovertext=hover,
        hoverinfo="text",
        mode="markers",
        name=name,
        marker=marker,
    )


def post_timeline_figure(report: Report) -> go.Figure:
    """Departures per day as bars, with each post a marker at the departures seen after
    it; a post's customdata is its id (the dashboard opens it on click)."""
    fig = go.Figure()
    for i, s in enumerate(report.series):
        fig.add_trace(
            go.Bar(
                x=[p.day.isoformat() for p in s.points],
                y=[p.lost for p in s.points],
                name=f"{html.escape(s.account)} departures",
                marker={"color": PALETTE[i % len(PALETTE)], "opacity": 0.45},
            )
        )
    accounts = sorted({p.account for p in report.posts})
    for i, account in enumerate(accounts):
        posts = [p for p in report.posts if p.account == account]
        hover = [
            f"{p.kind} {p.created_at:%Y-%m-%d %H:%M}<br>{_label(p.text)}"
            f"<br>left after: {p.left_after}"
            for p in posts
        ]
        marker = {"color": PALETTE[i % len(PALETTE)], "symbol": "diamond", "size": 7}
        fig.add_trace(_post_markers(posts, hover, f"{html.escape(account)} posts", marker))
    named = [(p, p.score) for p in report.posts if p.score is not None and p.score.break_up]
    if named:
        hover = [
            f"break-up post: ×{sc.rate_ratio:.2f} the usual departures "
            f"(95% CI {sc.ci_low:.2f}–{sc.ci_high:.2f})<br>{_label(p.text)}"
            for p, sc in named
        ]
        name = "break-up posts (named by the why analysis)"
        marker = {"color": "#d62728", "symbol": "star", "size": 14}
        fig.add_trace(_post_markers([p for p, _ in named], hover, name, marker))
    fig.update_layout(**_LAYOUT, barmode="stack")
    fig.update_yaxes(title_text="departures")
    if report.posts:  # the posts' period, not an email list's years of sign-ups
        first = min(p.created_at for p in report.posts).date() - timedelta(days=1)
        last = max(p.created_at for p in report.posts).date() + timedelta(days=1)
        fig.update_xaxes(range=[first.isoformat(), last.isoformat()])
    return fig


Curve = tuple[str, int, list[tuple[float, float]]]


def _survival_horizon(curves: list[Curve]) -> float:
    """Where the survival chart's x-axis stops: where the second-longest cohort (not "all")
    ends — a cohort alone in its years (an email list's opt-in dates) does not stretch the
    axis for everyone — and never past :data:`SURVIVAL_MAX_DAYS`."""
    ends = sorted(
        (max((d for d, _ in points), default=0.0) for cohort, _, points in curves
         if cohort != "all"),
        reverse=True,
    )  # fmt: skip
    if len(ends) < 2:
        ends = [max((d for _, _, points in curves for d, _ in points), default=0.0)]
    return min(ends[min(1, len(ends) - 1)], float(SURVIVAL_MAX_DAYS))


def _cut(points: list[tuple[float, float]], horizon: float) -> list[tuple[float, float]]:
    """A step curve up to *horizon*, held at its value there."""
    kept = [(d, s) for d, s in points if d <= horizon]
    if len(kept) < len(points) and kept and kept[-1][0] < horizon:
        kept.append((horizon, kept[-1][1]))
    return kept


def survival_figure(curves: list[Curve]) -> go.Figure:
    """Kaplan-Meier follower survival by cohort (from the why analysis).

    *curves* are (cohort, followers, points). Only a readable number of curves is drawn:
    "all" and the largest cohorts, :data:`SURVIVAL_SHOWN` in all; the others share one
    legend entry ("N smaller cohorts") and stay hidden until it is clicked. The x-axis
    stops where the drawn cohorts end (see :func:`_survival_horizon`); a note on the plot
    says which cohorts went further (``breakup why --json`` has their whole curves).
    """
    fig = go.Figure()
    first = [c for c in curves if c[0] == "all"][:1]
    rest = sorted((c for c in curves if c not in first), key=lambda c: -c[1])
    shown = first + rest[: SURVIVAL_SHOWN - len(first)]
    others = rest[SURVIVAL_SHOWN - len(first) :]
    horizon = _survival_horizon(shown)
    longer = [
        (c, max(d for d, _ in p)) for c, _, p in curves if p and max(d for d, _ in p) > horizon
    ]
    # "all" is drawn last (on top of the cohorts), dark and thicker, but listed first.
    for i, (cohort, followers, points) in sorted(enumerate(shown), key=lambda c: c[0] == 0):
        label = f"{cohort} ({followers:,})" if followers else cohort
        overall = bool(first) and i == 0
        kept = _cut(points, horizon)
        fig.add_trace(
            go.Scatter(
                x=[d for d, _ in kept],
                y=[s for _, s in kept],
                name=html.escape(label),
                mode="lines",
                line={
                    "shape": "hv",
                    "color": "#222222" if overall else PALETTE[i % len(PALETTE)],
                    "width": 3 if overall else 1.5,
                },
                legendrank=i + 1,
            )
        )
    for j, (cohort, followers, points) in enumerate(others):
        kept = _cut(points, horizon)
        fig.add_trace(
            go.Scatter(
                x=[d for d, _ in kept],
                y=[s for _, s in kept],
                name=f"{len(others)} smaller cohorts",
                hovertext=html.escape(f"{cohort} ({followers:,})"),
                hoverinfo="text+y",
                mode="lines",
                line={"shape": "hv", "color": OTHERS_COLOR, "width": 1},
                legendgroup="others",
                legendrank=SURVIVAL_SHOWN + 1,
                showlegend=j == 0,
                visible="legendonly",
            )
        )
    fig.update_layout(**_LAYOUT)
    fig.update_layout(legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(title_text="days since they followed")
    if longer:  # said on the plot's empty top right (curves start at 100% on the left)
        named = [c for c, _ in longer if c != "all"] or ["all"]
        who = ", ".join(named[:2]) + (" …" if len(named) > 2 else "")
        runs = "runs" if len(named) == 1 else "run"
        furthest = max(e for _, e in longer)
        fig.update_xaxes(range=[0, horizon * 1.02])
        fig.add_annotation(
            text=f"cut at {horizon:,.0f} days; {html.escape(who)} {runs} to {furthest:,.0f}",
            xref="paper", yref="paper", x=1, y=1, xanchor="right", yanchor="top",
            showarrow=False, font={"size": 11, "color": "#555555"},
            bgcolor="rgba(250,250,250,0.85)",
        )  # fmt: skip
    fig.update_yaxes(title_text="still following", range=[0, 1.02], tickformat=".0%")
    return fig


def survival_cohorts(why: WhyReport | Unavailable | None) -> list[Curve]:
    """(cohort, followers, points) of each retention curve of the why result, or none."""
    curves = survival_curves(why)
    sizes = [] if why is None or isinstance(why, Unavailable) else \
        [c.followers for c in why.retention.curves]  # fmt: skip
    if len(sizes) != len(curves):
        sizes = [0] * len(curves)
    return [(name, n, points) for (name, points), n in zip(curves, sizes, strict=True)]


BREAKUPS_SHOWN = 10


def break_up_figure(why: WhyReport | Unavailable | None) -> go.Figure | None:
    """What each break-up post cost (and posts the data can't tell apart), as bars of the
    excess departures with their 95% intervals; None when nothing stands out."""
    if why is None or isinstance(why, Unavailable):
        return None
    posts = [p for p in why.attribution.posts if p.break_up or p.significant]
    seen: set[str] = set()
    shown = []
    for p in posts:
        if p.post not in seen:
            seen.update([p.post, *p.ambiguous_with])
            shown.append(p)
    shown = shown[:BREAKUPS_SHOWN][::-1]  # largest on top
    if not shown:
        return None
    labels = [f"{p.created_at:%d %b %H:%M}<br>{_label(p.text, 22)}" for p in shown]
    fig = go.Figure(go.Bar(
        x=[p.excess for p in shown], y=labels, orientation="h",
        marker={"color": [PALETTE[1] if p.break_up else OTHERS_COLOR for p in shown]},
        error_x={"type": "data", "symmetric": False,
                 "array": [max(0.0, p.excess_ci_high - p.excess) for p in shown],
                 "arrayminus": [max(0.0, p.excess - p.excess_ci_low) for p in shown]},
        hovertext=[_label(p.text) + ("" if p.break_up else " (one of a few; can't tell which)")
                   for p in shown],
    ))  # fmt: skip
    fig.update_layout(**{**_LAYOUT, "height": 100 + 46 * len(shown), "showlegend": False,
                         "margin": {"l": 10, "r": 20, "t": 10, "b": 40}})  # fmt: skip
    fig.update_xaxes(title_text="extra departures it caused (95% CI)", rangemode="tozero")
    fig.update_yaxes(automargin=True)
    return fig


def figure_json(fig: go.Figure) -> str:
    """JSON safe inside a <script type="application/json"> element, with no bidi
    controls in its labels (see :mod:`breakup.safetext`)."""
    text = strip_bidi_json(str(pio.to_json(fig, validate=False, engine="json")))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def report_figures(report: Report) -> dict[str, str]:
    """Every chart of a report, by element id."""
    figures = {
        "followers": followers_figure(report),
        "timeline": post_timeline_figure(report),
    }
    curves = survival_cohorts(report.why)
    if curves:
        figures["survival"] = survival_figure(curves)
    costs = break_up_figure(report.why)
    if costs is not None:
        figures["breakups"] = costs
    return {name: figure_json(fig) for name, fig in figures.items()}
