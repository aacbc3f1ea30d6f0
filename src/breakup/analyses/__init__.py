"""Analyses: the questions asked of the store that every output renders.

An analysis is a class with a ``name``, a ``title``, ``run(store, filters)`` returning
its typed result (a dataclass, or a list of them) and ``blocks(result)`` turning that
result into :class:`~breakup.analyses.blocks.Block` s. The terminal (``breakup why``,
``breakup fans``), the HTML report and the dashboard render those same blocks; the
digest and the export read the same typed results. So no two outputs can disagree.

Each analysis lives in a module of this package and registers itself with
:func:`register` (like the sources of :mod:`breakup.sources`); :func:`analyses` lists
them in reading order. Adding an analysis is adding a module here.

=====================  ======================================================
``why`` (:mod:`.why`)  break-up posts, diagnosis, triage, retention
``top_fans`` …         the fans analyses (:mod:`.fans`): top fans, fans at
                       risk, hygiene, never answered
=====================  ======================================================
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, TypeVar

from ..errors import BreakupError
from ..filters import Filters
from .blocks import Block

if TYPE_CHECKING:
    from ..store import Store

__all__ = [
    "Analysis",
    "Block",
    "Filters",
    "Registered",
    "Section",
    "Unavailable",
    "analyses",
    "get",
    "register",
]

R = TypeVar("R")


@dataclass(frozen=True)
class Unavailable:
    """Stands in for a result whose analysis declined (too little data) or failed: why."""

    message: str


@dataclass(frozen=True)
class Section:
    """One analysis run for an output: its name, title, result and blocks.

    ``result`` is the analysis' own typed result (or :class:`Unavailable`); the outputs
    that read fields of it (the export, the digest, the headline cards) use the typed
    result of the analysis class itself (e.g. :meth:`.why.WhyAnalysis.run`)."""

    name: str
    title: str
    result: object
    blocks: list[Block] = field(default_factory=list)


class Analysis(ABC, Generic[R]):
    """The contract: a name, a title, a typed result, and blocks to render it."""

    name: ClassVar[str]
    title: ClassVar[str]
    order: ClassVar[int] = 50  # reading order in the report (lower first)

    @abstractmethod
    def run(self, store: Store, filters: Filters) -> R:
        """The result for *filters*; raises a BreakupError when it cannot be had."""

    @abstractmethod
    def blocks(self, result: R) -> list[Block]:
        """*result* as blocks, the one rendering every output shows."""

    def attempt(self, store: Store, filters: Filters) -> R | Unavailable:
        """:meth:`run`, or :class:`Unavailable` saying why not: an analysis that declines
        or fails never sinks the output around it."""
        try:
            return self.run(store, filters)
        except BreakupError as exc:
            return Unavailable(str(exc))
        except Exception as exc:  # a failing analysis must not take the whole report down
            return Unavailable(f"{self.name} failed: {type(exc).__name__}: {exc}")

    def render(self, result: R | Unavailable) -> list[Block]:
        if isinstance(result, Unavailable):
            return [Block(self.title, note=result.message)]
        return self.blocks(result)

    def section(self, store: Store, filters: Filters) -> Section:
        result = self.attempt(store, filters)
        return Section(self.name, self.title, result, self.render(result))


class Registered(Protocol):
    """What the registry gives: any :class:`Analysis`, whatever its result type."""

    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def order(self) -> int: ...

    def section(self, store: Store, filters: Filters) -> Section: ...


_REGISTRY: dict[str, Registered] = {}
_LOADED = False

A = TypeVar("A", bound=Registered)


def register(cls: type[A]) -> type[A]:
    """Class decorator: make an analysis available under ``cls.name`` (one instance)."""
    instance = cls()
    name = instance.name
    if name in _REGISTRY and type(_REGISTRY[name]) is not cls:
        raise ValueError(f"analysis {name!r} registered twice")
    _REGISTRY[name] = instance
    return cls


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    for info in pkgutil.iter_modules(__path__):
        if info.name != "blocks" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _LOADED = True


def analyses() -> list[Registered]:
    """Every registered analysis, in reading order."""
    _load()
    return sorted(_REGISTRY.values(), key=lambda a: (a.order, a.name))


def get(name: str) -> Registered:
    _load()
    found = _REGISTRY.get(name)
    if found is None:
        raise KeyError(f"no analysis {name!r}; known: {', '.join(a.name for a in analyses())}")
    return found
