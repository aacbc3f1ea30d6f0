"""The why attribution of one account as a grouped-map function: Arrow rows in, the
account's :class:`~breakup.why.attribution.Attribution` out as rows.

:func:`why_group` gets everything the attribution reads of one own account and of the
peer accounts it is compared with (:data:`WHY_INPUT`: accounts, followers' spans as the
tracking pass wrote them, observations without their members, events, posts, and the
profiles of the people whose span ended), loads it into the worker's scratch store and
runs :func:`breakup.why.attribution_only` on it — the embedded engine's own code, so the
series, the kernel choice, the point-process fits and the Holm step-down cannot drift.

The result goes out as :data:`WHY_OUT`, one row per record (``rec``): the
``attribution`` itself, its ``account``, each ``post`` (``rank`` keeps the report's order,
most extreme first) and each outside ``burst``; the columns are the union of the fields of
those dataclasses, so :func:`from_rows` rebuilds the very objects. An account whose
attribution raised gets a single ``error`` row saying what (the other accounts' results
stand). Nothing here imports an engine.
"""

from __future__ import annotations

import dataclasses
import traceback
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import BreakupError
from ..why.attribution import AccountAttribution, Attribution, OutsideBurst, PostAttribution
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
    }  # fmt: skip
    for cls in RECORDS.values():
        for name, typ in _fields(cls).items():
            if columns.setdefault(name, typ) != typ:
                raise TypeError(f"{cls.__name__}.{name}: {typ}, elsewhere {columns[name]}")
    return pa.schema(list(columns.items()))


# Datetimes are UTC, stored without a zone (as the spans are).
WHY_OUT = _out_schema()


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def to_rows(att: Attribution, account_id: int, account: str, platform: str) -> pa.Table:
    """*att* as :data:`WHY_OUT` rows (the attribution of one own account)."""
    rows: list[dict[str, Any]] = []

    def add(rec: str, rank: int, obj: Any) -> None:
        row: dict[str, Any] = {"account": account, "platform": platform}
        row |= {f: _cell(getattr(obj, f)) for f in _fields(type(obj))}
        row |= {"rec": rec, "rank": rank, "account_id": account_id}
        rows.append(row)

    add("attribution", 0, att)
    for attr, rec in _LISTS.items():
        for i, obj in enumerate(getattr(att, attr)):
            add(rec, i, obj)
    return pa.Table.from_pylist(rows, schema=WHY_OUT)


def _value(value: Any, typ: pa.DataType) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value is None and pa.types.is_list(typ):
        return []
    return value


def from_rows(table: pa.Table) -> Attribution:
    """The Attribution whose :func:`to_rows` rows *table* holds (of one account)."""
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
    if len(built["attribution"]) != 1:
        raise ValueError(f"{len(built['attribution'])} attribution records, expected one")
    att: Attribution = built["attribution"][0]
    return dataclasses.replace(
        att, accounts=built["account"], posts=built["post"], bursts=built["burst"]
    )


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


def why_group(
    rows: pa.Table, since: datetime | None = None, until: datetime | None = None
) -> pa.Table:
    """The attribution of one own account (``for_account``) from its rows and its peers'
    (:data:`WHY_INPUT`), as :func:`breakup.why.attribution_only` gives it on the embedded
    store (*since* and *until* as there)."""
    from ..why.report import attribution_only

    if rows.num_rows == 0:
        return WHY_OUT.empty_table()
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
    try:
        att = attribution_only(store, str(name), since=since, until=until)
    except Exception as exc:  # one account's failure is reported, the others' stand
        return _error_row(exc, own, str(name), str(platform))
    return to_rows(att, own, str(name), str(platform))


def _error_row(exc: Exception, account_id: int, account: str, platform: str) -> pa.Table:
    where = traceback.extract_tb(exc.__traceback__)[-1]
    text = f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"
    row = {"rec": "error", "rank": 0, "account_id": account_id, "account": account,
           "platform": platform, "error": text}  # fmt: skip
    return pa.Table.from_pylist([row], schema=WHY_OUT)
