"""Daily digests in the spirit of Qwitter — who left, how, and the post most likely to
blame with its confidence — by email (SMTP) and Slack/Discord-compatible webhooks.

Configured as ``[[digest]]`` tables in the watch config (:mod:`.config`); composed from the
same analyses as the reports (:mod:`.compose`); sent with retries and never twice for a
period (:mod:`.schedule`), by ``breakup digest`` now or by ``breakup watch`` when due.
"""

from __future__ import annotations

from .compose import Digest, DigestItem, LikelyPost, compose
from .config import DigestTarget, load_targets, targets_from_raw
from .render import discord_payload, render_html, render_text, slack_payload
from .schedule import (
    DigestResult,
    DigestScheduler,
    Senders,
    last_complete_period,
    send_digests,
)

__all__ = [
    "Digest",
    "DigestItem",
    "DigestResult",
    "DigestScheduler",
    "DigestTarget",
    "LikelyPost",
    "Senders",
    "compose",
    "discord_payload",
    "last_complete_period",
    "load_targets",
    "render_html",
    "render_text",
    "send_digests",
    "slack_payload",
    "targets_from_raw",
]
