"""Rich renderings of a :class:`~breakup.why.report.WhyReport` for the terminal."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .report import WhyReport

TOP_POSTS = 10


def _snippet(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _ci(lo: float | None, hi: float | None, digits: int = 2) -> str:
    if lo is None or hi is None:
        return "—"
    return f"{lo:.{digits}f}–{hi:.{digits}f}"


def posts_table(report: WhyReport) -> Table:
    att = report.attribution
    named = att.break_up_posts
    rows = named or att.posts[:TOP_POSTS]
    title = "Break-up posts" if named else "Posts with the most excess departures (none named)"
    table = Table(title=title)
    for col in ("account", "posted (UTC)", "post", "obs", "exp", "rate ratio", "95% CI",
                "p (Holm)", "peers"):  # fmt: skip
        table.add_column(col, justify="right" if col in ("obs", "exp", "p (Holm)") else "left")
    for p in rows:
        peers = "—" if p.peers_rate_ratio is None else f"×{p.peers_rate_ratio:.1f}"
        if p.market_wide:
            peers += " market-wide"
        table.add_row(
            Text(p.account),
            f"{p.created_at:%Y-%m-%d %H:%M}",
            Text(_snippet(p.text)),
            f"{p.observed:.1f}",
            f"{p.expected:.1f}",
            Text(f"×{p.rate_ratio:.2f}", style="red" if p.break_up else ""),
            _ci(p.ci_low, p.ci_high),
            f"{p.p_adjusted:.3g}",
            peers,
        )
    table.caption = (
        f"{att.posts_tested} posts tested, {att.window_hours:g} h after each; "
        f"Holm-corrected one-sided tests at {att.alpha:g}"
    )
    return table


def diagnosis_table(report: WhyReport) -> Table:
    table = Table(title="Diagnosis")
    for col in ("account", "cause", "finding"):
        table.add_column(col)
    for f in report.diagnosis.findings:
        table.add_row(Text(f.account), f.cause, Text(f.statement))
    if not report.diagnosis.findings:
        table.caption = "no effect whose interval excludes no effect"
    return table


def triage_table(report: WhyReport) -> RenderableType:
    t = report.triage
    table = Table(title=f"Triage: {t.verdict}")
    for col in ("account", "departures", "inactive/bot/gone", "internal", "marketplace",
                "users"):  # fmt: skip
        table.add_column(col, justify="left" if col == "account" else "right")
    for a in t.accounts:
        table.add_row(
            Text(a.account),
            f"{a.departures:,}",
            f"{a.user_share:.0%} ({_ci(a.user_share_ci[0] * 100, a.user_share_ci[1] * 100, 0)}%)",
            *[f"{a.excess[s]:.0f}" for s in ("internal", "marketplace", "users")],
        )
    table.caption = t.summary + ("" if t.peers else " (no peer accounts: `breakup peers add`)")
    return table


def retention_table(report: WhyReport) -> RenderableType:
    r = report.retention
    curves = Table(title="Retention (Kaplan-Meier, left-truncated)")
    for col in ("cohort", "followers", "left", "median days", "30d", "90d", "365d"):
        curves.add_column(col, justify="left" if col == "cohort" else "right")

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{x:.0%}"

    for c in r.curves:
        med = "not reached" if c.median_days is None else f"{c.median_days:.0f}"
        curves.add_row(c.cohort, f"{c.followers:,}", f"{c.departures:,}", med,
                       pct(c.survival_30d), pct(c.survival_90d), pct(c.survival_365d))  # fmt: skip
    churn = Table(title="Churn per channel")
    for col in ("account", "measure", "value", "95% CI", "benchmark"):
        churn.add_column(col)
    for ch in r.churn:
        pct_measure = ch.measure.startswith("unsubscribes")
        value = f"{ch.value:.2%}" if pct_measure else f"{ch.value:.2f}"
        ci = f"{ch.ci_low:.2%}–{ch.ci_high:.2%}" if pct_measure else _ci(ch.ci_low, ch.ci_high)
        bench = "—" if ch.benchmark is None else f"≈{ch.benchmark:.2%}"
        if ch.warning:
            bench += " WARNING: above 0.5%"
        churn.add_row(Text(ch.account), ch.measure, value, ci, Text(bench))
    parts: list[RenderableType] = [curves, churn]
    if r.cox is not None:
        cox = r.cox
        parts.append(Text(f"Cox (time-varying): hazard ratio per unit of {cox.covariate}: "
                          f"{cox.hazard_ratio:.3f} (95% CI {cox.ci_low:.3f}–{cox.ci_high:.3f}, "
                          f"p={cox.p_value:.3g}); {cox.note}"))  # fmt: skip
    return Group(*parts)


def why_report(report: WhyReport) -> RenderableType:
    notes = [Text(f"note: {n}", style="yellow") for n in report.notes]
    return Group(
        posts_table(report),
        diagnosis_table(report),
        triage_table(report),
        retention_table(report),
        Text(f"analysed in {report.seconds:.1f} s", style="dim"),
        *notes,
    )
