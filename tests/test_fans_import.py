"""Keep the fans on imported data (the generic JSON format of docs/formats.md): ranking
weights and decay, links made by the user or by a verified handle, hygiene's follow-backs
and mutuals, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from breakup.clock import fixed_clock
from breakup.errors import InvalidInput
from breakup.fans import hygiene, link_people, links, top_fans, unlink_people
from breakup.ingest import save_batch
from breakup.sources import ReadOptions, get_source
from breakup.store import Store

AT = datetime(2025, 3, 2, tzinfo=UTC)


def bsky_doc() -> dict[str, Any]:
    people = [
        {"id": "did:plc:alice", "handle": "alice.example", "display_name": "Alice"},
        {"id": "did:plc:bob", "handle": "bob.bsky.social"},
        {"id": "did:plc:carol", "handle": "carol.bsky.social"},
        {"id": "did:plc:dave", "handle": "dave.bsky.social"},
    ]
    return {
        "breakup": 1,
        "platform": "bsky",
        "account": {"id": "did:plc:brand", "handle": "brand.example"},
        "snapshots": [
            {"direction": "followers", "observed_at": "2025-03-01T00:00:00Z", "members": people},
            {
                "direction": "following",
                "observed_at": "2025-03-01T00:00:00Z",
                "members": [people[0], {"id": "did:plc:eve", "handle": "eve.bsky.social"}],
            },
        ],
        "posts": [
            {"id": "p1", "created_at": "2024-03-01T10:00:00Z", "text": "Our new roast"},
            {"id": "p2", "created_at": "2025-02-27T10:00:00Z", "text": "20% off: code SPRING20"},
        ],
        "interactions": [
            {"id": "did:plc:alice", "kind": "reply", "time": "2025-02-27T12:00:00Z", "post": "p2"},
            {"id": "did:plc:bob", "kind": "like", "time": "2025-02-27T11:00:00Z", "post": "p2"},
            {"id": "did:plc:bob", "kind": "like", "time": "2025-02-28T11:00:00Z", "post": "p2"},
            # the same single like, a year apart: recent counts more
            {"id": "did:plc:carol", "kind": "like", "time": "2025-02-28T12:00:00Z", "post": "p2"},
            {"id": "did:plc:dave", "kind": "like", "time": "2024-03-01T12:00:00Z", "post": "p1"},
        ],
    }


def mastodon_doc() -> dict[str, Any]:
    people = [
        {"id": "alice@alice.example", "handle": "@alice@alice.example"},
        {"id": "frank@mastodon.social", "handle": "@frank@mastodon.social"},
    ]
    return {
        "breakup": 1,
        "platform": "mastodon",
        "account": {"id": "109", "handle": "@brand@mastodon.social"},
        "snapshots": [
            {"direction": "followers", "observed_at": "2025-03-01T00:00:00Z", "members": people}
        ],
        "posts": [{"id": "m1", "created_at": "2025-02-26T10:00:00Z", "text": "Hello"}],
        "interactions": [
            {"id": "alice@alice.example", "kind": "mention", "time": "2025-02-28T09:00:00Z"},
            *[
                {
                    "id": "frank@mastodon.social",
                    "kind": "like",
                    "time": f"2025-02-2{d}T09:00:00Z",
                    "post": "m1",
                }
                for d in (6, 7, 8)
            ],
        ],
    }


def write(tmp: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp / name
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def fans_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "fans.duckdb", clock=fixed_clock(AT))
    for name, doc in (("bsky.json", bsky_doc()), ("masto.json", mastodon_doc())):
        batch = get_source("json").read(write(tmp_path, name, doc), ReadOptions())
        save_batch(store, batch)
    return store


def by_handle(store: Store) -> dict[str, Any]:
    return {f.handle: f for f in top_fans(store, top=10, at=AT)}


def test_weights_and_decay_order_fans(fans_store: Store) -> None:
    fans = top_fans(fans_store, top=10, at=AT)
    order = [f.handle for f in fans]
    # alice: a reply (5) and, linked by her verified domain handle, a mention (5);
    # frank: 3 likes; bob: 2 likes; carol's like is recent, dave's a year old.
    assert order == [
        "@alice@alice.example",  # the handle of her most engaged member
        "@frank@mastodon.social",
        "bob.bsky.social",
        "carol.bsky.social",
        "dave.bsky.social",
    ]
    assert [f.rank for f in fans] == [1, 2, 3, 4, 5]
    dave = fans[-1]
    assert dave.score == pytest.approx(0.5 ** (366 / 90), rel=0.01)
    alice = fans[0]
    assert sum(e.score for e in alice.evidence) == pytest.approx(alice.score, abs=0.01)
    assert {(e.account, e.kind, e.count) for e in alice.evidence} == {
        ("bsky:brand.example", "reply", 1),
        ("mastodon:@brand@mastodon.social", "mention", 1),
    }
    assert alice.accounts == ["bsky:brand.example", "mastodon:@brand@mastodon.social"]
    assert {m.external_id for m in alice.members} == {"did:plc:alice", "alice@alice.example"}
    assert all(m.linked_via == "verified-handle" for m in alice.members)
    assert alice.follows_now


def test_one_account_only(fans_store: Store) -> None:
    fans = top_fans(fans_store, "mastodon:@brand@mastodon.social", top=10, at=AT)
    assert [f.handle for f in fans] == ["@alice@alice.example", "@frank@mastodon.social"]
    assert [e.account for f in fans for e in f.evidence] == ["mastodon:@brand@mastodon.social"] * 2
    assert top_fans(fans_store, top=2, at=AT)[1].handle == "@frank@mastodon.social"


def test_user_links_merge_people_and_can_be_undone(fans_store: Store) -> None:
    link = link_people(fans_store, "bsky:did:plc:bob", "@frank@mastodon.social")
    assert link.via == "user"
    assert link_people(fans_store, "bob.bsky.social", "frank@mastodon.social").via == "user"
    assert fans_store.scalar("SELECT count(*) FROM person_links") == 1
    fans = top_fans(fans_store, top=10, at=AT)
    second = fans[1]  # bob's 2 likes and frank's 3 are one person's 5 now
    assert {m.external_id for m in second.members} == {"did:plc:bob", "frank@mastodon.social"}
    assert second.interactions == 5
    assert {m.linked_via for m in second.members} == {"user"}
    assert len(fans) == 4
    vias = {(lk.person.external_id, lk.linked.external_id, lk.via) for lk in links(fans_store)}
    assert ("did:plc:alice", "alice@alice.example", "verified-handle") in vias
    assert unlink_people(fans_store, "bob.bsky.social", "frank@mastodon.social")
    assert len(top_fans(fans_store, top=10, at=AT)) == 5


def test_links_refuse_unknown_ambiguous_and_self(fans_store: Store) -> None:
    with pytest.raises(InvalidInput, match="no person"):
        link_people(fans_store, "nobody", "bob.bsky.social")
    with pytest.raises(InvalidInput, match="same person"):
        link_people(fans_store, "bob.bsky.social", "did:plc:bob")


def test_an_ambiguous_domain_is_no_hint(fans_store: Store, tmp_path: Path) -> None:
    doc = mastodon_doc()
    doc["snapshots"][0]["members"].append({"id": "zed@alice.example"})
    doc["interactions"] = []
    doc["posts"] = []
    save_batch(fans_store, get_source("json").read(write(tmp_path, "m2.json", doc), ReadOptions()))
    # two Mastodon people on alice.example: the domain no longer proves who is who
    fans = top_fans(fans_store, top=10, at=AT)
    assert all(len(f.members) == 1 for f in fans)


def test_hygiene_follow_backs_and_mutuals(fans_store: Store) -> None:
    (h,) = hygiene(fans_store, "bsky:brand.example", at=AT)
    assert (h.followers, h.following, h.mutuals, h.not_following_back) == (4, 2, 1, 1)
    assert [p.handle for p in h.mutual_people] == ["alice.example"]
    assert [p.handle for p in h.not_following_back_people] == ["eve.bsky.social"]
    # no profiles were imported: nobody is judged, the real audience is everyone
    assert (h.profiled, h.unprofiled, h.real_audience) == (0, 4, 4)
    assert h.never_engaged == 0


def run(db: Path, *args: str) -> Any:
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(db), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_cli(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    run(db, "import", "json", str(write(tmp_path, "b.json", bsky_doc())))
    run(db, "import", "json", str(write(tmp_path, "m.json", mastodon_doc())))
    fans = run(db, "fans", "--top", "2")
    assert [f["handle"] for f in fans] == ["@alice@alice.example", "@frank@mastodon.social"]
    assert run(db, "link", "bob.bsky.social", "frank@mastodon.social")["via"] == "user"
    assert run(db, "fans", "--top", "2")[1]["interactions"] == 5
    (h,) = run(db, "hygiene", "--account", "bsky:brand.example")
    assert h["mutuals"] == 1
    out = tmp_path / "codes.csv"
    issued = run(db, "fans", "--top", "2", "--codes", "thanks", "--out", str(out))
    assert [c["prefix"] for c in issued] == ["THANKS", "THANKS"]
    lines = out.read_text().splitlines()
    assert lines[0].startswith("code,prefix,handle")
    assert len(lines) == 3
    deals = run(db, "fans", "--deal-seekers")
    assert deals["horizon_days"] == 30
    heard = run(db, "fans", "--unanswered")
    assert heard["asked"] == 0  # the generic format carries no refs: nothing to judge
    proc = subprocess.run(
        [sys.executable, "-m", "breakup", "--db", str(db), "fans", "--codes", "=bad"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1 and "code prefix" in proc.stderr
