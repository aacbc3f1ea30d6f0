"""The why analysis (:func:`breakup.why.analyze`) as blocks: break-up posts, diagnosis,
triage and retention, in plain words first, the statistics behind them ``verbose``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..filters import Filters
from . import Analysis, register
from .blocks import Block, Hint, ci, num, pct, table

if TYPE_CHECKING:
    from ..store import Store
    from ..why.attribution import Attribution
    from ..why.diagnosis import Diagnosis
    from ..why.report import WhyReport
    from ..why.retention import Retention
    from ..why.triage import Triage

TOP_POSTS = 10
STAT = Hint(justify="right", drop=5, verbose=True)


def _snippet(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def attribution_block(att: Attribution) -> Block:
    """The bottom line first, then the posts with the most departures after them, what
    each cost in words and the verdict on it."""
    from ..why import words

    platform = {a.account: a.platform for a in att.accounts}
    block = Block("Break-up posts: departures beyond normal churn")
    block.fields = [("", words.bottom_line(att))]
    block.fields += [(a.account, words.account_note(a).split(": ", 1)[-1])
                     for a in att.accounts]  # fmt: skip
    block.fields += [(f"outside event, {b.account}", words.burst_sentence(b)) for b in att.bursts]
    block.fields += [
        ("posts tested", f"{att.posts_tested} (chance corrected for every one: Holm)"),
        ("named break-up posts", str(sum(1 for p in att.posts if p.break_up))),
    ]
    several = len(att.accounts) > 1
    rows = [
        [
            words.short_time(p.created_at),
            *([p.account] if several else []),
            _snippet(p.text),
            words.post_sentence(p, platform.get(p.account, "bsky")),
            words.verdict(p),
            f"{p.observed:.0f}/{p.expected:.1f}",
            f"{num(p.rate_ratio)} {ci(p.ci_low, p.ci_high)}",
            f"{p.p_adjusted:.2g}",
        ]
        for p in att.posts
    ]
    columns = ["posted", *(["account"] if several else []), "post", "what it cost", "verdict"]
    columns += ["left/usual", "rate ratio [95% CI]", "p (Holm)"]
    hints = {
        "account": Hint(drop=3, shrink=12),
        "post": Hint(shrink=16, drop=1, widest=40),
        "what it cost": Hint(shrink=24, wrap=True),
        "verdict": Hint(drop=2),
        "left/usual": STAT,
        "rate ratio [95% CI]": STAT,
        "p (Holm)": STAT,
    }
    return table(block, columns, rows, limit=TOP_POSTS, hints=hints,
                 empty="no post tested")  # fmt: skip


def diagnosis_block(d: Diagnosis) -> Block:
    """Every survey cause tested on every account, in the survey's words, with what it
    found — "no sign of it" and "not tested" included (older results without the tests:
    the findings only)."""
    from ..why import words

    block = Block("Diagnosis")
    if d.tests:
        rows = [
            [
                t.account,
                t.label or words.cause(t.cause),
                t.statement,
                "" if t.estimate is None else f"{num(t.estimate)} {ci(t.ci_low, t.ci_high)}",
                "" if t.p_value is None else f"{float(t.p_value):.2g}",
            ]
            for t in d.tests
        ]
    else:
        rows = [
            [
                f.account,
                words.cause(f.cause),
                f.statement,
                f"{num(f.estimate)} {ci(f.ci_low, f.ci_high)}",
                f"{float(f.p_value):.2g}",
            ]
            for f in d.findings
        ]
    columns = ["account", "cause", "finding", "rate ratio [95% CI]", "p"]
    hints = {
        "account": Hint(drop=2, shrink=12),
        "cause": Hint(shrink=12, wrap=True),
        "finding": Hint(shrink=24, wrap=True),
        "rate ratio [95% CI]": STAT,
        "p": STAT,
    }
    return table(block, columns, rows, hints=hints,
                 empty="no cause stands out from normal churn with enough certainty")  # fmt: skip


def triage_block(t: Triage) -> Block:
    """Us, the marketplace or the users: the verdict, then each account's departures."""
    block = Block("Triage: us, the marketplace, or the users?")
    block.fields = [("verdict", str(t.verdict))]
    if t.summary:
        block.fields.append(("", t.summary))
    block.details = [(f"excess departures, {k}", num(v, 1)) for k, v in t.excess.items()]
    rows = [
        [
            a.account,
            str(a.departures),
            f"{a.user_side} ({pct(a.user_share)})",
            ", ".join(f"{k} {num(v, 0)}" for k, v in a.excess.items() if v >= 0.5) or "—",
            f"[{pct(a.user_share_ci[0])}, {pct(a.user_share_ci[1])}]",
        ]
        for a in t.accounts
    ]
    columns = ["account", "departures", "inactive/bot/deleted", "excess by side", "95% CI"]
    hints = {
        "account": Hint(shrink=12),
        "departures": Hint(justify="right"),
        "inactive/bot/deleted": Hint(justify="right", drop=1),
        "excess by side": Hint(shrink=12, wrap=True),
        "95% CI": STAT,
    }
    return table(block, columns, rows, hints=hints)


def retention_block(r: Retention) -> Block:
    """How long followers stay (Kaplan-Meier), churn per channel against benchmarks."""
    block = Block("Retention")
    block.fields = [("median follower lifetime", f"{num(r.median_lifetime_days, 0)} days")]
    rows = [
        [
            c.cohort,
            str(c.followers),
            str(c.departures),
            "not reached" if c.median_days is None else num(c.median_days, 0),
            ci(c.median_ci[0], c.median_ci[1], digits=0),
        ]
        for c in r.curves
    ]
    hints = {
        "cohort": Hint(shrink=16),
        "followers": Hint(justify="right"),
        "left": Hint(justify="right"),
        "median days": Hint(justify="right"),
        "95% CI": STAT,
    }
    columns = ["cohort", "followers", "left", "median days", "95% CI"]
    table(block, columns, rows, hints=hints)
    churn = Block("Churn per channel against benchmarks")
    churn_rows = [
        [
            c.account,
            c.measure,
            num(c.value, 3),
            num(c.benchmark, 3),
            "warning" if c.warning else "",
            ci(c.ci_low, c.ci_high, 3),
        ]
        for c in r.churn
    ]
    hints = {
        "account": Hint(shrink=12, drop=2),
        "measure": Hint(shrink=16, wrap=True),
        "value": Hint(justify="right"),
        "benchmark": Hint(justify="right", drop=1),
        "": Hint(),
        "95% CI": STAT,
    }
    columns = ["account", "measure", "value", "benchmark", "", "95% CI"]
    table(churn, columns, churn_rows, hints=hints)
    block.children.append(churn)
    if r.cox is not None:
        cox = r.cox
        block.details.append(
            (
                f"Cox: {cox.covariate}",
                f"hazard ratio {num(cox.hazard_ratio)} {ci(cox.ci_low, cox.ci_high)}, "
                f"p = {num(cox.p_value, 3)}",
            )
        )
    return block


@register
class WhyAnalysis(Analysis["WhyReport"]):
    """Why they left (``breakup why``)."""

    name = "why"
    title = "Why they left"
    order = 10

    def run(self, store: Store, filters: Filters) -> WhyReport:
        from ..why import analyze

        return analyze(store, account=filters.account, since=filters.since,
                       channel=filters.channel, until=filters.until)  # fmt: skip

    def blocks(self, result: WhyReport) -> list[Block]:
        blocks = [
            attribution_block(result.attribution),
            diagnosis_block(result.diagnosis),
            triage_block(result.triage),
            retention_block(result.retention),
        ]
        if result.notes:
            blocks.append(Block("Notes", fields=[("", n) for n in result.notes]))
        return blocks


WHY = WhyAnalysis()
