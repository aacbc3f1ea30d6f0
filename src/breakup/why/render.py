"""Rich renderings of a :class:`~breakup.why.report.WhyReport` for the terminal."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from . import words
from .report import WhyReport

TOP_POSTS = 10


def _snippet(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _ci(lo: float | None, hi: float | None, digits: int = 2) -> str:
    if lo is None or hi is None:
        return "—"
    return f"{lo:.{digits}f}–{hi:.{digits}f}"


def break_ups(report: WhyReport) -> RenderableType:
    """The answer first, in words: the bottom line, each break-up post with what it cost
    and how sure we are, posts the data can't separate, outside bursts, accounts that
    could not be tested."""
    att = report.attribution
    platform = {a.account: a.platform for a in att.accounts}
    parts: list[RenderableType] = [Text(words.bottom_line(att), style="bold")]
    shown = [p for p in att.posts if p.break_up or p.significant][:TOP_POSTS]
    seen: set[str] = set()
    for p in shown:
        if p.post in seen:
            continue
        seen.update([p.post, *p.ambiguous_with])
        line = Text()
        line.append(words.short_time(p.created_at), style="bold")
        line.append(f"  {_snippet(p.text, 56)}")
        parts.append(Padding(line, (0, 0, 0, 2)))
        said = Text(words.post_sentence(p, platform.get(p.account, "bsky")),
                    style="red" if p.break_up else "yellow")  # fmt: skip
        parts.append(Padding(said, (0, 0, 0, 5)))
    for b in att.bursts:
        said = Text(f"Outside event {words.burst_sentence(b)}", style="yellow")
        parts.append(Padding(said, (0, 0, 0, 2)))
    for a in att.accounts:
        parts.append(Text(words.account_note(a), style="dim" if a.status == "ok" else "yellow"))
    return Group(*parts)


def posts_table(report: WhyReport) -> Table:
    """The posts with the most departures after them, 80 columns wide."""
    att = report.attribution
    rows = att.posts[:TOP_POSTS]
    table = Table(title="Posts with the most departures after them", title_justify="left",
                  box=box.SIMPLE_HEAD, padding=(0, 1), expand=True)  # fmt: skip
    table.add_column("posted", no_wrap=True, width=12)
    table.add_column("post", ratio=1, overflow="ellipsis", no_wrap=True, min_width=16)
    table.add_column("left/usual", justify="right", no_wrap=True, width=10)
    table.add_column("cost (95% CI)", justify="right", no_wrap=True, width=13)
    table.add_column("verdict", no_wrap=True, width=12)
    for p in rows:
        cost = "—" if p.excess <= 0.5 else \
            f"{words.about(p.excess)} ({words.about(p.excess_ci_low)}–" \
            f"{words.about(p.excess_ci_high)})"  # fmt: skip
        table.add_row(
            words.short_time(p.created_at),
            Text(_snippet(p.text, 60)),
            f"{p.observed:.0f}/{p.expected:.0f}",
            Text(cost, style="red" if p.break_up else ""),
            words.verdict(p),
        )
    table.caption = (
        f"{att.posts_tested} posts tested; cost = departures beyond normal churn in the "
        "hours after the post; chance corrected for every post tested (Holm)"
    )
    return table


def diagnosis_table(report: WhyReport) -> Table:
    table = Table(title="Diagnosis")
    for col in ("account", "cause", "finding"):
        table.add_column(col)
    for f in report.diagnosis.findings:
        table.add_row(Text(f.account), words.cause(f.cause), Text(f.statement))
    if not report.diagnosis.findings:
        table.caption = "no effect whose interval excludes no effect"
    return table


def triage_table(report: WhyReport) -> RenderableType:
    t = report.triage
    table = Table(title=f"Triage: {t.verdict}")
    for col in ("account", "departures", "inactive/bot/gone", "internal", "marketplace",
                "users", "outside"):  # fmt: skip
        table.add_column(col, justify="left" if col == "account" else "right")
    for a in t.accounts:
        table.add_row(
            Text(a.account),
            f"{a.departures:,}",
            f"{a.user_share:.0%} ({_ci(a.user_share_ci[0] * 100, a.user_share_ci[1] * 100, 0)}%)",
            *[f"{a.excess.get(s, 0.0):.0f}" for s in ("internal", "marketplace", "users",
                                                       "outside")],
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
        break_ups(report),
        *([posts_table(report)] if report.attribution.posts else []),
        diagnosis_table(report),
        triage_table(report),
        retention_table(report),
        Text(f"analysed in {report.seconds:.1f} s", style="dim"),
        *notes,
    )
