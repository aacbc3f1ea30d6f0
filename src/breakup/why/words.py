"""The break-up answer in a manager's words, shared by the terminal, report and digest.

"This post cost about 37 followers (26-51); almost certainly not chance" — the excess
departures with their 95% interval, and how unlikely chance is after correcting for every
post tested (Holm); causes in the survey's words (:data:`CAUSES`). No p-values or code
names in the main view.
"""

from __future__ import annotations

from datetime import datetime

from .attribution import AccountAttribution, Attribution, OutsideBurst, PostAttribution

# The survey's words for the diagnosis' causes (the code names stay in ``--json``).
CAUSES = {
    "too_frequent": "posting too often",
    "boring": "boring or irrelevant content",
    "repetitive": "repetitive content",
    "needy": "too much self-promotion",
    "monologue": "monologue, not dialogue",
    "one_time_offer": "joined for a one-time offer",
}


def cause(code: str) -> str:
    """A diagnosis cause in the survey's words ('posting too often'), never its code."""
    return CAUSES.get(code, code.replace("_", " "))


def audience(platform: str) -> str:
    return "subscribers" if platform == "email" else "followers"


def chance(p_adjusted: float) -> str:
    """How unlikely the excess is to be chance, from the Holm-adjusted p."""
    if p_adjusted < 0.001:
        return "almost certainly not chance"
    if p_adjusted < 0.01:
        return "very unlikely to be chance"
    if p_adjusted < 0.05:
        return "unlikely to be chance"
    if p_adjusted < 0.2:
        return "could be chance"
    return "probably chance"


def about(x: float) -> str:
    return f"{x:,.0f}" if x >= 1.5 or x == 0 else f"{x:.1f}"


def cost(p: PostAttribution, platform: str = "bsky") -> str:
    """'cost about 37 followers (26-51)'."""
    lo, hi = p.excess_ci_low, p.excess_ci_high
    who = audience(platform)
    if p.excess <= 0.5:
        return f"no more {who} left than usual"
    return f"cost about {about(p.excess)} {who} ({about(lo)}–{about(hi)})"


def short_time(t: datetime | None) -> str:
    return "—" if t is None else f"{t:%d %b %H:%M}".lstrip("0")


def post_sentence(p: PostAttribution, platform: str = "bsky") -> str:
    """The one line a manager reads about a post."""
    if p.significant and not p.break_up:
        n = len(p.ambiguous_with) + 1
        who = audience(platform)
        when = ""
        if p.window_start is not None and p.window_end is not None:
            when = f"{short_time(p.window_start)}–{short_time(p.window_end)}: "
        return (f"{when}about {about(p.excess)} more {who} left than usual "
                f"({about(p.excess_ci_low)}–{about(p.excess_ci_high)}), "
                f"{chance(p.p_adjusted)}; "
                + (f"one of the {n} posts then, or something else, caused it"
                   if n > 1 else "this post or something else at the time caused it")
                + " — the data can't tell which")
    return f"{cost(p, platform)}; {chance(p.p_adjusted)}"


def verdict(p: PostAttribution) -> str:
    """A table cell's verdict on a post."""
    if p.break_up:
        return "break-up"
    if p.significant:
        return "can't tell"
    return "normal churn" if p.p_adjusted >= 0.05 else "unclear"


def burst_sentence(b: OutsideBurst, platform: str = "bsky") -> str:
    peers = ""
    if b.market_wide:
        peers = "; peer accounts lost people at the same time"
    elif b.peers_rate_ratio is not None:
        peers = "; peer accounts did not"
    return (f"{short_time(b.start)}–{b.end:%H:%M}: {about(b.observed)} {audience(platform)} "
            f"left at once against {about(b.expected)} expected, and no post explains it"
            f"{peers}")  # fmt: skip


def account_note(a: AccountAttribution) -> str:
    """Why an account's posts were not tested, or how precisely they were."""
    if a.status != "ok":
        seen = f"{a.hours:.0f} h, {a.departures} departures and {a.posts_seen} posts seen"
        return f"{a.account}: not enough history to blame a post yet — {seen}; {a.needed}."

    if a.mode == "campaign":
        return f"{a.account}: each campaign's own unsubscribes (exact)."
    if a.resolution_hours > 0 and a.exact_share < 0.5:
        when = f"{a.resolution_hours:g} h" if a.resolution_hours < 48 else \
            f"{a.resolution_hours / 24:g} days"  # fmt: skip
        return (f"{a.account}: departures known only to {when} between snapshots, so posts "
                "closer together than that can't be told apart.")
    respond = f"people respond within about {a.response_time}" if a.response_identifiable \
        else "the response time could not be told from the data"  # fmt: skip
    return f"{a.account}: departures known to the minute; {respond}."


def bottom_line(att: Attribution) -> str:
    """The first sentence of the why answer."""
    platform = {a.account: a.platform for a in att.accounts}
    named = att.break_up_posts
    if att.status != "ok":
        return "Not enough history yet to say which posts made people leave."
    if named:
        top = max(named, key=lambda p: p.excess)
        more = f" ({len(named)} break-up posts in all)" if len(named) > 1 else ""
        return (f"The {short_time(top.created_at)} post "
                f"{cost(top, platform.get(top.account, 'bsky'))}; {chance(top.p_adjusted)}"
                f"{more}.")  # fmt: skip
    groups = [p for p in att.posts if p.significant]
    if groups:
        return ("Departures rose after some posts, but the data can't tell which post of "
                "a few close together was to blame.")
    if att.bursts:
        return ("No post stands out; people left in a burst that no post explains "
                "(an outside event).")
    return "No post stands out: departures after every post were within normal churn."


__all__ = [
    "CAUSES", "about", "account_note", "audience", "bottom_line", "burst_sentence", "cause",
    "chance", "cost",
    "post_sentence", "short_time", "verdict",
]  # fmt: skip
