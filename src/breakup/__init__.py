"""breakup: who left your audience, when, and why — and who your best fans are.

Library first: open a :class:`Store`, read inputs with a registered source, save them with
:func:`save_batch`, and ask :func:`who_left` / :func:`account_status`.
"""

from __future__ import annotations

from .errors import (
    AccountError,
    AccountMismatch,
    BreakupError,
    InvalidExport,
    InvalidInput,
    SchemaTooNew,
    StoreError,
    UnknownAccount,
    UnknownSource,
)
from .ingest import ImportResult, save_batch
from .left import Departure, who_left
from .sources import ReadOptions, get_source, sources
from .status import AccountStatus, account_status
from .store import Account, Store

__version__ = "0.1.0"

__all__ = [
    "Account",
    "AccountError",
    "AccountMismatch",
    "AccountStatus",
    "BreakupError",
    "Departure",
    "ImportResult",
    "InvalidExport",
    "InvalidInput",
    "ReadOptions",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "UnknownAccount",
    "UnknownSource",
    "account_status",
    "get_source",
    "save_batch",
    "sources",
    "who_left",
]
