"""Live sources: trackers that poll a service for an account's audience right now.

Each tracker lives in its own module in this package and registers itself under a URL-like
scheme (``bsky:``, ``mastodon:``) with :func:`register`; nothing branches on schemes.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TypeVar

from ..errors import InvalidInput, UnknownSource
from .base import Connection, Tracker

__all__ = [
    "Connection",
    "Tracker",
    "get_tracker",
    "register",
    "request_host",
    "split_target",
    "trackers",
]

_REGISTRY: dict[str, type[Tracker]] = {}
_LOADED = False
T = TypeVar("T", bound=type[Tracker])


def register(cls: T) -> T:
    if cls.scheme in _REGISTRY and _REGISTRY[cls.scheme] is not cls:
        raise ValueError(f"tracker {cls.scheme!r} registered twice")
    _REGISTRY[cls.scheme] = cls
    return cls


def trackers() -> dict[str, type[Tracker]]:
    global _LOADED
    if not _LOADED:
        for info in pkgutil.iter_modules(__path__):
            if info.name not in ("base", "http") and not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        _LOADED = True
    return dict(sorted(_REGISTRY.items()))


def split_target(target: str) -> tuple[str, str]:
    """``bsky:brand.bsky.social`` → (``bsky``, ``brand.bsky.social``)."""
    scheme, sep, ident = target.partition(":")
    if not sep or not ident.strip():
        raise InvalidInput(f"{target!r}: expected SCHEME:ACCOUNT, e.g. bsky:brand.bsky.social")
    return scheme.strip().lower(), ident.strip()


def _tracker_class(scheme: str) -> type[Tracker]:
    found = trackers().get(scheme)
    if found is None:
        raise UnknownSource(f"no live source {scheme!r}; known: {', '.join(trackers())}")
    return found


def get_tracker(target: str, conn: Connection) -> Tracker:
    scheme, ident = split_target(target)
    return _tracker_class(scheme)(ident, conn)


def request_host(target: str, base_url: str | None = None) -> str:
    """The host a poll of *target* through *base_url* (or its default) sends requests to."""
    scheme, ident = split_target(target)
    return _tracker_class(scheme).request_host(ident, base_url)
