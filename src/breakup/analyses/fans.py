"""The fans analyses (:mod:`breakup.fans`) as blocks: top fans, fans at risk, hygiene and
replies never answered. ``breakup fans`` renders the top fans' blocks; the report and the
dashboard all four."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, TypeVar

from ..errors import InvalidInput
from ..filters import Filters
from . import Analysis, register
from .blocks import Block, Hint, ci, num, pct, table, when

if TYPE_CHECKING:
    from datetime import datetime

    from ..fans import AtRisk, Hygiene, TopFan, Unanswered
    from ..store import Store

TOP = 20
T = TypeVar("T")


def accounts_of(store: Store, filters: Filters) -> list[str] | None:
    """The own accounts *filters* name (by account and channel), or None: every one."""
    if filters.channel is None:
        return None if filters.account is None else [store.account(filters.account).name]
    platform = filters.channel.strip().lower()
    own = store.accounts(role="own")
    names = [a.name for a in own if a.platform == platform and filters.account in (None, a.name)]
    if not names:
        have = ", ".join(sorted({a.platform for a in own})) or "none yet"
        raise InvalidInput(f"no own account on {platform} (platforms: {have})")
    return names


def _one(names: list[str] | None) -> str | None:
    """The one account to ask the analysis for (None: every own account, narrowed after)."""
    return names[0] if names is not None and len(names) == 1 else None


def platform_of(account: str) -> str:
    """The platform part of an account name ('bsky:brand' -> 'bsky')."""
    return account.split(":", 1)[0] if ":" in account else account


def _plural(kind: str, n: int) -> str:
    if n == 1:
        return kind
    return kind + ("es" if kind.endswith(("s", "sh", "ch", "x")) else "s")


def evidence(f: TopFan, per_channel: bool) -> str:
    """'264 likes, 51 reposts' — with the channel named when the fan has several."""
    parts: dict[str, list[str]] = {}
    for e in f.evidence:
        parts.setdefault(platform_of(e.account), []).append(f"{e.count} {_plural(e.kind, e.count)}")
    if not per_channel and len(parts) == 1:
        return ", ".join(next(iter(parts.values())))
    return "; ".join(f"{ch}: {', '.join(items)}" for ch, items in parts.items())


def fan_name(f: TopFan) -> str:
    if f.handle:
        label = f.handle
    else:
        names = [m.display_name for m in f.members if m.display_name]
        ext = f.members[0].external_id if f.members else ""
        label = names[0] if names else ("(hashed email)" if ext.startswith("h:") else ext)
    return label + (f" +{len(f.members) - 1} linked" if len(f.members) > 1 else "")


def top_fans_block(fans: list[TopFan], *, limit: int | None = None) -> Block:
    rows = [
        [
            str(f.rank),
            fan_name(f),
            num(f.score, 1),
            f"{f.last_at:%Y-%m-%d}",
            f"{f.interactions:,}",
            evidence(f, per_channel=len(f.accounts) > 1),
            "yes" if f.follows_now else "no",
            ", ".join(f.accounts),
        ]
        for f in fans
    ]
    columns = ["#", "who", "score", "last", "interactions", "what they did", "follows now"]
    columns.append("accounts")
    hints = {
        "#": Hint(justify="right"),
        "who": Hint(shrink=16, widest=28),
        "score": Hint(justify="right"),
        "last": Hint(drop=2),
        "interactions": Hint(justify="right", drop=3),
        "what they did": Hint(shrink=24, drop=1),
        "follows now": Hint(drop=4, verbose=True),
        "accounts": Hint(shrink=12, drop=5, verbose=True),
    }
    block = Block("Top fans")
    return table(block, columns, rows, [f.person_id for f in fans], limit=limit, hints=hints,
                 empty="No interactions recorded yet: nobody to rank.")  # fmt: skip


@register
class TopFansAnalysis(Analysis["list[TopFan]"]):
    """The most engaged people across channels (``breakup fans``)."""

    name = "top_fans"
    title = "Top fans"
    order = 20
    top = TOP

    def run(self, store: Store, filters: Filters) -> list[TopFan]:
        from ..fans import top_fans

        names = accounts_of(store, filters)
        fans = top_fans(store, _one(names), self.top, at=filters.until)
        if names is not None and len(names) > 1:
            fans = [f for f in fans if set(f.accounts) & set(names)]
        return fans

    def blocks(self, result: list[TopFan]) -> list[Block]:
        return [top_fans_block(result)]


@register
class AtRiskAnalysis(Analysis["AtRisk"]):
    """Followers most likely to leave within the horizon (``breakup fans --at-risk``)."""

    name = "at_risk"
    title = "Fans at risk"
    order = 30

    def run(self, store: Store, filters: Filters) -> AtRisk:
        from dataclasses import replace

        from ..fans import at_risk

        names = accounts_of(store, filters)
        risk = at_risk(store, _one(names), TOP, at=filters.until)
        if names is not None and len(names) > 1:
            risk = replace(risk, fans=[f for f in risk.fans if f.account in names])
        return risk

    def blocks(self, result: AtRisk) -> list[Block]:
        block = Block("Fans at risk")
        block.fields = [
            ("horizon", f"{result.horizon_days} days"),
            ("base rate", pct(result.base_rate)),
            ("followers scored", str(result.followers_scored)),
        ]
        bt = result.backtest
        if bt is not None:
            block.details.append(("backtest AUC", f"{num(bt.auc)} {ci(bt.auc_low, bt.auc_high)}"))
        rows = [
            [
                f.handle or f.external_id,
                f.account,
                pct(f.probability),
                "; ".join(f.reasons),
                when(f.last_interaction),
            ]
            for f in result.fans
        ]
        columns = ["who", "account", "P(leave)", "why", "last interaction"]
        hints = {
            "who": Hint(shrink=16, widest=28),
            "account": Hint(shrink=10, drop=3),
            "P(leave)": Hint(justify="right"),
            "why": Hint(shrink=16, drop=1),
            "last interaction": Hint(drop=2),
        }
        people: list[int | None] = [f.person_id for f in result.fans]
        return [table(block, columns, rows, people, hints=hints)]


class EachAccount(Analysis[list[T]]):
    """An analysis whose rows are per own account: run for each account the filters
    name, in turn (or once for every own account when they name none)."""

    @abstractmethod
    def rows(self, store: Store, account: str | None, at: datetime | None) -> list[T]:
        """The rows of *account* (None: of every own account) as of *at*."""

    def run(self, store: Store, filters: Filters) -> list[T]:
        names = accounts_of(store, filters)
        return [
            row
            for name in (names if names is not None else [None])
            for row in self.rows(store, name, filters.until)
        ]


@register
class HygieneAnalysis(EachAccount["Hygiene"]):
    """Dead weight and the real audience per account (``breakup hygiene``)."""

    name = "hygiene"
    title = "Hygiene"
    order = 40

    def rows(self, store: Store, account: str | None, at: datetime | None) -> list[Hygiene]:
        from ..fans import hygiene

        return hygiene(store, account, at=at)

    def blocks(self, result: list[Hygiene]) -> list[Block]:
        rows = [
            [
                h.account,
                str(h.followers),
                f"{h.real_audience} ({pct(h.real_share)})",
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
        hints = {c: Hint(justify="right", drop=i) for i, c in enumerate(columns)}
        hints["account"] = Hint(shrink=12)
        return [table(Block("Hygiene"), columns, rows, hints=hints)]


@register
class UnansweredAnalysis(EachAccount["Unanswered"]):
    """Replies and mentions never answered (``breakup fans --unanswered``)."""

    name = "unanswered"
    title = "Never answered"
    order = 50

    def rows(self, store: Store, account: str | None, at: datetime | None) -> list[Unanswered]:
        from ..fans import unanswered

        # Newest first, as `breakup fans --unanswered` lists them: those are still worth
        # an answer.
        return unanswered(store, account, at=at, newest_first=True)

    def blocks(self, result: list[Unanswered]) -> list[Block]:
        newest = sorted(result, key=lambda u: u.at, reverse=True)  # each account's, merged
        rows = [
            [
                u.handle or u.external_id,
                u.account,
                u.kind,
                when(u.at),
                "yes" if u.still_follows else "no",
                u.post_text or "",
            ]
            for u in newest
        ]
        columns = ["who", "account", "kind", "when", "still follows", "on your post"]
        hints = {
            "who": Hint(shrink=16, widest=28),
            "account": Hint(shrink=10, drop=2),
            "still follows": Hint(drop=1),
            "on your post": Hint(shrink=16, wrap=True, drop=3),
        }
        people: list[int | None] = [u.person_id for u in newest]
        return [table(Block("Never answered"), columns, rows, people, hints=hints)]


TOP_FANS = TopFansAnalysis()
AT_RISK = AtRiskAnalysis()
HYGIENE = HygieneAnalysis()
UNANSWERED = UnansweredAnalysis()
