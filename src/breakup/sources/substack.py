"""Substack export: the subscriber list at export time, and the posts that were emailed.

Settings → Exports gives a zip with ``email_list.<publication>.csv`` (``email,
active_subscription, expiry, plan, email_disabled, created_at, first_payment_at``;
older exports lack some of these) and ``posts.csv`` (``post_id, post_date, is_published,
email_sent_at, inbox_sent_at, type, audience, title, subtitle, podcast_url``; post ids
look like ``123401.plain-text``), plus ``posts/<post_id>.html``. Times are ISO 8601 UTC
(``2019-07-26T20:48:19.814Z``; bare dates are read as UTC midnight). Titles and
subtitles are HTML-escaped (``Tom &amp; Jerry``, ``it&#8217;s``) and are unescaped.

The list holds everyone subscribed — ``active_subscription`` only says whether they pay,
and ``email_disabled`` readers are still subscribed — and has no unsubscribe dates: who
left is seen by comparing two exports, as a window between them.

``type`` says what a post is: ``newsletter``, ``podcast`` and ``video`` posts go out by
email; a ``page`` (About ...) or a ``thread`` (a discussion) is not a campaign, even with
an ``email_sent_at``.

A subscriber CSV without ``created_at`` (the paid-subscribers list, or one saved from the
dashboard, passed alone or under another name) is accepted: each reader's start is known
only as the window since the previous export, and, as it is not the whole list, it proves
who is subscribed, never who left.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
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

_EMAIL_LIST = re.compile(r"email_list(?:\.(?P<publication>[^/]+))?\.csv", re.IGNORECASE)
_POSTS = {"post_id", "is_published", "email_sent_at", "title"}
_BOOL = {"true": True, "false": False}
# Post types that are emailed; pages and threads are not, whatever their email_sent_at.
_EMAILED = {"newsletter", "podcast", "video"}
_NOT_EMAILED = {"page", "thread"}
# Columns only Substack's subscriber lists have: with "email", they mark one by its header.
_LIST_COLUMNS = {"active_subscription", "expiry", "plan", "email_disabled", "first_payment_at"}


@register
class SubstackSource(FileSource):
    name = "substack"
    platform = PLATFORM
    summary = "Substack export (zip or folder): subscriber list and emailed posts."

    def read(self, path: Path, options: ReadOptions) -> Batch:
        with ExportFiles(path) as files:
            lists = _lists(files)
            if not lists:
                raise InvalidExport(path, "no email_list.<publication>.csv: not a Substack export")
            if len(lists) > 1:
                raise InvalidExport(path, f"{len(lists)} email lists: one publication at a time")
            batch = new_batch(self.name, files)
            members = read_rows(files, lists[0], {"email"})
            dated = "created_at" in header_of(files, lists[0])
            posts = [
                r
                for n in files.names
                if files.basename(n) == "posts.csv"
                for r in read_rows(files, n, _POSTS)
            ]
            match = _EMAIL_LIST.fullmatch(files.basename(lists[0]))
        publication = match["publication"] if match else None
        batch.account_identity = batch.account_handle = publication
        times: list[datetime] = []
        ids: list[str] = []
        for where, row in members:
            address = email_address(row["email"], path, where)
            joined = parse_time(row.get("created_at", ""), path, f"{where} created_at")
            if joined is not None:
                batch.events.append(Event(Person(address), EventKind.FOLLOW, joined))
                times.append(joined)
            ids.append(address)
        skipped: set[str] = set()
        for where, row in posts:
            published = _BOOL.get(row["is_published"].strip().lower())
            if published is None:
                raise InvalidExport(path, f"{where} is_published: expected true or false")
            sent = parse_time(row["email_sent_at"], path, f"{where} email_sent_at")
            kind = row.get("type", "").strip().lower()
            # Only what reached inboxes can have driven anyone away.
            if not published or sent is None or not row["post_id"].strip():
                continue
            if kind and kind not in _EMAILED:
                if kind not in _NOT_EMAILED:
                    skipped.add(kind)
                continue
            batch.posts.append(_post(row, sent, publication))
            times.append(sent)
        if skipped:
            batch.notes.append(
                f"posts of unknown type {', '.join(sorted(skipped))} not taken as emailed campaigns"
            )
        at = export_time(options, times, path, batch.notes)
        if not dated:
            batch.notes.append(
                "a subscriber list without created_at (the paid-subscribers list, or one saved "
                "from the dashboard) is not the whole list: it shows who is subscribed, not who "
                "left, and each reader's start is known only as the window since the last export"
            )
        batch.snapshots.append(followers_snapshot(at, ids, complete=dated, notes=batch.notes))
        batch.observed_at = at
        batch.notes.append(
            "Substack lists have no unsubscribe dates: departures show as the window "
            "between this export and the next"
        )
        return batch


def _lists(files: ExportFiles) -> list[str]:
    """The subscriber list(s): ``email_list.<publication>.csv`` by name, else any other CSV
    that has Substack's list columns (a single file is judged by its header alone)."""
    named = [n for n in files.names if _EMAIL_LIST.fullmatch(files.basename(n))]
    if named:
        return named
    found = []
    for n in files.names:
        base = files.basename(n)
        if not base.lower().endswith(".csv") or base == "posts.csv" or "__MACOSX/" in n:
            continue
        if "posts" in PurePosixPath(n).parts[:-1]:  # per-post stats: opens, delivers ...
            continue
        header = set(header_of(files, n))
        if "email" in header and header & _LIST_COLUMNS:
            found.append(n)
    return found


def _post(row: dict[str, str], sent: datetime, publication: str | None) -> Post:
    post_id = row["post_id"].strip()
    slug = post_id.split(".", 1)[1] if "." in post_id else ""  # "123401.plain-text"
    url = f"https://{publication}.substack.com/p/{slug}" if publication and slug else None
    title = html.unescape(row["title"]).strip()
    subtitle = html.unescape(row.get("subtitle", "")).strip()
    text = "\n".join(p for p in (title, subtitle) if p)
    return Post(post_id, sent, PostKind.CAMPAIGN, text, url=url)
