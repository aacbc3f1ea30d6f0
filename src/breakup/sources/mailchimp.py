"""Mailchimp audience export: who subscribed, and who left after which campaign and why.

The export is a zip (or its unpacked folder) with one CSV per member status, named by
it: ``subscribed_members_export_<id>.csv``, ``unsubscribed_…``, ``cleaned_…`` inside
``members_export_<id>.zip`` (newer: ``…_email_audience_export_<id>.csv``; exports of a
segment: ``…_segment_export_<id>.csv``). Member times — OPTIN_TIME, CONFIRM_TIME,
LAST_CHANGED, UNSUB_TIME, CLEAN_TIME — are ``YYYY-MM-DD HH:MM:SS`` without a zone and are
read as UTC, the zone Mailchimp keeps them in (its API gives the same fields, e.g.
``timestamp_opt`` and ``last_changed``, with ``+00:00``).

Files renamed after download (or exported by hand) are recognised by their header: a CSV
with ``Email Address`` and ``OPTIN_TIME`` is a member list — unsubscribed if it has
``UNSUB_TIME``, cleaned if it has ``CLEAN_TIME``, else subscribed.

The audience export has no campaign send times. A campaign report (Reports → Export as
CSV: ``Title``, ``Subject``, ``Send Date``, ``Total Recipients``, ``Unsubscribes``,
``Unique Id`` …) put beside the audience files, or given as another path of the same
import (``breakup import mailchimp export.zip report.csv``), supplies them and the
per-campaign counts; without it a campaign is dated by its first unsubscribe. A report
imported alone gives the campaigns with their send times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from ..errors import InvalidExport
from ..models import Batch, Event, EventKind, Person, Post, PostKind
from . import register
from ._email import (
    PLATFORM,
    email_address,
    export_time,
    followers_snapshot,
    header_of,
    new_batch,
    parse_time,
    read_rows,
)
from .base import ExportFiles, FileSource, ReadOptions

# Status comes from the file name, else from the header; "nonsubscribed_"/"transactional_"
# files are not members.
_MEMBER_FILE = re.compile(r"(subscribed|unsubscribed|cleaned)_[^/]*\.csv", re.IGNORECASE)
_NOT_MEMBERS = re.compile(r"(nonsubscribed|transactional)_[^/]*", re.IGNORECASE)
_MEMBER_HEADER = {"Email Address", "OPTIN_TIME"}
_JOIN_TIMES = ("OPTIN_TIME", "CONFIRM_TIME", "LAST_CHANGED")
_JOINED = {"Email Address", "OPTIN_TIME", "CONFIRM_TIME"}
_REQUIRED = {
    "subscribed": _JOINED,
    "unsubscribed": _JOINED
    | {"UNSUB_TIME", "UNSUB_CAMPAIGN_TITLE", "UNSUB_CAMPAIGN_ID", "UNSUB_REASON"},
    "cleaned": _JOINED | {"CLEAN_TIME", "CLEAN_CAMPAIGN_TITLE", "CLEAN_CAMPAIGN_ID"},
}
# How each ending is written: event kind, then the time / campaign id / title columns.
_ENDINGS = {
    "unsubscribed": (
        EventKind.UNSUBSCRIBE,
        "UNSUB_TIME",
        "UNSUB_CAMPAIGN_ID",
        "UNSUB_CAMPAIGN_TITLE",
    ),
    "cleaned": (EventKind.CLEANED, "CLEAN_TIME", "CLEAN_CAMPAIGN_ID", "CLEAN_CAMPAIGN_TITLE"),
}
_REPORT = {"Title", "Send Date", "Unique Id"}
_REPORT_COUNTS = {
    "recipients": "Total Recipients",
    "deliveries": "Successful Deliveries",
    "unique_opens": "Unique Opens",
    "unique_clicks": "Unique Clicks",
    "unsubscribes": "Unsubscribes",
    "abuse_complaints": "Abuse Complaints",
}


@dataclass
class _Campaign:
    title: str = ""
    first_departure: datetime | None = None  # earliest unsubscribe / clean it caused
    sent: datetime | None = None
    subject: str = ""
    metrics: dict[str, int] = field(default_factory=dict)


@register
class MailchimpSource(FileSource):
    name = "mailchimp"
    platform = PLATFORM
    summary = "Mailchimp audience export (zip or folder): opt-ins, unsubscribes with campaign."

    def read(self, path: Path, options: ReadOptions) -> Batch:
        with ExportFiles(path) as files:
            members = _member_files(files)
            batch = new_batch(self.name, files)
            if not members:
                alone = _report_only(files, path, options, batch)
                if alone is not None:
                    return alone
                raise InvalidExport(
                    path,
                    "no subscribed_/unsubscribed_/cleaned_ CSV: not a Mailchimp audience export",
                )
            tables = {s: read_rows(files, n, _REQUIRED[s]) for s, n in members.items()}
            reports = [
                read_rows(files, n, _REPORT)
                for n in files.names
                if n not in members.values() and _is_report(files, n)
            ]
        # A campaign report given as another path of the same import belongs to this export.
        for other in _beside(path, options):
            with ExportFiles(other) as given:
                reports += [read_rows(given, n, _REPORT) for n in given.names]
        campaigns: dict[str, _Campaign] = {}
        times: list[datetime] = []
        ids: list[str] = []
        names: list[str | None] = []
        undated = 0
        for status, rows in tables.items():
            for where, row in rows:
                address = email_address(row["Email Address"], path, where)
                person = Person(address, display_name=_display_name(row))
                seen = [parse_time(row.get(c, ""), path, f"{where} {c}") for c in _JOIN_TIMES]
                times += [t for t in seen if t is not None]
                ending = _ending(status, person, row, path, where, campaigns)
                if status == "unsubscribed" and ending is None:
                    undated += 1
                # Membership starts at confirmation (double opt-in), else at the opt-in.
                joined = seen[1] or seen[0]
                if joined is not None and (ending is None or joined <= ending.at):
                    batch.events.append(Event(person, EventKind.FOLLOW, joined))
                if ending is not None:
                    batch.events.append(ending)
                    times.append(ending.at)
                if status == "subscribed":
                    ids.append(address)
                    names.append(person.display_name)
        for where, row in (r for rows in reports for r in rows):
            _report_row(row, path, where, campaigns)
        batch.posts = _posts(campaigns, batch.notes)
        if "subscribed" in members:
            # A segment export lists only the segment: it proves presence, never absence.
            segment = "_segment_export" in PurePosixPath(members["subscribed"]).name.lower()
            at = export_time(options, times, path, batch.notes)
            batch.snapshots.append(
                followers_snapshot(at, ids, names, complete=not segment, notes=batch.notes)
            )
            batch.observed_at = at
            if segment:
                batch.notes.append("segment export: shows who is there, not who left")
        else:
            batch.observed_at = options.at
            batch.notes.append("no subscribed_ file: departures only, no subscriber snapshot")
        if undated:
            batch.notes.append(
                f"{undated} unsubscribed member(s) have no UNSUB_TIME: "
                "their ending is known only from the snapshot"
            )
        return batch


def _member_files(files: ExportFiles) -> dict[str, str]:
    """Each member list by its status: from the file name, else from its header."""
    found: dict[str, str] = {}
    for name in files.names:
        base = files.basename(name)
        if "__MACOSX/" in name or not base.lower().endswith(".csv"):
            continue
        match = _MEMBER_FILE.fullmatch(base)
        if match is not None:
            status = match.group(1).lower()
        elif _NOT_MEMBERS.match(base):
            continue
        else:
            status = _status_of(header_of(files, name))
            if status is None:
                continue
        if status in found:
            raise InvalidExport(
                files.path,
                f"two {status}_ files ({found[status]}, {name}): one audience at a time",
            )
        found[status] = name
    return found


def _status_of(header: list[str]) -> str | None:
    """Which member list a CSV is by its columns, or None if it is not one."""
    columns = set(header)
    if not columns >= _MEMBER_HEADER:
        return None
    if "UNSUB_TIME" in columns:
        return "unsubscribed"
    if "CLEAN_TIME" in columns:
        return "cleaned"
    return "subscribed"


def _reports(files: ExportFiles) -> list[str]:
    return [n for n in files.names if _is_report(files, n)]


def _beside(path: Path, options: ReadOptions) -> list[Path]:
    """The other paths of this import that are campaign reports alone."""
    found = []
    for other in options.together:
        if other == path or not other.is_file():
            continue
        try:
            with ExportFiles(other) as files:
                if files.names and _reports(files) == files.names:
                    found.append(other)
        except InvalidExport:
            continue  # its own read reports what is wrong with it
    return found


def _has_members(path: Path) -> bool:
    try:
        with ExportFiles(path) as files:
            return bool(_member_files(files))
    except InvalidExport:
        return False


def _report_only(
    files: ExportFiles, path: Path, options: ReadOptions, batch: Batch
) -> Batch | None:
    """A campaign report given on its own: read into the audience export given with it,
    else its campaigns with their send times. None if it is not a report either."""
    names = _reports(files)
    if not names or names != files.names:
        return None
    exports = [p for p in options.together if p != path and _has_members(p)]
    if exports:
        batch.notes.append(f"campaign report: read with {exports[0].name}")
        return batch
    campaigns: dict[str, _Campaign] = {}
    for name in names:
        for where, row in read_rows(files, name, _REPORT):
            _report_row(row, path, where, campaigns)
    batch.posts = _posts(campaigns, batch.notes)
    batch.notes.append(
        "a campaign report alone gives campaigns and their send times; import it together "
        "with the audience export (breakup import mailchimp EXPORT REPORT) for who left after them"
    )
    return batch


def _is_report(files: ExportFiles, name: str) -> bool:
    if not name.lower().endswith(".csv") or "__MACOSX/" in name:
        return False
    return "Send Date" in header_of(files, name)


def _display_name(row: dict[str, str]) -> str | None:
    parts = (row.get("First Name", "").strip(), row.get("Last Name", "").strip())
    return " ".join(p for p in parts if p) or None


def _ending(
    status: str,
    person: Person,
    row: dict[str, str],
    path: Path,
    where: str,
    campaigns: dict[str, _Campaign],
) -> Event | None:
    """The unsubscribe / clean event of a row, noting the campaign it came from."""
    if status not in _ENDINGS:
        return None
    kind, time_col, id_col, title_col = _ENDINGS[status]
    at = parse_time(row[time_col], path, f"{where} {time_col}")
    if at is None:
        return None
    campaign = row[id_col].strip() or None
    if campaign is not None:
        known = campaigns.setdefault(campaign, _Campaign())
        known.title = known.title or row[title_col].strip()
        if known.first_departure is None or at < known.first_departure:
            known.first_departure = at
    reason = None
    if kind is EventKind.UNSUBSCRIBE:
        parts = [row["UNSUB_REASON"].strip(), row.get("UNSUB_REASON_OTHER", "").strip()]
        reason = ": ".join(p for p in parts if p) or None
    return Event(person, kind, at, campaign=campaign, reason=reason)


def _report_row(
    row: dict[str, str], path: Path, where: str, campaigns: dict[str, _Campaign]
) -> None:
    campaign = row["Unique Id"].strip()
    sent = _send_date(row["Send Date"], path, f"{where} Send Date")
    if not campaign or sent is None:  # drafts and unsent campaigns have no send date
        return
    known = campaigns.setdefault(campaign, _Campaign())
    known.title = row["Title"].strip() or known.title
    known.subject = row.get("Subject", "").strip()
    known.sent = sent
    for metric, column in _REPORT_COUNTS.items():
        value = row.get(column, "").strip().replace(",", "")
        if not value:
            continue
        # ASCII digits only ("²".isdigit() too), and few enough for the store's 64 bits.
        if not (value.isascii() and value.isdigit()) or len(value) > 18:
            raise InvalidExport(path, f"{where} {column}: {value[:20]!r} is not a count")
        known.metrics[metric] = int(value)


def _send_date(value: str, path: Path, where: str) -> datetime | None:
    """``Jun 09, 2018 09:30 pm``; read as UTC (the report does not say its zone)."""
    raw = value.strip()
    try:
        return datetime.strptime(raw, "%b %d, %Y %I:%M %p").replace(tzinfo=UTC)
    except ValueError:
        return parse_time(raw, path, where)


def _posts(campaigns: dict[str, _Campaign], notes: list[str]) -> list[Post]:
    posts: list[Post] = []
    undated = clamped = 0
    for campaign_id, c in sorted(campaigns.items()):
        at = c.sent
        if at is None:
            undated += 1
            at = c.first_departure
        elif c.first_departure is not None and c.first_departure < at:
            # The report's zone is the account's; a send after its own unsubscribes
            # means it was not UTC, and a post must precede what it caused.
            clamped += 1
            at = c.first_departure
        if at is None:
            continue
        text = c.title if not c.subject or c.subject == c.title else f"{c.title}\n{c.subject}"
        posts.append(Post(campaign_id, at, PostKind.CAMPAIGN, text, metrics=dict(c.metrics)))
    if undated:
        notes.append(
            f"{undated} campaign(s) without a send time (add Mailchimp's campaign report CSV "
            "to the export): dated at their first unsubscribe"
        )
    if clamped:
        notes.append(
            f"{clamped} campaign send time(s) fell after their own unsubscribes (report not in "
            "UTC?): moved back to the first unsubscribe"
        )
    return posts
