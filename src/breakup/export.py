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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from .analyses import Unavailable
from .analyses.fans import TOP_FANS
from .errors import InvalidInput
from .filters import Filters
from .left import who_left
from .report.analyses import why_result
from .report.queries import posts_with_departures, select_accounts
from .safetext import FORMULA_START, neutralize  # noqa: F401 - FORMULA_START re-exported
from .serialize import to_jsonable
from .store import Store

if TYPE_CHECKING:
    from .why.report import WhyReport

FORMATS = ("csv", "json", "parquet")


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """Nested values (lists, dicts) as JSON text, so every format has plain columns."""
    return {
        k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
        for k, v in row.items()
    }


def departures_rows(store: Store, filters: Filters) -> list[dict[str, Any]]:
    rows = []
    for d in who_left(store, account=filters.account, since=filters.since):
        if filters.channel and d.platform != filters.channel:
            continue
        row = to_jsonable(d)
        last = row.pop("last_posts")
        row["last_post_at"] = last[0]["created_at"] if last else None
        row["last_post_text"] = last[0]["text"] if last else None
        rows.append(row)
    return rows


def spans_rows(store: Store, filters: Filters) -> list[dict[str, Any]]:
    ids = [a.account_id for a in select_accounts(store, filters)] or [-1]
    result = store.con.execute(
        """
        SELECT s.span_id, a.name AS account, a.platform, pe.external_id,
               (SELECT arg_max(handle, seen_at) FROM person_names n
                WHERE n.person_id = s.person_id) AS handle,
               s.direction, s.start_earliest, s.start_latest, s.start_exact,
               s.end_earliest, s.end_latest, s.end_exact, s.end_kind, s.end_campaign,
               s.end_reason
        FROM spans s JOIN accounts a USING (account_id)
        JOIN people pe ON pe.person_id = s.person_id
        WHERE list_contains(?, s.account_id)
          AND (?::TIMESTAMP IS NULL OR coalesce(s.end_latest, 'infinity') >= ?::TIMESTAMP)
        ORDER BY s.span_id
        """,
        [ids, filters.since, filters.since],
    )
    columns = [c[0] for c in result.description or []]
    return [to_jsonable(dict(zip(columns, r, strict=True))) for r in result.fetchall()]


def posts_rows(store: Store, filters: Filters) -> list[dict[str, Any]]:
    posts = posts_with_departures(store, select_accounts(store, filters), filters)
    scores = post_scores(why_result(store, filters))
    rows = []
    for p in posts:
        row = to_jsonable(p)
        row.pop("score")
        row.update(scores.get((p.account, p.external_id), {}))
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


def post_scores(
    why: WhyReport | Unavailable | None,
) -> dict[tuple[str, str], dict[str, float | bool]]:
    """The why analysis' verdict per post, by (account, external id), as ``score_*``
    columns; nothing when the analysis declined."""
    if why is None or isinstance(why, Unavailable):
        return {}
    return {
        (p.account, p.post): {
            "score_observed": p.observed,
            "score_expected": p.expected,
            "score_excess": p.excess,
            "score_rate_ratio": p.rate_ratio,
            "score_ci_low": p.ci_low,
            "score_ci_high": p.ci_high,
            "score_p_value": p.p_value,
            "score_p_adjusted": p.p_adjusted,
            "score_break_up": p.break_up,
        }
        for p in why.attribution.posts
    }


def fans_rows(store: Store, filters: Filters) -> list[dict[str, Any]]:
    top = TOP_FANS.attempt(store, filters)
    if isinstance(top, Unavailable):
        raise InvalidInput(f"fans: {top.message}")
    return [to_jsonable(f) for f in top]


TABLES: dict[str, Callable[[Store, Filters], list[dict[str, Any]]]] = {
    "departures": departures_rows,
    "spans": spans_rows,
    "posts": posts_rows,
    "fans": fans_rows,
}


def export_rows(store: Store, table: str, filters: Filters | None = None) -> list[dict[str, Any]]:
    if table not in TABLES:
        raise InvalidInput(f"no export table {table!r} (choose from {', '.join(TABLES)})")
    return [_flat(r) for r in TABLES[table](store, filters or Filters())]


def to_csv(rows: list[dict[str, Any]]) -> str:
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


def write_export(rows: list[dict[str, Any]], fmt: str, out: Path | None) -> bytes | None:
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
