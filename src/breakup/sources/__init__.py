"""Sources: plugins that read one kind of input into a :class:`~breakup.models.Batch`.

Each source lives in its own module in this package and registers itself with
:func:`register`; nothing elsewhere branches on source names. Modules are discovered,
so adding a source is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TypeVar

from ..errors import UnknownSource
from .base import FileSource, ReadOptions

__all__ = ["FileSource", "ReadOptions", "get_source", "register", "sources"]

_REGISTRY: dict[str, type[FileSource]] = {}
_LOADED = False

S = TypeVar("S", bound=type[FileSource])


def register(cls: S) -> S:
    """Class decorator: make a file source available under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"source {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _LOADED = True


def sources() -> dict[str, type[FileSource]]:
    """Every registered file source by name, sorted."""
    _load()
    return dict(sorted(_REGISTRY.items()))


def get_source(name: str) -> FileSource:
    found = sources().get(name)
    if found is None:
        raise UnknownSource(f"no import kind {name!r}; known: {', '.join(sources())}")
    return found()
