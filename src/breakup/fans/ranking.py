"""Top fans: people ranked by how much, and how recently, they engage across channels.

Score = Σ weight(kind) · 0.5^(age / half-life) over a person's interactions with the
user's own accounts (all of them, or one), where *age* is how long before *as_of* the
interaction happened. Default weights (:data:`WEIGHTS`): a reply or a mention 5 (someone
wrote to you), a quote 4, a repost 3, an email click 2, a like 1, an email open 0.5
(opens are inflated by mail-client prefetching). Half-life :data:`HALF_LIFE_DAYS` = 90 days:
a like last week counts about twice one from three months ago.

People linked across channels (:mod:`breakup.fans.links`) are scored as one; every fan
carries the evidence: their interactions per account and kind, with counts, latest time and
share of the score. People who have left every account they followed are left out unless
``include_departed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..store import Store
from ._common import account_ids_sql, as_of, db_time, latest_handle_sql, own_accounts, utc
from .links import groups_sql

WEIGHTS: dict[str, float] = {
    "reply": 5.0,
    "mention": 5.0,
    "quote": 4.0,
    "repost": 3.0,
    "click": 2.0,
    "like": 1.0,
    "open": 0.5,
}
HALF_LIFE_DAYS = 90.0


@dataclass(frozen=True)
class Evidence:
    account: str
    kind: str  # InteractionKind value
    count: int
    last_at: datetime
    score: float  # this part's share of the fan's score


@dataclass(frozen=True)
class Member:
    """One of the people (one per platform) a fan is made of."""

    person_id: int
    platform: str
    external_id: str
    handle: str | None
    display_name: str | None
    linked_via: str | None  # how they were linked to the others ('user', 'email-hash' …)


@dataclass(frozen=True)
class TopFan:
    rank: int
    person_id: int  # the group's id: the smallest person id among its members
    handle: str | None  # of the most engaged member
    score: float
    interactions: int
    last_at: datetime
    follows_now: bool  # follows (or is subscribed to) at least one of the accounts now
    accounts: list[str]
    members: list[Member] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


def weights_sql(weights: dict[str, float]) -> str:
    rows = ", ".join(f"('{k}', {float(v)!r})" for k, v in weights.items() if k.isalpha())
    return f"(VALUES {rows}) AS w(kind, weight)"


def scored_interactions_sql(
    account_ids: str, weights: dict[str, float], half_life: float, groups: str | None = None
) -> str:
    """Per (group, person, account, kind): count, latest time and decayed weighted score
    of interactions up to the ``$as_of`` parameter. *groups* names a relation of
    (person_id, group_id, via); by default the links and hints are computed inline."""
    groups = groups or f"({groups_sql(True)})"
    return f"""
        SELECT coalesce(g.group_id, i.person_id) AS gid, i.person_id, i.account_id, i.kind,
               count(*) AS n, max(i.occurred_at) AS last_at,
               sum(w.weight * pow(0.5, date_diff('second', i.occurred_at, $as_of)
                                        / 86400.0 / {float(half_life)!r})) AS score
        FROM interactions i
        JOIN {weights_sql(weights)} ON w.kind = i.kind
        LEFT JOIN {groups} g ON g.person_id = i.person_id
        WHERE i.account_id IN {account_ids} AND i.occurred_at <= $as_of
        GROUP BY ALL
    """


def top_fans(
    store: Store,
    account: str | None = None,
    top: int = 20,
    *,
    at: datetime | None = None,
    weights: dict[str, float] | None = None,
    half_life_days: float = HALF_LIFE_DAYS,
    include_departed: bool = False,
) -> list[TopFan]:
    """The *top* most engaged people (one per linked group), best first, with evidence."""
    accts = own_accounts(store, account)
    ids = account_ids_sql(accts)
    now = db_time(as_of(store, at))
    w = weights or WEIGHTS
    departed = "" if include_departed else "WHERE f.follows_now OR NOT f.has_spans"
    # Who is linked to whom is worked out once per call (it reads every person's name).
    store.con.register("_fan_groups", store.con.sql(groups_sql(True)).to_arrow_table())
    try:
        rows = _query(store, ids, w, half_life_days, departed, top, now)
    finally:
        store.con.unregister("_fan_groups")
    return [_fan(rank, r) for rank, r in enumerate(rows, start=1)]


def _query(
    store: Store,
    ids: str,
    w: dict[str, float],
    half_life_days: float,
    departed: str,
    top: int,
    now: datetime,
) -> list[tuple[Any, ...]]:
    return store.con.execute(
        f"""
        WITH s AS ({scored_interactions_sql(ids, w, half_life_days, "_fan_groups")}),
        spans_now AS (
            SELECT coalesce(g.group_id, sp.person_id) AS gid,
                   bool_or(sp.end_latest IS NULL OR sp.end_earliest > $as_of) AS open
            FROM spans sp LEFT JOIN _fan_groups g ON g.person_id = sp.person_id
            WHERE sp.account_id IN {ids} AND sp.direction = 'followers'
              AND sp.start_latest <= $as_of
            GROUP BY ALL
        ),
        fans AS (
            SELECT s.gid, sum(s.score) AS score, sum(s.n) AS n, max(s.last_at) AS last_at,
                   coalesce(any_value(sn.open), false) AS follows_now,
                   any_value(sn.gid) IS NOT NULL AS has_spans
            FROM s LEFT JOIN spans_now sn USING (gid)
            GROUP BY s.gid
        ),
        best AS (
            SELECT * FROM fans f {departed}
            ORDER BY score DESC, gid LIMIT {int(top)}
        ),
        names AS ({latest_handle_sql("$as_of")}),
        ev AS (
            SELECT s.gid,
                   list(struct_pack(account := a.name, kind := s.kind, n := s.n,
                                    last_at := s.last_at, score := s.score)
                        ORDER BY s.score DESC) AS evidence,
                   list(DISTINCT a.name ORDER BY a.name) AS accounts
            FROM s JOIN accounts a USING (account_id) WHERE s.gid IN (SELECT gid FROM best)
            GROUP BY s.gid
        ),
        mem AS (
            SELECT m.gid, list(struct_pack(
                       person_id := m.person_id, platform := p.platform,
                       external_id := p.external_id, handle := nm.handle,
                       display_name := nm.display_name, via := g.via, score := m.score)
                   ORDER BY m.score DESC, m.person_id) AS members
            FROM (SELECT gid, person_id, sum(score) AS score FROM s
                  WHERE gid IN (SELECT gid FROM best) GROUP BY ALL) m
            JOIN people p USING (person_id)
            LEFT JOIN names nm USING (person_id)
            LEFT JOIN _fan_groups g USING (person_id)
            GROUP BY m.gid
        )
        SELECT b.gid, b.score, b.n, b.last_at, b.follows_now, ev.accounts, mem.members,
               ev.evidence
        FROM best b JOIN ev USING (gid) JOIN mem USING (gid)
        ORDER BY b.score DESC, b.gid
        """,
        {"as_of": now},
    ).fetchall()


def _fan(rank: int, r: tuple[Any, ...]) -> TopFan:
    members = [
        Member(
            int(m["person_id"]),
            m["platform"],
            m["external_id"],
            m["handle"],
            m["display_name"],
            m["via"],
        )
        for m in r[6]
    ]
    evidence = [
        Evidence(e["account"], e["kind"], int(e["n"]), _t(e["last_at"]), round(e["score"], 3))
        for e in r[7]
    ]
    label = next((m.handle for m in members if m.handle), None)
    return TopFan(
        rank=rank,
        person_id=int(r[0]),
        handle=label,
        score=round(float(r[1]), 3),
        interactions=int(r[2]),
        last_at=_t(r[3]),
        follows_now=bool(r[4]),
        accounts=list(r[5]),
        members=members,
        evidence=evidence,
    )


def _t(value: Any) -> datetime:
    out = utc(value)
    assert out is not None
    return out
