"""Validation of ``breakup why``'s break-up posts on simulated worlds (make validate-why).

    python benchmarks/validate_why.py                 # the full suite, docs/why-validation.*
    python benchmarks/validate_why.py --worlds 40     # a quicker draw

Each world (benchmarks/why_worlds.py) is drawn at random from shapes the model does not
assume: posting every 15 min to every 2 days; 12 h to a year of history; exact times or
1 h / 6 h / weekly snapshots; baseline churn 0.1-50 departures an hour, Poisson or
overdispersed (a gamma level per day and departures in clusters); planted effects of
+5 to +200 departures after delays of 0-6 h from uniform, lognormal, dead-time gamma or
exponential distributions (the model's kernels are exponential and gamma(3)); outside
bursts tied to no post; null worlds with no effect at all. Every world is written through
``save_batch`` (events as the stream saves them, or snapshots) into a real store and
analysed by ``attribution_only``. What is counted:

* planted posts **named** (``break_up``), **found** (named, or significant within an
  ambiguous group that contains them), their rank among all posts;
* **coverage**: the 95% interval of the excess contains the departures the post caused;
* **false blame**: worlds in which a post that caused nothing is named (a post whose
  window contains a planted post's departures is a wrong post too);
* **outside bursts**: worlds in which a post is named for a burst no post caused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.why_worlds import DELAYS, T0, Effect, World, save_world

FAMILIES = ("null", "effects", "outside")
RESOLUTIONS = (None, 1.0, 6.0, 168.0)


@dataclass
class Drawn:
    family: str
    seed: int
    world: World


def draw(family: str, seed: int) -> Drawn:
    rng = np.random.default_rng(1000 + seed * 7 + FAMILIES.index(family))
    res = RESOLUTIONS[int(rng.integers(0, len(RESOLUTIONS)))]
    if res is None:
        hours = float(rng.choice([12, 24, 96, 30 * 24, 90 * 24, 365 * 24]))
    elif res == 1.0:
        hours = float(rng.choice([12, 24, 96, 7 * 24]))
    elif res == 6.0:
        hours = float(rng.choice([96, 30 * 24, 90 * 24]))
    else:
        hours = float(rng.choice([60 * 24, 180 * 24, 365 * 24]))
    cadence = float(rng.choice([0.25, 1.0, 3.0, 12.0, 48.0]))
    cadence = max(cadence, hours / 2000, hours / 400 if res == 168.0 else 0.0)
    cadence = min(cadence, hours / 3)
    rate = float(np.exp(rng.uniform(np.log(0.1), np.log(50.0))))
    rate = min(rate, 400_000 / hours)  # keep a year of departures under 400k
    over = bool(rng.random() < 0.5)
    effects: list[Effect] = []
    bursts: list[tuple[float, int, float]] = []
    posts = int(hours / cadence)
    if family == "effects":
        for _ in range(int(rng.integers(1, 4))):
            effects.append(Effect(int(rng.integers(0, max(1, posts - 1))),
                                  int(rng.choice([5, 10, 20, 35, 50, 100, 200])),
                                  float(rng.choice([0.1, 0.5, 1.0, 2.0, 4.0, 6.0])),
                                  str(rng.choice(DELAYS))))  # fmt: skip
    if family == "outside":
        bursts.append((float(rng.uniform(0.2, 0.9) * hours), int(rng.integers(20, 80)),
                       float(rng.choice([0.25, 0.5, 1.0]))))  # fmt: skip
    departures = rate * hours + sum(e.size for e in effects) + sum(b[1] for b in bursts)
    followers = int(max(3000, 2 * departures))
    world = World(hours, followers, rate, over, cadence, effects, bursts, res, seed)
    return Drawn(family, seed, world)


def run_one(drawn: Drawn) -> dict[str, Any]:
    from breakup.clock import fixed_clock
    from breakup.store import Store
    from breakup.why.report import attribution_only

    w = drawn.world
    with tempfile.TemporaryDirectory(prefix="breakup-validate-") as tmp:
        clock = fixed_clock(T0 + timedelta(hours=w.hours + 1))
        with Store(Path(tmp) / "w.duckdb", clock=clock) as store:
            started = time.perf_counter()
            truth = save_world(store, w)
            saved = time.perf_counter() - started
            started = time.perf_counter()
            att = attribution_only(store)
            seconds = time.perf_counter() - started
    name = "bsky:brand.example"
    rank = {p.post: i for i, p in enumerate(att.posts)}
    rows = {p.post: p for p in att.posts}
    planted = []
    for post, caused in truth.caused.items():
        r = rows.get(post)
        if r is None:
            continue
        group = [r.post, *r.ambiguous_with]
        planted.append({
            "post": post, "caused": caused, "named": r.break_up,
            "found": r.break_up or (r.significant and post in group),
            "rank": rank[post], "excess": r.excess, "ci": [r.excess_ci_low, r.excess_ci_high],
            "covered": r.excess_ci_low <= caused <= r.excess_ci_high,
        })  # fmt: skip
    wrong = [p.post for p in att.break_up_posts if p.post not in truth.caused]
    pinned = separable = False
    for start, end in truth.burst_hours:
        # A burst that begins within the hour after a post is what that post's response
        # would look like: no method can tell them apart. Separable: none in that hour.
        before = truth.post_hours[truth.post_hours <= start]
        separable = not len(before) or start - float(before.max()) >= 1.0
        for p in att.break_up_posts:
            ws = p.window_start and (p.window_start - T0).total_seconds() / 3600
            we = p.window_end and (p.window_end - T0).total_seconds() / 3600
            if ws is not None and we is not None and ws < end and we > start:
                pinned = True
    acct = next((a for a in att.accounts if a.account == name), None)
    return {
        "family": drawn.family, "seed": drawn.seed, "world": asdict(w),
        "status": att.status, "posts": len(truth.posts), "planted": planted, "wrong": wrong,
        "burst_pinned": pinned, "burst_separable": separable,
        "bursts_reported": len(att.bursts),
        "response": acct.response_time if acct else "", "dispersion": acct.dispersion if acct
        else None, "save_seconds": saved, "seconds": seconds,
    }  # fmt: skip


def _res(w: dict[str, Any]) -> str:
    r = w["snapshot_hours"]
    return "exact" if r is None else {1.0: "1 h", 6.0: "6 h", 168.0: "weekly"}[r]


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for res in ("exact", "1 h", "6 h", "weekly", "all"):
        sel = [r for r in results if res == "all" or _res(r["world"]) == res]
        nulls = [r for r in sel if r["family"] == "null"]
        over = [r for r in nulls if r["world"]["overdispersed"]]
        eff = [p for r in sel if r["family"] == "effects" for p in r["planted"]]
        big = [p for p in eff if p["caused"] >= 20]
        outs = [r for r in sel if r["family"] == "outside"]
        apart = [r for r in outs if r["burst_separable"]]
        out[res] = {
            "worlds": len(sel),
            "planted": len(eff),
            "named": sum(p["named"] for p in eff),
            "found": sum(p["found"] for p in eff),
            "planted_20plus": len(big),
            "named_20plus": sum(p["named"] for p in big),
            "found_20plus": sum(p["found"] for p in big),
            "median_rank": float(np.median([p["rank"] for p in eff])) if eff else None,
            "covered": sum(p["covered"] for p in eff),
            "null_worlds": len(nulls),
            "null_blamed": sum(bool(r["wrong"]) for r in nulls),
            "null_overdispersed": len(over),
            "null_overdispersed_blamed": sum(bool(r["wrong"]) for r in over),
            "effect_worlds_wrong": sum(bool(r["wrong"]) for r in sel if r["family"] == "effects"),
            "effect_worlds": sum(r["family"] == "effects" for r in sel),
            "outside_worlds": len(outs),
            "outside_pinned": sum(r["burst_pinned"] for r in outs),
            "outside_separable": len(apart),
            "outside_separable_pinned": sum(r["burst_pinned"] for r in apart),
            "outside_reported": sum(r["bursts_reported"] > 0 for r in outs),
        }
    return out


def table(summary: dict[str, Any]) -> str:
    def pct(a: int, b: int) -> str:
        return "—" if not b else f"{a}/{b} ({a / b:.0%})"

    lines = [
        "| times | worlds | planted named | found (named or in its group) | named, effects ≥ 20 "
        "| median rank | CI covers the truth | false blame, null | … overdispersed "
        "| wrong post named, effect worlds | outside burst pinned on a post "
        "| … burst ≥ 1 h after the last post |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res, s in summary.items():
        lines.append(
            f"| {res} | {s['worlds']} | {pct(s['named'], s['planted'])} "
            f"| {pct(s['found'], s['planted'])} | {pct(s['named_20plus'], s['planted_20plus'])} "
            f"| {s['median_rank'] if s['median_rank'] is not None else '—'} "
            f"| {pct(s['covered'], s['planted'])} | {pct(s['null_blamed'], s['null_worlds'])} "
            f"| {pct(s['null_overdispersed_blamed'], s['null_overdispersed'])} "
            f"| {pct(s['effect_worlds_wrong'], s['effect_worlds'])} "
            f"| {pct(s['outside_pinned'], s['outside_worlds'])} "
            f"| {pct(s['outside_separable_pinned'], s['outside_separable'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=100, help="worlds per family")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 1)))
    parser.add_argument("--out", type=Path, default=Path("docs/why-validation.json"))
    parser.add_argument("--doc", type=Path, default=Path("docs/why-validation.md"),
                        help="markdown whose measured table is replaced (between markers)")
    args = parser.parse_args(argv)
    drawn = [draw(f, s) for s in range(args.worlds) for f in FAMILIES]
    from rich.progress import Progress

    results: list[dict[str, Any]] = []
    with Progress() as bar, ProcessPoolExecutor(args.jobs) as pool:
        task = bar.add_task("worlds", total=len(drawn))
        for r in pool.map(run_one, drawn):
            results.append(r)
            bar.advance(task)
    summary = summarise(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "worlds": results}, indent=1,
                                   default=str))  # fmt: skip
    print(table(summary))
    if args.doc.exists():
        text = args.doc.read_text()
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        seconds = [r["seconds"] for r in results]
        measured = (f"{len(results)} worlds ({args.worlds} per family), analysis "
                    f"{np.median(seconds):.1f} s median, {max(seconds):.1f} s at most.\n\n")
        args.doc.write_text(f"{head}{BEGIN}\n{measured}{table(summary)}\n{END}{tail}")


BEGIN, END = "<!-- measured -->", "<!-- /measured -->"


if __name__ == "__main__":
    main()
