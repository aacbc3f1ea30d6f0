"""Importing a large Instagram export ("Download your information", JSON, all time).

    python benchmarks/bench_import_instagram.py                 # 1M followers
    python benchmarks/bench_import_instagram.py --followers 100000 --repeats 3

Generates a zip in Instagram's current layout (``connections/followers_and_following/
followers_1.json``: a list of entries with ``string_list_data`` holding the username as
``value``, its profile link and the Unix time the follow began; ``following.json`` under
``relationships_following``, names in ``title``), then runs ``breakup import instagram``
on it in its own process, as a user would: every follower becomes a person, an exact
follow event and a member of the snapshot. No other tool reads these exports, so there is
no baseline: the figures are breakup's wall time, CPU time and peak RSS (best of
``--repeats``; the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_import import _tool, run_measured

ROOT = "instagram-benchbrand-2026-12-01-abcdef/connections/followers_and_following/"
START = 1_400_000_000  # Unix seconds of the first follow (2014)


def _entry(name: str, when: int) -> str:
    return (
        '  {\n    "title": "",\n    "media_list_data": [],\n    "string_list_data": [\n'
        f'      {{\n        "href": "https://www.instagram.com/{name}",\n'
        f'        "value": "{name}",\n        "timestamp": {when}\n      }}\n    ]\n  }}'
    )


def make_export(dest: Path, followers: int, following: int) -> Path:
    """A zip of an Instagram export: *followers* followers, newest first as Instagram lists
    them, one a minute; *following* followed accounts."""
    body = ",\n".join(_entry(f"user_{i}", START + 60 * i) for i in reversed(range(followers)))
    followed = [
        {
            "title": f"brand_{i}",
            "string_list_data": [
                {"href": f"https://www.instagram.com/_u/brand_{i}", "timestamp": START + 3600 * i}
            ],
        }
        for i in range(following)
    ]
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        z.writestr(ROOT + "followers_1.json", f"[\n{body}\n]")
        z.writestr(
            ROOT + "following.json", json.dumps({"relationships_following": followed}, indent=2)
        )
    return dest


def run(followers: int, workdir: Path, repeats: int = 1, following: int = 2_000) -> dict[str, Any]:
    export = make_export(workdir / "instagram-bench.zip", followers, following)
    breakup = _tool("breakup")
    if breakup is None:
        raise SystemExit("breakup is not installed in this environment")
    runs = []
    for i in range(repeats):
        store = workdir / f"store-{i}.duckdb"
        command = [breakup, "--db", str(store), "import", "instagram", "--json", str(export)]
        runs.append(run_measured(command))
        for path in (store, store.with_name(store.name + ".wal")):
            path.unlink(missing_ok=True)
    result = json.loads(runs[0]["stdout"])
    imported = result[0] if isinstance(result, list) else result
    return {
        "followers": followers,
        "following": following,
        "export_bytes": export.stat().st_size,
        "seconds": min(m["seconds"] for m in runs),
        "cpu_seconds": min(m["cpu_seconds"] for m in runs),
        "peak_rss": max(m["peak_rss"] for m in runs),
        "runs": [m["seconds"] for m in runs],
        "people": imported.get("people"),
        "events": imported.get("events"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument("--following", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="breakup-bench-instagram-") as tmp:
        result = run(args.followers, Path(tmp), args.repeats, args.following)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
