"""Tokens for live services: from the environment or the OS keyring, never from the store.

``BREAKUP_<SCHEME>_TOKEN`` (e.g. ``BREAKUP_MASTODON_TOKEN``) wins; otherwise the keyring
entry for service ``breakup`` and user ``<scheme>:<account>``, when a keyring is available.
"""

from __future__ import annotations

import os


def token_for(scheme: str, ident: str) -> str | None:
    env = os.environ.get(f"BREAKUP_{scheme.upper().replace('-', '_')}_TOKEN")
    if env:
        return env.strip()
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        value = keyring.get_password("breakup", f"{scheme}:{ident}")
    except (KeyringError, RuntimeError):
        return None  # no usable keyring backend on this machine
    return value or None
