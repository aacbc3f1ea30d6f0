"""Jetstream streaming, under the name the CLI and ``breakup watch`` import it by.

The implementation is the :mod:`breakup.jetstream` package.
"""

from __future__ import annotations

from .jetstream import CURSOR, DEFAULT_URL, REWIND_US, Consumer, StreamResult, stream

__all__ = ["CURSOR", "DEFAULT_URL", "REWIND_US", "Consumer", "StreamResult", "stream"]
