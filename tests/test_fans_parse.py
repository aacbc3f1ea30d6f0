"""The live parsers' profile and reply/mention facts that the fans analyses read."""

from __future__ import annotations

from datetime import UTC, datetime

from breakup.live import _bsky_parse as bsky
from breakup.live import _mastodon_parse as masto
from breakup.models import InteractionKind

NOW = datetime(2025, 3, 1, tzinfo=UTC)
ME = "did:plc:brand"


def test_mastodon_account_profile() -> None:
    entity = {
        "id": "7",
        "acct": "ada@social.example",
        "display_name": "Ada",
        "statuses_count": 1200,
        "followers_count": 80,
        "following_count": 4000,
        "bot": True,
        "created_at": "2024-12-30T00:00:00.000Z",
        "last_status_at": "2025-02-27",
        "note": "<p>beep <b>boop</b></p>",
    }
    a = masto.account(entity, "mastodon.example")
    assert a is not None
    p = a.profile(NOW)
    assert p.person.external_id == "ada@social.example"
    assert (p.posts_count, p.followers_count, p.following_count, p.bot) == (1200, 80, 4000, True)
    assert p.created_at == datetime(2024, 12, 30, tzinfo=UTC)
    assert p.last_post_at == datetime(2025, 2, 27, tzinfo=UTC)
    assert p.description == "beep boop"
    bare = masto.account({"id": "8", "acct": "bob"}, "mastodon.example")
    assert bare is not None
    assert bare.profile(NOW).posts_count is None and bare.profile(NOW).bot is None


def test_mastodon_mentions_carry_their_status_id() -> None:
    who = {"id": "9", "acct": "ada@social.example"}
    reply = {
        "id": "n1",
        "type": "mention",
        "created_at": "2025-02-01T10:00:00Z",
        "account": who,
        "status": {"id": "555", "in_reply_to_id": "100", "in_reply_to_account_id": "1"},
    }
    got = masto.notification(reply, "1", "mastodon.example", NOW)
    assert got is not None and not hasattr(got, "direction")
    assert (got.kind, got.post, got.ref) == (InteractionKind.REPLY, "100", "555")  # type: ignore[union-attr]
    mention = dict(reply, status={"id": "556"})
    got = masto.notification(mention, "1", "mastodon.example", NOW)
    assert (got.kind, got.post, got.ref) == (InteractionKind.MENTION, None, "556")  # type: ignore[union-attr]


def test_bsky_profile_views() -> None:
    view = {
        "did": "did:plc:ada",
        "handle": "ada.example",
        "createdAt": "2024-11-01T00:00:00Z",
        "description": "hi",
        "postsCount": 12,
        "followersCount": 3,
        "followsCount": 9,
        "labels": [{"val": "bot", "src": "did:plc:ada"}],
    }
    p = bsky.profile(view, NOW)
    assert p is not None
    assert (p.posts_count, p.followers_count, p.following_count, p.bot) == (12, 3, 9, True)
    assert p.created_at == datetime(2024, 11, 1, tzinfo=UTC) and p.description == "hi"
    plain = bsky.profile({"did": "did:plc:bo", "createdAt": "2999-01-01T00:00:00Z"}, NOW)
    assert plain is not None and plain.bot is None and plain.created_at is None
    negated = dict(view, labels=[{"val": "bot", "neg": True}])
    assert bsky.profile(negated, NOW).bot is None  # type: ignore[union-attr]
    assert bsky.profile({"handle": "x"}, NOW) is None
