"""Sending a digest to a Slack- or Discord-compatible incoming webhook (httpx)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from ..errors import ServiceError
from .compose import Digest
from .config import DigestTarget
from .render import DiscordPayload, SlackPayload, discord_payload, slack_payload

TIMEOUT = 30.0


def payload(target: DigestTarget, digest: Digest) -> SlackPayload | DiscordPayload:
    return discord_payload(digest) if target.format == "discord" else slack_payload(digest)


def post_webhook(
    target: DigestTarget,
    digest: Digest,
    *,
    client: httpx.Client,
    env: Mapping[str, str] | None = None,
) -> None:
    """POST the digest; ServiceError on a non-2xx answer or a transport failure. The URL
    is a secret: errors name the target, never the URL."""
    url = target.webhook_url(env)
    try:
        response = client.post(url, json=payload(target, digest), timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise ServiceError(f"webhook {target.key}", type(exc).__name__) from None
    if not 200 <= response.status_code < 300:
        raise ServiceError(
            f"webhook {target.key}", f"HTTP {response.status_code}", response.status_code
        )
