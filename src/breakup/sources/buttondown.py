"""Buttondown subscriber export: exact subscription and unsubscription dates.

The Subscribers page exports one CSV (``id, secondary_id, email, notes, subscriber_type,
referrer_url, utm_source, utm_medium, utm_campaign, creation_date, ip_address,
subscription_date, unsubscription_date, tags, metadata``) of the rows selected or
filtered there. Buttondown's full data export (Settings, or ``POST /v1/exports``) is a
zip of one CSV per collection, among them ``subscribers`` and ``unsubscribers`` and
``emails`` (``id, secondary_id, subject, publish_date, source, email_type, slug``).
Dates carry their offset (``2024-03-13 00:03:09.183465+00:00``): UTC.

Because a page export may be filtered, only the full export (subscribers and
unsubscribers together) is taken as the complete list; a single CSV gives a partial
snapshot that proves who is subscribed and never who left.
"""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path

from ..errors import InvalidExport
from ..models import Batch, Event, EventKind, Person, Post, PostKind
from . import register
from ._email import (
    PLATFORM,
    email_address,
    export_time,
    followers_snapshot,
    new_batch,
    parse_time,
    read_rows,
)
from .base import ExportFiles, FileSource, ReadOptions

_SUBSCRIBERS = re.compile(r"(un)?subscribers[^/]*\.csv", re.IGNORECASE)
_EMAILS = re.compile(r"emails[^/]*\.csv", re.IGNORECASE)
_REQUIRED = {"email", "subscription_date", "unsubscription_date"}
_EMAIL = {"id", "subject", "publish_date"}
# Still on the list (paid states included: a lapsed plan is not a lost reader) ...
_ACTIVE = {"regular", "premium", "trialed", "gifted", "paused", "unpaid"}
_ACTIVE |= {"churning", "churned", "past_due"}
# ... and no longer receiving; "unactivated" never confirmed, so never joined.
_GONE = {"unactivated", "unsubscribed", "spammy", "undeliverable", "complained", "disabled"}
_GONE |= {"removed"}


@register
class ButtondownSource(FileSource):
    name = "buttondown"
    platform = PLATFORM
    summary = "Buttondown subscriber export (CSV, or the full data export zip/folder)."

    def read(self, path: Path, options: ReadOptions) -> Batch:
        with ExportFiles(path) as files:
            single = path.is_file() and not zipfile.is_zipfile(path)
            lists = files.names if single else _named(files, _SUBSCRIBERS)
            if not lists:
                raise InvalidExport(path, "no subscribers CSV: not a Buttondown export")
            batch = new_batch(self.name, files)
            rows = [r for name in lists for r in read_rows(files, name, _REQUIRED)]
            emails = [r for n in _named(files, _EMAILS) for r in read_rows(files, n, _EMAIL)]
            kinds = {files.basename(n).lower().startswith("un") for n in lists}
        complete = not single and kinds == {True, False}
        active: dict[str, bool] = {}
        times: list[datetime] = []
        unknown: set[str] = set()
        for where, row in rows:
            address = email_address(row["email"], path, where)
            person = Person(address)
            joined = parse_time(row["subscription_date"], path, f"{where} subscription_date")
            left = parse_time(row["unsubscription_date"], path, f"{where} unsubscription_date")
            kind = row.get("subscriber_type", "").strip().lower()
            if joined is not None and kind != "unactivated":
                batch.events.append(Event(person, EventKind.FOLLOW, joined))
            if left is not None:
                batch.events.append(Event(person, EventKind.UNSUBSCRIBE, left))
            times += [t for t in (joined, left) if t is not None]
            if kind and kind not in _ACTIVE | _GONE:
                unknown.add(kind)
            # The type is the current state; without it, the later of the two dates is.
            here = kind in _ACTIVE if kind else left is None or (joined or left) > left
            active[address] = active.get(address, False) or here
        now = options.clock()
        for where, row in emails:
            sent = parse_time(row["publish_date"], path, f"{where} publish_date")
            # Drafts have no date and scheduled emails a future one: neither reached anyone.
            if sent is not None and sent <= now and row["id"].strip():
                batch.posts.append(Post(row["id"].strip(), sent, PostKind.CAMPAIGN, row["subject"]))
                times.append(sent)
        at = export_time(options, times, path, batch.notes)
        if unknown:
            complete = False
            batch.notes.append(
                f"unknown subscriber_type {', '.join(sorted(unknown))}: left out of the "
                "snapshot, which therefore shows who is subscribed, not who left"
            )
        elif not complete:
            batch.notes.append(
                "a single subscriber CSV may be filtered: its snapshot shows who is subscribed, "
                "not who left (departures come from unsubscription dates)"
            )
        subscribed = [a for a, here in active.items() if here]
        batch.snapshots.append(
            followers_snapshot(at, subscribed, complete=complete, notes=batch.notes)
        )
        batch.observed_at = at
        return batch


def _named(files: ExportFiles, pattern: re.Pattern[str]) -> list[str]:
    return [n for n in files.names if pattern.fullmatch(files.basename(n)) and "__MACOSX/" not in n]
