"""The Bluesky tracker against a local AppView speaking real XRPC over HTTP, through the
real store and ``track()``: paging, departures and their re-check, partial snapshots,
rate limits, follow records, posts and engagement, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from breakup.errors import ServiceError
from breakup.live import Connection, get_tracker
from breakup.live._bsky_parse import claimed_time, relationships, tid_time
from breakup.live.bsky import BskyTracker
from breakup.store import Store
from breakup.track import TrackResult, track

from .faketime import FakeTime
from .servers.xrpc import AppView, Fault, cursor_for, tid

BRAND = "did:plc:brand"
T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def fdid(n: int) -> str:
    return f"did:plc:f{n:05d}"


@pytest.fixture
def t() -> FakeTime:
    return FakeTime(T0)


@pytest.fixture
def view(t: FakeTime) -> Iterator[AppView]:
    with AppView(clock=t.clock) as v:
        v.add_actor(BRAND, "brand.test", "Brand")
        yield v


@pytest.fixture
def store(tmp_path: Path, t: FakeTime) -> Iterator[Store]:
    s = Store(tmp_path / "s.duckdb", clock=t.clock)
    yield s
    s.close()


def followers(view: AppView, n: int, start: int = 0) -> list[str]:
    dids = []
    for i in range(start, start + n):
        view.add_actor(fdid(i), f"f{i}.test", f"Follower {i}")
        view.follow(fdid(i), BRAND, T0 - timedelta(days=30) + timedelta(minutes=i))
        dids.append(fdid(i))
    return dids


def conn(view: AppView, t: FakeTime, retries: int = 3) -> Connection:
    return Connection(base_url=view.url, clock=t.clock, sleep=t.sleep, max_retries=retries)


def poll(store: Store, view: AppView, t: FakeTime, **kw: int) -> TrackResult:
    return track(store, "bsky:brand.test", conn(view, t, **kw))


def rows(store: Store, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    return store.con.execute(sql, params or []).fetchall()


def departures(store: Store) -> dict[str, tuple[object, ...]]:
    """external id -> (end_earliest, end_latest, end_exact, end_kind) of follower spans."""
    found = rows(
        store,
        "SELECT p.external_id, s.end_earliest, s.end_latest, s.end_exact, s.end_kind "
        "FROM departures s JOIN people p USING (person_id)",
    )
    return {r[0]: r[1:] for r in found}  # type: ignore[misc]


def naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None)


# -- paging -------------------------------------------------------------------------------


def test_followers_spanning_many_pages_form_one_complete_snapshot(
    view: AppView, t: FakeTime, store: Store
) -> None:
    followers(view, 1050)
    for i in range(5):
        view.add_actor(f"did:plc:peer{i}", f"peer{i}.test")
        view.follow(BRAND, f"did:plc:peer{i}")
    result = poll(store, view, t)

    pages = view.calls("app.bsky.graph.getFollowers")
    assert len(pages) == 11 and all(q["limit"] == ["100"] for q in pages)
    assert "cursor" not in pages[0] and all("cursor" in q for q in pages[1:])
    obs = rows(
        store,
        "SELECT direction, complete, diffable, member_count, reported_count FROM observations "
        "ORDER BY direction",
    )
    assert obs == [("followers", True, True, 1050, 1050), ("following", True, True, 5, 5)]
    assert result.fetched.opened == 1055 and result.fetched.closed == 0
    assert result.fetched.notes == []
    acct = store.account("bsky:brand.test")
    assert (acct.identity, acct.handle) == (BRAND, "brand.test")
    names = rows(store, "SELECT handle, display_name FROM person_names ORDER BY handle LIMIT 1")
    assert names == [("f0.test", "Follower 0")]


def test_unfollow_during_paging_keeps_the_snapshot_consistent(
    view: AppView, t: FakeTime, store: Store
) -> None:
    """Keyset cursors: someone leaving from a page already read stays in this snapshot
    (and is caught next poll); someone leaving from a page not yet read is simply absent;
    a follow made meanwhile lands on the first page, already read, and waits a poll.
    Nobody is skipped or seen twice."""
    dids = followers(view, 350)  # 4 pages, newest first: fdid(349) … fdid(250) on page 1
    poll(store, view, t)
    t.advance(hours=6)
    p1 = t.now
    on_read_page, on_unread_page = fdid(300), fdid(20)
    view.add_actor("did:plc:newcomer", "newcomer.test")

    def meanwhile(method: str, query: dict[str, list[str]]) -> None:
        # While page 3 of the second poll is being asked for.
        if method == "app.bsky.graph.getFollowers" and len(view.calls(method)) == 4 + 3:
            view.unfollow(on_read_page, BRAND)
            view.unfollow(on_unread_page, BRAND)
            view.follow("did:plc:newcomer", BRAND)

    view.hooks.append(meanwhile)
    first = poll(store, view, t)
    members = rows(
        store,
        "SELECT member_count, complete, diffable FROM observations "
        "WHERE direction = 'followers' ORDER BY observed_at DESC LIMIT 1",
    )
    assert members == [(349, True, True)]  # 350 - the one gone before its page was read
    assert first.fetched.closed == 1
    gone = departures(store)
    assert set(gone) == {on_unread_page}
    t.advance(hours=6)
    poll(store, view, t)
    gone = departures(store)
    assert set(gone) == {on_unread_page, on_read_page}
    assert gone[on_read_page][:3] == (naive(p1), naive(t.now), False)
    start = rows(
        store,
        "SELECT s.start_earliest, s.start_latest FROM spans s JOIN people p USING (person_id) "
        "WHERE p.external_id = 'did:plc:newcomer'",
    )
    assert start == [(naive(p1), naive(t.now))]
    assert len(set(dids)) == 350


def test_a_refollow_sorted_into_a_later_page_is_counted_once(view: AppView, t: FakeTime) -> None:
    followers(view, 250)

    def refollow(method: str, query: dict[str, list[str]]) -> None:
        if method == "app.bsky.graph.getFollowers" and len(view.calls(method)) == 2:
            # fdid(249) was on page 1; its new record claims an old time: page 3.
            view.unfollow(fdid(249), BRAND)
            view.follow(fdid(249), BRAND, T0 - timedelta(days=90), seq=1)

    view.hooks.append(refollow)
    batch = get_tracker("bsky:brand.test", conn(view, t)).fetch()
    assert len(view.calls("app.bsky.graph.getFollowers")) == 3
    snapshot = batch.snapshots[0]
    ids = snapshot.members.column("external_id").to_pylist()
    assert snapshot.complete and len(ids) == len(set(ids)) == 250
    assert len(batch.follow_records) == 250


def test_a_cursor_that_repeats_ends_the_walk_as_partial(
    view: AppView, t: FakeTime, store: Store
) -> None:
    followers(view, 20)
    for i in range(150):
        view.add_actor(f"did:plc:peer{i}", f"peer{i}.test")
        view.follow(BRAND, f"did:plc:peer{i}")
    view.stuck.add("app.bsky.graph.getFollows")
    result = poll(store, view, t)
    assert len(view.calls("app.bsky.graph.getFollows")) == 2  # second page repeats: stop
    assert any("following" in n and "repeats" in n for n in result.fetched.notes)
    obs = rows(store, "SELECT complete, diffable FROM observations WHERE direction = 'following'")
    assert obs == [(False, False)]


# -- departures and re-checks ------------------------------------------------------------


def test_departures_between_polls_are_windows_classified_by_the_recheck(
    view: AppView, t: FakeTime, store: Store
) -> None:
    followers(view, 40)
    poll(store, view, t)
    p0 = t.now
    t.advance(hours=6)
    view.unfollow(fdid(1), BRAND)  # still on Bluesky, just left
    view.actors[fdid(2)].status = "deactivated"
    view.actors[fdid(3)].status = "takendown"
    view.actors[fdid(4)].status = "deleted"
    view.blocks.add((fdid(5), BRAND))  # blocks the brand: hidden from its followers
    view.blocks.add((BRAND, fdid(6)))  # the brand blocks them: hidden too
    result = poll(store, view, t)

    assert result.fetched.closed == 6 and result.rechecked == 6
    gone = departures(store)
    assert {d: g[:3] for d, g in gone.items()} == {
        fdid(i): (naive(p0), naive(t.now), False) for i in range(1, 7)
    }
    assert {d: g[3] for d, g in gone.items()} == {
        fdid(1): "unfollowed",
        fdid(2): "deleted",
        fdid(3): "suspended",
        fdid(4): "unknown",  # "Profile not found" does not say why: never guessed
        fdid(5): "blocked",
        fdid(6): "blocked",
    }
    checks = dict(
        rows(
            store,
            "SELECT p.external_id, c.state FROM checks c JOIN people p USING (person_id)",
        )
    )
    assert checks == {
        fdid(1): "active",
        fdid(2): "deactivated",
        fdid(3): "suspended",
        fdid(4): "not_found",
        fdid(5): "blocked",
        fdid(6): "blocked",
    }
    # The re-check asked for profiles in batches and getProfile only for those missing.
    asked = [q["actor"][0] for q in view.calls("app.bsky.actor.getProfile")[2:]]
    assert sorted(asked) == [fdid(2), fdid(3), fdid(4)]


def test_recheck_finds_a_follower_back_and_asks_again_when_a_request_fails(
    view: AppView, t: FakeTime
) -> None:
    followers(view, 3)
    view.actors[fdid(2)].status = "deactivated"
    view.faults.append(
        Fault("app.bsky.actor.getProfile", 500, None, when=lambda q: q["actor"] == [fdid(2)])
    )
    tracker = get_tracker("bsky:brand.test", conn(view, t, retries=1))
    checks = {c.person.external_id: c for c in tracker.recheck([fdid(0), fdid(2), "junk"])}
    assert set(checks) == {fdid(0)}  # fdid(2) failed: no check, so it stays pending
    assert checks[fdid(0)].follows is True and checks[fdid(0)].state == "active"


def test_failed_page_gives_a_partial_snapshot_and_no_departures(
    view: AppView, t: FakeTime, store: Store
) -> None:
    dids = followers(view, 500)
    poll(store, view, t)
    p0 = t.now
    t.advance(hours=6)
    view.unfollow(dids[-10], BRAND)  # on page 1 (newest first): a real departure
    page3 = sorted((f.seq for f in view.follows if f.subject == BRAND), reverse=True)[199]
    fault = Fault(
        "app.bsky.graph.getFollowers",
        500,
        None,
        when=lambda q: q.get("cursor") == [cursor_for(page3)],
    )
    view.faults.append(fault)
    failed = poll(store, view, t)

    assert failed.fetched.closed == 0 and departures(store) == {}
    assert any("page 3 failed" in n and "partial" in n for n in failed.fetched.notes)
    assert rows(
        store,
        "SELECT complete, diffable, member_count FROM observations "
        "WHERE direction = 'followers' ORDER BY observed_at",
    ) == [(True, True, 500), (False, False, 200)]
    assert t.sleeps == [0.5, 1.0, 2.0, 4.0]  # backoff after each of 4 tries, then given up
    assert len(view.calls("app.bsky.graph.getFollowers")) == 5 + 2 + 4

    view.faults.remove(fault)
    t.advance(hours=6)
    healed = poll(store, view, t)
    assert healed.fetched.closed == 1
    assert departures(store)[dids[-10]][:3] == (naive(p0), naive(t.now), False)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), (None, 42.0)],
    ids=["retry-after", "ratelimit-reset-only"],
)
def test_429_is_answered_by_waiting_the_advertised_time(
    view: AppView, t: FakeTime, store: Store, retry_after: str | None, expected: float
) -> None:
    followers(view, 150)
    view.faults.append(
        Fault("app.bsky.graph.getFollowers", 429, 1, retry_after=retry_after, reset_in=42)
    )
    result = poll(store, view, t)
    assert t.sleeps == [expected]
    assert result.fetched.notes == []
    assert rows(
        store, "SELECT complete, member_count FROM observations WHERE direction = 'followers'"
    ) == [(True, 150)]


def test_unknown_account_is_a_service_error_naming_it(view: AppView, t: FakeTime) -> None:
    with pytest.raises(ServiceError, match=r"nobody\.test.*Profile not found"):
        get_tracker("bsky:nobody.test", conn(view, t)).fetch()
    view.actors[BRAND].status = "takendown"
    with pytest.raises(ServiceError, match="AccountTakedown"):
        get_tracker("bsky:brand.test", conn(view, t)).fetch()


# -- follow records, posts, engagement ----------------------------------------------------


def test_follow_record_keys_are_stored_for_followers(
    view: AppView, t: FakeTime, store: Store
) -> None:
    followers(view, 65)
    result = poll(store, view, t)
    assert result.fetched.follow_records == 65
    calls = view.calls("app.bsky.graph.getRelationships")
    assert [len(q["others"]) for q in calls] == [30, 30, 5]
    assert all(q["actor"] == [BRAND] for q in calls)
    stored = dict(
        rows(
            store,
            "SELECT p.external_id, r.rkey FROM follow_records r JOIN people p USING (person_id)",
        )
    )
    assert stored == {f.author: f.rkey for f in view.follows if f.subject == BRAND}
    when = rows(
        store,
        "SELECT r.created_at FROM follow_records r JOIN people p USING (person_id) "
        "WHERE p.external_id = ?",
        [fdid(7)],
    )
    assert when == [(naive(T0 - timedelta(days=30) + timedelta(minutes=7)),)]
    t.advance(hours=1)
    poll(store, view, t)  # records in the store are not looked up again
    assert len(view.calls("app.bsky.graph.getRelationships")) == 3
    followers(view, 2, start=65)
    t.advance(hours=1)
    poll(store, view, t)  # only the newcomers are
    calls = view.calls("app.bsky.graph.getRelationships")
    assert [len(q["others"]) for q in calls[3:]] == [2]
    assert rows(store, "SELECT count(*) FROM follow_records") == [(67,)]


def test_tracking_by_did_after_handle_is_the_same_account(
    view: AppView, t: FakeTime, store: Store
) -> None:
    followers(view, 3)
    poll(store, view, t)
    t.advance(hours=1)
    result = track(store, f"bsky:{BRAND}", conn(view, t))
    assert result.account == "bsky:brand.test"
    assert rows(store, "SELECT count(*) FROM accounts") == [(1,)]


def test_known_records_are_not_looked_up_again(view: AppView, t: FakeTime) -> None:
    dids = followers(view, 40)
    tracker = get_tracker("bsky:brand.test", conn(view, t))
    assert isinstance(tracker, BskyTracker)
    tracker.known_records = frozenset(dids[5:])
    batch = tracker.fetch()
    assert {r.person.external_id for r in batch.follow_records} == set(dids[:5])
    assert len(view.calls("app.bsky.graph.getRelationships")) == 1


def test_posts_and_who_engaged(view: AppView, t: FakeTime, store: Store) -> None:
    followers(view, 4)
    view.add_actor("did:plc:other", "other.test")
    theirs = view.post("did:plc:other", "their post", T0 - timedelta(days=3))
    hello = view.post(BRAND, "hello", T0 - timedelta(days=2))
    hello.likes += [(fdid(0), T0 - timedelta(days=1)), (fdid(1), T0 - timedelta(hours=20))]
    view.repost(fdid(2), hello, T0 - timedelta(hours=10))
    view.post(BRAND, "a reply", T0 - timedelta(hours=30), reply_parent=theirs.uri)
    view.post(BRAND, "look at this", T0 - timedelta(hours=29), quote_of=theirs.uri)
    # A client clock in the future: the time the AppView indexed it is kept instead.
    view.post(
        BRAND, "from the future", T0 + timedelta(days=400), indexed_at=T0 - timedelta(hours=1)
    )
    boost = view.repost(BRAND, theirs, T0 - timedelta(hours=5))
    poll(store, view, t)

    posts = {r[0]: r[1:] for r in rows(store, "SELECT text, kind, created_at, url FROM posts")}
    assert {k: v[0] for k, v in posts.items()} == {
        "hello": "post",
        "a reply": "reply",
        "look at this": "quote",
        "from the future": "post",
        "their post": "repost",
    }
    assert posts["from the future"][1] == naive(T0 - timedelta(hours=1))
    assert posts["their post"][1] == naive(T0 - timedelta(hours=5))
    rkey = hello.uri.rsplit("/", 1)[1]
    assert posts["hello"][2] == f"https://bsky.app/profile/{BRAND}/post/{rkey}"
    assert rows(store, "SELECT external_id FROM posts WHERE kind = 'repost'") == [(boost.uri,)]
    metrics = dict(
        rows(
            store,
            "SELECT m.metric, m.value FROM post_metrics m JOIN posts p USING (post_id) "
            "WHERE p.text = 'hello'",
        )
    )
    assert metrics == {"likes": 2, "reposts": 1, "replies": 0, "quotes": 0}
    engaged = rows(
        store,
        "SELECT p.external_id, i.kind, i.occurred_at, i.post_external_id FROM interactions i "
        "JOIN people p USING (person_id) ORDER BY 1",
    )
    assert engaged == [
        (fdid(0), "like", naive(T0 - timedelta(days=1)), hello.uri),
        (fdid(1), "like", naive(T0 - timedelta(hours=20)), hello.uri),
        (fdid(2), "repost", naive(hello.created_at), hello.uri),  # no time given: post's
    ]
    feed = view.calls("app.bsky.feed.getAuthorFeed")
    assert feed[0]["filter"] == ["posts_with_replies"] and feed[0]["actor"] == [BRAND]
    # Posts nobody liked or reposted cost no request.
    assert len(view.calls("app.bsky.feed.getLikes")) == 1
    assert len(view.calls("app.bsky.feed.getRepostedBy")) == 1


# -- parsing rules that need no server ----------------------------------------------------


def test_tid_record_keys_decode_to_their_time() -> None:
    # The example of the atproto TID codec: 3l25zusnsfctk is 1724171495793000 µs.
    assert tid_time("3l25zusnsfctk") == datetime.fromtimestamp(1724171495.793, UTC)
    at = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert tid_time(tid(at, 5)) == at
    assert tid_time("self") is None and tid_time("2222222222222") is None


def test_relationship_entries_and_claimed_times() -> None:
    rels = relationships(
        {
            "actor": BRAND,
            "relationships": [
                {"$type": "app.bsky.graph.defs#notFoundActor", "actor": "did:x", "notFound": True},
                {
                    "$type": "app.bsky.graph.defs#relationship",
                    "did": "did:y",
                    "followedBy": "at://did:y/app.bsky.graph.follow/3l25zusnsfctk",
                },
                "garbage",
            ],
        }
    )
    assert not rels["did:x"].found
    assert rels["did:y"].followed_by == "at://did:y/app.bsky.graph.follow/3l25zusnsfctk"
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert claimed_time("2030-01-01T00:00:00Z", None, now) is None
    assert claimed_time("2024-12-31T00:00:00.123456789Z", None, now) == datetime(
        2024, 12, 31, 0, 0, 0, 123456, tzinfo=UTC
    )


def test_tracker_is_registered() -> None:
    tracker = get_tracker("bsky:@brand.test", Connection(base_url="http://127.0.0.1:9/xrpc"))
    assert isinstance(tracker, BskyTracker)
    assert (tracker.scheme, tracker.platform, tracker.ident) == ("bsky", "bsky", "brand.test")


# -- CLI ----------------------------------------------------------------------------------


def test_cli_track_against_a_local_appview(tmp_path: Path) -> None:
    with AppView() as view:
        view.add_actor(BRAND, "brand.test", "Brand")
        followers(view, 120)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "breakup",
                "--db",
                str(tmp_path / "cli.duckdb"),
                "track",
                "bsky:brand.test",
                "--appview",
                view.url,
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["account"] == "bsky:brand.test"
    assert out["fetched"]["members"] == 120 and out["fetched"]["follow_records"] == 120
    assert len(view.calls("app.bsky.graph.getFollowers")) == 2


def test_a_not_found_answer_is_asked_again_after_a_week(t: FakeTime, store: Store) -> None:
    from breakup.ingest import save_batch
    from breakup.models import AccountState, Batch, Check, Direction, Person, Snapshot
    from breakup.track import pending_rechecks

    def batch(ref: str, **kw: object) -> Batch:
        return Batch(source="t", platform="bsky", source_ref=ref, **kw)  # type: ignore[arg-type]

    now = t.clock()
    snap = Snapshot.of(Direction.FOLLOWERS, now - timedelta(days=2), [Person("a"), Person("b")])
    save_batch(store, batch("1", snapshots=[snap]), account="me")
    later = Snapshot.of(Direction.FOLLOWERS, now - timedelta(days=1), [], reported_count=0)
    save_batch(store, batch("2", snapshots=[later]), account="me")
    assert sorted(pending_rechecks(store, "me")) == ["a", "b"]
    checks = [
        Check(Person("a"), now, AccountState.NOT_FOUND),
        Check(Person("b"), now, AccountState.DELETED),
    ]
    save_batch(store, batch("3", checks=checks), account="me")
    assert pending_rechecks(store, "me") == []
    t.advance(days=8)
    assert pending_rechecks(store, "me") == ["a"]


def test_followers_profiles_are_kept_for_hygiene(view: AppView, t: FakeTime, store: Store) -> None:
    followers(view, 12)
    result = poll(store, view, t)
    assert result.fetched.profiles == 12
    got = rows(store, "SELECT count(DISTINCT person_id), min(observed_at) FROM profiles")
    assert got == [(12, naive(T0))]
