"""The local web dashboard (FastAPI): the report's views over a store that ``watch`` may be
writing at the same time. Binds to 127.0.0.1 unless told otherwise, and then needs a token.
"""

from __future__ import annotations

from .app import create_app, serve
from .auth import check_bind, is_loopback
from .reader import StoreReader

__all__ = ["StoreReader", "check_bind", "create_app", "is_loopback", "serve"]
