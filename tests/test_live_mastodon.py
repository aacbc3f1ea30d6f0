"""The Mastodon tracker against a local server speaking Mastodon's REST API, through the
real Mastodon.py client and the real store: paging, departures and their re-check, exact
follow times, partial snapshots, rate limits, and the token's privacy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from breakup.credentials import host_key
from breakup.errors import InvalidInput, RateLimited, ServiceError
from breakup.live import Connection, get_tracker
from breakup.store import Store
from breakup.track import track

from .servers.mastodon import Fault, Instance, serve

T1 = datetime(2026, 5, 1, 12, tzinfo=UTC)
T2 = T1 + timedelta(days=1)
TOKEN = "tok-9f3c2e71a8b64d05"
FOLLOWERS = "followers"


class Clock:
    def __init__(self, at: datetime = T1) -> None:
        self.now = at

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def inst() -> Iterator[Instance]:
    with serve(Instance(clock=T1)) as instance:
        yield instance


def audience(inst: Instance, n: int) -> tuple[str, list[str]]:
    """The brand (a local account) and *n* followers, a third of them on this server."""
    brand = inst.add_account("brand", display_name="Brand Coffee")
    inst.tokens[TOKEN] = brand
    people = []
    for i in range(n):
        who = inst.add_account(f"fan{i}", None if i % 3 == 0 else f"social{i % 4}.example")
        inst.follow(who, brand)
        people.append(who)
    return brand, people


def target(inst: Instance) -> str:
    return f"mastodon:@brand@{inst.domain}"


def connect(
    inst: Instance, clock: Clock, sleeps: list[float], token: str | None = TOKEN
) -> Connection:
    return Connection(
        base_url=inst.base_url,
        clock=clock,
        sleep=sleeps.append,
        token=token,
        timeout=5.0,
        max_retries=2,
    )


def key(inst: Instance, ident: str) -> str:
    a = inst.accounts[ident]
    return f"{a.username}@{a.domain or inst.domain}".lower()


def ended(store: Store) -> dict[str, tuple[str, Any, Any, bool]]:
    """external id -> (end kind, end_earliest, end_latest, exact) of ended follower spans."""
    rows = store.con.execute(
        """
        SELECT p.external_id, s.end_kind, s.end_earliest, s.end_latest, s.end_exact
        FROM spans s JOIN people p USING (person_id)
        WHERE s.direction = 'followers' AND s.end_latest IS NOT NULL
        """
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def test_a_follower_list_of_many_pages_is_one_complete_snapshot(
    inst: Instance, tmp_path: Path
) -> None:
    brand, people = audience(inst, 500)
    clock, sleeps = Clock(), []
    with Store(tmp_path / "s.duckdb", clock=clock) as store:
        result = track(store, target(inst), connect(inst, clock, sleeps))
        obs = store.con.execute(
            "SELECT direction, complete, diffable, member_count, reported_count FROM observations"
        ).fetchall()
        ids = {r[0] for r in store.con.execute("SELECT external_id FROM people").fetchall()}
        names = dict(store.con.execute("SELECT handle, display_name FROM person_names").fetchall())
    assert result.fetched.members == 500
    assert (FOLLOWERS, True, True, 500, 500) in obs
    assert ids == {key(inst, p) for p in people}
    assert "fan1@social1.example" in ids and f"fan3@{inst.domain}" in ids
    assert names["@fan1@social1.example"] == "Fan1"
    pages = [s for s in inst.seen if s.path == f"/api/v1/accounts/{brand}/followers"]
    assert len(pages) == 7  # 6 full pages of 80 and one of 20
    assert all(p.query["limit"] == ["80"] for p in pages)
    assert "max_id" not in pages[0].query and all("max_id" in p.query for p in pages[1:])
    assert sleeps == []


def departures_world(inst: Instance) -> tuple[str, dict[str, str]]:
    brand, people = audience(inst, 30)
    cast = {
        "unfollower": people[1],  # remote, stays active
        "suspended": people[2],  # remote, suspended by its server
        "deleted": people[4],  # remote, record destroyed: 404
        "moved": people[5],  # remote, moved to a new account
        "local_gone": people[3],  # this server's own: suspended or self-deleted
        "blocker": people[7],  # blocks the brand
    }
    return brand, cast


def depart(inst: Instance, brand: str, cast: dict[str, str]) -> None:
    inst.unfollow(cast["unfollower"], brand)
    inst.suspend(cast["suspended"])
    inst.delete(cast["deleted"])
    inst.move(cast["moved"], inst.add_account("newfan", "elsewhere.example"))
    inst.suspend(cast["local_gone"])
    inst.unfollow(cast["blocker"], brand)
    inst.blocks.add((cast["blocker"], brand))


def test_an_unfollow_between_polls_is_a_window_departure_then_classified(
    inst: Instance, tmp_path: Path
) -> None:
    brand, cast = departures_world(inst)
    clock, sleeps = Clock(), []
    with Store(tmp_path / "s.duckdb", clock=clock) as store:
        first = track(store, target(inst), connect(inst, clock, sleeps))
        assert first.fetched.closed == 0 and first.checks is None
        depart(inst, brand, cast)
        clock.now = T2
        second = track(store, target(inst), connect(inst, clock, sleeps))
        gone = ended(store)
        checks = {
            r[0]: r[1:]
            for r in store.con.execute(
                "SELECT p.external_id, c.state, c.follows, c.detail FROM checks c "
                "JOIN people p USING (person_id)"
            ).fetchall()
        }
    assert second.fetched.closed == 6 and second.rechecked == 6
    kinds = {who: gone[key(inst, ident)][0] for who, ident in cast.items()}
    assert kinds == {
        "unfollower": "unfollowed",
        "suspended": "suspended",
        "deleted": "unknown",  # not found: Mastodon does not say why
        "moved": "deleted",  # deactivated in favour of another account
        "local_gone": "unknown",  # suspended or self-deleted look alike on its own server
        "blocker": "blocked",
    }
    _, earliest, latest, exact = gone[key(inst, cast["unfollower"])]
    assert (earliest, latest, exact) == (T1.replace(tzinfo=None), T2.replace(tzinfo=None), False)
    assert checks[key(inst, cast["unfollower"])] == ("active", False, "active, not following")
    assert checks[key(inst, cast["blocker"])] == ("blocked", False, "they block the account")
    assert checks[key(inst, cast["moved"])][2] == "moved to @newfan@elsewhere.example"
    assert "HTTP 404 (Record not found)" in checks[key(inst, cast["deleted"])][2]
    assert checks[key(inst, cast["local_gone"])][0] == "not_found"
    rel = [s for s in inst.seen if s.path == "/api/v1/accounts/relationships"]
    assert rel and all(s.authorization == f"Bearer {TOKEN}" for s in rel)
    asked = set(rel[0].query["id[]"])
    assert asked == {cast["unfollower"], cast["blocker"]}  # only the accounts still there


def test_without_a_token_the_recheck_decides_against_the_fresh_complete_list(
    inst: Instance, tmp_path: Path
) -> None:
    brand, cast = departures_world(inst)
    clock, sleeps = Clock(), []
    with Store(tmp_path / "s.duckdb", clock=clock) as store:
        track(store, target(inst), connect(inst, clock, sleeps, token=None))
        depart(inst, brand, cast)
        clock.now = T2
        second = track(store, target(inst), connect(inst, clock, sleeps, token=None))
        gone = ended(store)
        detail = store.scalar("SELECT detail FROM checks WHERE state = 'active'")
    assert gone[key(inst, cast["unfollower"])][0] == "unfollowed"
    # Without the owner's token a block cannot be told from an unfollow.
    assert gone[key(inst, cast["blocker"])][0] == "unfollowed"
    assert gone[key(inst, cast["suspended"])][0] == "suspended"
    assert "not in the complete follower list of 24" in detail
    assert any("no Mastodon token" in n for n in second.notes)
    assert all(s.authorization is None for s in inst.seen)
    assert not any(
        s.path in ("/api/v1/notifications", "/api/v1/accounts/relationships") for s in inst.seen
    )


def test_a_token_of_another_account_is_not_used(inst: Instance, tmp_path: Path) -> None:
    audience(inst, 5)
    inst.tokens["someone-else"] = inst.add_account("stranger")
    clock, sleeps = Clock(), []
    with Store(tmp_path / "s.duckdb", clock=clock) as store:
        result = track(store, target(inst), connect(inst, clock, sleeps, token="someone-else"))
    assert any("belongs to another account" in n for n in result.notes)
    verify = [i for i, s in enumerate(inst.seen) if s.path.endswith("/verify_credentials")]
    assert len(verify) == 1
    assert all(s.authorization is None for s in inst.seen[verify[0] + 1 :])
    assert not any(s.path == "/api/v1/notifications" for s in inst.seen)


def test_follow_times_and_engagement_come_from_notifications(
    inst: Instance, tmp_path: Path
) -> None:
    brand, people = audience(inst, 6)
    newcomer = inst.add_account("newcomer", "fresh.example")
    inst.follow(newcomer, brand)
    followed_at = T1 - timedelta(hours=5, minutes=17, seconds=3, milliseconds=250)
    inst.notify("follow", newcomer, followed_at)
    post = inst.add_status(
        brand, T1 - timedelta(days=1), "New <b>roast</b> today!", replies=1, reblogs=2, favourites=3
    )
    reply = inst.add_status(
        brand,
        T1 - timedelta(hours=20),
        "@fan1 thanks!",
        in_reply_to_id="999",
        in_reply_to_account_id=people[1],
    )
    boost = inst.add_status(brand, T1 - timedelta(hours=2), "", reblog=post)
    inst.notify("favourite", people[1], T1 - timedelta(hours=9), post)
    inst.notify("reblog", people[2], T1 - timedelta(hours=8), post)
    answer = inst.add_status(
        people[4],
        T1 - timedelta(hours=7),
        "@brand love it",
        in_reply_to_id=post,
        in_reply_to_account_id=brand,
    )
    inst.notify("mention", people[4], T1 - timedelta(hours=7), answer)
    shout = inst.add_status(people[5], T1 - timedelta(hours=6), "@brand hello")
    inst.notify("mention", people[5], T1 - timedelta(hours=6), shout)
    inst.notify("poll", people[5], T1 - timedelta(hours=1))  # not asked for: filtered out
    clock, sleeps = Clock(), []
    with Store(tmp_path / "s.duckdb", clock=clock) as store:
        track(store, target(inst), connect(inst, clock, sleeps))
        events = store.con.execute(
            "SELECT p.external_id, e.kind, e.occurred_at, e.ref FROM events e "
            "JOIN people p USING (person_id)"
        ).fetchall()
        span = store.con.execute(
            "SELECT s.start_latest, s.start_exact FROM spans s JOIN people p USING (person_id) "
            "WHERE p.external_id = 'newcomer@fresh.example'"
        ).fetchall()
        inter = set(
            store.con.execute(
                "SELECT p.external_id, i.kind, i.post_external_id FROM interactions i "
                "JOIN people p USING (person_id)"
            ).fetchall()
        )
        posts = dict(store.con.execute("SELECT external_id, kind FROM posts").fetchall())
        text = store.scalar("SELECT text FROM posts WHERE external_id = ?", [post])
        metrics = dict(
            store.con.execute(
                "SELECT m.metric, m.value FROM post_metrics m JOIN posts p USING (post_id) "
                "WHERE p.external_id = ?",
                [post],
            ).fetchall()
        )
    at = followed_at.replace(tzinfo=None)
    assert [(e[0], e[1], e[2]) for e in events] == [("newcomer@fresh.example", "follow", at)]
    assert events[0][3].startswith("notification:")
    assert span == [(at, True)]
    assert inter == {
        (key(inst, people[1]), "like", post),
        (key(inst, people[2]), "repost", post),
        (key(inst, people[4]), "reply", post),
        (key(inst, people[5]), "mention", None),
    }
    assert posts == {post: "post", reply: "reply", boost: "repost"}
    assert text == "New roast today!"
    assert metrics == {"replies": 1, "reposts": 2, "likes": 3}
    asked = [s for s in inst.seen if s.path == "/api/v1/notifications"]
    assert asked[0].query["types[]"] == ["follow", "mention", "favourite", "reblog"]
    assert asked[0].authorization == f"Bearer {TOKEN}"


def test_a_page_failing_mid_snapshot_gives_a_partial_snapshot_and_no_departures(
    inst: Instance, tmp_path: Path
) -> None:
    brand, _ = audience(inst, 300)
    clock, sleeps = Clock(), []
    with Store(tmp_path / "s.duckdb", clock=clock) as store:
        track(store, target(inst), connect(inst, clock, sleeps))
        # Page 3 of the next poll answers 500 for longer than the client retries.
        inst.faults.append(
            Fault(f"/api/v1/accounts/{brand}/followers", 500, times=99, paged=True, skip=1)
        )
        clock.now = T2
        second = track(store, target(inst), connect(inst, clock, sleeps))
        partial = store.con.execute(
            "SELECT complete, diffable, member_count, note FROM observations "
            "WHERE direction = 'followers' AND observed_at = ?",
            [T2.replace(tzinfo=None)],
        ).fetchall()
        departed = store.scalar("SELECT count(*) FROM departures")
    assert second.fetched.closed == 0 and second.checks is None and departed == 0
    assert partial == [(False, False, 160, "source marked this snapshot partial")]
    note = next(n for n in second.notes if n.startswith("followers of"))
    assert "page 3 failed" in note and "server error 500" in note and "kept 160" in note
    assert sleeps == [0.5, 1.0]  # backoff between the three tries, on the injected sleep
    tries = [s for s in inst.seen if s.path.endswith("/followers") and "max_id" in s.query]
    assert len(tries) == 1 + 1 + 2 + 3  # poll 1: pages 2-4; poll 2: page 2, page 3 three times


def test_rate_limits_are_waited_out_on_the_injected_sleep(inst: Instance, tmp_path: Path) -> None:
    brand, _ = audience(inst, 200)
    # A 429 on page 2, and the quota reported used up on the statuses answer.
    inst.faults.append(Fault(f"/api/v1/accounts/{brand}/followers", 429, paged=True, reset_in=37))
    inst.faults.append(Fault(f"/api/v1/accounts/{brand}/statuses", 200, reset_in=12))
    clock, sleeps = Clock(), []
    began = time.monotonic()
    with Store(tmp_path / "s.duckdb", clock=clock) as store:
        result = track(store, target(inst), connect(inst, clock, sleeps))
    assert time.monotonic() - began < 20  # nothing slept for real
    assert sleeps == [37.0, 12.0]  # X-RateLimit-Reset read against the answer's Date
    assert result.fetched.members == 200 and not any("partial" in n for n in result.notes)
    assert any("1 request(s) retried; waited 49 s" in n for n in result.notes)
    after = [s.path for s in inst.seen]
    i = after.index(f"/api/v1/accounts/{brand}/statuses")
    assert after[i + 1] == "/api/v1/notifications"  # the wait came before the next request


def test_still_rate_limited_after_retries_is_an_error(inst: Instance) -> None:
    audience(inst, 1)
    inst.faults.append(Fault("/api/v1/accounts/lookup", 429, times=99, reset_in=5))
    sleeps: list[float] = []
    tracker = get_tracker(target(inst), connect(inst, Clock(), sleeps))
    with pytest.raises(RateLimited, match="still rate limited"):
        tracker.fetch()
    assert sleeps == [5.0, 5.0]


def test_an_unknown_account_and_a_malformed_target_are_clean_errors(inst: Instance) -> None:
    audience(inst, 1)
    conn = connect(inst, Clock(), [])
    with pytest.raises(ServiceError, match="HTTP 404"):
        get_tracker(f"mastodon:@nobody@{inst.domain}", conn).fetch()
    for bad in ("mastodon:brand", "mastodon:@brand@", "mastodon:@a@b@c"):
        with pytest.raises(InvalidInput, match="expected @user@instance"):
            get_tracker(bad, conn)
    assert get_tracker("mastodon:Brand@Mastodon.Social", conn).account_name == (
        "mastodon:@Brand@mastodon.social"
    )


def test_cli_track_takes_the_token_from_the_environment_and_never_shows_it(
    inst: Instance, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    inst.clock = now.replace(microsecond=0)
    brand, people = audience(inst, 12)
    inst.notify("follow", people[0], now - timedelta(hours=3))
    inst.add_status(brand, now - timedelta(hours=4), f"our token is not {TOKEN[:3]}…")
    db = tmp_path / "s.duckdb"
    env = {**os.environ, f"BREAKUP_MASTODON_TOKEN__{host_key(inst.domain)}": TOKEN}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "breakup",
            "--db",
            str(db),
            "track",
            target(inst),
            "--base-url",
            inst.base_url,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["account"] == f"mastodon:@brand@{inst.domain}"
    assert result["fetched"]["members"] == 12 and result["fetched"]["events"] == 1
    assert TOKEN not in out.stdout + out.stderr
    assert TOKEN.encode() not in db.read_bytes()
    wal = db.with_name(db.name + ".wal")
    assert not wal.exists() or TOKEN.encode() not in wal.read_bytes()
    assert any(s.authorization == f"Bearer {TOKEN}" for s in inst.seen)
