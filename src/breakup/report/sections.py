"""The why (issue 4) and fans (issue 5) results as report sections.

Each function reads the analysis' documented result fields and returns :class:`Block` s
that the terminal and HTML renderings share. A result whose shape is not the one
expected falls back to the generic rendering of all its fields, so a change on their
side degrades a section, never the report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .analyses import Unavailable
from .generic import MAX_ROWS, Block, _cell, to_block
from .model import Report


def _when(t: datetime | None) -> str:
    return "—" if t is None else t.strftime("%Y-%m-%d %H:%M")


def _num(x: Any, digits: int = 2) -> str:
    return "—" if x is None else f"{float(x):.{digits}f}"


def _ci(lo: Any, hi: Any, digits: int = 2) -> str:
    return "—" if lo is None or hi is None else f"[{_num(lo, digits)}, {_num(hi, digits)}]"


def _pct(x: Any) -> str:
    return "—" if x is None else f"{100 * float(x):.1f}%"


def _table(block: Block, columns: list[str], rows: list[list[str]], people: list[Any]) -> Block:
    block.columns = columns
    block.rows = rows[:MAX_ROWS]
    block.people = [int(p) if p is not None else None for p in people[:MAX_ROWS]]
    block.more = max(0, len(rows) - MAX_ROWS)
    if not rows:
        block.note = "none"
    return block


def _guard(title: str, build: Callable[[Any], list[Block]], result: Any) -> list[Block]:
    if isinstance(result, Unavailable):
        return [Block(title, note=result.message)]
    try:
        return build(result)
    except (AttributeError, TypeError, KeyError, ValueError, IndexError):
        return [to_block(title, result)]


# -- why ---------------------------------------------------------------------------------


def _attribution(why: Any) -> Block:
    """The bottom line first, then every post tested with what it cost in words."""
    from ..why import words

    att = why.attribution
    platform = {a.account: a.platform for a in att.accounts}
    block = Block("Break-up posts: departures beyond normal churn")
    block.fields = [("bottom line", words.bottom_line(att))]
    block.fields += [(a.account, words.account_note(a).split(": ", 1)[-1])
                     for a in att.accounts]  # fmt: skip
    block.fields += [(f"outside event, {b.account}", words.burst_sentence(b)) for b in att.bursts]
    block.fields += [
        ("posts tested", f"{att.posts_tested} (chance corrected for every one: Holm)"),
        ("named break-up posts", str(sum(1 for p in att.posts if p.break_up))),
    ]
    # The manager's view: when, what, what it cost in words; the statistics behind each
    # figure are in `breakup why --json`.
    rows = [
        [
            p.account,
            words.short_time(p.created_at),
            _cell(p.text),
            words.post_sentence(p, platform.get(p.account, "bsky")),
            words.verdict(p),
        ]
        for p in att.posts
    ]
    columns = ["account", "posted", "post", "what it cost", "verdict"]
    return _table(block, columns, rows, [None] * len(rows))


def _diagnosis(why: Any) -> Block:
    """The findings in the survey's terms (only effects whose interval excludes none)."""
    from ..why import words

    block = Block("Diagnosis")
    rows = [
        [
            f.account,
            words.cause(f.cause),
            f.statement,
            f"{_num(f.estimate)} {_ci(f.ci_low, f.ci_high)}",
            f"{float(f.p_value):.2g}",
        ]
        for f in why.diagnosis.findings
    ]
    _table(block, ["account", "cause", "finding", "rate ratio [95% CI]", "p"], rows, [])
    if not rows:
        block.note = "no cause stands out from normal churn with enough certainty"
    return block


def _triage(why: Any) -> Block:
    t = why.triage
    block = Block("Triage: us, the marketplace, or the users?")
    block.fields = [("verdict", str(t.verdict))]
    block.fields += [(f"excess departures, {k}", _num(v, 1)) for k, v in t.excess.items()]
    rows = [
        [
            a.account,
            str(a.departures),
            f"{a.user_side} ({_pct(a.user_share)} "
            f"[{_pct(a.user_share_ci[0])}, {_pct(a.user_share_ci[1])}])",
            ", ".join(f"{k} {_num(v, 1)}" for k, v in a.excess.items()),
        ]
        for a in getattr(t, "accounts", [])
    ]
    columns = ["account", "departures", "inactive/bot/deleted", "excess by side"]
    return _table(block, columns, rows, [None] * len(rows))


def _retention(why: Any) -> Block:
    r = why.retention
    block = Block("Retention")
    block.fields = [("median follower lifetime", f"{_num(r.median_lifetime_days, 0)} days")]
    rows = [
        [
            c.cohort,
            str(c.followers),
            str(c.departures),
            f"{_num(c.median_days, 0)} {_ci(c.median_ci[0], c.median_ci[1], digits=0)}",
        ]
        for c in r.curves
    ]
    _table(block, ["cohort", "followers", "left", "median days [95% CI]"], rows, [None] * len(rows))
    churn = Block("Churn per channel against benchmarks")
    churn_rows = [
        [
            c.account,
            c.measure,
            f"{_num(c.value, 3)} {_ci(c.ci_low, c.ci_high, 3)}",
            _num(c.benchmark, 3),
            "warning" if c.warning else "",
        ]
        for c in r.churn
    ]
    _table(churn, ["account", "measure", "value [95% CI]", "benchmark", ""], churn_rows, [])
    block.children.append(churn)
    if r.cox is not None:
        cox = r.cox
        block.fields.append(
            (
                f"Cox: {cox.covariate}",
                f"hazard ratio {_num(cox.hazard_ratio)} {_ci(cox.ci_low, cox.ci_high)}, "
                f"p = {_num(cox.p_value, 3)}",
            )
        )
    return block


def why_blocks(why: Any) -> list[Block]:
    def build(w: Any) -> list[Block]:
        blocks = [_attribution(w), _diagnosis(w), _triage(w), _retention(w)]
        if w.notes:
            blocks.append(Block("Notes", fields=[("", n) for n in w.notes]))
        return blocks

    return _guard("Why they left", build, why)


def post_attributions(why: Any) -> dict[tuple[str, str], Any]:
    """The why analysis' per-post result by (account, external id), or none."""
    if why is None or isinstance(why, Unavailable):
        return {}
    try:
        return {(str(p.account), str(p.post)): p for p in why.attribution.posts}
    except (AttributeError, TypeError):
        return {}


def survival_curves(why: Any) -> list[tuple[str, list[tuple[float, float]]]]:
    """(cohort, [(day, survival) …]) of each retention curve, or none."""
    try:
        return [
            (str(c.cohort), [(float(d), float(s)) for d, s in c.points])
            for c in why.retention.curves
        ]
    except (AttributeError, TypeError, ValueError):
        return []


# -- fans --------------------------------------------------------------------------------


def _fan_name(fan: Any) -> str:
    if fan.handle:
        return str(fan.handle)
    names = [m.display_name for m in fan.members if m.display_name]
    return str(names[0]) if names else "(hashed address)"


def _top_fans(fans: Any) -> list[Block]:
    rows = [
        [
            _fan_name(f),
            _num(f.score, 1),
            str(f.interactions),
            _when(f.last_at),
            "yes" if f.follows_now else "no",
            ", ".join(f.accounts),
        ]
        for f in fans
    ]
    columns = ["who", "score", "interactions", "last", "follows now", "accounts"]
    return [_table(Block("Top fans"), columns, rows, [f.person_id for f in fans])]


def _at_risk(result: Any) -> list[Block]:
    block = Block("Fans at risk")
    block.fields = [
        ("horizon", f"{result.horizon_days} days"),
        ("base rate", _pct(result.base_rate)),
        ("followers scored", str(result.followers_scored)),
    ]
    bt = result.backtest
    if bt is not None:
        block.fields.append(("backtest AUC", f"{_num(bt.auc)} {_ci(bt.auc_low, bt.auc_high)}"))
    rows = [
        [
            f.handle or f.external_id,
            f.account,
            _pct(f.probability),
            "; ".join(f.reasons),
            _when(f.last_interaction),
        ]
        for f in result.fans
    ]
    columns = ["who", "account", "P(leave)", "why", "last interaction"]
    return [_table(block, columns, rows, [f.person_id for f in result.fans])]


def _hygiene(result: Any) -> list[Block]:
    rows = [
        [
            h.account,
            str(h.followers),
            f"{h.real_audience} ({_pct(h.real_share)})",
            str(h.inactive),
            str(h.never_posted),
            str(h.bot_like),
            str(h.never_engaged),
            str(h.not_following_back),
            str(h.following_dead_weight),
        ]
        for h in result
    ]
    columns = ["account", "followers", "real audience", "inactive", "never posted"]
    columns += ["bot-like", "never engaged", "you follow, not back", "following dead weight"]
    return [_table(Block("Hygiene"), columns, rows, [None] * len(rows))]


def _unanswered(result: Any) -> list[Block]:
    rows = [
        [
            u.handle or u.external_id,
            u.account,
            u.kind,
            _when(u.at),
            "yes" if u.still_follows else "no",
        ]
        for u in result
    ]
    columns = ["who", "account", "kind", "when", "still follows"]
    block = Block("Never answered")
    return [_table(block, columns, rows, [u.person_id for u in result])]


FANS = {
    "top_fans": ("Top fans", _top_fans),
    "at_risk": ("Fans at risk", _at_risk),
    "hygiene": ("Hygiene", _hygiene),
    "unanswered": ("Never answered", _unanswered),
}


def fans_blocks(name: str, result: Any) -> list[Block]:
    title, build = FANS.get(name, (name.replace("_", " ").capitalize(), None))
    if build is None:
        return [to_block(title, result)]
    return _guard(title, build, result)


def analysis_sections(report: Report) -> list[tuple[str, str, list[Block]]]:
    """(id, title, blocks) of every analysis section the report has, in reading order."""
    out: list[tuple[str, str, list[Block]]] = []
    if report.why is not None:
        out.append(("why", "Why they left", why_blocks(report.why)))
    for name, result in report.fans.items():
        title = FANS[name][0] if name in FANS else name.replace("_", " ").capitalize()
        out.append((name, title, fans_blocks(name, result)))
    return out
