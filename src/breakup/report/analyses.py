"""The why (issue 4) and fans (issue 5) analyses, when this breakup has them.

They are called through their public entry points only, with the keyword arguments each
accepts, so a report works before, during and after they land. An analysis that refuses
(too little data, say) or fails gives its message in place of its section; it never sinks
the report, whose other sections are the user's data as observed.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import BreakupError
from ..filters import Filters
from ..store import Store

FANS_SECTIONS = ("top_fans", "at_risk", "hygiene", "unanswered")


@dataclass(frozen=True)
class Unavailable:
    """Stands in for a section whose analysis declined: shows why."""

    message: str


def _module(name: str) -> Any:
    try:
        return importlib.import_module(f"breakup.{name}")
    except ImportError:
        return None


def _call(fn: Callable[..., Any], store: Store, filters: Filters) -> Any:
    params = inspect.signature(fn).parameters
    offered = {"account": filters.account, "since": filters.since}
    kwargs = {k: v for k, v in offered.items() if k in params and v is not None}
    try:
        return fn(store, **kwargs)
    except BreakupError as exc:
        return Unavailable(str(exc))
    except Exception as exc:  # a failing analysis must not take the whole report down
        return Unavailable(f"{fn.__module__}.{fn.__name__} failed: {type(exc).__name__}: {exc}")


def why_result(store: Store, filters: Filters) -> Any:
    """``breakup.why.analyze`` for the filters, or None without that module."""
    why = _module("why")
    analyze = getattr(why, "analyze", None)
    return None if analyze is None else _call(analyze, store, filters)


def fans_results(store: Store, filters: Filters) -> dict[str, Any]:
    """Each fans analysis that exists, by name (top_fans, at_risk, hygiene, unanswered)."""
    fans = _module("fans")
    if fans is None:
        return {}
    out: dict[str, Any] = {}
    for name in FANS_SECTIONS:
        fn = getattr(fans, name, None)
        if callable(fn):
            out[name] = _call(fn, store, filters)
    return out
