"""A small simulated brand plus an account whose names and posts are hostile HTML/JS and
spreadsheet formulas: the store the report, dashboard, digest and export tests read.

Built once per test process (it takes a few seconds); tests that write copy it first.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from breakup.clock import fixed_clock
from breakup.ingest import save_batch
from breakup.simulate import SimParams, save_simulation, simulate
from breakup.sources import ReadOptions, get_source
from breakup.store import Store

END = datetime(2025, 6, 1, tzinfo=UTC)
CLOCK = fixed_clock(END)
PARAMS = SimParams(
    seed=5,
    end=END,
    days=42,
    bsky_followers=120,
    mastodon_followers=50,
    email_subscribers=60,
    peers=0,
)
SCRIPT_HANDLE = "<script>window.__pwned=1</script>"
IMG_NAME = '<img src=x onerror="window.__pwned=2">'
EVIL_POST = '</script><script>window.__pwned=3</script> =HYPERLINK("http://x") <b>bold</b>'
FORMULA_HANDLE = "=cmd|' /C calc'!A0"
EVIL_URL = "javascript:window.__pwned=4"

EVIL = {
    "breakup": 1,
    "platform": "youtube",
    "account": {"id": "UCevil", "handle": "evil<b>tube</b>"},
    "snapshots": [
        {
            "direction": "followers",
            "observed_at": "2025-05-20T00:00:00Z",
            "complete": True,
            "members": [
                {"id": "e1", "handle": SCRIPT_HANDLE, "display_name": IMG_NAME},
                {"id": "e2", "handle": FORMULA_HANDLE, "display_name": "@SUM(1+1)"},
                {"id": "e3", "handle": "plain"},
            ],
        },
        {
            "direction": "followers",
            "observed_at": "2025-05-27T00:00:00Z",
            "complete": True,
            "members": [{"id": "e3"}],
        },
    ],
    "posts": [
        {
            "id": "p1",
            "created_at": "2025-05-21T12:00:00Z",
            "text": EVIL_POST,
            "kind": "post",
            "url": EVIL_URL,
        }
    ],
}


@cache
def _built() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="breakup-reportkit-"))
    path = folder / "kit.duckdb"
    with Store(path, clock=CLOCK) as store:
        save_simulation(store, simulate(PARAMS))
        evil = folder / "evil.json"
        evil.write_text(json.dumps(EVIL), encoding="utf-8")
        batch = get_source("json").read(evil, ReadOptions(clock=CLOCK))
        save_batch(store, batch, account="evil")
    return path


def kit_store(folder: Path) -> Path:
    """A fresh copy of the kit store in *folder* (safe to write to)."""
    target = folder / "kit.duckdb"
    shutil.copyfile(_built(), target)
    return target


# -- the golden store: hand-written data, independent of the simulator -------------------


def _t(day: int, hour: int = 0, minute: int = 0) -> str:
    return f"2025-05-{day:02d}T{hour:02d}:{minute:02d}:00Z"


def _social() -> dict[str, object]:
    base = [f"f{i:02d}" for i in range(1, 31)]
    weeks = {  # who is gone, who is new, at each weekly snapshot
        1: (set(), []),
        8: ({"f03", "f07"}, ["n1", "n2"]),
        15: ({"f03", "f07", "f11", "f19", "f23"}, ["n1", "n2", "n3"]),
        22: ({"f03", "f07", "f11", "f19", "f23", "n2"}, ["n1", "n2", "n3", "n4"]),
        29: ({"f03", "f07", "f11", "f19", "f23", "n2", "f29"}, ["n1", "n3", "n4", "n5"]),
    }
    snapshots = []
    for day, (gone, new) in weeks.items():
        ids = [i for i in base + new if i not in gone]
        members = [{"id": i, "handle": f"{i}.example", "display_name": f"Person {i}"} for i in ids]
        members[0]["display_name"] = SCRIPT_HANDLE if day == 1 else members[0]["display_name"]
        snapshots.append(
            {"direction": "followers", "observed_at": _t(day), "complete": True, "members": members}
        )
    texts = [
        "Morning roast is ready.",
        "BIG SALE!!! Buy now, buy now, buy now <b>50% off</b>",
        "How we source our beans — a thread.",
        "Buy more. Buy now. Limited offer!",
        "Thanks for 30 followers!",
        "Behind the scenes at the roastery.",
        "Flash sale: 20% off everything today only",
        "Cold brew recipe for the weekend.",
    ]
    posts = [
        {
            "id": f"s{n}",
            "created_at": _t(2 + 3 * n, 9 + n, 15),
            "kind": "post",
            "text": text,
            "metrics": {"likes": 3 + n, "replies": n % 3},
        }
        for n, text in enumerate(texts)
    ]
    return {
        "breakup": 1,
        "platform": "mastodon",
        "account": {"id": "brand-social", "handle": "brand@social.example"},
        "snapshots": snapshots,
        "events": [{"event": "unfollow", "time": _t(26, 14, 5), "id": "f29"}],
        "posts": posts,
        "interactions": [
            {"id": "f01", "kind": "like", "time": _t(5, 12), "post": "s1"},
            {"id": "f02", "kind": "reply", "time": _t(8, 16), "post": "s2"},
        ],
        "checks": [{"id": "f23", "time": _t(16), "state": "suspended"}],
    }


def _email() -> dict[str, object]:
    members = [{"id": f"reader{i}@example.com"} for i in range(1, 21)]
    campaigns = [
        ("c1", _t(6, 10), "Weekly letter: brewing at home"),
        ("c2", _t(13, 10), '=HYPERLINK("http://x") Member sale: 15% off'),
        ("c3", _t(20, 10), "Still thinking about it? Your cart misses you"),
    ]
    unsubs = [
        ("reader3@example.com", _t(13, 11, 30), "c2"),
        ("reader4@example.com", _t(13, 18, 2), "c2"),
        ("reader9@example.com", _t(20, 12, 45), "c3"),
    ]
    return {
        "breakup": 1,
        "platform": "email",
        "account": {"id": "news@brand.example", "handle": "news"},
        "snapshots": [
            {"direction": "followers", "observed_at": _t(1), "complete": True, "members": members}
        ],
        "events": [
            {"event": "unsubscribe", "time": t, "id": who, "campaign": c} for who, t, c in unsubs
        ],
        "posts": [
            {"id": c, "created_at": t, "kind": "campaign", "text": text} for c, t, text in campaigns
        ],
    }


@cache
def _golden() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="breakup-golden-"))
    path = folder / "golden.duckdb"
    with Store(path, clock=CLOCK) as store:
        for name, doc in (("social", _social()), ("news", _email()), ("evil", EVIL)):
            src = folder / f"{name}.json"
            src.write_text(json.dumps(doc), encoding="utf-8")
            batch = get_source("json").read(src, ReadOptions(clock=CLOCK))
            save_batch(store, batch, account=name)
    return path


def golden_store(folder: Path) -> Path:
    """A fresh copy of the hand-written golden store in *folder*."""
    target = folder / "golden.duckdb"
    shutil.copyfile(_golden(), target)
    return target
