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
        {"id": "p1", "created_at": "2025-05-21T12:00:00Z", "text": EVIL_POST, "kind": "post"}
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
