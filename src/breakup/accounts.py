"""Account names as people type them: the full name, or any unambiguous part of it."""

from __future__ import annotations

from .errors import UnknownAccount
from .store import Account, Store


def resolve_account(store: Store, text: str) -> Account:
    """The account *text* names: its exact name, else the one account whose name contains
    *text* (case-insensitive; a leading ``@`` is ignored) or whose handle or identity is
    *text*. None or several: :class:`~breakup.errors.UnknownAccount` naming the candidates.
    """
    accounts = store.accounts()
    for a in accounts:
        if a.name == text:
            return a
    needle = text.strip().lower().lstrip("@")
    if needle:
        same = [
            a
            for a in accounts
            if needle in {(a.handle or "").lower().lstrip("@"), (a.identity or "").lower()}
        ]
        if len(same) == 1:
            return same[0]
        found = same or [a for a in accounts if needle in a.name.lower()]
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(a.name for a in found)
            raise UnknownAccount(f"{text!r} could be any of {names}: give more of the name")
    known = ", ".join(a.name for a in accounts) or "none yet"
    raise UnknownAccount(f"no account named {text!r} (known: {known})")


class NamingStore(Store):
    """A :class:`~breakup.store.Store` whose :meth:`account` also takes shorthands
    (see :func:`resolve_account`): what the CLI opens."""

    def account(self, name: str) -> Account:
        return resolve_account(self, name)
