"""Saving what a source saw: one :class:`~breakup.models.Batch` in one transaction.

Everything is written or nothing is; an input already imported for the account is a no-op;
people are interned set-wise; email addresses are hashed unless the user keeps them.
Tracking then folds the new observations into spans inside the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from pyroaring import BitMap

from . import tracking
from .clock import to_db, to_utc
from .collector import collector_paused
from .errors import AccountMismatch, InvalidInput
from .models import Batch, Person, Snapshot
from .nparrow import column, from_numpy
from .store import Store, first

_TS = pa.timestamp("us")  # naive UTC, as the store keeps times

FUTURE_SLACK = timedelta(days=1)  # clock skew we forgive in timestamps from sources


def size_tolerance(reported: int) -> int:
    """How far a snapshot's size may differ from the reported count and still be diffed.

    Platforms' counters lag and include hidden accounts, so small gaps are normal; a gap
    beyond this means pages went missing and the snapshot must not produce departures.
    """
    return max(10, int(reported * 0.02))


SHRINK_FLOOR = 0.5  # a complete snapshot under half the previous one is suspect ...
SHRINK_MIN = 20  # ... once the previous one had this many members


def implausible_shrink(previous: int, size: int) -> bool:
    """Whether a complete snapshot of *size* members is too small to believe after one of
    *previous* members, with no platform count to vouch for it.

    Losing more than half an audience between two snapshots is far beyond any churn seen
    in practice (Kwak et al.: 12% of one-way ties broke over 51 days) and is what a broken
    export looks like: an unbalanced quote, a filter left on, a truncated download.
    """
    return previous >= SHRINK_MIN and size < previous * SHRINK_FLOOR


@dataclass
class ImportResult:
    account: str
    source: str
    path: str | None
    skipped: bool = False  # the same input was imported before: nothing changed
    import_id: int | None = None
    snapshots: int = 0
    members: int = 0  # snapshot members, summed over the snapshots
    people: int = 0  # distinct people in the snapshots (one following and followed counts once)
    events: int = 0
    posts: int = 0
    interactions: int = 0
    profiles: int = 0
    checks: int = 0
    follow_records: int = 0
    opened: int = 0
    closed: int = 0
    rebuilt: bool = False  # data from the past arrived: spans were replayed from scratch
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def email_hasher(store: Store) -> Any:
    key = (store.meta("email_key") or "").encode()

    def hash_email(address: str) -> str:
        normal = address.strip().lower().encode()
        return "h:" + hmac.new(key, normal, hashlib.sha256).hexdigest()[:32]

    return hash_email


def account_name_for(batch: Batch) -> str | None:
    ident = batch.account_handle or batch.account_identity
    return f"{batch.platform}:{ident}" if ident else None


def save_batch(
    store: Store,
    batch: Batch,
    *,
    account: str | None = None,
    path: str | None = None,
    keep_emails: bool = False,
    role: str = "own",
) -> ImportResult:
    """Write *batch* for the named account (created if new) and update tracking."""
    name = account
    if name is None and batch.account_identity:
        # The handle may have changed since: the platform id finds the same account.
        known = store.find_account(batch.platform, batch.account_identity)
        name = known.name if known else None
    name = name or account_name_for(batch)
    if name is None:
        raise InvalidInput(
            f"{path or batch.source}: the data does not say whose it is; pass --account NAME"
        )
    _check_times(store, batch, path)
    result = ImportResult(account=name, source=batch.source, path=path, notes=list(batch.notes))
    try:
        with collector_paused():  # rows of values by the million, and no cycles
            return _save(store, batch, name, path, keep_emails, role, result)
    except AccountMismatch as exc:
        where = path or batch.source
        raise AccountMismatch(f"{where}: {exc}" if where not in str(exc) else str(exc)) from None
    except _DATA_ERRORS as exc:
        # The transaction was rolled back: the store is as before. What a source let
        # through that no column can hold is still the input's fault, said in one line.
        raise InvalidInput(
            f"{path or batch.source}: cannot be stored: {_data_problem(exc)}"
        ) from None


# Values a column cannot hold: integers beyond 64 bits, text with lone surrogates.
_DATA_ERRORS = (OverflowError, UnicodeError, pa.ArrowInvalid, duckdb.DataError)


def _data_problem(exc: BaseException) -> str:
    if isinstance(exc, UnicodeError):
        return "text that is not valid Unicode (a lone UTF-16 surrogate?)"
    if isinstance(exc, OverflowError) or "out of range" in str(exc):
        return "a number too large to store (more than 64 bits)"
    return " ".join(str(exc).split())[:200]


def _save(
    store: Store,
    batch: Batch,
    name: str,
    path: str | None,
    keep_emails: bool,
    role: str,
    result: ImportResult,
) -> ImportResult:
    with store.transaction():
        acct = store.ensure_account(
            name, batch.platform, batch.account_identity, batch.account_handle, role
        )
        # The same bytes observed at another time (--at) are another observation.
        ref = batch.source_ref
        if batch.observed_at is not None:
            ref = f"{ref}@{to_db(batch.observed_at):%Y-%m-%dT%H:%M:%S.%f}"
        seen = store.scalar(
            "SELECT import_id FROM imports WHERE account_id = ? AND source = ? AND source_ref = ?",
            [acct.account_id, batch.source, ref],
        )
        if seen is not None:
            result.skipped = True
            result.import_id = int(seen)
            return result
        import_id = store.next_id("imports", "import_id")
        result.import_id = import_id
        writer = _Writer(store, acct.account_id, acct.platform, import_id, batch, keep_emails)
        writer.write(result)
        tracked = tracking.update(store, acct.account_id, through=import_id)
        result.opened, result.closed = tracked.opened, tracked.closed
        result.rebuilt = bool(tracked.rebuilt)
        if tracked.reopened:
            result.notes.append(
                f"{tracked.reopened} departure(s) withdrawn: a re-check found them still "
                "following (they were missing from a snapshot, not gone)"
            )
        if batch.checks:
            tracking.classify(store, None)  # the people checked may have left other accounts
        store.con.execute(
            "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                import_id,
                acct.account_id,
                batch.source,
                ref,
                path,
                to_db(store.clock()),
                json.dumps({k: v for k, v in result.as_dict().items() if isinstance(v, int)}),
            ],
        )
    return result


def _check_times(store: Store, batch: Batch, path: str | None) -> None:
    limit = store.clock() + FUTURE_SLACK
    where = path or batch.source
    times: list[tuple[str, datetime]] = [("snapshot", s.observed_at) for s in batch.snapshots]
    times += [(f"{e.kind} event", e.at) for e in batch.events]
    times += [("post", p.created_at) for p in batch.posts]
    times += [("interaction", i.at) for i in batch.interactions]
    times += [("check", c.checked_at) for c in batch.checks]
    for what, t in times:
        if to_utc(t) > limit:
            raise InvalidInput(f"{where}: {what} time {t.isoformat()} is in the future")


def _db_times(values: Sequence[datetime | None]) -> pa.Array:
    """As the store keeps times (:func:`~breakup.clock.to_db`: naive UTC), converted in
    one call: an aware time is moved to UTC, a naive one is UTC already."""
    return pa.array(values, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))


def _distinct(ids: np.ndarray) -> bool:
    """Whether no person id appears twice."""
    ordered = np.sort(ids)
    return not bool((ordered[1:] == ordered[:-1]).any())


class _Writer:
    def __init__(
        self,
        store: Store,
        account_id: int,
        platform: str,
        import_id: int,
        batch: Batch,
        keep_emails: bool,
    ) -> None:
        self.store = store
        self.con = store.con
        self.account_id = account_id
        self.platform = platform
        self.import_id = import_id
        self.batch = batch
        self.keep_emails = keep_emails
        self.hash = email_hasher(store) if batch.ids_are_emails else None
        self.seen_at = to_db(batch.observed_at or store.clock())

    # people ----------------------------------------------------------------------------

    def _ids(self, raw: pa.Array | pa.ChunkedArray) -> pa.Array:
        if self.hash is None:
            return raw
        return column([self.hash(x) for x in raw.to_pylist()], pa.string())

    def intern_table(self, members: pa.Table, seen_at: Any) -> np.ndarray:
        raw = members.column("external_id")
        if raw.null_count:
            raise InvalidInput(f"{self.batch.source}: a member has no id")
        ids = self.store.intern(self.platform, self._ids(raw))
        self._names(ids, members, seen_at)
        if self.hash is not None and self.keep_emails:
            self._emails(ids, raw)
        return ids

    def intern_people(
        self, people: list[Person], times: list[datetime | None] | None = None
    ) -> np.ndarray:
        """Person ids for *people*; their names are recorded as seen at *times* (each
        item's own time: an event's, a check's), else at the batch's time."""
        from .models import members_table

        table = members_table(
            [p.external_id for p in people],
            [p.handle for p in people],
            [p.display_name for p in people],
        )
        seen: Any = self.seen_at
        if times is not None:
            seen = _db_times(times).fill_null(pa.scalar(self.seen_at, pa.timestamp("us")))
        return self.intern_table(table, seen)

    def _names(self, ids: np.ndarray, members: pa.Table, seen_at: Any) -> None:
        if (
            members.column("handle").null_count == members.num_rows
            and members.column("display_name").null_count == members.num_rows
        ):
            return
        n = members.num_rows
        # One row per (person, time) goes in; a snapshot (one time) listing nobody twice,
        # the usual case, needs no grouping for it, which would cost most of the statement.
        once = not isinstance(seen_at, pa.Array) and _distinct(ids)
        if not isinstance(seen_at, pa.Array):
            seen_at = from_numpy(np.full(n, np.datetime64(seen_at, "us")))
        names = pa.table(
            {
                "person_id": from_numpy(ids),
                "seen": seen_at,
                "handle": members.column("handle"),
                "display_name": members.column("display_name"),
            }
        )
        rows = "*" if once else "DISTINCT ON (person_id, seen) *"
        self.con.register("_names", names)
        try:
            # Append a row when what we see differs from the name in effect at that time.
            # A missing field means "not shown here", never "removed": it keeps the value
            # in effect. Only people with names on record are joined and grouped.
            self.con.execute(
                f"""
                INSERT INTO person_names
                WITH n AS (
                    SELECT {rows} FROM _names
                    WHERE handle IS NOT NULL OR display_name IS NOT NULL
                ), prior AS (
                    SELECT n.person_id, n.seen,
                           max_by({{'h': pn.handle, 'd': pn.display_name}}, pn.seen_at) AS was
                    FROM n JOIN person_names pn
                      ON pn.person_id = n.person_id AND pn.seen_at <= n.seen
                    GROUP BY n.person_id, n.seen
                )
                SELECT n.person_id, n.seen, coalesce(n.handle, (p.was).h),
                       coalesce(n.display_name, (p.was).d), ?
                FROM n LEFT JOIN prior p ON p.person_id = n.person_id AND p.seen = n.seen
                WHERE p.was IS NULL
                   OR (n.handle IS NOT NULL AND n.handle IS DISTINCT FROM (p.was).h)
                   OR (n.display_name IS NOT NULL
                       AND n.display_name IS DISTINCT FROM (p.was).d)
                """,
                [self.import_id],
            )
        finally:
            self.con.unregister("_names")

    def _emails(self, ids: np.ndarray, raw: pa.Array | pa.ChunkedArray) -> None:
        table = pa.table({"person_id": from_numpy(ids), "email": raw})
        self.con.register("_emails", table)
        try:
            self.con.execute(
                """
                INSERT INTO person_emails
                SELECT DISTINCT ON (person_id) person_id, trim(email) FROM _emails
                WHERE person_id NOT IN (SELECT person_id FROM person_emails)
                """
            )
        finally:
            self.con.unregister("_emails")

    # observations ----------------------------------------------------------------------

    def write(self, result: ImportResult) -> None:
        for snap in self.batch.snapshots:
            self._snapshot(snap, result)
        result.people = self._snapshot_people(result)
        self._events(result)
        self._posts(result)
        self._interactions(result)
        self._checks(result)
        self._follow_records(result)
        self._profiles(result)

    def _snapshot(self, snap: Snapshot, result: ImportResult) -> None:
        at = to_db(snap.observed_at)
        ids = self.intern_table(snap.members, at)
        bitmap = tracking.bitmap_from_ids(ids)
        size = len(bitmap)
        diffable = snap.complete
        note = None
        if not snap.complete:
            note = "source marked this snapshot partial"
        elif size == 0 and snap.reported_count != 0:
            # An empty list is far likelier a failed fetch or a broken export than everyone
            # leaving at once; only the platform's own zero count makes it believable.
            diffable = False
            note = "no members; kept, but not used to detect departures"
        elif snap.reported_count is not None and abs(size - snap.reported_count) > size_tolerance(
            snap.reported_count
        ):
            diffable = False
            note = (
                f"{size} {snap.direction} seen but the platform reports {snap.reported_count}; "
                "kept, but not used to detect departures"
            )
        elif snap.complete_since is not None:
            diffable, note = self._scope_check(snap, bitmap)
        elif snap.reported_count is None:
            diffable, note = self._shrink_check(snap, at, size)
        if note:
            result.notes.append(
                f"{snap.direction} snapshot at {snap.observed_at:%Y-%m-%d %H:%M}: {note}"
            )
        obs_id = self.store.next_id("observations", "observation_id")
        self.con.execute(
            "INSERT INTO observations (observation_id, import_id, account_id, direction, "
            "observed_at, complete, diffable, member_count, reported_count, note, "
            "complete_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                obs_id,
                self.import_id,
                self.account_id,
                snap.direction.value,
                at,
                snap.complete,
                diffable,
                size,
                snap.reported_count,
                note,
                None if snap.complete_since is None else to_db(snap.complete_since),
            ],
        )
        self.con.execute("INSERT INTO snapshot_members VALUES (?, ?)", [obs_id, bitmap.serialize()])
        result.snapshots += 1
        result.members += size

    def _snapshot_people(self, result: ImportResult) -> int:
        """Distinct people over the snapshots just written (their bitmaps' union)."""
        if result.snapshots <= 1:
            return result.members
        blobs = self.con.execute(
            "SELECT m.bitmap FROM snapshot_members m JOIN observations o USING (observation_id) "
            "WHERE o.import_id = ?",
            [self.import_id],
        ).fetchall()
        return len(BitMap.union(*(BitMap.deserialize(b) for (b,) in blobs)))

    def _scope_check(self, snap: Snapshot, bitmap: BitMap) -> tuple[bool, str | None]:
        """A snapshot complete only for follows since ``complete_since`` (an export limited
        to a date range), against the spans open before it: who is in its scope (known to
        have started since then) must not have shrunk implausibly, and whoever started
        earlier and is missing from it is counted for the note, not closed (tracking leaves
        them as they were)."""
        assert snap.complete_since is not None
        since = to_db(snap.complete_since)
        rows = self.con.execute(
            "SELECT person_id, coalesce(start_earliest >= ?, false) AS in_scope FROM spans "
            "WHERE account_id = ? AND direction = ? AND end_latest IS NULL",
            [since, self.account_id, snap.direction.value],
        ).fetchnumpy()
        people = np.asarray(rows["person_id"], dtype=np.uint32)
        in_scope = np.asarray(rows["in_scope"], dtype=bool)
        scoped = tracking.bitmap_from_ids(people[in_scope])
        older = tracking.bitmap_from_ids(people[~in_scope]) - bitmap
        covers = (
            f"covers only follows since {snap.complete_since:%Y-%m-%d} (it starts "
            f"{(snap.observed_at - snap.complete_since).days} days before it was taken)"
        )
        size = len(bitmap)
        if implausible_shrink(len(scoped), size):
            return False, (
                f"{covers}; {size} {snap.direction} where {len(scoped)} who started since "
                "then were following: an implausible shrink; kept, but not used to detect "
                "departures"
            )
        if not older:
            return True, None
        are = "is" if len(older) == 1 else "are"
        return True, (
            f"{covers}: {len(older):,} {snap.direction} who started earlier {are} missing "
            f"from it and {are} left as they were, not counted as gone"
        )

    def _shrink_check(self, snap: Snapshot, at: Any, size: int) -> tuple[bool, str | None]:
        """A complete snapshot with no platform count to check it against, compared with the
        previous snapshot used to detect departures: a sudden large shrink is kept but not
        diffed, unless the snapshot just before it showed the same shrink (two exports
        agreeing is an audience that really shrank, not a broken file)."""
        previous = first(
            self.con.execute(
                "SELECT member_count, observed_at FROM observations "
                "WHERE account_id = ? AND direction = ? AND diffable AND observed_at < ? "
                "AND complete_since IS NULL "
                "ORDER BY observed_at DESC LIMIT 1",
                [self.account_id, snap.direction.value, at],
            )
        )
        if previous is None or not implausible_shrink(int(previous[0]), size):
            return True, None
        before = first(
            self.con.execute(
                "SELECT member_count, diffable, observed_at FROM observations "
                "WHERE account_id = ? AND direction = ? AND complete AND observed_at < ? "
                "AND complete_since IS NULL "
                "ORDER BY observed_at DESC LIMIT 1",
                [self.account_id, snap.direction.value, at],
            )
        )
        if (
            before is not None
            and not before[1]
            and abs(int(before[0]) - size) <= size_tolerance(size)
        ):
            return True, (
                f"{size} {snap.direction}, down from {previous[0]} on "
                f"{previous[1]:%Y-%m-%d %H:%M}; the snapshot of {before[2]:%Y-%m-%d %H:%M} "
                "showed the same, so the shrink is taken as real"
            )
        return False, (
            f"{size} {snap.direction}, down from {previous[0]} on "
            f"{previous[1]:%Y-%m-%d %H:%M}: an implausible shrink (a broken or filtered "
            "export?); kept, but not used to detect departures (a next snapshot showing "
            "the same confirms it)"
        )

    def _events(self, result: ImportResult) -> None:
        events = self.batch.events
        if not events:
            return
        times: list[datetime | None] = [e.at for e in events]
        ids = self.intern_people([e.person for e in events], times)
        base = self.store.next_id("events", "seq")
        table = pa.table(
            {
                "seq": from_numpy(np.arange(base, base + len(events), dtype=np.int64)),
                "person_id": from_numpy(ids),
                # the members themselves: StrEnums are their values (.value costs 0.3 us)
                "direction": column([e.direction for e in events], pa.string()),
                "kind": column([e.kind for e in events], pa.string()),
                "at": _db_times(times),
                "ref": column([e.ref for e in events], pa.string()),
                "campaign": column([e.campaign for e in events], pa.string()),
                "reason": column([e.reason for e in events], pa.string()),
            }
        )
        result.events += self._insert_new(
            "_events",
            table,
            """
            INSERT INTO events
            SELECT min(n.seq), ?, ?, n.person_id, n.direction, n.kind, n.at,
                   any_value(n.ref), any_value(n.campaign), any_value(n.reason)
            FROM _events n
            ANTI JOIN (SELECT * FROM events WHERE account_id = ?) e
              ON e.person_id = n.person_id AND e.direction = n.direction
             AND e.kind = n.kind AND e.occurred_at = n.at
            GROUP BY n.person_id, n.direction, n.kind, n.at
            """,
            [self.import_id, self.account_id, self.account_id],
        )

    def _posts(self, result: ImportResult) -> None:
        posts = self.batch.posts
        if not posts:
            return
        base = self.store.next_id("posts", "post_id")
        table = pa.table(
            {
                "pos": from_numpy(np.arange(len(posts), dtype=np.int64)),
                "external_id": column([p.external_id for p in posts], pa.string()),
                "kind": column([p.kind.value for p in posts], pa.string()),
                "created_at": column([to_db(p.created_at) for p in posts], _TS),
                "text": column([p.text for p in posts], pa.string()),
                "url": column([p.url for p in posts], pa.string()),
                "reply_to": column([p.reply_to for p in posts], pa.string()),
            }
        )
        result.posts += self._insert_new(
            "_posts",
            table,
            """
            INSERT INTO posts
            SELECT ? + row_number() OVER (ORDER BY min(n.pos)) - 1, ?, ?, n.external_id,
                   any_value(n.kind), any_value(n.created_at), any_value(n.text),
                   any_value(n.url), any_value(n.reply_to)
            FROM _posts n
            ANTI JOIN (SELECT external_id FROM posts WHERE account_id = ?) p
              ON p.external_id = n.external_id
            GROUP BY n.external_id
            """,
            [base, self.import_id, self.account_id, self.account_id],
        )
        metrics = [(p.external_id, k, int(v)) for p in posts for k, v in p.metrics.items()]
        if metrics:
            cols = list(zip(*metrics, strict=True))
            mtable = pa.table(
                {
                    "external_id": column(cols[0], pa.string()),
                    "metric": column(cols[1], pa.string()),
                    "value": column(cols[2], pa.int64()),
                }
            )
            # Counts change over time: each import adds a reading, none is overwritten.
            self._insert_new(
                "_metrics",
                mtable,
                """
                INSERT INTO post_metrics
                SELECT p.post_id, ?, ?, m.metric, max(m.value)
                FROM _metrics m JOIN posts p
                  ON p.account_id = ? AND p.external_id = m.external_id
                GROUP BY p.post_id, m.metric
                """,
                [self.import_id, self.seen_at, self.account_id],
            )

    def _interactions(self, result: ImportResult) -> None:
        rows = self.batch.interactions
        if not rows:
            return
        ids = self.intern_people([i.person for i in rows], [i.at for i in rows])
        table = pa.table(
            {
                "person_id": from_numpy(ids),
                "kind": column([i.kind.value for i in rows], pa.string()),
                "at": column([to_db(i.at) for i in rows], _TS),
                "post": column([i.post for i in rows], pa.string()),
                "ref": column([i.ref for i in rows], pa.string()),
            }
        )
        result.interactions += self._insert_new(
            "_inter",
            table,
            """
            INSERT INTO interactions
            SELECT DISTINCT ?, ?, n.person_id, n.kind, n.at, n.post, n.ref FROM _inter n
            ANTI JOIN (SELECT * FROM interactions WHERE account_id = ?) i
              ON i.person_id = n.person_id AND i.kind = n.kind AND i.occurred_at = n.at
             AND i.post_external_id IS NOT DISTINCT FROM n.post
            """,
            [self.import_id, self.account_id, self.account_id],
        )

    def _checks(self, result: ImportResult) -> None:
        rows = self.batch.checks
        if not rows:
            return
        ids = self.intern_people([c.person for c in rows], [c.checked_at for c in rows])
        table = pa.table(
            {
                "person_id": from_numpy(ids),
                "checked_at": column([to_db(c.checked_at) for c in rows], _TS),
                "state": column([c.state.value for c in rows], pa.string()),
                "follows": column([c.follows for c in rows], pa.bool_()),
                "detail": column([c.detail for c in rows], pa.string()),
                "exact": column([c.exact for c in rows], pa.bool_()),
            }
        )
        result.checks += self._insert_new(
            "_checks",
            table,
            """
            INSERT INTO checks
            SELECT DISTINCT ?, ?, n.person_id, n.checked_at, n.state, n.follows, n.detail,
                   n.exact
            FROM _checks n
            ANTI JOIN (SELECT * FROM checks WHERE account_id = ?) c
              ON c.person_id = n.person_id AND c.checked_at = n.checked_at
            """,
            [self.import_id, self.account_id, self.account_id],
        )

    def _follow_records(self, result: ImportResult) -> None:
        rows = self.batch.follow_records
        if not rows:
            return
        ids = self.intern_people([r.person for r in rows])
        table = pa.table(
            {
                "person_id": from_numpy(ids),
                "rkey": column([r.rkey for r in rows], pa.string()),
                "created_at": column([to_db(r.created_at) for r in rows], _TS),
            }
        )
        result.follow_records += self._insert_new(
            "_records",
            table,
            """
            INSERT INTO follow_records
            SELECT DISTINCT ?, ?, n.person_id, n.rkey, n.created_at FROM _records n
            ANTI JOIN (SELECT * FROM follow_records WHERE account_id = ?) r
              ON r.person_id = n.person_id AND r.rkey = n.rkey
            """,
            [self.import_id, self.account_id, self.account_id],
        )

    def _profiles(self, result: ImportResult) -> None:
        rows = self.batch.profiles
        if not rows:
            return
        ids = self.intern_people([r.person for r in rows], [r.observed_at for r in rows])

        def ts(values: list[datetime | None]) -> pa.Array:
            return column([to_db(v) if v else None for v in values], _TS)

        table = pa.table(
            {
                "person_id": from_numpy(ids),
                "observed_at": ts([r.observed_at for r in rows]),
                "posts": column([r.posts_count for r in rows], pa.int64()),
                "followers": column([r.followers_count for r in rows], pa.int64()),
                "following": column([r.following_count for r in rows], pa.int64()),
                "created": ts([r.created_at for r in rows]),
                "last_post": ts([r.last_post_at for r in rows]),
                "bot": column([r.bot for r in rows], pa.bool_()),
                "description": column([r.description for r in rows], pa.string()),
            }
        )
        result.profiles += self._insert_new(
            "_profiles",
            table,
            """
            INSERT INTO profiles
            SELECT DISTINCT ON (n.person_id, n.observed_at) ?, n.* FROM _profiles n
            ANTI JOIN profiles p
              ON p.person_id = n.person_id AND p.observed_at = n.observed_at
            """,
            [self.import_id],
        )

    def _insert_new(self, name: str, table: pa.Table, sql: str, params: list[Any]) -> int:
        self.con.register(name, table)
        try:
            row = first(self.con.execute(sql, params))
        finally:
            self.con.unregister(name)
        return int(row[0]) if row else 0
