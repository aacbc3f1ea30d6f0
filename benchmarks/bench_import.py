"""Importing an X archive, side by side with twitter-to-sqlite (issue 16).

    python benchmarks/bench_import.py                       # 1M followers
    python benchmarks/bench_import.py --followers 100000 --repeats 3

Generates a zip in the real layout (``data/follower.js``, ``data/following.js``,
``data/account.js``, ``data/manifest.js`` with every file's count, ``data/tweets.js``; the
JavaScript assignments and the pretty-printed JSON as X writes them), then runs each tool
as a user would, in its own process, alternately: ``twitter-to-sqlite import DB ZIP`` into
a fresh SQLite file, and ``breakup --db STORE import x-archive ZIP`` into a fresh store.
Wall time is the whole command (interpreter start included), peak memory its
``ru_maxrss``. The machine may be shared: the ratios of the same run are the figures, the
best of ``--repeats`` runs of each tool is reported. CPU time (user + system, of all its
threads) is reported too: contention stretches wall time much more than CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

GENERATED = "2025-05-31T08:00:00.000Z"
OWNER = "1400000000000000001"
SEED = 16
SPEEDUP_BAR = 20  # issue 16: at least 20x faster than twitter-to-sqlite ...
MEMORY_BAR = 0.5  # ... with at most half its peak memory


def _ids(n: int) -> list[str]:
    """Distinct X-style account ids in no useful order: mostly 18-19 digits, one in five an
    old 8-10 digit one (distinct from each other and from the long ones)."""
    import numpy as np

    numbers = np.arange(1, n + 1, dtype=np.uint64)
    scrambled = (numbers * np.uint64(0x9E3779B97F4A7C15)) & np.uint64(2**63 - 1)
    ids = scrambled.astype(np.int64) % np.int64(9 * 10**18) + np.int64(10**17)
    old = numbers % np.uint64(5) == 0
    ids[old] = 10**7 + (numbers[old].astype(np.int64) * 7919) % (10**10 - 10**7)
    # the old ids are distinct: 7919 is prime and n is far below 10**10
    return [str(i) for i in ids.tolist()]


def _ytd(kind: str, part: int, records: list[str]) -> str:
    body = ",\n".join(records)
    return f"window.YTD.{kind}.part{part} = [\n{body}\n]"


def _account_record(kind: str, account: str) -> str:
    return (
        f'  {{\n    "{kind}" : {{\n      "accountId" : "{account}",\n'
        f'      "userLink" : "https://twitter.com/intent/user?user_id={account}"\n    }}\n  }}'
    )


def _tweet_record(i: int, rng: np.random.Generator) -> str:
    tid = 1_600_000_000_000_000_000 + i * 1_000_003
    day = 1 + i % 28
    reply = (
        f'\n      "in_reply_to_status_id_str" : "{tid - 7}",'
        f'\n      "in_reply_to_status_id" : "{tid - 7}",'
        f'\n      "in_reply_to_user_id_str" : "{OWNER}",'
        if i % 5 == 0
        else ""
    )
    return (
        '  {\n    "tweet" : {\n      "edit_info" : {\n        "initial" : {\n'
        f'          "editTweetIds" : [ "{tid}" ],\n          "editableUntil" : '
        '"2025-01-01T00:00:00.000Z",\n          "editsRemaining" : "5",\n'
        '          "isEditEligible" : true\n        }\n      },\n'
        '      "retweeted" : false,\n      "source" : "<a href=\\"https://mobile.twitter.com\\" '
        'rel=\\"nofollow\\">Twitter Web App</a>",\n'
        '      "entities" : {\n        "hashtags" : [ ],\n        "symbols" : [ ],\n'
        '        "user_mentions" : [ ],\n        "urls" : [ ]\n      },\n'
        '      "display_text_range" : [ "0", "42" ],\n'
        f'      "favorite_count" : "{int(rng.integers(0, 500))}",{reply}\n'
        f'      "id_str" : "{tid}",\n      "truncated" : false,\n'
        f'      "retweet_count" : "{int(rng.integers(0, 50))}",\n      "id" : "{tid}",\n'
        f'      "created_at" : "Sat Feb {day:02d} 12:33:11 +0000 2025",\n'
        '      "favorited" : false,\n'
        f'      "full_text" : "Post number {i} of the brand &amp; its spring catalogue",\n'
        '      "lang" : "en"\n    }\n  }'
    )


def _manifest(counts: dict[str, int]) -> str:
    types = {
        kind: {
            "files": [
                {"fileName": f"data/{kind}.js", "globalName": f"YTD.{kind}.part0", "count": str(n)}
            ]
        }
        for kind, n in counts.items()
    }
    config = {
        "userInfo": {"accountId": OWNER, "userName": "benchbrand", "displayName": "Bench"},
        "archiveInfo": {
            "sizeBytes": "0",
            "generationDate": GENERATED,
            "isPartialArchive": False,
            "maxPartSizeBytes": "53687091200",
        },
        "readmeInfo": {"fileName": "data/README.txt", "directory": "data/", "name": "README.txt"},
        "dataTypes": types,
    }
    return "window.__THAR_CONFIG = " + json.dumps(config, indent=2, separators=(",", " : "))


def make_archive(dest: Path, followers: int, following: int, tweets: int) -> Path:
    """A zip of an X archive with *followers* followers, *following* followed accounts (half
    of them followers too) and *tweets* posts."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    follower_ids = _ids(followers + following // 2)
    theirs = follower_ids[:followers]
    ours = follower_ids[: following - following // 2] + follower_ids[followers:]
    account = (
        '[\n  {\n    "account" : {\n      "email" : "brand@example.com",\n'
        '      "createdVia" : "web",\n      "username" : "benchbrand",\n'
        f'      "accountId" : "{OWNER}",\n      "createdAt" : "2012-03-04T05:06:07.000Z",\n'
        '      "accountDisplayName" : "Bench"\n    }\n  }\n]'
    )
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        z.writestr("Your archive.html", "<html><body>Your archive</body></html>")
        z.writestr("data/README.txt", "Twitter archive (synthetic, for benchmarks)\n")
        counts = {"account": 1, "follower": followers, "following": following, "tweets": tweets}
        z.writestr("data/manifest.js", _manifest(counts))
        z.writestr("data/account.js", "window.YTD.account.part0 = " + account)
        for kind, ids in (("follower", theirs), ("following", ours)):
            z.writestr(f"data/{kind}.js", _ytd(kind, 0, [_account_record(kind, a) for a in ids]))
        posts = [_tweet_record(i, rng) for i in range(tweets)]
        z.writestr("data/tweets.js", _ytd("tweets", 0, posts))
    return dest


def run_measured(cmd: list[str]) -> dict[str, Any]:
    """Wall time and the peak RSS of *cmd*'s own process (os.wait4), output kept."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            tail = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {tail}")
        return {
            "seconds": seconds,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,  # all its threads
            "peak_rss": usage.ru_maxrss * 1024,  # Linux reports KiB
            "stdout": out.read().decode(errors="replace"),
        }


def _tool(name: str) -> str | None:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def run(
    followers: int, workdir: Path, repeats: int = 1, following: int = 5_000, tweets: int = 3_000
) -> dict[str, Any]:
    """Both imports of one generated archive, *repeats* times each, alternately. Without
    twitter-to-sqlite installed (it is in the ``bench`` extra) only breakup is measured."""
    archive = workdir / "twitter-2025-05-31-bench.zip"
    # Made in a process of its own: a child's ru_maxrss starts from its parent's peak (the
    # memory it was forked from), so the parent stays small.
    subprocess.run(
        [sys.executable, __file__, "--make", str(archive), "--followers", str(followers),
         "--following", str(following), "--tweets", str(tweets)],
        check=True,
    )  # fmt: skip
    ours_cmd, peer_cmd = _tool("breakup"), _tool("twitter-to-sqlite")
    if ours_cmd is None:
        raise SystemExit("breakup is not installed in this environment")
    peer, ours = [], []
    for i in range(repeats):
        db = workdir / f"peer-{i}.db"
        if peer_cmd is not None:
            peer.append(run_measured([peer_cmd, "import", str(db), str(archive)]))
        store = workdir / f"store-{i}.duckdb"
        ours.append(
            run_measured(
                [ours_cmd, "--db", str(store), "import", "x-archive", "--json", str(archive)]
            )
        )
        for path in (db, store, store.with_name(store.name + ".wal")):
            path.unlink(missing_ok=True)
    result = json.loads(ours[0]["stdout"])
    imported = result[0] if isinstance(result, list) else result
    seconds = min(m["seconds"] for m in ours)
    peak = max(m["peak_rss"] for m in ours)
    out: dict[str, Any] = {
        "followers": followers,
        "following": following,
        "tweets": tweets,
        "archive_bytes": archive.stat().st_size,
        "seconds": seconds,
        "cpu_seconds": min(m["cpu_seconds"] for m in ours),
        "breakup_peak_rss": peak,  # (run.py keeps "peak_rss" for the case process)
        "runs": [m["seconds"] for m in ours],
        "members": imported.get("members"),
        "people": imported.get("people"),
        "posts": imported.get("posts"),
        "baseline": None,
    }
    if peer:
        baseline = min(m["seconds"] for m in peer)
        baseline_peak = max(m["peak_rss"] for m in peer)
        out |= {
            "baseline": baseline,
            "baseline_peak_rss": baseline_peak,
            "baseline_runs": [m["seconds"] for m in peer],
            "baseline_cpu_seconds": min(m["cpu_seconds"] for m in peer),
            "speedup": baseline / seconds,
            "memory_ratio": peak / baseline_peak,
            "meets_bar": baseline / seconds >= SPEEDUP_BAR and peak <= baseline_peak * MEMORY_BAR,
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--following", type=int, default=5_000)
    parser.add_argument("--tweets", type=int, default=3_000)
    parser.add_argument("--keep", type=Path, help="also copy the generated archive here")
    parser.add_argument("--make", type=Path, help="only write the archive there")
    args = parser.parse_args(argv)
    if args.make:
        make_archive(args.make, args.followers, args.following, args.tweets)
        return
    with tempfile.TemporaryDirectory(prefix="breakup-bench-import-") as tmp:
        result = run(args.followers, Path(tmp), args.repeats, args.following, args.tweets)
        if args.keep:
            shutil.copy(Path(tmp) / "twitter-2025-05-31-bench.zip", args.keep)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
