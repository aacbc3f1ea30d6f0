"""The why attribution as grouped-map functions, one own account per group: Arrow rows in,
the account's share of the :class:`~breakup.why.attribution.Attribution` out as rows.

Each group gets everything the attribution reads of one own account and of the peer
accounts it is compared with (:data:`WHY_INPUT`: accounts, followers' spans as the
tracking pass wrote them, observations without their members, events, posts, and the
profiles of the people whose span ended), loads it into the worker's scratch store and
runs the embedded engine's own code on it (:mod:`breakup.why.attribution`: the series, the
kernel choice, the point-process fits and the Holm step-down cannot drift).

One Holm family over every own account, as ``breakup why`` tests them, takes two passes:

1. :func:`heads_group` — the account's tests and its sequence of heads (its most extreme
   unit, named and refitted in turn: :func:`breakup.why.attribution.walk`), a
   :data:`HEADS` row; the driver merges every account's heads (:func:`plan`) into the
   family's steps, as :func:`breakup.why.attribution.attribute` merges them;
2. :func:`why_group` — the account's units of those steps named again, in order, and its
   results under the family's tests and steps (:func:`~breakup.why.attribution.account_part`).

With no plan, :func:`why_group` alone makes the account a family of its own (as
``breakup why --account NAME``).

A share goes out as :data:`WHY_OUT`, one row per record (``rec``): the ``attribution``
(its ``family`` and tests), the ``account``, each ``post`` (``rank``: the order tested)
and each outside ``burst``; the columns are the union of the fields of those dataclasses,
so :func:`from_rows` rebuilds the very objects. What depends on the whole family — the
q-values, the posts' order, most extreme first — is computed when read back
(:func:`combine_shares`, :func:`breakup.why.attribution.combine`). An account whose
attribution raised gets a single ``error`` row saying what (the other accounts' results
stand; in the family over every account, it is left out of the family). Nothing here
imports an engine.
"""

from __future__ import annotations

import dataclasses
import traceback
import types
import typing
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import BreakupError
from ..store import Store
from ..why.asof import as_of
from ..why.attribution import (
    ALPHA,
    AccountAttribution,
    AccountPart,
    Attribution,
    OutsideBurst,
    PostAttribution,
    Recorded,
    Step,
    account_part,
    candidates,
    combine,
    merge,
    peer_models,
    replay,
    size,
    walk,
)
from ..why.data import PostRows, Series, departures_sql, load_posts, load_series
from .groups import _TS, _conform, _Scratch


class AttributionFailed(BreakupError):
    """The attribution of an account raised on the engine; the message says what and
    where."""


# One row per account, span, observation, event, post or profile (``rec`` says which) that
# the attribution of the own account ``for_account`` reads; other kinds' columns are null.
WHY_INPUT = pa.schema(
    [
        ("rec", pa.string()),  # account | span | obs | event | post | profile
        ("for_account", pa.int32()),
        ("account_id", pa.int32()),
        # accounts
        ("name", pa.string()),
        ("platform", pa.string()),
        ("identity", pa.string()),
        ("handle", pa.string()),
        ("role", pa.string()),
        ("created_at", _TS),  # the account's, or the profile's person's account's
        # spans (followers)
        ("person_id", pa.int64()),
        ("direction", pa.string()),
        ("start_earliest", _TS),
        ("start_latest", _TS),
        ("start_exact", pa.bool_()),
        ("end_earliest", _TS),
        ("end_latest", _TS),
        ("end_exact", pa.bool_()),
        ("end_kind", pa.string()),
        ("end_campaign", pa.string()),
        ("end_reason", pa.string()),
        # observations, events, posts, profiles
        ("import_id", pa.int64()),
        ("at", _TS),  # observed_at | occurred_at | created_at (posts) | observed_at
        ("observation_id", pa.int64()),
        ("complete", pa.bool_()),
        ("diffable", pa.bool_()),
        ("member_count", pa.int64()),
        ("reported_count", pa.int64()),
        ("note", pa.string()),
        ("complete_since", _TS),
        ("seq", pa.int64()),
        ("kind", pa.string()),  # an event's or a post's
        ("ref", pa.string()),
        ("campaign", pa.string()),
        ("reason", pa.string()),
        ("post_id", pa.int64()),
        ("external_id", pa.string()),
        ("text", pa.string()),
        ("url", pa.string()),
        ("reply_to", pa.string()),
        ("posts_count", pa.int64()),
        ("followers_count", pa.int64()),
        ("following_count", pa.int64()),
        ("last_post_at", _TS),
        ("bot", pa.bool_()),
        ("description", pa.string()),
    ]
)

# The records of an Attribution, by ``rec``; Attribution's own fields minus its lists.
RECORDS: dict[str, type] = {
    "attribution": Attribution,
    "account": AccountAttribution,
    "post": PostAttribution,
    "burst": OutsideBurst,
}
_LISTS = {"accounts": "account", "posts": "post", "bursts": "burst"}


def _arrow_type(hint: Any) -> pa.DataType:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _arrow_type(inner)
    if typing.get_origin(hint) is list and typing.get_args(hint) == (str,):
        return pa.list_(pa.string())
    simple: dict[Any, pa.DataType] = {
        str: pa.string(), float: pa.float64(), int: pa.int64(), bool: pa.bool_(), datetime: _TS,
    }  # fmt: skip
    if hint in simple:
        return simple[hint]
    raise TypeError(f"no Parquet column for a field of type {hint!r}")


def _fields(cls: type) -> dict[str, pa.DataType]:
    hints = typing.get_type_hints(cls)
    return {
        f.name: _arrow_type(hints[f.name])
        for f in dataclasses.fields(cls)
        if f.name not in _LISTS or cls is not Attribution
    }


def _out_schema() -> pa.Schema:
    columns: dict[str, pa.DataType] = {
        "rec": pa.string(), "rank": pa.int32(), "account_id": pa.int32(),
        "account": pa.string(), "platform": pa.string(), "error": pa.string(),
        "family": pa.string(),
    }  # fmt: skip
    for cls in RECORDS.values():
        for name, typ in _fields(cls).items():
            if columns.setdefault(name, typ) != typ:
                raise TypeError(f"{cls.__name__}.{name}: {typ}, elsewhere {columns[name]}")
    return pa.schema(list(columns.items()))


# Datetimes are UTC, stored without a zone (as the spans are).
WHY_OUT = _out_schema()

# Pass 1 of the family over every own account: one row per own account, its tests and its
# heads (p, strength, unit) in the order its walk met them (the last one failed or ended it).
HEADS = pa.schema(
    [
        ("account_id", pa.int32()),
        ("account", pa.string()),
        ("platform", pa.string()),
        ("analysed", pa.bool_()),
        ("tests", pa.int64()),
        ("head_p", pa.list_(pa.float64())),
        ("head_strength", pa.list_(pa.float64())),
        ("head_unit", pa.list_(pa.int64())),
        ("error", pa.string()),
    ]
)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def to_rows(
    account_id: int, account: str, platform: str, *, family: str, tests: int,
    part: AccountPart | None = None, skipped: AccountAttribution | None = None,
    alpha: float = ALPHA,
) -> pa.Table:  # fmt: skip
    """One own account's share of an attribution as :data:`WHY_OUT` rows: its ``family``
    (``all`` own accounts or the ``account`` alone) of *tests* tests in an ``attribution``
    record, then the analysed account's *part* (posts in the order tested, no q-value: that
    is the family's, set when read back) or the account *skipped* (too little history);
    neither: nothing observed yet."""
    rows: list[dict[str, Any]] = []

    def add(rec: str, rank: int, obj: Any) -> None:
        row: dict[str, Any] = {"account": account, "platform": platform}
        row |= {f: _cell(getattr(obj, f)) for f in _fields(type(obj))}
        row |= {"rec": rec, "rank": rank, "account_id": account_id, "family": family}
        rows.append(row)

    acct = part.account if part is not None else skipped
    posts = part.posts if part is not None else []
    status = acct.status if acct is not None else "ok"
    add("attribution", 0, Attribution(_window(acct), alpha, "holm", len(posts), status=status,
                                      tests=tests))  # fmt: skip
    if acct is not None:
        add("account", 0, acct)
    for i, post in enumerate(posts):
        add("post", i, post)
        rows[-1]["q_value"] = None
    for i, burst in enumerate(part.bursts if part is not None else []):
        add("burst", i, burst)
    return pa.Table.from_pylist(rows, schema=WHY_OUT)


def _window(acct: AccountAttribution | None) -> float:
    return (acct.response_hours if acct is not None else 0.0) or 48.0


def _value(value: Any, typ: pa.DataType) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value is None and pa.types.is_list(typ):
        return []
    return value


@dataclass(frozen=True)
class Share:
    """One own account's share of an attribution, as :func:`to_rows` wrote it."""

    account: str
    family: str  # all | account
    tests: int  # in its family
    alpha: float
    part: AccountPart | None  # analysed
    skipped: AccountAttribution | None  # too little history


def from_rows(table: pa.Table) -> Share:
    """The share of one own account whose :func:`to_rows` rows *table* holds."""
    by: dict[str, list[dict[str, Any]]] = {rec: [] for rec in RECORDS}
    for row in table.to_pylist():
        if row["rec"] == "error":
            raise AttributionFailed(f"{row['account']}: the attribution failed: {row['error']}")
        by[str(row["rec"])].append(row)
    built: dict[str, list[Any]] = {}
    for rec, cls in RECORDS.items():
        fields = _fields(cls)
        built[rec] = [
            cls(**{f: _value(row.get(f), t) for f, t in fields.items()})
            for row in sorted(by[rec], key=lambda r: int(r["rank"]))
        ]
    if len(by["attribution"]) != 1 or len(by["account"]) > 1:
        raise ValueError(f"{len(by['attribution'])} attribution and {len(by['account'])} "
                         "account records, expected one and at most one")  # fmt: skip
    head = by["attribution"][0]
    att: Attribution = built["attribution"][0]
    acct: AccountAttribution | None = built["account"][0] if built["account"] else None
    part = skipped = None
    if acct is not None and acct.status == "ok":
        part = AccountPart(acct, built["post"], built["burst"])
    elif acct is not None:
        skipped = acct
    return Share(str(head["account"]), str(head["family"]), att.tests, att.alpha, part, skipped)


def combine_shares(shares: list[Share]) -> Attribution:
    """The attribution of one Holm family from its accounts' *shares*: in the embedded
    engine's order (by name), combined as :func:`breakup.why.attribution.combine` does."""
    shares = sorted(shares, key=lambda s: s.account)
    kinds = {(s.family, s.tests, s.alpha) for s in shares}
    if len(kinds) > 1 or (shares and shares[0].family != "all" and len(shares) > 1):
        raise ValueError(f"not one Holm family: {sorted(kinds)} over {len(shares)} accounts")
    m = shares[0].tests if shares else 0
    return combine([s.part for s in shares if s.part is not None],
                   [s.skipped for s in shares if s.skipped is not None], m,
                   shares[0].alpha if shares else ALPHA)  # fmt: skip


_LOAD = {
    "accounts": """
        INSERT INTO accounts BY NAME
        SELECT account_id, name, platform, identity, handle, role, created_at
        FROM _in WHERE rec = 'account'
    """,
    "spans": """
        INSERT INTO spans BY NAME
        SELECT row_number() OVER (ORDER BY account_id, person_id, start_latest,
                                  end_latest NULLS LAST) AS span_id,
               account_id, person_id, direction, start_earliest, start_latest, start_exact,
               end_earliest, end_latest, end_exact, end_kind, end_campaign, end_reason
        FROM _in WHERE rec = 'span'
    """,
    "observations": """
        INSERT INTO observations BY NAME
        SELECT observation_id, import_id, account_id, direction, "at" AS observed_at,
               complete, diffable, member_count, reported_count, note, complete_since
        FROM _in WHERE rec = 'obs'
    """,
    "events": """
        INSERT INTO events BY NAME
        SELECT seq, import_id, account_id, person_id, direction, kind,
               "at" AS occurred_at, ref, campaign, reason
        FROM _in WHERE rec = 'event'
    """,
    "posts": """
        INSERT INTO posts BY NAME
        SELECT post_id, import_id, account_id, external_id, kind, "at" AS created_at, text,
               url, reply_to
        FROM _in WHERE rec = 'post'
    """,
    "profiles": """
        INSERT INTO profiles BY NAME
        SELECT import_id, person_id, "at" AS observed_at, posts_count, followers_count,
               following_count, created_at, last_post_at, bot, description
        FROM _in WHERE rec = 'profile'
    """,
}


@dataclass(frozen=True)
class Plan:
    """The step-down of one Holm family over every own account, merged on the driver from
    the heads :func:`heads_group` walked: each account's index in the family (``order``,
    by account id), the family's tests and its steps (account index, unit, p); accounts
    whose walk raised (``failed``: what it said) are out of the family."""

    tests: int
    steps: list[Step]
    order: dict[int, int]
    failed: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Inputs:
    store: Store
    series: list[Series]
    posts: dict[int, PostRows]
    departures: str
    peers: list[Series]


@contextmanager
def _inputs(store: Store, account: str, until: datetime | None) -> Iterator[_Inputs]:
    """What :func:`breakup.why.attribution_only` reads for *account* (its series, posts
    and peers), with the store as it stood at *until*."""
    from threadpoolctl import threadpool_limits

    with ExitStack() as stack:
        if until is not None:
            store = stack.enter_context(as_of(store, until))
        own = [store.account(account)]
        peer_accounts = [a for a in store.accounts(role="peer") if a.name != account]
        departures = departures_sql(store)
        stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
        series = [s for s in (load_series(store, a, departures) for a in own) if s]
        peers = [p for p in (load_series(store, a, departures) for a in peer_accounts) if p]
        posts = {s.account.account_id: load_posts(store, s.account.account_id) for s in series}
        yield _Inputs(store, series, posts, departures, peers)


def _load(rows: pa.Table) -> tuple[Store, int, str, str]:
    """The scratch store holding *rows* (:data:`WHY_INPUT`), and the own account's id,
    name and platform."""
    rows = _conform(rows, WHY_INPUT)
    own = int(rows.column("for_account")[0].as_py())
    store = _Scratch.get()
    con = store.con
    con.register("_in", rows)
    try:
        for sql in _LOAD.values():
            con.execute(sql)
    finally:
        con.unregister("_in")
    (name, platform), *_ = con.execute(
        "SELECT name, platform FROM accounts WHERE account_id = ?", [own]
    ).fetchall()
    return store, own, str(name), str(platform)


def heads_group(
    rows: pa.Table, since: datetime | None = None, until: datetime | None = None
) -> pa.Table:
    """Pass 1 of the family over every own account: one own account's (``for_account``)
    tests and its sequence of heads (:func:`breakup.why.attribution.walk`), as a
    :data:`HEADS` row, from its rows and its peers' (:data:`WHY_INPUT`)."""
    if rows.num_rows == 0:
        return HEADS.empty_table()
    store, own, name, platform = _load(rows)
    row: dict[str, Any] = {"account_id": own, "account": name, "platform": platform,
                           "analysed": False, "tests": 0}  # fmt: skip
    try:
        with _inputs(store, name, until) as got:
            cands, _ = candidates(got.store, got.series, got.posts, got.departures, since)
            if cands:
                _, keys = walk(cands[0])
                row |= {"analysed": True, "tests": size(cands[0]),
                        "head_p": [k[0] for k in keys], "head_strength": [-k[1] for k in keys],
                        "head_unit": [k[2] for k in keys]}  # fmt: skip
    except Exception as exc:  # one account's failure is reported, the others' stand
        row["error"] = _error_text(exc)
    return pa.Table.from_pylist([row], schema=HEADS)


def plan(heads: pa.Table, alpha: float = ALPHA) -> Plan:
    """The family's step-down from every own account's :data:`HEADS` row: the accounts
    analysed in the embedded engine's order (by name), their heads merged as
    :func:`breakup.why.attribution.attribute` merges them."""
    rows = sorted(heads.to_pylist(), key=lambda r: str(r["account"]))
    failed = {int(r["account_id"]): str(r["error"]) for r in rows if r["error"] is not None}
    analysed = [r for r in rows if r["analysed"] and r["error"] is None]
    seqs = [
        Recorded([(float(p), -float(s), int(j)) for p, s, j in
                  zip(r["head_p"], r["head_strength"], r["head_unit"], strict=True)])
        for r in analysed
    ]  # fmt: skip
    m = sum(int(r["tests"]) for r in analysed)
    order = {int(r["account_id"]): k for k, r in enumerate(analysed)}
    return Plan(m, merge(seqs, m, alpha), order, failed)


def why_group(
    rows: pa.Table,
    since: datetime | None = None,
    until: datetime | None = None,
    family: Plan | None = None,
) -> pa.Table:
    """One own account's (``for_account``) share of the attribution, from its rows and its
    peers' (:data:`WHY_INPUT`), as :data:`WHY_OUT` rows (*since* and *until* as in
    :func:`breakup.why.attribution_only`). *family*: the step-down of the family over
    every own account (:func:`plan`), whose steps of this account are named again; None:
    the account is a family of its own, as ``breakup why --account NAME`` attributes it."""
    if rows.num_rows == 0:
        return WHY_OUT.empty_table()
    store, own, name, platform = _load(rows)
    if family is not None and own in family.failed:
        return _error_row(family.failed[own], own, name, platform)
    kind = "account" if family is None else "all"
    try:
        with _inputs(store, name, until) as got:
            cands, skipped = candidates(got.store, got.series, got.posts, got.departures,
                                        since)  # fmt: skip
            if not cands:
                tests = 0 if family is None else family.tests
                return to_rows(own, name, platform, family=kind, tests=tests,
                               skipped=skipped[0] if skipped else None)  # fmt: skip
            c = cands[0]
            if family is None:
                steps, _ = walk(c)
                k, m = 0, size(c)
            else:
                k, m, steps = family.order[own], family.tests, family.steps
                replay(c, k, steps)
            part = account_part(c, k, steps, m, peer_models(got.peers), ALPHA)
    except Exception as exc:  # one account's failure is reported, the others' stand
        return _error_row(_error_text(exc), own, name, platform)
    return to_rows(own, name, platform, family=kind, tests=m, part=part)


def _error_text(exc: Exception) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"


def _error_row(text: str, account_id: int, account: str, platform: str) -> pa.Table:
    row = {"rec": "error", "rank": 0, "account_id": account_id, "account": account,
           "platform": platform, "error": text}  # fmt: skip
    return pa.Table.from_pylist([row], schema=WHY_OUT)
