"""The store as it stood at a moment: what the why-analyses may see for ``--until``.

:func:`as_of` gives a :class:`~breakup.store.Store` on its own connection (a cursor of the
store's) in which the tables the analyses read are temporary views of the real ones cut at
*until*: posts, observations, events, interactions, checks, post metrics and profiles from
before it; follower spans seen beginning by it, and an ending only if it was observed by
it (a span that ended after *until*, or whose ending was only confirmed after it, is still
open then). Every analysis run on it — attribution, diagnosis, triage, retention — models
only what was known at *until*: the series end at the last observation before it, open
spans are censored there, and nothing later leaks in. The views vanish with the
connection; the store itself is not touched (a read-only store works too).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from ..clock import to_db
from ..store import Store

# table -> the column a row's time is read from (rows after until are cut).
CUT = {
    "posts": "created_at",
    "observations": "observed_at",
    "events": "occurred_at",
    "interactions": "occurred_at",
    "checks": "checked_at",
    "post_metrics": "observed_at",
    "profiles": "observed_at",
}
SPAN_ENDS = ("end_earliest", "end_latest", "end_exact", "end_kind", "end_campaign", "end_reason")


def _columns(store: Store, table: str) -> list[str]:
    rows = store.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "AND table_schema = 'main' AND table_catalog = current_database() "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [str(r[0]) for r in rows]


@contextmanager
def as_of(store: Store, until: datetime) -> Iterator[Store]:
    """A Store that sees *store* as it was at *until* (see the module docstring); closed
    on leaving."""
    view = store.for_thread()
    try:
        db = str(view.con.execute("SELECT current_database()").fetchall()[0][0])
        at = to_db(until)
        for table, column in CUT.items():
            if _columns(view, table):
                view.con.execute(
                    f'CREATE TEMP VIEW {table} AS SELECT * FROM "{db}".main.{table} '
                    f"WHERE {column} <= TIMESTAMP '{at}'"
                )
        cols = _columns(view, "spans")
        ends = ", ".join(
            f"CASE WHEN end_latest <= TIMESTAMP '{at}' THEN {c} END AS {c}"
            for c in SPAN_ENDS
            if c in cols
        )
        view.con.execute(
            f'CREATE TEMP VIEW spans AS SELECT * REPLACE ({ends}) FROM "{db}".main.spans '
            f"WHERE start_latest <= TIMESTAMP '{at}'"
        )
        yield view
    finally:
        view.close()
