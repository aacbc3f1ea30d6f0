"""A digest as plain text, HTML (email), and Slack / Discord webhook JSON.

Names and post texts are attacker-controlled: HTML is autoescaped; Slack text escapes
``& < >`` (so no ``<!channel>`` or forged links); Discord gets no mentions at all
(``allowed_mentions``) and markdown characters escaped; every form loses bidi controls
(:func:`breakup.safetext.strip_bidi`), so a name cannot reverse the text around it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TypedDict

import jinja2

from ..safetext import display_text, strip_bidi
from .compose import MAX_ITEMS, Digest, DigestItem

DISCORD_LIMIT = 2000


def _when(item: DigestItem) -> str:
    if item.exact:
        return f"{item.left_latest:%H:%M}"
    return f"between {item.left_earliest:%m-%d %H:%M} and {item.left_latest:%m-%d %H:%M}"


def _flat(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def summary(digest: Digest) -> str:
    if not digest.items:
        return f"Nobody left on {digest.period.isoformat()}."
    kinds = ", ".join(f"{n} {k}" for k, n in digest.kinds.items())
    return f"{len(digest.items)} left on {digest.period.isoformat()}: {kinds}."


def item_lines(item: DigestItem) -> tuple[str, str | None]:
    """The departure, and the likely post with its confidence (or None)."""
    head = strip_bidi(f"{item.who} {item.kind} {item.account} ({_when(item)} UTC)")
    if item.post is None:
        return head, None
    post = f'after "{_flat(item.post.text)}" ({item.post.created_at:%m-%d %H:%M}): '
    return head, strip_bidi(post + item.post.confidence)


def render_text(digest: Digest) -> str:
    lines = [digest.title, "", summary(digest), ""]
    for item in digest.items[:MAX_ITEMS]:
        head, post = item_lines(item)
        lines.append(f"- {head}")
        if post:
            lines.append(f"  {post}")
    if len(digest.items) > MAX_ITEMS:
        lines.append(f"… and {len(digest.items) - MAX_ITEMS} more (breakup left)")
    return "\n".join(lines) + "\n"


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("breakup.digest", "templates"),
        autoescape=True,
        finalize=display_text,  # no bidi controls in anything printed
    )


def render_html(digest: Digest) -> str:
    rows = [item_lines(i) for i in digest.items[:MAX_ITEMS]]
    more = max(0, len(digest.items) - MAX_ITEMS)
    return (
        _env()
        .get_template("digest.html.j2")
        .render(digest=digest, summary=summary(digest), rows=rows, more=more)
    )


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackText(TypedDict):
    type: str  # plain_text, mrkdwn
    text: str


class SlackBlock(TypedDict):
    type: str  # header, section
    text: SlackText


class SlackPayload(TypedDict):
    """A Slack incoming webhook's message (Block Kit), with its plain-text fallback."""

    text: str
    blocks: list[SlackBlock]


class AllowedMentions(TypedDict):
    parse: list[str]


class DiscordPayload(TypedDict):
    """A Discord webhook's message; nobody can be mentioned."""

    content: str
    allowed_mentions: AllowedMentions


def slack_payload(digest: Digest) -> SlackPayload:
    lines = []
    for item in digest.items[:MAX_ITEMS]:
        head, post = item_lines(item)
        lines.append("• " + slack_escape(head) + (f"\n    _{slack_escape(post)}_" if post else ""))
    if len(digest.items) > MAX_ITEMS:
        lines.append(f"… and {len(digest.items) - MAX_ITEMS} more")
    body = "\n".join(lines) or "Nobody left."
    return {
        "text": slack_escape(f"{digest.title}. {summary(digest)}"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": digest.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(summary(digest))}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}},
        ],
    }


_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()-])")


def discord_escape(text: str) -> str:
    return _DISCORD_MARKDOWN.sub(r"\\\1", text).replace("@", "@\u200b")


def discord_payload(digest: Digest) -> DiscordPayload:
    lines = [f"**{discord_escape(digest.title)}**", discord_escape(summary(digest))]
    for item in digest.items[:MAX_ITEMS]:
        head, post = item_lines(item)
        lines.append("• " + discord_escape(head))
        if post:
            lines.append("  *" + discord_escape(post) + "*")
    content = "\n".join(lines)
    if len(content) > DISCORD_LIMIT:
        content = content[: DISCORD_LIMIT - 1] + "…"
    return {"content": content, "allowed_mentions": {"parse": []}}
