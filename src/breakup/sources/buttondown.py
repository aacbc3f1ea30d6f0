"""Buttondown subscriber export: exact subscription and unsubscription dates.

Two exports, one CSV layout (``id, secondary_id, email, notes, subscriber_type,
referrer_url, utm_source, utm_medium, utm_campaign, creation_date, ip_address,
subscription_date, unsubscription_date, tags, metadata``; an ``undeliverability_date``
column is used when present):

* the Subscribers page's CSV of the rows shown there, which may be filtered (by type, tag,
  search ...);
* the full data export (Settings → Exports, or ``POST /v1/exports``): a zip of one CSV per
  collection — ``subscribers``, ``emails`` (``id, secondary_id, subject, publish_date,
  source, email_type, slug``), ``events``, ``referrals``, ``comments`` ... Its
  ``subscribers`` CSV holds every subscriber of every type, the unsubscribed included.
  Exports made before 2025 also had a separate ``unsubscribers`` collection; Buttondown's
  API no longer lists it.

Dates carry their offset (``2024-03-13 00:03:09.183465+00:00``): UTC.

``subscriber_type`` is the subscriber's state now (Buttondown's ``SubscriberType``). The
types that have left end their span: with an exact time where the row has one
(``unsubscription_date``, ``undeliverability_date``), else as an absence from a complete
list, named by a check at export time — voluntary (``unsubscribed``, and ``complained``:
marking an issue as spam is the reader's own choice) or not (``undeliverable``,
``removed`` by the newsletter, ``blocked`` by Buttondown's firewall).

The list is complete when it is the data export's (a zip, or its folder, holding other
collections beside it, or the old subscribers + unsubscribers pair), or when one CSV holds
both current and departed types — a view filtered by type holds only one side. Anything
else proves who is subscribed, never who left.
"""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from pathlib import Path

from ..errors import InvalidExport
from ..models import AccountState, Batch, Check, Event, EventKind, Person, Post, PostKind
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
# The other collections of a data export: seen beside subscribers.csv, they mark the export.
_COLLECTIONS = re.compile(
    r"(emails|scheduled_emails|drafts|events|referrals|surveys|comments|requests|mentions|"
    r"conversations|images|stripe_[a-z_]+)[^/]*\.csv",
    re.IGNORECASE,
)
_REQUIRED = {"email", "subscription_date", "unsubscription_date"}
_EMAIL = {"id", "subject", "publish_date"}
# Still receiving the newsletter (paid states included: a lapsed plan is not a lost reader).
_ACTIVE = {"regular", "premium", "trialed", "gifted", "paused", "unpaid", "churning"}
_ACTIVE |= {"churned", "past_due"}
# Never on the list: not confirmed yet, not started yet, or stopped at sign-up by
# Buttondown's firewall (disposable addresses too). No follow; a "blocked" who had been
# seen on the list before ends as blocked.
_NEVER_JOINED = {"unactivated", "upcoming", "blocked", "disposable"}
# Left, and what kind of ending that is, as the check that names it: (state, follows).
_GONE: dict[str, tuple[AccountState, bool | None]] = {
    "unsubscribed": (AccountState.ACTIVE, False),
    "complained": (AccountState.ACTIVE, False),  # a spam complaint: their own choice
    "undeliverable": (AccountState.DELETED, None),  # hard bounce or suppression
    "removed": (AccountState.DELETED, None),  # removed by the newsletter
    "blocked": (AccountState.BLOCKED, None),
    "disposable": (AccountState.BLOCKED, None),
    # Types Buttondown retired in 2025 (now "undeliverable"), still in older exports.
    "spammy": (AccountState.DELETED, None),
    "malformed": (AccountState.DELETED, None),
    "disabled": (AccountState.DELETED, None),
}
_KNOWN = _ACTIVE | _NEVER_JOINED | set(_GONE)


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
            # The data export: subscribers beside its other collections (or the old pair).
            layout = not single and (kinds == {True, False} or bool(_named(files, _COLLECTIONS)))
        active: dict[str, bool] = {}
        gone: dict[str, str] = {}  # address -> departed type with no exact ending
        types: set[str] = set()
        times: list[datetime] = []
        for where, row in rows:
            address = email_address(row["email"], path, where)
            person = Person(address)
            joined = parse_time(row["subscription_date"], path, f"{where} subscription_date")
            left = parse_time(row["unsubscription_date"], path, f"{where} unsubscription_date")
            bounced = parse_time(
                row.get("undeliverability_date", ""), path, f"{where} undeliverability_date"
            )
            kind = row.get("subscriber_type", "").strip().lower()
            types.add(kind)
            if joined is not None and kind not in _NEVER_JOINED:
                batch.events.append(Event(person, EventKind.FOLLOW, joined))
            if left is not None:
                reason = "marked an email as spam" if kind == "complained" else None
                batch.events.append(Event(person, EventKind.UNSUBSCRIBE, left, reason=reason))
            if bounced is not None and kind == "undeliverable":
                batch.events.append(Event(person, EventKind.CLEANED, bounced))
            times += [t for t in (joined, left, bounced) if t is not None]
            # The type is the current state; without it, the later of the two dates is.
            here = kind in _ACTIVE if kind else left is None or (joined or left) > left
            active[address] = active.get(address, False) or here
            ended = (left if kind in ("unsubscribed", "complained") else bounced) is not None
            if kind in _GONE and not ended:
                gone[address] = kind
        now = options.clock()
        for where, row in emails:
            sent = parse_time(row["publish_date"], path, f"{where} publish_date")
            # Drafts have no date and scheduled emails a future one: neither reached anyone.
            if sent is not None and sent <= now and row["id"].strip():
                batch.posts.append(Post(row["id"].strip(), sent, PostKind.CAMPAIGN, row["subject"]))
                times.append(sent)
        at = export_time(options, times, path, batch.notes)
        complete = _complete(layout, types, batch.notes)
        # A departed type with no date ends as an absence from the complete list; the check
        # at export time names how. Someone subscribed again is not gone.
        for address, kind in gone.items():
            if not active[address]:
                state, follows = _GONE[kind]
                batch.checks.append(
                    Check(Person(address), at, state, follows, f"buttondown type {kind}")
                )
        undated = sum(1 for a in gone if not active[a])
        if undated and not complete:
            batch.notes.append(
                f"{undated} subscriber(s) of a departed type (undeliverable, removed, "
                "complained ...) with no date: a filtered list cannot say when they left, so "
                "their subscription stays open until a complete export leaves them out"
            )
        subscribed = [a for a, here in active.items() if here]
        batch.snapshots.append(
            followers_snapshot(at, subscribed, complete=complete, notes=batch.notes)
        )
        batch.observed_at = at
        return batch


def _complete(layout: bool, types: set[str], notes: list[str]) -> bool:
    """Whether the list is every subscriber, noting why not (or why a lone CSV is)."""
    unknown = types - _KNOWN - {""}
    if unknown:
        notes.append(
            f"unknown subscriber_type {', '.join(sorted(unknown))}: left out of the "
            "snapshot, which therefore shows who is subscribed, not who left"
        )
        return False
    if layout:
        return True
    current, departed = types & _ACTIVE, types & set(_GONE)
    if current and departed:
        notes.append(
            "the subscriber CSV holds current and departed subscribers "
            f"({', '.join(sorted(departed))}): taken as the full list"
        )
        return True
    held = ", ".join(sorted(t or "no type" for t in types)) or "no rows"
    notes.append(
        f"a subscriber CSV holding only {held} may be filtered: its snapshot shows who is "
        "subscribed, not who left (departures come from unsubscription dates; export every "
        "type, or the full data export, for a complete list)"
    )
    return False


def _named(files: ExportFiles, pattern: re.Pattern[str]) -> list[str]:
    return [n for n in files.names if pattern.fullmatch(files.basename(n)) and "__MACOSX/" not in n]
