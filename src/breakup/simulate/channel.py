"""Batches cut at fixed times, and turning simulated people and times into observations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from ..models import Batch, Direction, Person, Snapshot, members_table
from .audience import Audience
from .world import DAY, HOUR_US, F, I, World

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Channel:
    """Where one account's observations go: batches cut at fixed times."""

    world: World
    key: str
    platform: str
    identity: str
    handle: str
    step_days: int
    ids_are_emails: bool = False
    cuts: F = field(init=False)
    items: list[dict[str, list[Any]]] = field(init=False)

    def __post_init__(self) -> None:
        hours = self.world.hours
        cuts = np.arange(0.0, hours, self.step_days * DAY)
        self.cuts = np.unique(np.append(cuts, hours))
        self.items = [
            {
                "snapshots": [],
                "events": [],
                "posts": [],
                "interactions": [],
                "checks": [],
                "follow_records": [],
                "profiles": [],
            }
            for _ in self.cuts
        ]

    def slot(self, t: F) -> I:
        """Batch index for times (hours): batch k holds (cut[k-1], cut[k]]."""
        # Compare in microseconds, as the store will, so boundaries cannot drift.
        out: I = np.searchsorted(_us(self.cuts), _us(t), side="left")
        return out

    def fetch_time(self, t: F) -> F:
        out: F = self.cuts[np.minimum(self.slot(t), len(self.cuts) - 1)]
        return out

    def add(self, what: str, t: F, objs: list[Any]) -> None:
        for k, obj in zip(self.slot(t).tolist(), objs, strict=True):
            if k < len(self.items):  # anything after the end of the year was not seen
                self.items[k][what].append(obj)

    def batches(self) -> list[Batch]:
        out = []
        seed = self.world.params.seed
        for cut, item in zip(self.cuts.tolist(), self.items, strict=True):
            batch = Batch(
                source="demo",
                platform=self.platform,
                source_ref=f"sim:{seed}:{self.key}:{round(cut / DAY)}",
                account_identity=self.identity,
                account_handle=self.handle,
                ids_are_emails=self.ids_are_emails,
                observed_at=self.world.at(cut),
                snapshots=item["snapshots"],
                events=sorted(item["events"], key=lambda e: e.at),
                posts=sorted(item["posts"], key=lambda p: p.created_at),
                interactions=sorted(item["interactions"], key=lambda i: i.at),
                checks=sorted(item["checks"], key=lambda c: c.checked_at),
                follow_records=item["follow_records"],
                profiles=item["profiles"],
            )
            if not batch.is_empty():
                out.append(batch)
        return out


def _us(hours: F) -> I:
    out: I = np.round(np.asarray(hours, dtype=np.float64) * HOUR_US).astype(np.int64)
    return out


def unix_us(world: World, hours: float) -> int:
    return (world.start - _EPOCH) // timedelta(microseconds=1) + round(hours * HOUR_US)


def datetimes(world: World, hours: F) -> list[datetime]:
    start = world.start
    return [start + timedelta(microseconds=int(u)) for u in _us(hours)]


def persons(people: Audience, idx: I, at: F) -> list[Person]:
    """People as a source shows them at times *at* (handles may have changed)."""
    changed = people.change_at[idx] <= at
    handles = np.where(changed, people.new_handle[idx], people.handle[idx])
    names = np.where(changed, people.new_name[idx], people.name[idx])
    return [
        Person(str(e), h, n)
        for e, h, n in zip(people.ext[idx].tolist(), handles.tolist(), names.tolist(), strict=True)
    ]


def snapshot(
    people: Audience,
    idx: I,
    at: float,
    when: datetime,
    direction: Direction = Direction.FOLLOWERS,
    *,
    complete: bool = True,
    reported: int | None = None,
    names: bool = True,
) -> Snapshot:
    ids = pa.array(people.ext[idx], pa.string())
    if not names:
        return Snapshot(direction, when, members_table(ids), complete, reported)
    table = members_table(
        ids,
        pa.array(people.handles_at(idx, at), pa.string()),
        pa.array(people.names_at(idx, at), pa.string()),
    )
    return Snapshot(direction, when, table, complete, reported)
