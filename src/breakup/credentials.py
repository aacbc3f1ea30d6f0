"""Tokens for live services, bound to the host that issued them: from the environment or
the OS keyring, never from the store.

A token is only ever used for requests to its own host (the server it was issued by):
tracking an account on another server uses that server's public endpoints, with no token.
For a request to *host* (``mastodon.social``, or ``host:port`` with a port) the token is,
in order:

1. ``BREAKUP_<SCHEME>_TOKEN__<HOST>``, the host with every character other than a letter or
   digit as ``_``: ``BREAKUP_MASTODON_TOKEN__mastodon_social`` (case does not matter);
2. ``BREAKUP_<SCHEME>_TOKEN`` when ``BREAKUP_<SCHEME>_INSTANCE`` names *host*
   (``BREAKUP_MASTODON_INSTANCE=mastodon.social``). Set without its instance it is refused
   (:class:`UnboundToken`): breakup cannot know which server may see it;
3. the keyring entry for service ``breakup`` and user ``<scheme>:<host>``
   (``mastodon:mastodon.social``), when a keyring is available.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from .errors import InvalidInput

__all__ = ["UnboundToken", "host_key", "host_of", "token_for", "token_for_target"]


class UnboundToken(InvalidInput):
    """A bare ``BREAKUP_<SCHEME>_TOKEN`` without the ``_INSTANCE`` that says whose it is."""


def host_key(host: str) -> str:
    """``mastodon.social`` → ``mastodon_social``; ``127.0.0.1:8080`` → ``127_0_0_1_8080``."""
    return re.sub(r"[^a-z0-9]", "_", host.strip().lower())


def host_of(url: str) -> str:
    """The host (with its port, if any) requests to *url* go to, lower case."""
    return (urlsplit(url if "//" in url else f"https://{url}").netloc or url).strip().lower()


def _prefix(scheme: str) -> str:
    return f"BREAKUP_{re.sub(r'[^A-Z0-9]', '_', scheme.upper())}"


def token_for(scheme: str, host: str, env: Mapping[str, str] | None = None) -> str | None:
    """The token issued by *host* for *scheme*, or None: never one bound to another host."""
    env = os.environ if env is None else env
    prefix = _prefix(scheme)
    wanted = f"{prefix}_TOKEN__{host_key(host)}".upper()
    for name, value in env.items():
        if name.upper() == wanted and value.strip():
            return value.strip()
    bare = (env.get(f"{prefix}_TOKEN") or "").strip()
    if bare:
        instance = (env.get(f"{prefix}_INSTANCE") or "").strip()
        if not instance:
            raise UnboundToken(
                f"{prefix}_TOKEN is set but not bound to a server: set {prefix}_INSTANCE to "
                f"the host that issued it, or rename it {prefix}_TOKEN__<host> (e.g. "
                f"{prefix}_TOKEN__{host_key(host)}); a token is never sent to another server"
            )
        if host_of(instance) == host.strip().lower():
            return bare
    return _keyring(scheme, host.strip().lower())


def token_for_target(
    target: str, base_url: str | None = None, env: Mapping[str, str] | None = None
) -> str | None:
    """The token for polling *target* (``mastodon:@user@host``) through *base_url* (or the
    tracker's default): bound to the host the requests actually go to."""
    from .live import request_host, split_target

    scheme, _ = split_target(target)
    return token_for(scheme, request_host(target, base_url), env)


def _keyring(scheme: str, host: str) -> str | None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        value = keyring.get_password("breakup", f"{scheme}:{host}")
    except (KeyringError, RuntimeError):
        return None  # no usable keyring backend on this machine
    return value or None
