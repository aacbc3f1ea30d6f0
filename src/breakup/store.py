"""The store: one DuckDB file holding every observation and what tracking derived from it.

This is the only module that writes DDL. Schema changes are appended to ``MIGRATIONS``
and recorded in ``schema_migrations``; a store written by a newer breakup is refused.

Observations (imports, observations, snapshot_members, events, posts, post_metrics,
interactions, checks, person_names) are append-only. Derived tables (spans,
tracking_state) can always be rebuilt from them.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import duckdb
import numpy as np
import pyarrow as pa
from platformdirs import user_data_dir

from .clock import Clock, from_db, system_clock, to_db
from .errors import AccountMismatch, SchemaTooNew, StoreError, StoreLocked, UnknownAccount
from .nparrow import from_numpy, to_numpy

MIGRATIONS: list[tuple[str, str]] = [
    (
        "core tables",
        """
        CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
        CREATE TABLE accounts (
            account_id INTEGER PRIMARY KEY,
            name VARCHAR NOT NULL UNIQUE,
            platform VARCHAR NOT NULL,
            identity VARCHAR,
            handle VARCHAR,
            role VARCHAR NOT NULL DEFAULT 'own',
            created_at TIMESTAMP NOT NULL
        );
        -- people: interned 32-bit ids so follower sets fit roaring bitmaps.
        -- No unique index on (platform, external_id): at 10M rows an ART index costs more
        -- than the anti-join every writer does under DuckDB's single-writer lock.
        CREATE TABLE people (
            person_id UINTEGER NOT NULL,
            platform VARCHAR NOT NULL,
            external_id VARCHAR NOT NULL
        );
        CREATE TABLE person_names (
            person_id UINTEGER NOT NULL,
            seen_at TIMESTAMP NOT NULL,
            handle VARCHAR,
            display_name VARCHAR,
            import_id BIGINT NOT NULL
        );
        CREATE TABLE person_emails (person_id UINTEGER NOT NULL, email VARCHAR NOT NULL);
        CREATE TABLE imports (
            import_id BIGINT PRIMARY KEY,
            account_id INTEGER NOT NULL,
            source VARCHAR NOT NULL,
            source_ref VARCHAR NOT NULL,
            path VARCHAR,
            imported_at TIMESTAMP NOT NULL,
            summary JSON
        );
        CREATE TABLE observations (
            observation_id BIGINT PRIMARY KEY,
            import_id BIGINT NOT NULL,
            account_id INTEGER NOT NULL,
            direction VARCHAR NOT NULL,
            observed_at TIMESTAMP NOT NULL,
            complete BOOLEAN NOT NULL,      -- what the source claimed
            diffable BOOLEAN NOT NULL,      -- complete and size agrees with reported count
            member_count BIGINT NOT NULL,
            reported_count BIGINT,
            note VARCHAR
        );
        CREATE TABLE snapshot_members (observation_id BIGINT NOT NULL, bitmap BLOB NOT NULL);
        CREATE TABLE events (
            seq BIGINT NOT NULL,
            import_id BIGINT NOT NULL,
            account_id INTEGER NOT NULL,
            person_id UINTEGER NOT NULL,
            direction VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            occurred_at TIMESTAMP NOT NULL,
            ref VARCHAR,
            campaign VARCHAR,
            reason VARCHAR
        );
        CREATE TABLE posts (
            post_id BIGINT NOT NULL,
            import_id BIGINT NOT NULL,
            account_id INTEGER NOT NULL,
            external_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            text VARCHAR,
            url VARCHAR,
            reply_to VARCHAR
        );
        CREATE TABLE post_metrics (
            post_id BIGINT NOT NULL,
            import_id BIGINT NOT NULL,
            observed_at TIMESTAMP NOT NULL,
            metric VARCHAR NOT NULL,
            value BIGINT NOT NULL
        );
        CREATE TABLE interactions (
            import_id BIGINT NOT NULL,
            account_id INTEGER NOT NULL,
            person_id UINTEGER NOT NULL,
            kind VARCHAR NOT NULL,
            occurred_at TIMESTAMP NOT NULL,
            post_external_id VARCHAR
        );
        CREATE TABLE checks (
            import_id BIGINT NOT NULL,
            account_id INTEGER NOT NULL,
            person_id UINTEGER NOT NULL,
            checked_at TIMESTAMP NOT NULL,
            state VARCHAR NOT NULL,
            follows BOOLEAN,
            detail VARCHAR
        );
        -- Derived: one row per relationship span. A NULL start_earliest means the
        -- relationship predates tracking (left-truncated).
        CREATE TABLE spans (
            span_id BIGINT NOT NULL,
            account_id INTEGER NOT NULL,
            person_id UINTEGER NOT NULL,
            direction VARCHAR NOT NULL,
            start_earliest TIMESTAMP,
            start_latest TIMESTAMP NOT NULL,
            start_exact BOOLEAN NOT NULL,
            end_earliest TIMESTAMP,
            end_latest TIMESTAMP,
            end_exact BOOLEAN,
            end_kind VARCHAR,
            end_campaign VARCHAR,
            end_reason VARCHAR
        );
        CREATE TABLE tracking_state (
            account_id INTEGER NOT NULL,
            direction VARCHAR NOT NULL,
            applied_through BIGINT NOT NULL,   -- highest import_id folded into spans
            as_of TIMESTAMP,                   -- time of the latest observation folded in
            last_complete_at TIMESTAMP,        -- time of the latest diffable snapshot
            open_members BLOB NOT NULL,        -- bitmap: people with an open span
            PRIMARY KEY (account_id, direction)
        );
        -- What the demo simulator planted, so analyses can be checked against the truth.
        CREATE TABLE simulations (
            simulation_id INTEGER PRIMARY KEY,
            seed BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL,
            params JSON NOT NULL,
            truth JSON NOT NULL
        );
        CREATE VIEW departures AS
            SELECT * FROM spans WHERE direction = 'followers' AND end_latest IS NOT NULL;
        """,
    ),
]

MIGRATIONS.append(
    (
        "live tracking",
        """
        -- (follower, rkey) -> followed account: resolves firehose deletes to unfollows.
        CREATE TABLE follow_records (
            import_id BIGINT NOT NULL,
            account_id INTEGER NOT NULL,
            person_id UINTEGER NOT NULL,
            rkey VARCHAR NOT NULL,
            created_at TIMESTAMP
        );
        -- Resume points of streams and pollers (e.g. a Jetstream time_us cursor).
        CREATE TABLE cursors (
            name VARCHAR PRIMARY KEY,
            position BIGINT NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        """,
    )
)

MIGRATIONS.append(
    (
        "profiles, links, rewards, digests",
        """
        -- The person's own post an interaction is (their reply, mention …): lets answered
        -- and unanswered mentions be told apart.
        ALTER TABLE interactions ADD COLUMN ref VARCHAR;
        -- What a profile looked like when seen: for activity, bot and dead-weight triage.
        CREATE TABLE profiles (
            import_id BIGINT NOT NULL,
            person_id UINTEGER NOT NULL,
            observed_at TIMESTAMP NOT NULL,
            posts_count BIGINT,
            followers_count BIGINT,
            following_count BIGINT,
            created_at TIMESTAMP,          -- when the person's account was created
            last_post_at TIMESTAMP,        -- their latest post, when the source says
            bot BOOLEAN,                   -- the platform's own bot flag, when it has one
            description VARCHAR
        );
        -- People the user said are one (`breakup link`), or an unambiguous hint did.
        CREATE TABLE person_links (
            person_id UINTEGER NOT NULL,
            linked_id UINTEGER NOT NULL,
            linked_at TIMESTAMP NOT NULL,
            via VARCHAR NOT NULL            -- 'user', 'verified-handle', 'email-hash' …
        );
        -- Reward codes: one code per person per campaign prefix, one person per code.
        CREATE TABLE reward_codes (
            code VARCHAR PRIMARY KEY,
            prefix VARCHAR NOT NULL,
            person_id UINTEGER NOT NULL,
            issued_at TIMESTAMP NOT NULL,
            UNIQUE (prefix, person_id)
        );
        -- Digests already delivered: never send the same period twice to one target.
        CREATE TABLE digests_sent (
            target VARCHAR NOT NULL,
            period VARCHAR NOT NULL,
            sent_at TIMESTAMP NOT NULL,
            PRIMARY KEY (target, period)
        );
        """,
    )
)

MIGRATIONS.append(
    (
        "exact account states",
        """
        -- The state changed at checked_at (a stream's account event), rather than was seen
        -- then (a profile lookup): a departure it explains ended at that very time.
        ALTER TABLE checks ADD COLUMN exact BOOLEAN NOT NULL DEFAULT false;
        """,
    )
)

MIGRATIONS.append(
    (
        "scoped snapshots",
        """
        -- A snapshot complete only for follows that started at or after this time (an
        -- export limited to a date range); NULL: complete for everyone (when complete).
        ALTER TABLE observations ADD COLUMN complete_since TIMESTAMP;
        """,
    )
)

MIGRATIONS.append(
    (
        "domain views",
        # The definitions every query shares, once. `voluntary` is models.VOLUNTARY_ENDS
        # (tests/test_store.py holds the two equal): changing it is a new migration.
        """
        -- Followers' spans that ended, with the class of the ending: voluntary (of the
        -- person's own choice, or unknown: most absences are unfollows) or not (deleted,
        -- suspended, blocked), and the earliest time it may have happened.
        CREATE OR REPLACE VIEW departures AS
            SELECT *,
                   end_kind IN ('unfollowed', 'unsubscribed', 'unknown') AS voluntary,
                   coalesce(end_earliest, end_latest) AS left_earliest
            FROM spans WHERE direction = 'followers' AND end_latest IS NOT NULL;
        -- Each person's latest name: the latest handle and the latest display name seen
        -- (each the latest known one: a later sighting without it keeps the earlier).
        CREATE OR REPLACE VIEW latest_names AS
            SELECT person_id, arg_max(handle, seen_at) AS handle,
                   arg_max(display_name, seen_at) AS display_name, max(seen_at) AS seen_at
            FROM person_names GROUP BY person_id;
        """,
    )
)

SCHEMA_VERSION = len(MIGRATIONS)


def default_db_path() -> Path:
    """``$BREAKUP_DB``, else ``breakup.duckdb`` in the user's data directory."""
    env = os.environ.get("BREAKUP_DB")
    if env:
        return Path(env)
    return Path(user_data_dir("breakup", appauthor=False)) / "breakup.duckdb"


@dataclass(frozen=True)
class Account:
    account_id: int
    name: str
    platform: str
    identity: str | None
    handle: str | None
    role: str
    created_at: datetime


class Store:
    """An open breakup store. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        clock: Clock = system_clock,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.clock = clock
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise StoreError(f"{self.path}: no store here yet (import something first)")
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            if (locked := _lock_holder(exc)) is not None:
                raise StoreLocked(self.path, locked) from None
            raise StoreError(f"{self.path}: cannot open store: {exc}") from None
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: cannot open store: {exc}") from None
        self._in_tx = False
        # Serialises write transactions of every Store sharing this database in-process
        # (see for_thread); DuckDB would otherwise abort one of two conflicting writers.
        self._write_lock = threading.RLock()
        if not read_only:
            self._migrate()
        else:
            self._check_version()
            if self._applied_version() < SCHEMA_VERSION:
                self._upgrade_and_reopen()

    def _upgrade_and_reopen(self) -> None:
        """Open for reading, a store an older breakup wrote: readers query the views and
        columns of every migration, so apply the missing ones first (a writer's open, as
        the next import would), then read. Held by another process: StoreLocked (a reader
        then reads a private copy, which gets upgraded the same way)."""
        self.con.close()
        Store(self.path, clock=self.clock).close()
        try:
            self.con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: cannot open store: {exc}") from None

    @classmethod
    def over(
        cls, con: duckdb.DuckDBPyConnection, path: Path | str, *, clock: Clock = system_clock
    ) -> Self:
        """A Store over an already open connection to the store at *path* (e.g. a cursor of
        a shared read-only connection): no schema check, and closing it closes only *con*."""
        store = cls.__new__(cls)
        store.path = Path(path)
        store.clock = clock
        store.con = con
        store._in_tx = False
        store._write_lock = threading.RLock()
        return store

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: on any exception nothing written inside reaches the file."""
        if self._in_tx:
            yield
            return
        with self._write_lock:
            self.con.execute("BEGIN TRANSACTION")
            self._in_tx = True
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            else:
                self.con.execute("COMMIT")
            finally:
                self._in_tx = False

    def for_thread(self) -> Store:
        """A Store for another thread: its own connection to the same database, sharing
        this store's write lock and clock. Close it when the thread is done."""
        other = object.__new__(Store)
        other.path = self.path
        other.clock = self.clock
        other.con = self.con.cursor()
        other._in_tx = False
        other._write_lock = self._write_lock
        return other

    def _applied_version(self) -> int:
        exists = first(
            self.con.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_name = 'schema_migrations'"
            )
        )
        if not exists or not exists[0]:
            return 0
        row = first(self.con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations"))
        return int(row[0]) if row else 0

    def _check_version(self) -> None:
        version = self._applied_version()
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{self.path}: store schema v{version} is newer than this breakup "
                f"(v{SCHEMA_VERSION}); upgrade breakup"
            )

    def _migrate(self) -> None:
        self._check_version()
        with self.transaction():
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            version = self._applied_version()
            for number, (name, ddl) in enumerate(MIGRATIONS, start=1):
                if number <= version:
                    continue
                self.con.execute(ddl)
                self.con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [number, name, to_db(self.clock())],
                )
            if self.meta("email_key") is None:
                # Key for hashing email addresses: matching works within this store,
                # while a leaked hash list cannot be reversed with a public dictionary.
                self.set_meta("email_key", secrets.token_hex(32))

    @property
    def schema_version(self) -> int:
        return self._applied_version()

    # -- small helpers -----------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = first(self.con.execute("SELECT value FROM meta WHERE key = ?", [key]))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        row = first(self.con.execute(sql, params or []))
        return None if row is None else row[0]

    def next_id(self, table: str, column: str) -> int:
        # Single writer per file (DuckDB's lock), so max+1 inside a transaction is safe.
        # The largest id this Store saw last time bounds the search: row groups wholly
        # below it are skipped on their min/max statistics, so the cost stops growing with
        # the table. Nothing left at or above it (rolled back, deleted): the whole column.
        floors: dict[tuple[str, str], int] = self.__dict__.setdefault("_id_floors", {})
        top = None
        if (floor := floors.get((table, column))) is not None:
            top = self.scalar(f"SELECT max({column}) FROM {table} WHERE {column} >= {floor:d}")
        if top is None:
            top = self.scalar(f"SELECT max({column}) FROM {table}")
        floors[(table, column)] = int(top or 0)
        return int(top or 0) + 1

    def cursor(self, name: str) -> int | None:
        value = self.scalar("SELECT position FROM cursors WHERE name = ?", [name])
        return None if value is None else int(value)

    def set_cursor(self, name: str, position: int) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)",
            [name, position, to_db(self.clock())],
        )

    # -- accounts ----------------------------------------------------------------------

    def accounts(self, role: str | None = None) -> list[Account]:
        sql = "SELECT * FROM accounts"
        params: list[Any] = []
        if role:
            sql += " WHERE role = ?"
            params.append(role)
        rows = self.con.execute(sql + " ORDER BY name", params).fetchall()
        return [self._account(r) for r in rows]

    def account(self, name: str) -> Account:
        row = first(self.con.execute("SELECT * FROM accounts WHERE name = ?", [name]))
        if row is None:
            known = ", ".join(a.name for a in self.accounts()) or "none yet"
            raise UnknownAccount(f"no account named {name!r} (known: {known})")
        return self._account(row)

    def find_account(self, platform: str, identity: str) -> Account | None:
        row = first(
            self.con.execute(
                "SELECT * FROM accounts WHERE platform = ? AND identity = ? ORDER BY account_id",
                [platform, identity],
            )
        )
        return None if row is None else self._account(row)

    def ensure_account(
        self,
        name: str,
        platform: str,
        identity: str | None = None,
        handle: str | None = None,
        role: str = "own",
    ) -> Account:
        """Get the named account, creating it if new; refuse data of another identity."""
        row = first(self.con.execute("SELECT * FROM accounts WHERE name = ?", [name]))
        if row is not None:
            acct = self._account(row)
            if acct.platform != platform:
                raise AccountMismatch(
                    f"account {name!r} is a {acct.platform} account, not {platform}"
                )
            if identity and acct.identity and acct.identity != identity:
                raise AccountMismatch(
                    f"account {name!r} is {acct.platform} id {acct.identity}; "
                    f"this data belongs to id {identity}"
                )
            if identity and not acct.identity:
                other = self.find_account(platform, identity)
                if other is not None and other.account_id != acct.account_id:
                    raise AccountMismatch(
                        f"{platform} id {identity} is already tracked as account {other.name!r}"
                    )
                self.con.execute(
                    "UPDATE accounts SET identity = ?, handle = coalesce(?, handle) "
                    "WHERE account_id = ?",
                    [identity, handle, acct.account_id],
                )
                return self.account(name)
            return acct
        if identity:
            other = self.find_account(platform, identity)
            if other is not None:
                raise AccountMismatch(
                    f"{platform} id {identity} is already tracked as account {other.name!r}"
                )
        account_id = self.next_id("accounts", "account_id")
        self.con.execute(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?)",
            [account_id, name, platform, identity, handle, role, to_db(self.clock())],
        )
        return self.account(name)

    @staticmethod
    def _account(row: tuple[Any, ...]) -> Account:
        created = from_db(row[6])
        assert created is not None
        return Account(row[0], row[1], row[2], row[3], row[4], row[5], created)

    # -- people ------------------------------------------------------------------------

    def intern(self, platform: str, external_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Person ids (uint32, same order) for external ids, creating the new ones.

        Set-based, whatever the number of ids. Known people are found by one join against
        the platform's people, or, once this Store has interned a few small batches into
        a large store, by its in-memory :class:`PeopleIndex` (a lookup whose cost grows
        with the batch, not with the store). The others get the next ids in order of first
        appearance. Nothing is sorted by string, and nothing but the new ids is grouped.
        """
        n = len(external_ids)
        if n == 0:
            return np.zeros(0, dtype=np.uint32)
        if external_ids.null_count:
            raise StoreError(f"{self.path}: a person without an external id")
        pos = from_numpy(np.arange(n, dtype=np.uint32))
        ids = np.zeros(n, dtype=np.uint32)  # person ids start at 1: 0 is "not known yet"
        index = self._people_index
        if index is None:
            index = self._people_index = PeopleIndex()
        txid, count, top = first(
            self.con.execute(
                "SELECT txid_current(), count(*), coalesce(max(person_id), 0) FROM people"
            )
        )
        self.con.register("_incoming", pa.table({"pos": pos, "ext": external_ids}))
        try:
            doubt = None
            if index.use(self.con, platform, n, txid, int(count), int(top)):
                hashes = self.con.execute("SELECT pos, hash(ext) AS h FROM _incoming").fetchnumpy()
                h = np.empty(n, dtype=np.uint64)
                h[hashes["pos"]] = hashes["h"]
                doubt = index.lookup(platform, h, external_ids, ids)
            if count and (doubt is None or doubt.any()):  # in an empty store nobody is known
                self._join_known(platform, ids, doubt)
        finally:
            self.con.unregister("_incoming")
        is_new = ids == 0
        if is_new.any():
            index.inserting(txid, int(top))
            self._intern_new(platform, external_ids, pos, ids, is_new)
        return ids

    _people_index: PeopleIndex | None = None

    def _join_known(self, platform: str, ids: np.ndarray, only: np.ndarray | None) -> None:
        """Fill *ids* at the positions of ``_incoming`` whose external id a person of
        *platform* has: one join against all of them (where *only*, of those positions)."""
        where = ""
        if only is not None:
            self.con.register("_only", pa.table({"pos": from_numpy(np.flatnonzero(only))}))
            where = "WHERE i.pos IN (SELECT pos FROM _only)"
        try:
            known = self.con.sql(
                f"""
                SELECT i.pos, p.person_id FROM _incoming i
                JOIN (SELECT person_id, external_id FROM people WHERE platform = ?) p
                  ON p.external_id = i.ext
                {where}
                """,
                params=[platform],
            )
            assert known is not None
            # Streamed in batches, so the pairs are never all held at once.
            for batch in known.to_arrow_reader(1 << 20):
                ids[to_numpy(batch.column(0))] = to_numpy(batch.column(1))
        finally:
            if only is not None:
                self.con.unregister("_only")

    def _intern_new(
        self,
        platform: str,
        external_ids: pa.Array | pa.ChunkedArray,
        pos: pa.Array,
        ids: np.ndarray,
        is_new: np.ndarray,
    ) -> None:
        """Give the ids at *is_new* positions the next person ids, in order of first
        appearance (the same id twice gets one person), and insert them into people."""
        self.con.register(
            "_new", pa.table({"pos": pos, "ext": external_ids, "is_new": from_numpy(is_new)})
        )
        try:
            # Usually every new id is distinct, which distinct hashes prove cheaply;
            # otherwise group them exactly.
            distinct, total = first(
                self.con.execute(
                    "SELECT count(DISTINCT hash(ext)), count(*) FROM _new WHERE is_new"
                )
            )
            repeated = distinct != total
            is_first = is_new
            if repeated:
                firsts = self.con.execute(
                    "SELECT min(pos) AS pos FROM _new WHERE is_new GROUP BY ext"
                ).fetchnumpy()["pos"]
                is_first = np.zeros(len(ids), dtype=bool)
                is_first[firsts] = True
            count = int(is_first.sum())
            base = int(self.scalar("SELECT coalesce(max(person_id), 0) FROM people"))
            if base + count >= 2**32 - 1:
                raise StoreError(f"{self.path}: more than 4 billion people in one store")
            ids[is_first] = np.arange(base + 1, base + 1 + count, dtype=np.uint32)
            if repeated:
                # Later copies of an id get the person id of its first appearance.
                copies = self.con.execute(
                    """
                    SELECT pos, min(pos) OVER (PARTITION BY ext) AS first_pos FROM _new
                    WHERE is_new AND ext IN (
                        SELECT ext FROM _new WHERE is_new GROUP BY ext HAVING count(*) > 1)
                    """
                ).fetchnumpy()
                ids[copies["pos"]] = ids[copies["first_pos"]]
        finally:
            self.con.unregister("_new")
        self.con.register(
            "_fresh",
            pa.table(
                {
                    "person_id": from_numpy(ids),
                    "ext": external_ids,
                    "is_first": from_numpy(is_first),
                }
            ),
        )
        try:
            self.con.execute(
                "INSERT INTO people SELECT person_id, ?, ext FROM _fresh WHERE is_first",
                [platform],
            )
        finally:
            self.con.unregister("_fresh")


@dataclass
class _Run:
    """People of one platform sorted by the hash of their external id."""

    hashes: np.ndarray  # uint64, ascending
    pids: np.ndarray  # uint32, same order
    exts: pa.Array  # large_string, same order
    # where each range of hashes (their top bits) starts, made on the first large search
    buckets: tuple[int, np.ndarray] | None = None

    @classmethod
    def of(cls, hashes: np.ndarray, pids: np.ndarray, exts: pa.Array) -> _Run:
        order = np.argsort(hashes, kind="stable")
        return cls(hashes[order], pids[order], exts.take(from_numpy(order)))

    def __len__(self) -> int:
        return len(self.hashes)

    def merge(self, other: _Run) -> _Run:
        return _Run.of(
            np.concatenate([self.hashes, other.hashes]),
            np.concatenate([self.pids, other.pids]),
            pa.concat_arrays([self.exts, other.exts]),
        )

    def find(self, wanted: np.ndarray) -> np.ndarray:
        """For each hash in *wanted*, the first position holding it or a larger one (the
        last position if none). Hashes are uniform, so in a large run their top bits say
        where to look within a few places: a binary search over those few, for all the
        hashes at once, touches memory about once per hash instead of once per step."""
        n = len(self.hashes)
        if n < 1 << 16:
            return np.minimum(np.searchsorted(self.hashes, wanted), n - 1)
        if self.buckets is None:
            bits = n.bit_length() - 3  # 4-8 people per range
            top = (self.hashes >> np.uint64(64 - bits)).astype(np.intp)
            starts = np.zeros((1 << bits) + 1, dtype=np.intp)
            np.cumsum(np.bincount(top, minlength=1 << bits), out=starts[1:])
            self.buckets = (bits, starts)
        bits, starts = self.buckets
        top = (wanted >> np.uint64(64 - bits)).astype(np.intp)
        lo, hi = starts[top], starts[top + 1]
        while (searching := lo < hi).any():
            mid = (lo + hi) >> 1
            right = searching & (self.hashes[np.minimum(mid, n - 1)] < wanted)
            lo = np.where(right, mid + 1, lo)
            hi = np.where(searching & ~right, mid, hi)
        return np.minimum(lo, n - 1)


class PeopleIndex:
    """The people of a store in memory, by the 64-bit hash of their external id, so that
    interning a batch costs O(batch · log people) instead of a join against every person.

    It is a cache a Store builds for itself, never a second truth: every hit is checked by
    comparing the external ids themselves (a hash collision goes to the join), and before
    every lookup it is brought up to date from the people table. Person ids only grow and
    people are never deleted, so it keeps *verified* runs — every person up to
    ``verified_max``, known committed because it was visible when no insert of the current
    transaction preceded it — and re-reads the rows above that mark (a range the zonemaps
    of ``person_id`` confine to the newest row groups) as a *tail*. A count of the whole
    table proves nothing else changed; if it disagrees (a rolled back import, another
    writer) the index is rebuilt. A transaction that rolls back leaves its rows only in
    the tail, which the next lookup re-reads, so it never sees them.

    It pays only where the join is wasteful: a platform is indexed once the store holds at
    least ``MIN_PEOPLE`` people and ``RATIO`` times the batch, and this Store has already
    paid ``BUILD_AFTER`` such joins. Building reads every person of the platform once and
    sorts them, about 25 joins' worth of CPU (3.8 s at 5M people against 0.15 s a join),
    after which a batch of 10k costs some 6 ms; building after as many joins as the build
    costs is never more than twice the cheaper choice, whatever follows (a few imports
    never build it; a long run of them, as ``watch`` or a 1,000-account import, soon
    does). Memory: about 40 bytes per indexed person (hash, person id, the id itself).
    """

    MIN_PEOPLE = 100_000
    RATIO = 8
    BUILD_AFTER = 25

    def __init__(self) -> None:
        self.runs: dict[str, list[_Run]] = {}  # per indexed platform, verified people
        self.tail: dict[str, _Run] = {}  # per indexed platform, people above verified_max
        self.verified_max = 0
        self.verified_count = 0  # people of every platform up to verified_max
        self.joins = 0
        self.tx: tuple[int, int] | None = None  # (txid, max person id before its first insert)

    def inserting(self, txid: int, top: int) -> None:
        """People are about to be inserted in transaction *txid*, above person id *top*."""
        if self.tx is None or self.tx[0] != txid:
            self.tx = (txid, top)

    def use(
        self, con: duckdb.DuckDBPyConnection, platform: str, n: int, txid: int, count: int,
        top: int,
    ) -> bool:  # fmt: skip
        """Whether to look *n* ids of *platform* up here; if so the index is made current
        (*count* people in the store, the highest person id *top*, in transaction *txid*)."""
        if platform not in self.runs:
            if count < self.MIN_PEOPLE or count < self.RATIO * n:
                return False
            self.joins += 1
            if self.joins <= self.BUILD_AFTER:
                return False
            base, _ = self._fetch(con, "platform = ? AND person_id <= ?",
                                  [platform, self.verified_max], self.verified_max)  # fmt: skip
            self.runs[platform] = [base] if base is not None else []
        self._sync(con, txid, count, top)
        return True

    def _sync(self, con: duckdb.DuckDBPyConnection, txid: int, count: int, top: int) -> None:
        if top < self.verified_max:
            self._reset()
        floor = self.tx[1] if self.tx is not None and self.tx[0] == txid else top
        floor = max(floor, self.verified_max)
        upto, above = first(
            con.execute(
                "SELECT count(*) FILTER (WHERE person_id <= ?), count(*) FROM people "
                "WHERE person_id > ?",
                [floor, self.verified_max],
            )
        )
        if self.verified_count + above != count:
            self._reset()
            upto, above = first(
                con.execute(
                    "SELECT count(*) FILTER (WHERE person_id <= ?), count(*) FROM people",
                    [floor],
                )
            )
        for platform, runs in self.runs.items():
            verified, tail = self._fetch(
                con, "platform = ? AND person_id > ?", [platform, self.verified_max], floor
            )
            if verified is not None:
                runs.append(verified)
            while len(runs) > 1 and len(runs[-2]) <= 2 * len(runs[-1]):
                last = runs.pop()
                runs.append(runs.pop().merge(last))
            if tail is not None:
                self.tail[platform] = tail
            else:
                self.tail.pop(platform, None)
        self.verified_count += int(upto)
        self.verified_max = floor

    def _reset(self) -> None:
        self.runs = {platform: [] for platform in self.runs}
        self.tail = {}
        self.verified_max = 0
        self.verified_count = 0

    @staticmethod
    def _fetch(
        con: duckdb.DuckDBPyConnection, where: str, params: list[Any], split: int
    ) -> tuple[_Run | None, _Run | None]:
        """The people *where* holds, as two runs: person ids up to *split*, and above."""
        rows = con.sql(
            f"SELECT hash(external_id) AS h, person_id, external_id FROM people WHERE {where}",
            params=params,
        ).to_arrow_table()
        if rows is None or rows.num_rows == 0:
            return None, None
        hashes, pids = to_numpy(rows.column("h")), to_numpy(rows.column("person_id"))
        exts = rows.column("external_id").combine_chunks().cast(pa.large_string())
        below = pids <= split
        runs: list[_Run | None] = []
        for part in (below, ~below):
            n = int(part.sum())
            if n == 0:
                runs.append(None)
            elif n == len(part):
                runs.append(_Run.of(hashes, pids, exts))
            else:
                runs.append(_Run.of(hashes[part], pids[part], exts.filter(from_numpy(part))))
        return runs[0], runs[1]

    def lookup(
        self, platform: str, hashes: np.ndarray, exts: pa.Array | pa.ChunkedArray,
        ids: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """Fill *ids* with the person of each external id (its hash in *hashes*) the index
        holds. Returns where a hash matched but the id did not (a collision, or two
        people of one hash): only those still need the join; every other id is new."""
        if isinstance(exts, pa.ChunkedArray):
            exts = exts.combine_chunks()
        found = np.zeros(len(hashes), dtype=bool)
        doubt = np.zeros(len(hashes), dtype=bool)
        runs = self.runs[platform] + ([self.tail[platform]] if platform in self.tail else [])
        for run in runs:
            todo = np.flatnonzero(~found)
            if len(todo) == 0:
                break
            wanted = hashes[todo]
            at = run.find(wanted)
            hit = run.hashes[at] == wanted
            if not hit.any():
                continue
            where, at = todo[hit], at[hit]
            import pyarrow.compute as pc  # 50 ms to import: only here, not at start-up

            theirs = run.exts.take(from_numpy(at))
            ours = exts.take(from_numpy(where)).cast(pa.large_string())
            same = to_numpy(pc.equal(theirs, ours))
            ids[where[same]] = run.pids[at[same]]
            found[where[same]] = True
            doubt[where[~same]] = True
        return doubt & ~found


def _lock_holder(exc: duckdb.IOException) -> str | None:
    """Whether DuckDB refused the file because another process holds its lock: the one
    place that reads DuckDB's message (it has no error type of its own for this). Returns
    what it says about the holder ("PID 123"), or "" — or None for any other I/O error."""
    text = str(exc)
    if "Conflicting lock" not in text and "Could not set lock" not in text:
        return None
    pid = re.search(r"\(PID (\d+)\)", text)
    return f"PID {pid.group(1)}" if pid else ""


def first(cursor: duckdb.DuckDBPyConnection) -> Any:
    """The first row of a result, fully consuming it (DuckDB refuses new work otherwise)."""
    rows = cursor.fetchall()
    return rows[0] if rows else None
