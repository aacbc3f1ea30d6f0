"""Peer accounts: other brands' accounts tracked only to compare churn in the same windows.

A peer is an account with role ``peer``. :func:`add_peer` creates it (so later imports and
``breakup track`` fill it) or turns an existing account into a peer.
"""

from __future__ import annotations

from ..errors import InvalidInput
from ..store import Account, Store


def add_peer(
    store: Store,
    name: str,
    platform: str | None = None,
    identity: str | None = None,
    handle: str | None = None,
) -> Account:
    """Mark *name* as a peer. A name like ``bsky:rival.bsky.social`` gives the platform
    and handle when they are not passed."""
    if platform is None and ":" in name:
        platform, rest = name.split(":", 1)
        handle = handle or rest
    existing = [a for a in store.accounts() if a.name == name]
    with store.transaction():
        if existing:
            store.con.execute(
                "UPDATE accounts SET role = 'peer' WHERE account_id = ?",
                [existing[0].account_id],
            )
            return store.account(name)
        if not platform:
            raise InvalidInput(
                f"peer {name!r}: say its platform (--platform) or name it PLATFORM:HANDLE"
            )
        return store.ensure_account(name, platform, identity, handle, role="peer")


def list_peers(store: Store) -> list[Account]:
    return store.accounts(role="peer")
