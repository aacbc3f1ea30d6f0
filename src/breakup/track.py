"""One poll of a live account: fetch, save, then re-check whoever was seen leaving.

The re-check is what tells an unfollow from a deleted, deactivated or suspended account:
tracking leaves an absence ``unknown`` until a check explains it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .clock import to_db
from .ingest import ImportResult, save_batch
from .live import Connection, get_tracker
from .live.base import Progress, no_progress
from .models import Batch
from .store import Store

RECHECK_LIMIT = 2000  # per poll; the rest wait for the next one


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
              SELECT 1 FROM checks c WHERE c.person_id = s.person_id
                AND c.account_id = s.account_id AND c.checked_at >= s.end_latest)
        GROUP BY p.external_id ORDER BY ended DESC LIMIT ?
        """,
        [acct.account_id, limit],
    ).fetchall()
    return [r[0] for r in rows]


def track(
    store: Store, target: str, conn: Connection, progress: Progress = no_progress
) -> TrackResult:
    """Poll *target* (``bsky:handle``, ``mastodon:@user@host``) once into the store."""
    tracker = get_tracker(target, conn)
    batch = tracker.fetch(progress)
    fetched = save_batch(store, batch, account=tracker.account_name, path=target)
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
