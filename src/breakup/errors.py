"""Every error breakup raises on purpose.

::

    BreakupError
    ├── InvalidInput (ValueError)        input the user gave us is unusable
    │   └── InvalidExport                a file or folder that is not what its kind says
    ├── UnknownSource (LookupError)      no registered source by that name
    ├── AccountError
    │   ├── UnknownAccount (LookupError)
    │   └── AccountMismatch (ValueError) data belongs to another account or platform
    ├── StoreError
    │   ├── SchemaTooNew                 the store was written by a newer breakup
    │   └── StoreLocked                  another process (e.g. ``watch``) holds the file
    └── ServiceError (ConnectionError)   a live service failed after retries, or refused
        └── RateLimited                  still rate-limited after waiting as told

The CLI turns any of these into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


class BreakupError(Exception):
    """Root of every error breakup raises on purpose."""


class InvalidInput(BreakupError, ValueError):
    """Input the user gave us cannot be used."""


class InvalidExport(InvalidInput):
    """A file or folder is malformed, truncated or not of the kind claimed."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnknownSource(BreakupError, LookupError):
    """No source is registered under the given name."""

    def __str__(self) -> str:  # KeyError-style repr quoting is unhelpful here
        return str(self.args[0]) if self.args else "unknown source"


class AccountError(BreakupError):
    """Problems with the tracked account an operation names."""


class UnknownAccount(AccountError, LookupError):
    """No tracked account by that name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown account"


class AccountMismatch(AccountError, ValueError):
    """The data belongs to a different account or platform than the one named."""


class StoreError(BreakupError):
    """The store cannot be opened or used."""


class SchemaTooNew(StoreError):
    """The store was written by a newer version of breakup."""


class StoreLocked(StoreError):
    """Another process holds the store file (DuckDB allows one writer per file, and then
    no other process may open it, even read-only). Raised by :class:`breakup.store.Store`,
    the only place that recognises DuckDB's lock error; readers then use a copy."""

    def __init__(self, path: Path | str, detail: str = "") -> None:
        self.path = Path(path)
        self.detail = detail
        super().__init__(
            f"{self.path}: locked by another process writing it (e.g. `breakup watch`)"
            + (f", {detail}" if detail else "")
        )


class ServiceError(BreakupError, ConnectionError):
    """A live service (AppView, Mastodon, Jetstream) failed after retries, or refused."""

    def __init__(self, service: str, problem: str, status: int | None = None) -> None:
        self.service = service
        self.problem = problem
        self.status = status
        super().__init__(f"{service}: {problem}")


class RateLimited(ServiceError):
    """Still rate-limited after waiting as long as the service asked, or asked to wait
    longer than breakup waits in one go; ``retry_at`` is when the service said to come
    back, when it said."""

    def __init__(
        self,
        service: str,
        problem: str,
        status: int | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        super().__init__(service, problem, status)
        self.retry_at = retry_at
