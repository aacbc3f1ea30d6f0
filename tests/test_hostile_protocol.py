"""Hostile answers for every protocol parser: Bluesky AppView (live/_bsky_parse.py),
Mastodon (live/_mastodon_parse.py) and Jetstream frames (jetstream/frames.py, and the
resolver and consumer that read them).

Property: whatever a service sends — arbitrary JSON, or a real answer with fields replaced
by hostile values (wrong types, huge strings, times in the future, out-of-range times in
far time zones, markup) — a parser returns a well-formed observation or None, never raises;
a time it keeps is aware UTC and not after "now"; and the Jetstream consumer saves only
what it can stand behind, never raising for a frame. Example counts are modest for CI.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breakup.jetstream import Consumer
from breakup.jetstream import frames as jf
from breakup.jetstream.resolver import Resolver, Tracked
from breakup.live import _bsky_parse as bp
from breakup.live import _mastodon_parse as mp
from breakup.models import Event, Interaction, Person, Post, Profile
from breakup.store import Store

from .conftest import table_counts
from .servers.jetstream import account as js_account
from .servers.jetstream import encode, follow, identity, tid, unfollow, us_of
from .servers.mastodon import Instance
from .servers.xrpc import AppView

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
EXAMPLES = int(os.environ.get("BREAKUP_HOSTILE_EXAMPLES", "15")) * 4
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE_STRINGS = [
    "",
    " ",
    "2999-01-01T00:00:00Z",  # the future
    "0001-01-01T00:00:00+14:00",  # before year 1 once in UTC
    "9999-12-31T23:59:59-12:00",  # after year 9999 once in UTC
    "2025-02-30T00:00:00Z",
    "2025-01-01T00:00:00",  # no zone
    "2025-01-01T05:00:00+05:45",
    "did:plc:brand",
    "did:",
    "at://did:plc:brand/app.bsky.graph.follow/3l25zusnsfctk",
    "at://did:plc:x/app.bsky.feed.post/zzzzzzzzzzzzz",
    "at:///",
    "7zzzzzzzzzzzz",  # a TID beyond any datetime
    "<script>alert(1)</script>",
    "<p>hi<br>there &amp; <a href='javascript:x'>x</a></p>",
    '=HYPERLINK("http://x")',
    "\x00\ud800",
    "a" * 100_000,
    "@user@",
    "user@host@evil",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(HOSTILE_STRINGS),
)
KEYS = st.sampled_from(
    ["did", "handle", "displayName", "createdAt", "indexedAt", "uri", "record", "text",
     "reply", "parent", "embed", "$type", "labels", "val", "neg", "id", "acct", "account",
     "created_at", "status", "type", "reblog", "content", "moved", "followed_by", "cursor",
     "time_us", "kind", "commit", "operation", "collection", "rkey", "subject", "active"]
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(KEYS, st.text(max_size=6)), inner, max_size=6),
    ),
    max_leaves=25,
)


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*at, i))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    value[head] = _replace(value[head], rest, new)
    return value


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """*base* with up to four of its values (or whole sub-objects) replaced."""
    value = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(value))
        path = draw(st.sampled_from(paths))
        if path and draw(st.booleans()) and isinstance(value, dict | list):
            # sometimes delete instead of replace
            parent = value
            for p in path[:-1]:
                parent = parent[p]
            if isinstance(parent, dict):
                del parent[path[-1]]
                continue
        value = _replace(value, path, draw(json_values))
    return value


def utc_not_after_now(at: datetime | None, now: datetime = NOW) -> None:
    if at is None:
        return
    assert at.tzinfo is not None and at.utcoffset() == timedelta(0), at
    assert at <= now, at


def well_formed_person(p: Person | None, prefix: str = "") -> None:
    if p is None:
        return
    assert isinstance(p.external_id, str) and p.external_id.startswith(prefix)
    assert p.handle is None or isinstance(p.handle, str)
    assert p.display_name is None or isinstance(p.display_name, str)


# -- real answers to mutate, from the local servers' own renderers ------------------------


def _bsky_samples() -> dict[str, Any]:
    view = AppView(clock=lambda: NOW)
    brand = view.add_actor("did:plc:brand", "brand.test", "Brand")
    view.add_actor("did:plc:fan", "fan.test", "Fan")
    view.add_actor("did:plc:other", "other.test")
    record = view.follow("did:plc:fan", "did:plc:brand", NOW - timedelta(days=3))
    theirs = view.post("did:plc:other", "theirs", NOW - timedelta(days=2))
    post = view.post("did:plc:brand", "hello", NOW - timedelta(days=1), quote_of=theirs.uri)
    reply = view.post("did:plc:brand", "re", NOW - timedelta(hours=3), reply_parent=theirs.uri)
    post.likes.append(("did:plc:fan", NOW - timedelta(hours=2)))
    boost = view.repost("did:plc:brand", theirs, NOW - timedelta(hours=1))
    rels = view._getRelationships({"actor": ["did:plc:brand"], "others": ["did:plc:fan", "x"]})
    feed = view._getAuthorFeed({"actor": ["did:plc:brand"]})[1]
    assert record.rkey and boost.repost_of is theirs and reply.reply_parent
    return {
        "profile": view.profile_detailed(brand),
        "feed": feed,
        "relationships": rels[1],
        "like": {
            "actor": view.profile_view(view.actors["did:plc:fan"]),
            "createdAt": "2026-05-31T10:00:00.000Z",
            "indexedAt": "2026-05-31T10:00:01.000Z",
        },
    }


BSKY = _bsky_samples()


def _mastodon_samples() -> dict[str, Any]:
    inst = Instance(clock=NOW, domain="m.test")
    me = inst.add_account("brand")
    fan = inst.add_account("fan", "remote.example", bot=True)
    moved = inst.add_account("old", "remote.example")
    inst.move(moved, fan)
    mine = inst.add_status(me, NOW - timedelta(days=1), "hello <b>world</b>")
    theirs = inst.add_status(
        fan, NOW - timedelta(hours=2), "@brand hi", in_reply_to_id=mine, in_reply_to_account_id=me
    )
    boost = inst.add_status(me, NOW - timedelta(hours=1), "", reblog=theirs)
    note = {
        "id": "9",
        "type": "mention",
        "created_at": "2026-05-31T10:00:00.000Z",
        "account": inst.account_json(fan),
        "status": inst.status_json(next(s for s in inst.statuses if s["id"] == theirs)),
    }
    return {
        "me": me,
        "account": inst.account_json(moved),
        "status": inst.status_json(next(s for s in inst.statuses if s["id"] == mine)),
        "boost": inst.status_json(next(s for s in inst.statuses if s["id"] == boost)),
        "notification": note,
        "follow": {**note, "type": "follow", "status": None},
        "relationships": [inst.relationship_json(me, fan)],
    }


MASTODON = _mastodon_samples()


# -- Bluesky AppView ----------------------------------------------------------------------


def check_bsky(name: str, body: Any) -> None:
    if name == "profile":
        well_formed_person(bp.person(body), "did:")
        prof = bp.profile(body, NOW)
        if prof is not None:
            assert isinstance(prof, Profile)
            utc_not_after_now(prof.created_at)
            for n in (prof.posts_count, prof.followers_count, prof.following_count):
                assert n is None or (isinstance(n, int) and n >= 0)
    elif name == "feed":
        for item in bp.items(body, "feed") or [body]:
            post = bp.feed_post(item, "did:plc:brand", NOW)
            if post is not None:
                assert isinstance(post, Post) and isinstance(post.external_id, str)
                assert isinstance(post.text, str)
                utc_not_after_now(post.created_at)
                assert all(isinstance(v, int) for v in post.metrics.values())
    elif name == "relationships":
        for did, rel in bp.relationships(body).items():
            assert isinstance(did, str) and rel.did == did
            record = bp.follow_record(Person(did), rel, NOW)
            if record is not None:
                assert bp.split_at_uri(rel.followed_by) is not None
                utc_not_after_now(record.created_at)
    elif name == "like":
        found = bp.like(body, "at://did:plc:brand/app.bsky.feed.post/x", NOW)
        if found is not None:
            assert isinstance(found, Interaction)
            utc_not_after_now(found.at)
            well_formed_person(found.person, "did:")


@pytest.mark.parametrize("name", sorted(BSKY))
@SETTINGS
@given(data=st.data())
def test_bsky_answers_mutated_parse_or_are_skipped(name: str, data: st.DataObject) -> None:
    check_bsky(name, data.draw(mutated(BSKY[name])))


@SETTINGS
@given(value=json_values)
def test_bsky_parsers_take_any_json(value: Any) -> None:
    for name in BSKY:
        check_bsky(name, value)
    for text in value if isinstance(value, list) else [value]:
        utc_not_after_now(bp.claimed_time(text, text, NOW))
        bp.split_at_uri(text)
        bp.web_url(text) if isinstance(text, str) else None
        if isinstance(text, str):
            at = bp.tid_time(text)
            assert at is None or at.tzinfo is not None


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_bsky_times_out_of_range_are_none_not_a_crash(text: str) -> None:
    when = bp.parse_time(text)
    assert when is None or when.tzinfo is not None
    assert bp.claimed_time(text, text, NOW) is None or text.startswith("2025")


def test_the_unmutated_samples_parse() -> None:
    """The property above is only worth something if the real answers do parse."""
    assert bp.person(BSKY["profile"]) == Person("did:plc:brand", "brand.test", "Brand")
    posts = [bp.feed_post(i, "did:plc:brand", NOW) for i in BSKY["feed"]["feed"]]
    assert {p.kind for p in posts if p} == {"post", "reply", "quote", "repost"} - {"post"}
    assert bp.relationships(BSKY["relationships"])["did:plc:fan"].followed_by
    assert bp.like(BSKY["like"], "u", NOW) is not None
    assert mp.account(MASTODON["account"], "m.test") is not None
    assert mp.post(MASTODON["status"], MASTODON["me"], "m.test", NOW) is not None
    assert mp.notification(MASTODON["notification"], MASTODON["me"], "m.test", NOW)


# -- Mastodon -----------------------------------------------------------------------------


def check_mastodon(name: str, body: Any) -> None:
    me = MASTODON["me"]
    if name == "account":
        acct = mp.account(body, "m.test")
        if acct is not None:
            assert "@" in acct.key and acct.key == acct.key.lower()
            assert not any(c.isspace() for c in acct.key)
            assert acct.key.count("@") == 1
            utc_not_after_now(acct.created_at, datetime.max.replace(tzinfo=UTC))
            acct.profile(NOW)
    elif name in ("status", "boost"):
        post = mp.post(body, me, "m.test", NOW)
        if post is not None:
            assert isinstance(post.text, str)
            utc_not_after_now(post.created_at)
    elif name in ("notification", "follow"):
        found = mp.notification(body, me, "m.test", NOW)
        if found is not None:
            assert isinstance(found, Event | Interaction)
            utc_not_after_now(found.at)
    elif name == "relationships":
        for ident, rel in mp.relationships(body).items():
            assert ident == rel.id and isinstance(rel.followed_by, bool)
    if isinstance(body, str):
        assert isinstance(mp.plain_text(body), str)


@pytest.mark.parametrize("name", sorted(k for k in MASTODON if k != "me"))
@SETTINGS
@given(data=st.data())
def test_mastodon_entities_mutated_parse_or_are_skipped(name: str, data: st.DataObject) -> None:
    check_mastodon(name, data.draw(mutated(MASTODON[name])))


@SETTINGS
@given(value=json_values)
def test_mastodon_parsers_take_any_json(value: Any) -> None:
    for name in MASTODON:
        if name != "me":
            check_mastodon(name, value)
    when = mp.when(value) if not isinstance(value, list | dict) else None
    assert when is None or when.tzinfo is not None


def test_mastodon_out_of_range_datetimes_are_none() -> None:
    east = timezone_of(14)
    assert mp.when(datetime(1, 1, 1, tzinfo=east)) is None
    assert mp.when("0001-01-01T00:00:00+14:00") is None
    assert bp.parse_time("9999-12-31T23:59:59-12:00") is None


def timezone_of(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


# -- Jetstream frames -----------------------------------------------------------------------

BRAND = "did:plc:brand4xyzq6gjnaw2blty4c"
T0 = us_of(datetime(2026, 5, 1, tzinfo=UTC))


def _frames() -> list[dict[str, Any]]:
    return [
        follow("did:plc:fan1", T0, tid(T0), BRAND),
        unfollow("did:plc:fan1", T0 + 5, tid(T0)),
        js_account("did:plc:fan1", T0 + 9, active=False, status="deactivated"),
        identity("did:plc:fan1", T0 + 10, "fan.test"),
    ]


FRAMES = _frames()
frame_text = st.one_of(
    st.sampled_from(FRAMES).flatmap(mutated).map(lambda v: json.dumps(v, ensure_ascii=False)),
    st.sampled_from([encode(f) for f in FRAMES]).flatmap(
        lambda s: st.tuples(st.just(s), st.integers(0, len(s))).map(lambda t: t[0][: t[1]])
    ),  # cut mid-frame
    st.text(max_size=200),
    st.sampled_from(
        [
            '{"did":"did:plc:fan1","time_us":' + "9" * 30 + ',"kind":"commit"}',
            '{"did":"did:plc:fan1","time_us":-5,"kind":"account"}',
            '{"did":"x","time_us":1e400}',
            '{"did":"did:plc:fan1","time_us":9223372036854775808,"kind":"commit","commit":'
            '{"operation":"create","collection":"app.bsky.graph.follow","rkey":"r","record":'
            '{"subject":"' + BRAND + '"}}}',
        ]
    ),
)


@SETTINGS
@given(frame=frame_text)
def test_frame_readers_take_any_text(frame: str) -> None:
    found = jf.head(frame)
    assert found is None or (found[0] and isinstance(found[1], int))
    us = jf.time_us(frame)
    assert us is None or isinstance(us, int)
    event = jf.decode(frame)
    assert event is None or isinstance(event, dict)
    resolver = Resolver()
    resolver.subjects = {BRAND: (Tracked(1, "bsky:brand", BRAND),)}
    resolver.feed(frame)
    r = resolver.result
    assert r.frames == 1
    assert len(resolver.pending) <= 1


@pytest.fixture
def jet_store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "j.duckdb") as store:
        store.ensure_account("bsky:brand.test", "bsky", BRAND, "brand.test")
        yield store


@settings(SETTINGS, max_examples=max(10, EXAMPLES // 4))
@given(frames=st.lists(frame_text, min_size=1, max_size=6))
def test_the_consumer_never_raises_for_a_frame_and_keeps_the_store_sane(
    frames: list[str], jet_store: Store
) -> None:
    store = jet_store
    before = table_counts(store)
    consumer = Consumer(store, flush_every=10**9, flush_seconds=3600)
    for frame in frames:
        consumer.feed(frame)
    consumer.flush()
    after = table_counts(store)
    latest = store.scalar("SELECT max(occurred_at) FROM events")
    cursor = store.cursor("jetstream")
    assert latest is None or latest <= datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
    assert cursor is None or 0 <= cursor <= jf.MAX_TIME_US
    assert all(after[t] >= before[t] for t in before)


def _follow_frame(did: str, us: int, rkey: str) -> str:
    return (
        f'{{"did":"{did}","time_us":{us},"kind":"commit","commit":{{"rev":"{rkey}",'
        f'"operation":"create","collection":"app.bsky.graph.follow","rkey":"{rkey}",'
        f'"record":{{"$type":"app.bsky.graph.follow","createdAt":"2026-05-01T00:00:00Z",'
        f'"subject":"{BRAND}"}}}}}}'
    )


@pytest.mark.parametrize("absurd", [10**20, 2**63, 2**64 - 1, jf.MAX_TIME_US + 1])
def test_a_frame_with_an_absurd_time_is_malformed_not_fatal(absurd: int, jet_store: Store) -> None:
    """A frame whose time_us no datetime (or cursor) can hold must not stop the stream."""
    store = jet_store
    consumer = Consumer(store, flush_every=10**9, flush_seconds=3600)
    consumer.feed(_follow_frame("did:plc:fan8", T0, tid(T0)))
    consumer.feed(_follow_frame("did:plc:fan9", absurd, "3kbadbadbadba"))
    consumer.flush()
    assert consumer.result.malformed == 1 and consumer.result.follows == 1
    assert store.cursor("jetstream") == T0
    assert store.scalar("SELECT count(*) FROM events") == 1


def test_unhashable_type_fields_are_skipped_not_a_crash() -> None:
    """Regression: a list where a ``$type`` or a label value belongs raised TypeError
    (unhashable) out of the poll."""
    item = copy.deepcopy(next(i for i in BSKY["feed"]["feed"] if "reason" not in i))
    item["post"]["record"]["embed"] = {"$type": ["app.bsky.embed.record"], "record": {}}
    assert bp.feed_post(item, "did:plc:brand", NOW) is not None
    view = {**BSKY["profile"], "labels": [{"val": ["bot"]}, {"val": {"x": 1}}]}
    prof = bp.profile(view, NOW)
    assert prof is not None and prof.bot is None


def test_a_frame_from_the_future_does_not_stall_the_stream(jet_store: Store) -> None:
    store = jet_store
    ahead = us_of(datetime.now(UTC) + timedelta(days=30))
    consumer = Consumer(store, flush_every=10**9, flush_seconds=3600)
    consumer.feed(_follow_frame("did:plc:fan7", T0, tid(T0)))
    consumer.feed(_follow_frame("did:plc:fan6", ahead, tid(ahead)))
    consumer.flush()
    assert store.scalar("SELECT count(*) FROM events") >= 1
    assert store.cursor("jetstream") is not None
