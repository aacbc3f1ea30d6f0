"""Terminal renderings of the fans analyses (:mod:`breakup.fans`), designed for 80 columns:
see :mod:`breakup.terminal` for the building blocks. Names are attacker-controlled: always
:class:`~rich.text.Text`, never markup."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Group, RenderableType
from rich.text import Text

from .. import fans as lib
from ..analyses.blocks import pct
from ..analyses.fans import platform_of
from ..terminal import ALL_HINT, Cell, Column, FitTable, cut_note, day, moment, one_line, who

__all__ = [
    "codes_view",
    "deals_view",
    "fans_view",
    "hygiene_view",
    "listening_view",
    "risk_view",
]


def fans_view(
    rows: Sequence[lib.TopFan],
    *,
    now: datetime | None = None,
    more: bool = False,
    verbose: bool = False,
) -> RenderableType:
    """Rank, who, score, last interaction and what they did: the top fans' block
    (:mod:`breakup.analyses.fans`), the one the report and the dashboard show too."""
    from ..analyses.fans import top_fans_block
    from ..report.terminal import blocks_view

    if not rows:
        return Text("No interactions recorded yet: nobody to rank.")
    parts: list[RenderableType] = [
        blocks_view([top_fans_block(list(rows), limit=None)], verbose=verbose)
    ]
    if more:
        parts.append(Text("…and more; `--limit 0` for all", style="dim"))
    return Group(*parts)


def codes_view(rows: Sequence[lib.RewardCode], out: Path | None) -> RenderableType:
    columns = [Column("code"), Column("who", shrink=16), Column("platform"), Column("new")]
    table_rows: list[list[Cell]] = [
        [r.code, who(r.handle, r.external_id), r.platform, "yes" if r.new else ""] for r in rows
    ]
    title = "Reward codes" + (f" (written to {out})" if out else "")
    return FitTable(columns, table_rows, title=title)


def _signal(r: lib.AtRisk) -> str | None:
    """Why a ranking would mislead, or None when the model beats the base rate."""
    b = r.backtest
    if b is None:
        return "there is not enough history to test the model on months it has not seen"
    if b.auc_low <= 0.5 or b.brier_skill <= 0:
        return (
            f"on held-out months it ranks leavers barely better than chance (AUC {b.auc:.2f}, "
            f"95% CI {b.auc_low:.2f}–{b.auc_high:.2f}) and predicts no better than the base "
            f"rate (skill {b.brier_skill:+.3f})"
        )
    return None


def risk_view(r: lib.AtRisk, *, verbose: bool = False, more: bool = False) -> RenderableType:
    """Followers most likely to leave, only when the model has a real signal."""
    head = Text(
        f"Base rate: {r.base_rate:.1%} of followers leave within {r.horizon_days} days "
        f"({r.trained_events:,} departures in {r.trained_rows:,} monthly snapshots)."
    )
    weak = _signal(r)
    parts: list[RenderableType] = [head]
    if weak is not None:
        parts.append(
            Text(
                f"No ranking: {weak}. Treat every follower as at the base rate"
                + ("; --verbose lists the ranking anyway." if not verbose else "."),
                style="yellow",
            )
        )
    if weak is None or verbose:
        columns = [
            Column("#", justify="right"),
            Column("who", shrink=16, widest=None if verbose else 28),
            Column("account", drop=3),
            Column("P(leave)", justify="right"),
            Column("engaged 30d/before", justify="right", drop=2),
            Column("why", shrink=16, drop=1),
        ]
        table_rows: list[list[Cell]] = [
            [
                str(f.rank),
                who(f.handle, f.external_id),
                Text(platform_of(f.account)),
                f"{f.probability:.1%}",
                f"{f.engagement_30d:g} / {f.engagement_prev_30d:g}",
                Text("; ".join(f.reasons)),
            ]
            for f in r.fans
        ]
        title = f"Fans at risk of leaving within {r.horizon_days} days"
        parts.append(FitTable(columns, table_rows, title=title))
        if more:
            parts.append(Text("…and more; `--limit 0` for all", style="dim"))
    b = r.backtest
    if b is not None:
        parts.append(
            Text(
                f"backtest {b.test_from:%Y-%m-%d}…{b.test_to:%Y-%m-%d}: AUC {b.auc:.3f} "
                f"(95% CI {b.auc_low:.3f}–{b.auc_high:.3f}), Brier {b.brier:.4f} vs "
                f"{b.brier_base_rate:.4f} for the base rate (skill {b.brier_skill:+.3f})",
                style="dim",
            )
        )
    return Group(*parts)


def listening_view(
    r: lib.Listening,
    *,
    now: datetime | None = None,
    verbose: bool = False,
    newest: Sequence[lib.Unanswered] | None = None,
) -> RenderableType:
    """How many replies and mentions were answered, whether that goes with staying, and
    the replies and mentions never answered (*newest* first when given, else the oldest);
    the store keeps no text of theirs, so each shows the post of yours they answered."""
    known = r.rate_ratio == r.rate_ratio  # not NaN
    if r.asked == 0:
        unjudged = f" ({r.unjudged:,} without a link to judge by)" if r.unjudged else ""
        return Text(f"No replies or mentions to judge yet{unjudged}.")
    ratio = (
        f"People never answered leave {r.rate_ratio:.1f}× as often as people answered "
        f"(95% CI {r.rate_ratio_low:.1f}–{r.rate_ratio_high:.1f})"
        if known
        else "Too few people to compare those answered with those never answered"
    )
    head = Text(
        f"You answered {r.answered:,} of {r.asked:,} replies and mentions "
        f"({r.answer_rate:.0%}). {ratio}."
    )
    detail = Text(
        (f"rate ratio {r.rate_ratio:.2f}; " if known else "")
        + "departures per 1,000 follower-days: never answered "
        f"{r.unanswered_people.per_1000_days:.2f} ({r.unanswered_people.people:,} people), "
        f"answered {r.answered_people.per_1000_days:.2f} ({r.answered_people.people:,})",
        style="dim",
    )
    listed = list(newest) if newest is not None else r.oldest_unanswered
    columns = [
        Column("when"),
        Column("who", shrink=16, widest=None if verbose else 28),
        Column("kind"),
        Column("follows", drop=2),
        Column("account", drop=3),
        Column("on your post", shrink=16, drop=1),
    ]
    if verbose:
        columns.append(Column("their post", shrink=12, drop=4))
    table_rows: list[list[Cell]] = [
        [
            moment(u.at, now),
            who(u.handle, u.external_id),
            u.kind,
            "yes" if u.still_follows else "no",
            Text(platform_of(u.account)),
            Text(one_line(u.post_text or "—"), style="" if u.post_text else "dim"),
            *([Text(u.ref)] if verbose else []),
        ]
        for u in listed
    ]
    parts: list[RenderableType] = [head, detail]
    if table_rows:
        order = "newest" if newest is not None else "oldest"
        parts.append(FitTable(columns, table_rows, title=f"Never answered, {order} first"))
    note = cut_note(len(listed), r.asked - r.answered)
    if note is not None:
        parts.append(note)
    return Group(*parts)


def deals_view(d: lib.DealSeekers, top: int = 20, *, now: datetime | None = None) -> RenderableType:
    """Do people who join around a promotion leave faster? The answer first, then the
    promotions that brought the most joiners."""
    lines: list[RenderableType] = []
    p, o = d.promo_joiners, d.other_joiners
    if p is not None and o is not None and d.difference is not None:
        lines.append(
            Text(
                f"{p.share_left:.0%} of people who joined within {d.window_hours}h of a "
                f"promotion left within {d.horizon_days} days, against {o.share_left:.0%} of "
                f"other joiners (difference {d.difference:+.0%}, 95% CI "
                f"{d.difference_low:+.0%} to {d.difference_high:+.0%})."
            )
        )
    elif not d.promotions:
        lines.append(Text("No promotions found (posts with an offer and a joining spike)."))
    shown = sorted(d.promotions, key=lambda x: (-x.cohort.joined, x.at))
    cut = shown[:top] if top else shown
    columns = [
        Column("when"),
        Column("account", drop=3),
        Column("joined", justify="right"),
        Column(f"left ≤{d.horizon_days}d", justify="right"),
        Column("95% CI", justify="right", drop=2),
        Column("post", shrink=16, drop=1),
    ]
    table_rows: list[list[Cell]] = [
        [
            day(x.at, now),
            Text(platform_of(x.account)),
            str(x.cohort.joined),
            f"{x.cohort.share_left:.0%}",
            f"{x.cohort.share_low:.0%}–{x.cohort.share_high:.0%}",
            Text(one_line(x.text)),
        ]
        for x in cut
    ]
    if table_rows:
        title = f"Joiners within {d.window_hours}h of a promotion (most joined first)"
        lines.append(FitTable(columns, table_rows, title=title))
    note = cut_note(len(cut), len(shown))
    if note is not None:
        lines.append(note)
    for cohort in (p, o):
        if cohort is not None:
            lines.append(
                Text(
                    f"{cohort.label}: {cohort.left}/{cohort.joined} left within "
                    f"{d.horizon_days} days ({cohort.share_left:.1%}, 95% CI "
                    f"{cohort.share_low:.1%}–{cohort.share_high:.1%})",
                    style="dim",
                )
            )
    return Group(*lines)


_HYGIENE_ROWS = (
    ("followers", "followers"),
    ("real audience", "real_audience"),
    ("inactive", "inactive"),
    ("never posted", "never_posted"),
    ("bot-like", "bot_like"),
    ("never engaged", "never_engaged"),
    ("no profile", "unprofiled"),
    ("following", "following"),
    ("mutuals", "mutuals"),
    ("not following back", "not_following_back"),
)


def hygiene_view(rows: Sequence[lib.Hygiene]) -> RenderableType:
    """One column per account, one row per measure; then the dead weight listed."""
    if not rows:
        return Text("No accounts yet.")
    platforms = [platform_of(h.account) for h in rows]
    unique = len(set(platforms)) == len(platforms)
    heads = [p if unique else h.account for p, h in zip(platforms, rows, strict=True)]
    columns = [Column("")] + [Column(h, justify="right") for h in heads]
    table_rows: list[list[Cell]] = []
    for label, attr in _HYGIENE_ROWS:
        cells: list[Cell] = [label]
        for h in rows:
            value = int(getattr(h, attr))
            cell = f"{value:,}"
            if attr == "real_audience":
                cell += f" ({pct(h.real_share)})"  # as the report's block says it
            cells.append(cell)
        table_rows.append(cells)
    parts: list[RenderableType] = [FitTable(columns, table_rows, title="Audience hygiene")]
    people: list[list[Cell]] = [
        [
            Text(platform_of(h.account)),
            who(f.handle, f.external_id),
            f.direction,
            Text(", ".join(_flag_words(r, h.inactive_days) for r in f.reasons)),
        ]
        for h in rows
        for f in h.dead_weight
    ]
    if people:
        columns = [
            Column("account", drop=2),
            Column("who", shrink=16, widest=30),
            Column("direction", drop=1),
            Column("why", shrink=16, wrap=True),
        ]
        title = "Dead weight: bot-like, inactive or silent (first listed per account)"
        parts.append(FitTable(columns, people, title=title))
    more = [
        (platform_of(h.account), h.followers - h.real_audience - listed)
        for h in rows
        if (listed := sum(1 for f in h.dead_weight if f.direction == "followers"))
        < h.followers - h.real_audience
    ]
    if more:
        where = [f" on {label}" if len(rows) > 1 else "" for label, _ in more]
        said = [f"{n:,}{w}" for (_, n), w in zip(more, where, strict=True)]
        said[0] = f"{more[0][1]:,} more flagged followers{where[0]}"
        parts.append(Text(f"…and {', '.join(said)}; {ALL_HINT}", style="dim"))
    return Group(*parts)


_FLAGS = {
    "bot_flag": "flagged bot",
    "never_posted": "never posted",
    "never_engaged": "never engaged",
}


def _flag_words(reason: str, inactive_days: int) -> str:
    """A hygiene reason in words ('never engaged'), not its code ('never_engaged')."""
    if reason == "inactive":
        return f"no post in {inactive_days}d"
    if reason.startswith("bot_like"):
        return "bot-like" + reason[len("bot_like") :]
    return _FLAGS.get(reason, reason.replace("_", " "))
