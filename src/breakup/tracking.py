"""Tracking: turn observations into relationship spans and departures.

For one account and direction, observations are replayed in time order (events before
snapshots at the same instant) against the set of people with an open span, held as a
roaring bitmap:

* a diffable snapshot opens spans for members not open (start window: previous complete
  snapshot .. this one) and closes spans of open people it lacks (end window likewise);
* a partial or size-suspect snapshot only opens spans: it proves presence, never absence;
* a snapshot complete only for follows since a time (an export limited to a date range)
  closes the spans of open people it lacks who are known to have started since then;
  whoever else is open and missing from it is left as they were (and, as it does not speak
  for them, later windows still start at the previous complete snapshot). With nobody
  like that open, it is a complete snapshot like any other;
* a follow event opens a span at its exact time; an unfollow / unsubscribe / cleaned event
  closes one exactly (or records a span of unknown start for someone not seen arriving).

The replay emits open/close *operations*; one set-based SQL pass pairs them into spans.
New observations later than everything already folded in are applied incrementally; an
observation from the past triggers a rebuild of that account and direction, so import
order never changes the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from pyroaring import BitMap

from .models import Direction, EndKind, EventKind
from .nparrow import column, from_numpy, to_numpy
from .store import Store, first

_EVENT_END: dict[str, EndKind] = {
    EventKind.UNFOLLOW: EndKind.UNFOLLOWED,
    EventKind.UNSUBSCRIBE: EndKind.UNSUBSCRIBED,
    EventKind.CLEANED: EndKind.DELETED,
}

_TS = pa.timestamp("us")
# a Scalar: pa.repeat of a Python value imports pandas first (see nparrow)
_UNKNOWN = column([EndKind.UNKNOWN.value], pa.string())[0]
_OPS_SCHEMA = pa.schema(
    [
        ("ord", pa.int64()),
        ("person_id", pa.uint32()),
        ("is_open", pa.bool_()),
        ("te", _TS),
        ("tl", _TS),
        ("exact", pa.bool_()),
        ("kind", pa.string()),
        ("campaign", pa.string()),
        ("reason", pa.string()),
    ]
)


@dataclass
class TrackingResult:
    opened: int = 0
    closed: int = 0
    rebuilt: list[str] = field(default_factory=list)  # directions rebuilt from scratch
    reopened: int = 0  # departures withdrawn: a re-check found the follow still there


def bitmap_from_ids(ids: np.ndarray) -> BitMap:
    """Fast path: pyroaring reads an ``array('I')`` buffer directly."""
    from array import array

    buf = array("I")
    buf.frombytes(np.ascontiguousarray(ids, dtype=np.uint32).tobytes())
    return BitMap(buf)


def bitmap_ids(bm: BitMap) -> np.ndarray:
    return np.frombuffer(bm.to_array(), dtype=np.uint32)


@dataclass
class _Bulk:
    """One bulk operation, made a table only at the end, so a close it holds can still be
    withdrawn (a re-check finding the follow in place)."""

    ord: int
    ids: BitMap
    is_open: bool
    te: datetime | None
    tl: datetime

    def table(self) -> pa.Table:
        n = len(self.ids)
        return pa.table(
            [
                from_numpy(np.full(n, self.ord, dtype=np.int64)),
                from_numpy(bitmap_ids(self.ids)),
                from_numpy(np.full(n, self.is_open)),
                pa.nulls(n, _TS) if self.te is None else _repeat_ts(self.te, n),
                _repeat_ts(self.tl, n),
                from_numpy(np.zeros(n, dtype=bool)),
                pa.nulls(n, pa.string()) if self.is_open else pa.repeat(_UNKNOWN, n),
                pa.nulls(n, pa.string()),
                pa.nulls(n, pa.string()),
            ],
            schema=_OPS_SCHEMA,
        )


class _Ops:
    """Open/close operations in replay order.

    Pieces are kept in the order of ``ord`` (one per bulk operation, one per run of single
    operations), and a bulk operation's people come sorted from its bitmap, so the table
    is in (ord, person_id) order: the order span ids are given in.

    ``touched`` is everyone with an operation in this replay; ``absent`` those the latest
    diffable snapshot closed by their absence and nothing touched since, with ``last_close``
    the operation that closed them; ``reopened`` people whose span closed by an absence in
    an earlier replay is to be opened again.

    ``scopes`` maps the start of each date-limited snapshot's scope to the people whose
    open span is known to have started at or after it (a start window's earliest end no
    earlier): kept up to date with every open and close.
    """

    def __init__(self, scopes: dict[datetime, BitMap] | None = None) -> None:
        self.scopes = scopes or {}
        self.tables: list[pa.Table | _Bulk] = []
        self.rows: list[tuple[Any, ...]] = []  # single operations since the last piece
        self.ord = 0
        self.touched = BitMap()
        self.absent = BitMap()
        self.last_close: _Bulk | None = None
        self.reopened: list[int] = []
        self.withdrawn = 0  # closes taken back within this replay

    def bulk(self, ids: BitMap, is_open: bool, te: datetime | None, tl: datetime) -> None:
        self.ord += 1
        self.touched |= ids
        if is_open:
            self.absent -= ids
        if len(ids) == 0:
            return
        for since, scope in self.scopes.items():
            if not is_open:
                scope -= ids
            elif te is not None and te >= since:
                scope |= ids
        self._flush_rows()
        piece = _Bulk(self.ord, ids, is_open, te, tl)
        self.tables.append(piece)
        if not is_open:
            self.last_close = piece

    def one(
        self,
        person: int,
        is_open: bool,
        te: datetime | None,
        tl: datetime,
        exact: bool,
        kind: str | None = None,
        campaign: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.ord += 1
        self.touched.add(person)
        self.absent.discard(person)
        for since, scope in self.scopes.items():
            if not is_open:
                scope.discard(person)
            elif te is not None and te >= since:
                scope.add(person)
        self.rows.append((self.ord, person, is_open, te, tl, exact, kind, campaign, reason))

    def opens(self, ids: np.ndarray, times: np.ndarray) -> None:
        """Exact opens of *ids* (distinct) at *times* (datetime64[us]), in this order: what
        :meth:`one` does for each, at once (a run of follow events)."""
        n = len(ids)
        if n == 0:
            return
        self._flush_rows()
        people = bitmap_from_ids(ids)
        self.touched |= people
        self.absent -= people
        for since, scope in self.scopes.items():
            scope |= bitmap_from_ids(ids[times >= np.datetime64(since, "us")])
        at = from_numpy(times)
        yes = from_numpy(np.ones(n, dtype=bool))
        nulls = pa.nulls(n, pa.string())
        ords = np.arange(self.ord + 1, self.ord + 1 + n, dtype=np.int64)
        self.ord += n
        columns = [from_numpy(ords), from_numpy(ids), yes, at, at, yes, nulls, nulls, nulls]
        self.tables.append(pa.table(columns, schema=_OPS_SCHEMA))

    def withdraw_close(self, person: int) -> None:
        """Take back the close of *person* by the latest diffable snapshot."""
        assert self.last_close is not None and person in self.absent
        self.last_close.ids.discard(person)
        self.absent.discard(person)
        self.withdrawn += 1

    def _flush_rows(self) -> None:
        if self.rows:
            cols = list(zip(*self.rows, strict=True))
            self.tables.append(
                pa.table(
                    [column(c, f.type) for c, f in zip(cols, _OPS_SCHEMA, strict=True)],
                    schema=_OPS_SCHEMA,
                )
            )
            self.rows = []

    def table(self) -> pa.Table:
        """The operations, with ``span_no``: the rank of each open among the opens."""
        self._flush_rows()
        pieces = [
            p.table() if isinstance(p, _Bulk) else p
            for p in self.tables
            if not isinstance(p, _Bulk) or len(p.ids)
        ]
        table = pa.concat_tables(pieces) if pieces else _OPS_SCHEMA.empty_table()
        is_open = to_numpy(table.column("is_open"))
        return table.append_column("span_no", from_numpy(np.cumsum(is_open, dtype=np.int64) - 1))


def _repeat_ts(t: datetime, n: int) -> pa.Array:
    return from_numpy(np.full(n, np.datetime64(t.replace(tzinfo=None), "us")))


@dataclass
class _State:
    applied_through: int = 0
    as_of: datetime | None = None
    last_complete_at: datetime | None = None
    open: BitMap = field(default_factory=BitMap)


def _load_state(store: Store, account_id: int, direction: str) -> _State:
    row = first(
        store.con.execute(
            "SELECT applied_through, as_of, last_complete_at, open_members "
            "FROM tracking_state WHERE account_id = ? AND direction = ?",
            [account_id, direction],
        )
    )
    if row is None:
        return _State()
    return _State(int(row[0]), row[1], row[2], BitMap.deserialize(row[3]))


def _save_state(store: Store, account_id: int, direction: str, state: _State) -> None:
    store.con.execute(
        "INSERT OR REPLACE INTO tracking_state VALUES (?, ?, ?, ?, ?, ?)",
        [
            account_id,
            direction,
            state.applied_through,
            state.as_of,
            state.last_complete_at,
            state.open.serialize(),
        ],
    )


def update(store: Store, account_id: int, through: int | None = None) -> TrackingResult:
    """Fold every not-yet-applied observation of the account into spans, then classify
    the endings (only when some ending changed: with none, the kinds cannot change).

    *through* is the newest import to fold in (the one being saved, before its row in
    ``imports`` is written); by default the newest recorded import.
    """
    result = TrackingResult()
    latest_import = through
    if latest_import is None:
        latest_import = int(store.scalar("SELECT coalesce(max(import_id), 0) FROM imports"))
    with store.transaction():
        applied = dict(
            store.con.execute(
                "SELECT direction, applied_through FROM tracking_state WHERE account_id = ?",
                [account_id],
            ).fetchall()
        )
        pending = _pending(store, account_id, applied)
        for direction, earliest_new in pending.items():
            _update_direction(store, account_id, direction, earliest_new, latest_import, result)
        _advance_idle(store, account_id, applied, set(pending), latest_import)
        if result.closed or result.rebuilt:
            classify(store, account_id)
    return result


def _pending(store: Store, account_id: int, applied: dict[str, int]) -> dict[str, datetime]:
    """The earliest observation, event or disproving re-check not yet folded in, per
    direction that has any.

    One query for both directions: a direction with nothing new costs nothing more (its
    state is not loaded), which matters when many accounts are polled.
    """
    after = {d.value: int(applied.get(d.value, 0)) for d in Direction}
    # The plain lower bound on import_id lets DuckDB skip old row groups (ids only grow,
    # and _advance_idle keeps every direction's bound current).
    rows = store.con.execute(
        """
        SELECT direction, min(t) FROM (
            SELECT direction, observed_at AS t, import_id FROM observations
            WHERE account_id = ? AND import_id > ?
            UNION ALL
            SELECT direction, occurred_at, import_id FROM events
            WHERE account_id = ? AND import_id > ?
            UNION ALL
            -- A re-check finding the follow in place. It sorts after whatever shares its
            -- instant, so one at the time tracking is folded through needs no rebuild.
            SELECT 'followers', checked_at + INTERVAL 1 MICROSECOND, import_id FROM checks
            WHERE account_id = ? AND import_id > ? AND state = 'active' AND follows
        )
        WHERE import_id > CASE direction WHEN 'followers' THEN ? WHEN 'following' THEN ? END
        GROUP BY direction
        """,
        [account_id, min(after.values())] * 3
        + [after[Direction.FOLLOWERS.value], after[Direction.FOLLOWING.value]],
    ).fetchall()
    found = {str(d): t for d, t in rows}
    return {d.value: found[d.value] for d in Direction if d.value in found}


def _advance_idle(
    store: Store, account_id: int, applied: dict[str, int], busy: set[str], latest_import: int
) -> None:
    """Move the applied-through mark of directions with nothing new to *latest_import*
    without touching their bitmap, so the next _pending scans only what came after."""
    idle = [d.value for d in Direction if d.value not in busy]
    stale = [d for d in idle if d in applied and applied[d] < latest_import]
    if stale:
        store.con.execute(
            "UPDATE tracking_state SET applied_through = ? "
            "WHERE account_id = ? AND list_contains(?, direction)",
            [latest_import, account_id, stale],
        )
    for direction in (d for d in idle if d not in applied):
        state = _State(applied_through=latest_import)
        _save_state(store, account_id, direction, state)


def _update_direction(
    store: Store,
    account_id: int,
    direction: str,
    earliest_new: datetime,
    latest_import: int,
    result: TrackingResult,
) -> None:
    state = _load_state(store, account_id, direction)
    if state.as_of is not None and earliest_new <= state.as_of:
        # Something from the past arrived: replay everything so order cannot matter.
        store.con.execute(
            "DELETE FROM spans WHERE account_id = ? AND direction = ?", [account_id, direction]
        )
        state = _State()
        result.rebuilt.append(direction)
    ops = _replay(store, account_id, direction, state)
    state.applied_through = latest_import
    _save_state(store, account_id, direction, state)
    result.reopened += ops.withdrawn + _reopen(store, account_id, direction, ops.reopened)
    opened, closed = _write_spans(store, account_id, direction, ops.table())
    result.opened += opened
    result.closed += closed


def _replay(store: Store, account_id: int, direction: str, state: _State) -> _Ops:
    after = state.applied_through
    snaps = store.con.execute(
        """
        SELECT o.observed_at, o.diffable, m.bitmap, o.complete_since FROM observations o
        JOIN snapshot_members m USING (observation_id)
        WHERE o.account_id = ? AND o.direction = ? AND o.import_id > ?
        ORDER BY o.observed_at, o.diffable, o.member_count, md5(m.bitmap)
        """,
        [account_id, direction, after],
    ).fetchall()
    sinces = sorted({s[3] for s in snaps if s[3] is not None})
    query = store.con.sql(
        """
        SELECT occurred_at, person_id, kind, campaign, reason FROM events
        WHERE account_id = ? AND direction = ? AND import_id > ?
        ORDER BY occurred_at, person_id, kind, campaign NULLS FIRST, reason NULLS FIRST
        """,
        params=[account_id, direction, after],
    )
    assert query is not None
    events = _Events(query.to_arrow_table())
    present = _still_following(store, account_id, direction, after)
    stored = _stored_endings(store, account_id, direction, state, present)
    ops = _Ops({t: _open_since(store, account_id, direction, t) & state.open for t in sinces})
    si = ei = ci = 0
    while si < len(snaps) or ei < len(events) or ci < len(present):
        # At equal times: events, then snapshots (a snapshot taken at t already reflects
        # them), then re-checks (made after the poll that raised them).
        te = events.time(ei) if ei < len(events) else None
        ts = snaps[si][0] if si < len(snaps) else None
        tc = present[ci][0] if ci < len(present) else None
        if te is not None and (ts is None or te <= ts) and (tc is None or te <= tc):
            # Every event up to the next snapshot or re-check, in one go where they are
            # a long run of follows (an export's follow times), else one by one.
            upto = events.upto(min((t for t in (ts, tc) if t is not None), default=None))
            if upto - ei >= BULK_EVENTS and events.all_follows(ei, upto):
                _apply_follows(state, ops, events.people[ei:upto], events.times[ei:upto])
            else:
                for row in events.rows(ei, upto):
                    _apply_event(state, ops, *row)
            at = events.time(upto - 1)
            ei = upto
        elif ts is not None and (tc is None or ts <= tc):
            at, diffable, blob, since = snaps[si]
            _apply_snapshot(state, ops, at, bool(diffable), BitMap.deserialize(blob), since)
            si += 1
        else:
            at, person = present[ci]
            _apply_still_following(state, ops, at, person, stored)
            ci += 1
        if state.as_of is None or at > state.as_of:
            state.as_of = at
    return ops


def _open_since(store: Store, account_id: int, direction: str, since: datetime) -> BitMap:
    """People whose stored open span is known to have started at or after *since*."""
    rows = store.con.execute(
        "SELECT person_id FROM spans WHERE account_id = ? AND direction = ? "
        "AND end_latest IS NULL AND start_earliest >= ?",
        [account_id, direction, since],
    ).fetchnumpy()
    return bitmap_from_ids(np.asarray(rows["person_id"], dtype=np.uint32))


def _still_following(
    store: Store, account_id: int, direction: str, after: int
) -> list[tuple[datetime, int]]:
    """Re-checks made for the account that found the person following it."""
    if direction != Direction.FOLLOWERS:
        return []
    rows = store.con.execute(
        """
        SELECT checked_at, person_id FROM checks
        WHERE account_id = ? AND import_id > ? AND state = 'active' AND follows
        ORDER BY checked_at, person_id
        """,
        [account_id, after],
    ).fetchall()
    return [(r[0], int(r[1])) for r in rows]


def _stored_endings(
    store: Store,
    account_id: int,
    direction: str,
    state: _State,
    present: list[tuple[datetime, int]],
) -> dict[int, datetime]:
    """For people re-checked as following but not open now: when their latest stored span
    ended, if an absence (not an exact event) ended it."""
    people = sorted({p for _, p in present if p not in state.open})
    if not people:
        return {}
    rows = store.con.execute(
        """
        SELECT person_id, arg_max(end_latest, (start_latest, span_id)),
               arg_max(end_exact, (start_latest, span_id))
        FROM spans WHERE account_id = ? AND direction = ? AND list_contains(?, person_id)
        GROUP BY person_id
        """,
        [account_id, direction, people],
    ).fetchall()
    return {int(p): end for p, end, exact in rows if end is not None and not exact}


def _apply_still_following(
    state: _State, ops: _Ops, at: datetime, person: int, stored: dict[int, datetime]
) -> None:
    """A re-check found *person* following: evidence, stronger than an absence, that they
    never left. If the latest diffable snapshot closed their span only by their absence,
    that close is withdrawn and the span stays open; otherwise (they were seen leaving for
    sure, or a later complete snapshot also lacked them) they came back: a span opens
    whose start is not known (the snapshots that lacked them may have lost them too), so
    only the end of their previous span bounds it (see _write_spans)."""
    if person in state.open:
        return
    if person in ops.absent:
        ops.withdraw_close(person)
    elif person not in ops.touched and stored.get(person) == state.last_complete_at:
        ops.reopened.append(person)
        ops.touched.add(person)
    else:
        ops.one(person, True, None, at, False)
    state.open.add(person)


def _apply_snapshot(
    state: _State,
    ops: _Ops,
    at: datetime,
    diffable: bool,
    members: BitMap,
    since: datetime | None = None,
) -> None:
    joined = members - state.open
    ops.bulk(joined, True, state.last_complete_at, at)
    if diffable and since is not None:
        scope = ops.scopes[since]
        if state.open - scope - members:
            # Open people not known to have started since the scope's start, missing: the
            # snapshot cannot speak for them. Only those in scope can have left.
            departed = (state.open & scope) - members
            ops.bulk(departed, False, state.last_complete_at, at)
            ops.absent = BitMap(departed)
            state.open = (state.open - departed) | joined
            return
    if diffable:
        departed = state.open - members
        ops.bulk(departed, False, state.last_complete_at, at)
        ops.absent = BitMap(departed)  # closes a re-check may still withdraw
        state.open = members
        state.last_complete_at = at
    else:
        state.open |= joined


def _apply_event(
    state: _State,
    ops: _Ops,
    at: datetime,
    person: int,
    kind: str,
    campaign: str | None,
    reason: str | None,
) -> None:
    if kind == EventKind.FOLLOW:
        if person not in state.open:
            ops.one(person, True, at, at, True)
            state.open.add(person)
        return
    end_kind = _EVENT_END[EventKind(kind)].value
    if person not in state.open:
        # They left without us seeing them (re)arrive. Absent from the last complete
        # snapshot, they came after it; with none, the start is unknown (_write_spans
        # narrows it to after their previous span if they had one).
        ops.one(person, True, state.last_complete_at, at, False)
    else:
        state.open.discard(person)
    ops.one(person, False, at, at, True, end_kind, campaign, reason)


# Runs of at least this many follow events are applied at once (_apply_follows).
BULK_EVENTS = 64


class _Events:
    """The events of a replay as columns, sorted by time, with their rows as Python
    values made only where they are applied one by one."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.times = to_numpy(table.column("occurred_at").cast(pa.int64())).view("datetime64[us]")
        self.people = to_numpy(table.column("person_id")).astype(np.uint32)
        self._follows: np.ndarray | None = None
        self._rows: list[tuple[Any, ...]] | None = None

    def __len__(self) -> int:
        return len(self.times)

    def time(self, i: int) -> datetime:
        at: datetime = self.times[i].item()
        return at

    def upto(self, limit: datetime | None) -> int:
        """The end of the run of events at or before *limit* (all, without one)."""
        if limit is None:
            return len(self)
        return int(np.searchsorted(self.times, np.datetime64(limit, "us"), side="right"))

    def all_follows(self, start: int, end: int) -> bool:
        if self._follows is None:
            kinds = np.array(self.table.column("kind").to_pylist(), dtype=object)
            self._follows = kinds == EventKind.FOLLOW.value
        return bool(self._follows[start:end].all())

    def rows(self, start: int, end: int) -> list[tuple[Any, ...]]:
        if self._rows is None:
            self._rows = list(zip(*(c.to_pylist() for c in self.table.columns), strict=True))
        return self._rows[start:end]


def _apply_follows(state: _State, ops: _Ops, people: np.ndarray, times: np.ndarray) -> None:
    """:func:`_apply_event` for a run of follow events, at once: a person's first follow
    in the run opens a span unless one is open, later ones change nothing."""
    _, first = np.unique(people, return_index=True)
    first.sort()
    people, times = people[first], times[first]
    new = bitmap_from_ids(people) - state.open
    keep = np.isin(people, bitmap_ids(new), assume_unique=True)
    ops.opens(people[keep], times[keep])
    state.open |= new


def _reopen(store: Store, account_id: int, direction: str, people: list[int]) -> int:
    """Open again the latest span of each of *people*: its ending was an absence a re-check
    disproved. Spans are derived; the snapshot and the check that disproved it stay."""
    if not people:
        return 0
    row = first(
        store.con.execute(
            """
            UPDATE spans SET end_earliest = NULL, end_latest = NULL, end_exact = NULL,
                end_kind = NULL, end_campaign = NULL, end_reason = NULL
            WHERE span_id IN (
                SELECT arg_max(span_id, (start_latest, span_id)) FROM spans
                WHERE account_id = ? AND direction = ? AND list_contains(?, person_id)
                GROUP BY person_id)
              AND end_latest IS NOT NULL AND NOT end_exact
            """,
            [account_id, direction, sorted(people)],
        )
    )
    return int(row[0]) if row else 0


def _write_spans(store: Store, account_id: int, direction: str, ops: pa.Table) -> tuple[int, int]:
    if ops.num_rows == 0:
        return 0, 0
    con = store.con
    con.register("_ops", ops)
    try:
        people = bitmap_from_ids(to_numpy(ops.column("person_id")))
        if len(people) == ops.num_rows:
            # The common case (a snapshot's joiners and leavers): one operation per
            # person, so there is nothing to pair.
            paired = "VIEW"
            con.execute(
                """
            CREATE OR REPLACE TEMP VIEW _paired AS
            SELECT *, 1 AS k,
                   NULL::TIMESTAMP AS n_te, NULL::TIMESTAMP AS n_tl, NULL::BOOLEAN AS n_exact,
                   NULL::VARCHAR AS n_kind, NULL::VARCHAR AS n_campaign, NULL::VARCHAR AS n_reason
            FROM _ops
            """
            )
        else:
            # Pair each operation with the next one of the same person.
            paired = "TABLE"
            con.execute(
                """
            CREATE OR REPLACE TEMP TABLE _paired AS
            SELECT *,
                   row_number() OVER w AS k,
                   lead(te) OVER w AS n_te, lead(tl) OVER w AS n_tl,
                   lead(exact) OVER w AS n_exact, lead(kind) OVER w AS n_kind,
                   lead(campaign) OVER w AS n_campaign, lead(reason) OVER w AS n_reason
            FROM _ops
            WINDOW w AS (PARTITION BY person_id ORDER BY ord)
            """
            )
        # A person's first operation being a close ends the span already open in the store.
        closed_existing = first(
            con.execute(
                """
            UPDATE spans SET
                end_earliest = greatest(p.te, spans.start_latest),
                end_latest = p.tl, end_exact = p.exact, end_kind = p.kind,
                end_campaign = p.campaign, end_reason = p.reason
            FROM (SELECT * FROM _paired WHERE k = 1 AND NOT is_open) p
            WHERE spans.account_id = ? AND spans.direction = ?
              AND spans.person_id = p.person_id AND spans.end_latest IS NULL
            """,
                [account_id, direction],
            )
        )
        # Span ids in (ord, person_id) order: the order of the opens in _ops.
        base = store.next_id("spans", "span_id")
        opened = first(
            con.execute(
                """
            INSERT INTO spans
            SELECT ? + span_no, ?, person_id, ?,
                   te, tl, exact,
                   CASE WHEN n_tl IS NULL THEN NULL ELSE greatest(n_te, tl) END,
                   n_tl, n_exact, n_kind, n_campaign, n_reason
            FROM _paired WHERE is_open
            """,
                [base, account_id, direction],
            )
        )
        # A re-follow seen only in a snapshot began after the previous span ended. Only
        # people who opened a span of unknown start now and have an ended span qualify.
        con.execute(
            """
            UPDATE spans SET start_earliest = prev.prev_end FROM (
                SELECT span_id, lag(end_latest) OVER (
                    PARTITION BY person_id ORDER BY start_latest, span_id) AS prev_end
                FROM spans
                WHERE account_id = ? AND direction = ? AND person_id IN (
                    SELECT person_id FROM _ops WHERE is_open AND NOT exact AND person_id IN (
                        SELECT person_id FROM spans
                        WHERE account_id = ? AND direction = ? AND end_latest IS NOT NULL))
            ) prev
            WHERE spans.span_id = prev.span_id AND spans.span_id >= ?
              AND NOT spans.start_exact AND prev.prev_end IS NOT NULL
              AND (spans.start_earliest IS NULL OR prev.prev_end > spans.start_earliest)
            """,
            [account_id, direction, account_id, direction, base],
        )
        closed_new = store.scalar("SELECT count(*) FROM _paired WHERE NOT is_open AND k > 1")
        con.execute(f"DROP {paired} _paired")
    finally:
        con.unregister("_ops")
    n_open = int(opened[0]) if opened else 0
    n_closed = (int(closed_existing[0]) if closed_existing else 0) + int(closed_new)
    return n_open, n_closed


_CHECK_KIND = """
    CASE
        WHEN c.state IN ('deleted', 'deactivated') THEN 'deleted'
        WHEN c.state = 'suspended' THEN 'suspended'
        WHEN c.state = 'blocked' THEN 'blocked'
        WHEN c.state = 'active' AND c.follows = false AND a.platform = 'email'
            THEN 'unsubscribed'
        WHEN c.state = 'active' AND c.follows = false THEN 'unfollowed'
        ELSE 'unknown'
    END
"""


def classify(store: Store, account_id: int | None) -> None:
    """Name the kind of every ending seen only as an absence, from the first re-check after it
    (of one account's spans, or of every account's with ``None``: a check saved for one
    account can explain a departure from another).

    Never a guess: with no check, or an ambiguous one, the kind stays ``unknown``.
    Whether someone still follows is only trusted from a check made for this account; a
    deletion or suspension seen after the account was seen alive did not cause the ending.
    """
    # Start over from "unknown": a check that arrived since may overturn an earlier kind.
    store.con.execute(
        """
        UPDATE spans SET end_kind = 'unknown'
        WHERE (? IS NULL OR account_id = ?) AND end_latest IS NOT NULL AND NOT end_exact
          AND end_kind <> 'unknown'
        """,
        [account_id] * 2,
    )
    store.con.execute(
        f"""
        UPDATE spans SET end_kind = k.kind FROM (
            SELECT s.span_id, arg_min({_CHECK_KIND}, c.checked_at) AS kind
            FROM spans s
            JOIN accounts a ON a.account_id = s.account_id
            JOIN checks c ON c.person_id = s.person_id
             AND c.checked_at >= coalesce(s.end_earliest, s.end_latest)
             -- an account state explains a departure seen anywhere in its window; "no
             -- longer follows" only counts from this account's own check after the window
             AND (c.state <> 'active'
                  OR (c.account_id = s.account_id AND c.checked_at >= s.end_latest))
            LEFT JOIN (
                SELECT s2.span_id, min(c2.checked_at) AS alive_at
                FROM spans s2 JOIN checks c2 ON c2.person_id = s2.person_id
                 AND c2.state = 'active' AND c2.checked_at >= s2.end_latest
                WHERE s2.end_latest IS NOT NULL AND NOT s2.end_exact
                  AND (? IS NULL OR s2.account_id = ?)
                GROUP BY s2.span_id
            ) alive ON alive.span_id = s.span_id
            WHERE (? IS NULL OR s.account_id = ?)
              AND s.end_latest IS NOT NULL AND NOT s.end_exact
              AND (c.state = 'active' OR alive.alive_at IS NULL
                   OR c.checked_at < alive.alive_at)
            GROUP BY s.span_id
        ) k
        WHERE spans.span_id = k.span_id
        """,
        [account_id] * 4,
    )
    # A stream's account event inside the absence's window says when they went, too: the
    # earliest such event becomes the exact end (a profile lookup only says how).
    store.con.execute(
        f"""
        UPDATE spans SET end_earliest = k.at, end_latest = k.at, end_exact = true,
            end_kind = k.kind
        FROM (
            SELECT s.span_id, min(c.checked_at) AS at, arg_min({_CHECK_KIND}, c.checked_at) AS kind
            FROM spans s
            JOIN accounts a ON a.account_id = s.account_id
            JOIN checks c ON c.person_id = s.person_id AND c.exact AND c.state <> 'active'
             AND c.checked_at > s.end_earliest AND c.checked_at <= s.end_latest
            WHERE (? IS NULL OR s.account_id = ?) AND NOT s.end_exact
            GROUP BY s.span_id
        ) k
        WHERE spans.span_id = k.span_id
        """,
        [account_id] * 2,
    )
