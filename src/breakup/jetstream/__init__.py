"""Jetstream: exact Bluesky follow and unfollow times from the firehose.

* :mod:`.frames` — the v1 wire format (subscribe URL, envelope, fast field reads);
* :mod:`.resolver` — drops what no tracked account cares about, resolves deletes through
  the (follower, rkey) → followed-account map;
* :mod:`.save` — one transaction per batch: events, checks, follow records and the cursor;
* :mod:`.consumer` — batching, and the websocket loop with resume and backoff.
"""

from __future__ import annotations

from .consumer import CURSOR, REWIND_US, Consumer, stream
from .frames import DEFAULT_URL
from .resolver import StreamResult

__all__ = ["CURSOR", "DEFAULT_URL", "REWIND_US", "Consumer", "StreamResult", "stream"]
