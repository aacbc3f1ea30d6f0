"""One poll of a live account: fetch, save, then re-check whoever was seen leaving.

The re-check is what tells an unfollow from a deleted, deactivated or suspended account:
tracking leaves an absence ``unknown`` until a check explains it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from .clock import to_db
from .ingest import ImportResult, save_batch
from .live import Connection, get_tracker
from .live.base import Progress, Tracker, no_progress
from .models import Batch
from .store import Store, first

RECHECK_LIMIT = 2000  # per poll; the rest wait for the next one
RECHECK_AMBIGUOUS_DAYS = 7  # a "not found" answer is asked again after this long


@dataclass
class TrackResult:
    account: str
    fetched: ImportResult
    rechecked: int = 0
    checks: ImportResult | None = None
    notes: list[str] = field(default_factory=list)


def pending_rechecks(store: Store, account: str, limit: int = RECHECK_LIMIT) -> list[str]:
    """External ids of people whose departure is unexplained and not re-checked since."""
    acct = store.account(account)
    rows = store.con.execute(
        """
        SELECT DISTINCT p.external_id, max(s.end_latest) AS ended FROM spans s
        JOIN people p USING (person_id)
        WHERE s.account_id = ? AND s.end_latest IS NOT NULL AND NOT s.end_exact
          AND s.end_kind = 'unknown'
          AND NOT EXISTS (
              -- re-checked since: settled, unless the service only said "not found"
              -- (a deactivation or deletion still propagating); ask that again later
              SELECT 1 FROM checks c WHERE c.person_id = s.person_id
                AND c.account_id = s.account_id AND c.checked_at >= s.end_latest
                AND (c.state <> 'not_found' OR c.checked_at > ?))
        GROUP BY p.external_id ORDER BY ended DESC LIMIT ?
        """,
        [acct.account_id, to_db(store.clock() - timedelta(days=RECHECK_AMBIGUOUS_DAYS)), limit],
    ).fetchall()
    return [r[0] for r in rows]


def track(
    store: Store, target: str, conn: Connection, progress: Progress = no_progress
) -> TrackResult:
    """Poll *target* (``bsky:handle``, ``mastodon:@user@host``) once into the store."""
    tracker = get_tracker(target, conn)
    known = _known_account(store, tracker)
    if known is not None:
        tracker.known_records = _recorded_followers(store, known)
    batch = tracker.fetch(progress)
    name = tracker.account_name
    if batch.account_identity:  # tracked before under its other name (handle vs DID)
        acct = store.find_account(tracker.platform, batch.account_identity)
        name = acct.name if acct is not None else name
    fetched = save_batch(store, batch, account=name, path=target)
    result = TrackResult(account=fetched.account, fetched=fetched, notes=list(fetched.notes))
    todo = pending_rechecks(store, fetched.account)
    if todo:
        checks = tracker.recheck(todo, progress)
        if checks:
            stamp = to_db(conn.clock())
            result.checks = save_batch(
                store,
                Batch(
                    source=f"{tracker.scheme}-recheck",
                    platform=tracker.platform,
                    source_ref=f"recheck:{target}:{stamp}",
                    checks=checks,
                ),
                account=fetched.account,
                path=target,
            )
            result.rechecked = len(checks)
    return result


def _known_account(store: Store, tracker: Tracker) -> int | None:
    """The stored account *tracker* polls, found by name, platform id or handle."""
    row = first(
        store.con.execute(
            """
            SELECT account_id FROM accounts
            WHERE platform = ? AND (name = ? OR identity = ? OR handle = ?)
            ORDER BY name = ? DESC, account_id LIMIT 1
            """,
            [
                tracker.platform,
                tracker.account_name,
                tracker.ident,
                tracker.ident,
                tracker.account_name,
            ],
        )
    )
    return None if row is None else int(row[0])


def _recorded_followers(store: Store, account_id: int) -> frozenset[str]:
    """Followers whose follow record is stored and not yet seen deleted."""
    rows = store.con.execute(
        """
        SELECT DISTINCT p.external_id FROM follow_records r JOIN people p USING (person_id)
        WHERE r.account_id = ? AND NOT EXISTS (
            SELECT 1 FROM events e WHERE e.account_id = r.account_id
              AND e.person_id = r.person_id AND e.kind = 'unfollow' AND e.ref = r.rkey)
        """,
        [account_id],
    ).fetchall()
    return frozenset(r[0] for r in rows)
