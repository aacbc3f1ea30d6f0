"""Break-up posts on simulated worlds written through ``save_batch`` (events as the stream
saves them, or snapshots), each with a known answer; the shapes are not the model's own
(delays uniform, lognormal or with a dead time, not the exponential kernel)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from benchmarks.why_worlds import T0, Effect, Truth, World, save_world
from breakup.clock import fixed_clock
from breakup.store import Store
from breakup.why import analyze
from breakup.why.attribution import Attribution
from breakup.why.report import attribution_only

NAME = "bsky:brand.example"


def _attribute(tmp: Path, world: World, **kw: object) -> tuple[Truth, Attribution]:
    clock = fixed_clock(T0 + timedelta(hours=world.hours + 1))
    with Store(tmp / f"w{world.seed}.duckdb", clock=clock) as store:
        truth = save_world(store, world)
        return truth, attribution_only(store, **kw)  # type: ignore[arg-type]


def _posts(att: Attribution) -> dict[str, int]:
    return {p.post: i for i, p in enumerate(att.posts)}


def test_three_bursts_after_posts_every_3h_are_named_with_intervals(tmp_path: Path) -> None:
    """The issue's first world: 96 h, a post every 3 h, 1.5 unfollows/h, three posts each
    followed by 35 extra unfollows within 30 minutes (uniform delays)."""
    world = World(96, post_every_hours=3, effects=[Effect(5, 35, 0.25), Effect(15, 35, 0.25),
                                                   Effect(25, 35, 0.25)], seed=1)  # fmt: skip
    truth, att = _attribute(tmp_path, world)
    assert {p.post for p in att.break_up_posts} == set(truth.caused)
    for post in truth.caused:
        row = att.posts[_posts(att)[post]]
        assert _posts(att)[post] < 3 and row.exact
        assert row.excess_ci_low <= truth.caused[post] <= row.excess_ci_high, row
        assert row.p_adjusted < 1e-6 and row.q_value < 1e-6
    acct = att.accounts[0]
    assert acct.status == "ok" and acct.response_hours < 3 and acct.bin_minutes == 5


def test_a_day_of_hourly_posts_is_enough_to_name_the_bursts(tmp_path: Path) -> None:
    world = World(24, post_every_hours=1, effects=[Effect(5, 35, 0.25), Effect(12, 35, 0.25),
                                                   Effect(18, 35, 0.25)], seed=2)  # fmt: skip
    truth, att = _attribute(tmp_path, world)
    assert att.posts_tested > 15
    assert {p.post for p in att.break_up_posts} == set(truth.caused)


def test_the_planted_post_not_its_earlier_neighbour_on_90_days(tmp_path: Path) -> None:
    """30 unfollows within 4 h after one post (a dead time then gamma delays): the post
    itself is named, not the one before it."""
    world = World(90 * 24, followers=8000, rate_per_hour=1.0, post_every_hours=6,
                  effects=[Effect(200, 30, 1.5, "deadtime")], seed=3)  # fmt: skip
    _, att = _attribute(tmp_path, world)
    named = [p.post for p in att.break_up_posts]
    assert named == ["p200"], [(p.post, p.excess, p.ambiguous_with) for p in att.posts[:3]]


def test_an_outside_burst_is_reported_and_pinned_on_no_post(tmp_path: Path) -> None:
    world = World(96, post_every_hours=3, bursts=[(50.3, 40, 0.5)], seed=4)
    with Store(tmp_path / "o.duckdb", clock=fixed_clock(T0 + timedelta(hours=97))) as store:
        save_world(store, world)
        report = analyze(store, cox_sample=0)
    att = report.attribution
    assert att.break_up_posts == []
    assert len(att.bursts) == 1
    burst = att.bursts[0]
    start = T0 + timedelta(hours=50.3)
    assert abs(burst.start - start) < timedelta(minutes=15) and burst.excess > 30
    # No peers to say whether everyone lost people then: not "internal" either.
    assert report.triage.verdict == "outside", report.triage.summary


@pytest.mark.parametrize("snapshot_hours", [None, 6.0])
def test_overdispersed_churn_alone_names_no_post(tmp_path: Path,
                                                 snapshot_hours: float | None) -> None:  # fmt: skip
    """Daily gamma levels and departures in clusters, no post effect: 6 worlds each."""
    blamed = 0
    for seed in range(6):
        world = World(30 * 24, rate_per_hour=3.0, overdispersed=True, post_every_hours=4,
                      snapshot_hours=snapshot_hours, seed=100 + seed)  # fmt: skip
        _, att = _attribute(tmp_path, world)
        blamed += bool(att.break_up_posts)
        assert att.accounts[0].dispersion > 1.2
    assert blamed == 0


def test_weekly_snapshots_blame_the_week_not_a_post(tmp_path: Path) -> None:
    world = World(120 * 24, followers=6000, rate_per_hour=0.5, post_every_hours=24,
                  effects=[Effect(60, 80, 2.0, "lognormal")], snapshot_hours=168.0,
                  seed=5)  # fmt: skip
    truth, att = _attribute(tmp_path, world)
    assert att.break_up_posts == []
    row = att.posts[_posts(att)["p60"]]
    assert row.significant and len(row.ambiguous_with) >= 3
    assert row.excess_ci_low <= truth.caused["p60"] <= row.excess_ci_high
    acct = att.accounts[0]
    assert acct.resolution_hours == 168.0 and acct.exact_share == 0.0


def test_short_history_says_what_is_needed(tmp_path: Path) -> None:
    world = World(3, post_every_hours=1, seed=6)
    _, att = _attribute(tmp_path, world)
    assert att.status == "insufficient_history" and att.posts == []
    acct = att.accounts[0]
    assert acct.status == "insufficient_history" and acct.hours <= 4
    assert "6 hours" in acct.needed and acct.posts_seen >= 1


def test_since_limits_the_posts_tested(tmp_path: Path) -> None:
    world = World(10 * 24, post_every_hours=6, seed=7)
    since = T0 + timedelta(days=6)
    _, late = _attribute(tmp_path, world, since=since)
    _, every = _attribute(tmp_path, World(10 * 24, post_every_hours=6, seed=8))
    assert 0 < late.posts_tested < every.posts_tested
    assert all(p.created_at >= since for p in late.posts)


def test_a_window_bad_for_the_peers_too_is_the_marketplaces(tmp_path: Path) -> None:
    """The same outside burst hits the own account and a peer."""
    burst = [(100.2, 60, 1.0)]
    with Store(tmp_path / "m.duckdb", clock=fixed_clock(T0 + timedelta(hours=200))) as store:
        save_world(store, World(199, post_every_hours=3, bursts=burst, seed=9))
        save_world(store, World(199, post_every_hours=5, bursts=burst, seed=10),
                   name="bsky:peer.example")  # fmt: skip
        store.con.execute("UPDATE accounts SET role = 'peer' WHERE name = 'bsky:peer.example'")
        att = attribution_only(store, account=NAME)
    assert att.break_up_posts == []
    assert att.bursts and att.bursts[0].market_wide


def test_an_empty_store_gives_an_empty_report(tmp_path: Path) -> None:
    with Store(tmp_path / "e.duckdb", clock=fixed_clock(datetime(2025, 1, 1, tzinfo=UTC))) as store:
        store.ensure_account("bsky:nobody.example", "bsky")
        report = analyze(store)
    assert report.accounts == [] and report.notes == ["bsky:nobody.example: nothing observed yet"]
    assert report.attribution.posts == [] and report.triage.verdict == "none"


def test_a_list_with_one_campaign_says_what_is_needed(tmp_path: Path) -> None:
    """Too few campaigns to fit the list's unsubscribe rate: a sentence, not a crash."""
    from breakup.ingest import save_batch
    from breakup.models import (
        Batch,
        Direction,
        Event,
        EventKind,
        Person,
        Post,
        PostKind,
        Snapshot,  # fmt: skip
        members_table,
    )
    from breakup.why.render import why_report

    ids = [f"a{i}@x.example" for i in range(50)]
    sent = T0 + timedelta(days=1)
    leave = [Event(Person(ids[i]), EventKind.UNSUBSCRIBE, sent + timedelta(hours=i + 1),
                   campaign="c1") for i in range(3)]  # fmt: skip
    batch = Batch(source="validate", platform="email", source_ref="c1", observed_at=T0,
                  snapshots=[Snapshot(Direction.FOLLOWERS, T0, members_table(ids))],
                  posts=[Post("c1", sent, PostKind.CAMPAIGN, "Issue 1")], events=leave)  # fmt: skip
    with Store(tmp_path / "c.duckdb", clock=fixed_clock(T0 + timedelta(days=10))) as store:
        save_batch(store, batch, account="email:news")
        report = analyze(store, cox_sample=0)
    (acct,) = report.attribution.accounts
    assert report.attribution.status == "insufficient_history" and acct.mode == "campaign"
    assert "at least 3 campaigns" in acct.needed
    console = Console(width=80, file=io.StringIO(), record=True)
    console.print(why_report(report))
    assert "not enough history" in console.export_text()


def test_one_family_over_accounts_is_the_merge_of_each_accounts_heads(tmp_path: Path) -> None:
    """What a distributed engine does (breakup.engines.attribution): each account's heads
    walked alone, merged into the family's steps, each account's steps named again in a
    fresh fit, its results and the combination give `attribute`'s attribution exactly; and
    an account walked alone is `--account`'s family."""
    from threadpoolctl import threadpool_limits

    from breakup.why.attribution import (
        Recorded,
        account_part,
        candidates,
        combine,
        merge,
        peer_models,
        replay,
        size,
        walk,
    )
    from breakup.why.data import departures_sql, load_posts, load_series

    a, b = "bsky:a.example", "bsky:b.example"
    clock = fixed_clock(T0 + timedelta(hours=97))
    with Store(tmp_path / "two.duckdb", clock=clock) as store:
        save_world(store, World(96, post_every_hours=3, effects=[Effect(5, 35, 0.25)], seed=1),
                   a)  # fmt: skip
        save_world(store, World(96, post_every_hours=2, effects=[Effect(9, 12, 0.25),
                   Effect(20, 35, 0.25)], seed=4), b)  # fmt: skip
        want = attribution_only(store)
        alone = attribution_only(store, b)
        departures = departures_sql(store)
        with threadpool_limits(limits=1, user_api="blas"):
            series = [s for s in (load_series(store, x, departures)
                                  for x in store.accounts(role="own")) if s]  # fmt: skip
            posts = {s.account.account_id: load_posts(store, s.account.account_id)
                     for s in series}  # fmt: skip

            def fresh() -> list[Any]:
                return candidates(store, series, posts, departures)[0]

            walked = [walk(c) for c in fresh()]
            m = sum(size(c) for c in fresh())
            steps = merge([Recorded(keys) for _, keys in walked], m)
            parts = []
            for k, c in enumerate(fresh()):
                replay(c, k, steps)
                parts.append(account_part(c, k, steps, m, peer_models([])))
            got = combine(parts, [], m)
            (c,) = candidates(store, series[1:], posts, departures)[0]
            own_steps, _ = walk(c)
            got_alone = combine([account_part(c, 0, own_steps, size(c), [])], [], size(c))
    assert [x.account for x in want.accounts] == [a, b] and len(steps) >= 2
    assert {k for k, _, _ in steps} == {0, 1}  # both accounts named in the family
    assert got == want
    assert got_alone == alone


def test_departures_and_no_posts_say_a_post_is_needed(tmp_path: Path) -> None:
    """An account whose people leave but which never posted (posts deleted, or none
    imported): no post to test, said so, not a crash (it once raised in numpy)."""
    world = World(96, post_every_hours=3, seed=7)
    clock = fixed_clock(T0 + timedelta(hours=world.hours + 1))
    with Store(tmp_path / "w.duckdb", clock=clock) as store:
        save_world(store, world)
        store.con.execute("DELETE FROM posts")
        att = attribution_only(store)
        assert analyze(store).attribution is not None
    acct = att.accounts[0]
    assert att.posts == [] and acct.status == "insufficient_history"
    assert acct.departures > 0 and "a post in the period tested" in acct.needed
