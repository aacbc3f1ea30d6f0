"""Exports of analysis results as CSV, JSON or Parquet.

Every name, bio and post text is attacker-controlled: in CSV, a cell that a spreadsheet
would read as a formula is prefixed with a single quote, so it is shown as text (see
:mod:`breakup.safetext`: ``= + - @``, their full-width forms, and leading blanks, line
breaks or invisible characters). Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import pyarrow as pa
import pyarrow.parquet as pq

from .analyses import Unavailable
from .analyses.fans import TOP_FANS
from .errors import InvalidInput
from .filters import Filters
from .left import Departure, who_left
from .report.analyses import why_result
from .report.model import PostRow
from .report.queries import posts_with_departures, select_accounts
from .safetext import FORMULA_START, neutralize  # noqa: F401 - FORMULA_START re-exported
from .store import Store

if TYPE_CHECKING:
    from .fans.ranking import TopFan
    from .why.attribution import PostAttribution
    from .why.report import WhyReport

FORMATS = ("csv", "json", "parquet")

Cell = str | int | float | bool | None
"""One value of an exported column: what CSV, JSON and Parquet all hold as is."""

ExportRow = dict[str, Cell]
"""One exported row: plain columns (nested values are JSON text, see :func:`_flat`)."""


def _iso(t: datetime) -> str:
    """A time as the JSON outputs write it (ISO-8601, UTC as ``Z``)."""
    return t.isoformat().replace("+00:00", "Z")


def _iso_or_none(t: datetime | None) -> str | None:
    return None if t is None else _iso(t)


class DepartureExport(TypedDict):
    """A row of ``export departures``: a :class:`~breakup.left.Departure`, its last post
    before leaving flattened into two columns."""

    account: str
    platform: str
    person_id: int
    external_id: str
    handle: str | None
    display_name: str | None
    kind: str
    left_earliest: str
    left_latest: str
    exact: bool
    followed_since: str
    followed_before_tracking: bool
    tenure_days: float
    campaign: str | None
    reason: str | None
    last_post_at: str | None
    last_post_text: str | None


class SpanExport(TypedDict):
    """A row of ``export spans``: one follow (or following) span of an own account."""

    span_id: int
    account: str
    platform: str
    external_id: str
    handle: str | None
    direction: str
    start_earliest: str | None
    start_latest: str | None
    start_exact: bool | None
    end_earliest: str | None
    end_latest: str | None
    end_exact: bool | None
    end_kind: str | None
    end_campaign: str | None
    end_reason: str | None


class PostScore(TypedDict):
    """The why analysis' verdict on a post, as the ``score_*`` columns of a post row."""

    score_observed: float
    score_expected: float
    score_excess: float
    score_rate_ratio: float
    score_ci_low: float
    score_ci_high: float
    score_p_value: float
    score_p_adjusted: float
    score_break_up: bool


class PostExport(TypedDict):
    """A row of ``export posts``: a :class:`~breakup.report.model.PostRow` (its
    ``score_*`` columns, when the why analysis has a verdict on it, follow)."""

    post_id: int
    account: str
    platform: str
    external_id: str
    kind: str
    created_at: str
    text: str
    url: str | None
    left_after: int
    metrics: dict[str, int]


class MemberExport(TypedDict):
    person_id: int
    platform: str
    external_id: str
    handle: str | None
    display_name: str | None
    linked_via: str | None


class EvidenceExport(TypedDict):
    account: str
    kind: str
    count: int
    last_at: str
    score: float


class FanExport(TypedDict):
    """A row of ``export fans``: a :class:`~breakup.fans.ranking.TopFan` (its members and
    evidence become JSON text in the file)."""

    rank: int
    person_id: int
    handle: str | None
    score: float
    interactions: int
    last_at: str
    follows_now: bool
    accounts: list[str]
    members: list[MemberExport]
    evidence: list[EvidenceExport]


def _flat(row: Mapping[str, object]) -> ExportRow:
    """Nested values (lists, dicts) as JSON text, so every format has plain columns."""
    return {k: _cell(v) for k, v in row.items()}


def _cell(value: object) -> Cell:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"not an export value: {value!r}")


def departure_export(d: Departure) -> DepartureExport:
    last = d.last_posts[0] if d.last_posts else None
    return DepartureExport(
        account=d.account,
        platform=d.platform,
        person_id=d.person_id,
        external_id=d.external_id,
        handle=d.handle,
        display_name=d.display_name,
        kind=d.kind,
        left_earliest=_iso(d.left_earliest),
        left_latest=_iso(d.left_latest),
        exact=d.exact,
        followed_since=_iso(d.followed_since),
        followed_before_tracking=d.followed_before_tracking,
        tenure_days=d.tenure_days,
        campaign=d.campaign,
        reason=d.reason,
        last_post_at=_iso(last.created_at) if last is not None else None,
        last_post_text=last.text if last is not None else None,
    )


def departures_rows(store: Store, filters: Filters) -> list[DepartureExport]:
    return [
        departure_export(d)
        for d in who_left(store, account=filters.account, since=filters.since)
        if not filters.channel or d.platform == filters.channel
    ]


_SpanRecord = tuple[
    int, str, str, str, str | None, str, datetime | None, datetime | None, bool | None,
    datetime | None, datetime | None, bool | None, str | None, str | None, str | None,
]  # fmt: skip


def spans_rows(store: Store, filters: Filters) -> list[SpanExport]:
    ids = [a.account_id for a in select_accounts(store, filters)] or [-1]
    rows: list[_SpanRecord] = store.con.execute(
        """
        SELECT s.span_id, a.name AS account, a.platform, pe.external_id, ln.handle,
               s.direction, s.start_earliest, s.start_latest, s.start_exact,
               s.end_earliest, s.end_latest, s.end_exact, s.end_kind, s.end_campaign,
               s.end_reason
        FROM spans s JOIN accounts a USING (account_id)
        JOIN people pe ON pe.person_id = s.person_id
        LEFT JOIN latest_names ln ON ln.person_id = s.person_id
        WHERE list_contains(?, s.account_id)
          AND (?::TIMESTAMP IS NULL OR coalesce(s.end_latest, 'infinity') >= ?::TIMESTAMP)
        ORDER BY s.span_id
        """,
        [ids, filters.since, filters.since],
    ).fetchall()
    return [
        SpanExport(
            span_id=r[0],
            account=r[1],
            platform=r[2],
            external_id=r[3],
            handle=r[4],
            direction=r[5],
            start_earliest=_iso_or_none(r[6]),
            start_latest=_iso_or_none(r[7]),
            start_exact=r[8],
            end_earliest=_iso_or_none(r[9]),
            end_latest=_iso_or_none(r[10]),
            end_exact=r[11],
            end_kind=r[12],
            end_campaign=r[13],
            end_reason=r[14],
        )
        for r in rows
    ]


def post_export(p: PostRow) -> PostExport:
    return PostExport(
        post_id=p.post_id,
        account=p.account,
        platform=p.platform,
        external_id=p.external_id,
        kind=p.kind,
        created_at=_iso(p.created_at),
        text=p.text,
        url=p.url,
        left_after=p.left_after,
        metrics=dict(p.metrics),
    )


def posts_rows(store: Store, filters: Filters) -> list[ExportRow]:
    posts = posts_with_departures(store, select_accounts(store, filters), filters)
    scores = post_scores(why_result(store, filters))
    rows = []
    for p in posts:
        row = _flat(post_export(p))
        score = scores.get((p.account, p.external_id))
        if score is not None:
            row |= _flat(score)
        rows.append(row)
    return rows


SCORE_FIELDS = (
    "observed",
    "expected",
    "excess",
    "rate_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "break_up",
)


def post_score(p: PostAttribution) -> PostScore:
    return PostScore(
        score_observed=p.observed,
        score_expected=p.expected,
        score_excess=p.excess,
        score_rate_ratio=p.rate_ratio,
        score_ci_low=p.ci_low,
        score_ci_high=p.ci_high,
        score_p_value=p.p_value,
        score_p_adjusted=p.p_adjusted,
        score_break_up=p.break_up,
    )


def post_scores(why: WhyReport | Unavailable | None) -> dict[tuple[str, str], PostScore]:
    """The why analysis' verdict per post, by (account, external id), as ``score_*``
    columns; nothing when the analysis declined."""
    if why is None or isinstance(why, Unavailable):
        return {}
    return {(p.account, p.post): post_score(p) for p in why.attribution.posts}


def fan_export(f: TopFan) -> FanExport:
    return FanExport(
        rank=f.rank,
        person_id=f.person_id,
        handle=f.handle,
        score=f.score,
        interactions=f.interactions,
        last_at=_iso(f.last_at),
        follows_now=f.follows_now,
        accounts=list(f.accounts),
        members=[
            MemberExport(
                person_id=m.person_id,
                platform=m.platform,
                external_id=m.external_id,
                handle=m.handle,
                display_name=m.display_name,
                linked_via=m.linked_via,
            )
            for m in f.members
        ],
        evidence=[
            EvidenceExport(
                account=e.account,
                kind=e.kind,
                count=e.count,
                last_at=_iso(e.last_at),
                score=e.score,
            )
            for e in f.evidence
        ],
    )


def fans_rows(store: Store, filters: Filters) -> list[FanExport]:
    top = TOP_FANS.attempt(store, filters)
    if isinstance(top, Unavailable):
        raise InvalidInput(f"fans: {top.message}")
    return [fan_export(f) for f in top]


Rows = Sequence[Mapping[str, object]]
"""The rows of one table before flattening: TypedDicts of the results (any Mapping)."""

TABLES: dict[str, Callable[[Store, Filters], Rows]] = {
    "departures": departures_rows,
    "spans": spans_rows,
    "posts": posts_rows,
    "fans": fans_rows,
}


def export_rows(store: Store, table: str, filters: Filters | None = None) -> list[ExportRow]:
    if table not in TABLES:
        raise InvalidInput(f"no export table {table!r} (choose from {', '.join(TABLES)})")
    return [_flat(r) for r in TABLES[table](store, filters or Filters())]


def to_csv(rows: Sequence[ExportRow]) -> str:
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    out = io.StringIO()
    # The default \r\n terminator makes the writer quote any value holding \r or \n, so
    # a line break inside a name can never start a new row (where '=…' would run).
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: neutralize(v) for k, v in r.items()})
    return out.getvalue()


def write_export(rows: Sequence[ExportRow], fmt: str, out: Path | None) -> bytes | None:
    """Write *rows* to *out* in *fmt*; without *out*, return the bytes (for stdout)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"no export format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "parquet":
        if out is None:
            raise InvalidInput("parquet is binary: give --out FILE")
        pq.write_table(pa.Table.from_pylist(rows), str(out))
        return None
    data = to_csv(rows) if fmt == "csv" else json.dumps(rows, indent=2, ensure_ascii=False)
    payload = data.encode("utf-8")
    if out is None:
        return payload
    out.write_bytes(payload)
    return None
