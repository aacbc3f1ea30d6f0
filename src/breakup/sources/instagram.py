"""Instagram's "Download your information" export in JSON format: the zip or its folder.

**People are identified by username.** The export carries no stable user id, so the
lower-cased username is the person id: someone who renames themselves looks like one
follower leaving and another arriving, and a freed username taken by someone else looks
like the same person. The name as written is kept as the handle.

What an export holds (checked against real exports, 2023-2026):

* followers in ``connections/followers_and_following/followers_1.json``, ``followers_2.json``
  … (before 2023 without ``connections/``; earliest as ``followers.json`` holding
  ``{"relationships_followers": [...]}``): a list of ``{"title": "", "media_list_data": [],
  "string_list_data": [{"href", "value", "timestamp"}]}``;
* ``following.json``: ``{"relationships_following": [...]}`` of the same entries, where
  newer exports put the username in ``title`` and leave ``value`` out;
* ``timestamp``: Unix seconds when that follow started. Each becomes an exact FOLLOW event
  besides the complete snapshot, so new followers get exact start times;
* the owner in ``personal_information/personal_information/personal_information.json``
  (before 2023 ``account_information/personal_information.json``) under
  ``profile_user[0].string_map_data.Username`` (the key is translated in other languages),
  and in the export's name, ``instagram-USERNAME-YYYY-MM-DD-XXXXXXXX``.

The export time is ``--at``, else the date in the export's name, else the newest file time
(with a note). A snapshot is never placed before a follow it contains: a date-only time is
moved up to the newest follow, and an ``--at`` before one is refused.

**Date-limited exports.** "Download your information" asks for a date range (last week,
last month, last 3 months, last 6 months, last year, all time, or custom), and a limited
export lists only the follows that started inside it. Nothing in the export records the
range chosen, so it is read from the follows: when the earliest follower started where a
standard range would begin (the export time less 7, 30, 90, 180 or 365 days, give or take
two days, or a little more for an account with few followers in that time), the followers
snapshot is complete only for follows since then (``Snapshot.complete_since``). Tracking
then closes the spans of missing followers known to have started since then and leaves
everyone else as they were; an account with nobody older open is unaffected, so a young
account's full export is read as complete. When ``following.json`` reaches further back
than that start, the range is near certain and a note says so; when it does not, it may be
limited too and is scoped the same way. A custom range is not recognised from the follows:
its first day is given with ``--since`` (and its last, when before the export, with
``--at``); an export holding an earlier follow than ``--since`` is refused.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from ..clock import to_utc
from ..collector import collector_paused
from ..errors import InvalidExport
from ..models import Batch, Direction, Event, EventKind, Person, Snapshot
from . import register
from .base import ExportFiles, FileSource, ReadOptions, parse_json

_FOLLOWERS = re.compile(
    r"^(?P<root>(?:.*?/)??)(?P<dir>(?:connections/)?followers_and_following/)"
    r"followers(?:_(?P<n>\d+))?\.(?P<ext>json|html)$"
)
_EXPORT_NAME = re.compile(
    r"^instagram-(?P<user>[A-Za-z0-9._]+)-(?P<date>\d{4}-\d{2}-\d{2})(?:[-. ]|$)", re.IGNORECASE
)
_HREF_NAME = re.compile(r"instagram\.com/(?:_u/)?(?P<name>[^/?#\s]+)/?$")
_PROFILE_FILES = (
    "personal_information/personal_information/personal_information.json",
    "personal_information/personal_information.json",
    "account_information/personal_information.json",
)

_Entry = tuple[Person, datetime | None]  # who, and when the follow started if known

# "Download your information" date ranges other than all time and custom: days, name.
_RANGES = (
    (7, "last week"),
    (30, "last month"),
    (90, "last 3 months"),
    (180, "last 6 months"),
    (365, "last year"),
)
_RANGE_SLACK = timedelta(days=2)  # request vs export time, month and leap-year lengths


@register
class InstagramSource(FileSource):
    name = "instagram"
    platform = "instagram"
    summary = "Instagram 'Download your information' export, JSON (zip or folder)."
    date_limited = True

    def read(self, path: Path, options: ReadOptions) -> Batch:
        with collector_paused():  # a person, a time and an event per follower
            return self._read(path, options)

    def _read(self, path: Path, options: ReadOptions) -> Batch:
        with ExportFiles(path) as files:
            export = _Export(files)
            followers = export.followers()
            following = export.following()
            owner = export.owner()
            entries = followers + (following or [])
            newest_follow = max((t for _, t in entries if t is not None), default=None)
            at, note = _export_time(files, options, export.name_date, newest_follow)
            source_ref = export.digest(at)
        batch = Batch(
            source=self.name,
            platform=self.platform,
            source_ref=source_ref,
            account_identity=owner and owner.lower(),
            account_handle=owner,
            observed_at=at,
        )
        lists = [(Direction.FOLLOWERS, followers)]
        if following is None:
            batch.notes.append("the export has no following.json: following not updated")
        else:
            lists.append((Direction.FOLLOWING, following))
        if options.since is None:
            scopes, range_note = _date_range(at, followers, following)
        else:
            scopes, range_note = _given_range(path, options.since, at, followers, following)
        for direction, rows in lists:
            scope = scopes.get(direction)
            batch.snapshots.append(
                Snapshot.of(direction, at, (p for p, _ in rows), complete_since=scope)
            )
            batch.events += [
                Event(p, EventKind.FOLLOW, t, direction) for p, t in rows if t is not None
            ]
        if note:
            batch.notes.append(note)
        if range_note:
            batch.notes.append(range_note)
        return batch


class _Export:
    """One export inside an ExportFiles: finds its files, parses them, fingerprints them."""

    def __init__(self, files: ExportFiles) -> None:
        self.files = files
        self.path = files.path
        found = [m for n in files.names if (m := _FOLLOWERS.match(n))]
        if not found:
            raise InvalidExport(
                self.path,
                "no followers_and_following/followers_1.json: not an Instagram export "
                "(give the zip or its folder)",
            )
        if any(m["ext"] == "html" for m in found):
            raise InvalidExport(
                self.path, "this is the HTML export; request 'Download your information' as JSON"
            )
        if len({(m["root"], m["dir"]) for m in found}) > 1:
            raise InvalidExport(self.path, "holds more than one Instagram export; import each")
        self.root, self.dir = found[0]["root"], found[0]["dir"]
        self.follower_files = {int(m["n"] or 0): m.string[len(self.root) :] for m in found}
        self.seen: dict[str, str] = {}  # relative name -> sha256 of what was read
        self.name_user, self.name_date = _from_export_name(self.path, self.root)

    def load(self, rel: str) -> Any:
        return self._parse(rel, self._read(rel))

    def _read(self, rel: str) -> bytes:
        data = self.files.read_bytes(self.root + rel)
        self.seen[rel] = hashlib.sha256(data).hexdigest()
        return data

    def _parse(self, rel: str, data: bytes) -> Any:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidExport(self.path, f"{rel} is not UTF-8 text (byte {exc.start})") from None
        return parse_json(text, self.path, rel)

    def _accounts(self, rel: str, key: str) -> list[_Entry]:
        """The entries of a followers or following file: decoded straight into typed
        records when it is in the shape Instagram writes, else parsed and checked entry by
        entry (which says what is wrong, if anything)."""
        data = self._read(rel)
        fast = _typed_entries(data.removeprefix(_BOM), key)
        if fast is not None:
            return fast
        doc = self._parse(rel, data)
        if isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif key == "relationships_following":
            raise InvalidExport(self.path, f"{rel} has no relationships_following list")
        return _entries(doc, self.path, rel)

    def followers(self) -> list[_Entry]:
        numbers = sorted(self.follower_files)
        if numbers != [0] and numbers != list(range(1, len(numbers) + 1)):
            # A lost file of a split list would read as mass unfollows.
            have = ", ".join(self.follower_files[n].rsplit("/", 1)[-1] for n in numbers)
            raise InvalidExport(self.path, f"follower files are not complete (have {have})")
        out: list[_Entry] = []
        for n in numbers:
            out += self._accounts(self.follower_files[n], "relationships_followers")
        return out

    def following(self) -> list[_Entry] | None:
        rel = self.dir + "following.json"
        if self.root + rel not in self.files.names:
            return None
        return self._accounts(rel, "relationships_following")

    def owner(self) -> str | None:
        """The account's username: from the profile file, else from the export's name."""
        for rel in _PROFILE_FILES:
            if self.root + rel in self.files.names:
                doc = self.load(rel)
                users = doc.get("profile_user") if isinstance(doc, dict) else None
                if not isinstance(users, list) or not users or not isinstance(users[0], dict):
                    raise InvalidExport(self.path, f"{rel} has no profile_user entry")
                fields = users[0].get("string_map_data")
                if not isinstance(fields, dict):
                    raise InvalidExport(self.path, f"{rel}: profile_user has no string_map_data")
                field = fields.get("Username")
                value = field.get("value") if isinstance(field, dict) else None
                if isinstance(value, str) and value.strip():
                    return value.strip()
                break  # a translated export names the field otherwise: use the export's name
        return self.name_user

    def digest(self, at: datetime) -> str:
        """Hash of the files read, named relative to the export, and of the export time:
        the zip and its extracted folder give the same value, media (most of the bytes) is
        never read, and unchanged lists exported another day are another observation."""
        h = hashlib.sha256(f"instagram/1\0{at.isoformat()}\0".encode())
        for rel in sorted(self.seen):
            h.update(f"{rel}\0{self.seen[rel]}\0".encode())
        return h.hexdigest()


def _entries(doc: Any, path: Path, rel: str) -> list[_Entry]:
    if not isinstance(doc, list):
        raise InvalidExport(path, f"{rel} does not hold a list of accounts")
    out: list[_Entry] = []
    for i, entry in enumerate(doc):
        where = f"{rel} entry {i}"
        items = entry.get("string_list_data") if isinstance(entry, dict) else None
        if not isinstance(items, list) or not items:
            raise InvalidExport(path, f"{where} has no string_list_data")
        title = entry.get("title")
        for item in items:
            if not isinstance(item, dict):
                raise InvalidExport(path, f"{where}: string_list_data holds a non-object")
            name = _username(item.get("value"), title, item.get("href"))
            if name is None:
                raise InvalidExport(path, f"{where} has no username (value, title or href)")
            out.append((Person(name.lower(), handle=name), _started(item, path, where)))
    return out


class _Item(msgspec.Struct, gc=False):
    timestamp: int  # JSON integers only: true, 1.0 or "1" go the checked way
    value: str | None = None
    href: str | None = None


class _Listed(msgspec.Struct, gc=False):
    string_list_data: list[_Item]
    title: str | None = None


class _Followers(msgspec.Struct, gc=False):
    relationships_followers: list[_Listed]


class _Following(msgspec.Struct, gc=False):
    relationships_following: list[_Listed]


_BOM = b"\xef\xbb\xbf"
_DECODERS: dict[str, tuple[msgspec.json.Decoder[Any], ...]] = {
    "relationships_followers": (
        msgspec.json.Decoder(list[_Listed]),
        msgspec.json.Decoder(_Followers),
    ),
    "relationships_following": (msgspec.json.Decoder(_Following),),
}


def _typed_entries(data: bytes, key: str) -> list[_Entry] | None:
    """The entries :func:`_entries` would read from *data*, or None wherever it might
    read them otherwise or refuse them (then it is asked). msgspec is strict JSON, as
    :func:`~breakup.sources.base.parse_json` is: bad UTF-8 and half surrogate pairs fail."""
    records: list[_Listed] | None = None
    for decoder in _DECODERS[key]:
        try:
            doc = decoder.decode(data)
        except msgspec.MsgspecError:
            continue
        records = doc if isinstance(doc, list) else getattr(doc, key)
        break
    if records is None:
        return None
    out: list[_Entry] = []
    for entry in records:
        if not entry.string_list_data:
            return None
        for item in entry.string_list_data:
            name = item.value
            # What _username returns for a plain value (no space in or around it), cheaply
            if not name or " " in name or name[0].isspace() or name[-1].isspace():
                name = _username(item.value, entry.title, item.href)
            ts = item.timestamp
            if name is None or ts < 0:
                return None
            try:
                started = datetime.fromtimestamp(ts, UTC) if ts else None
            except (OverflowError, OSError, ValueError):
                return None
            out.append((Person(name.lower(), handle=name), started))
    return out


def _username(value: Any, title: Any, href: Any) -> str | None:
    for candidate in (value, title):
        if isinstance(candidate, str) and candidate.strip() and " " not in candidate.strip():
            return candidate.strip()
    m = _HREF_NAME.search(href) if isinstance(href, str) else None
    return m["name"] if m else None


def _started(item: dict[str, Any], path: Path, where: str) -> datetime | None:
    ts = item.get("timestamp")
    if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
        raise InvalidExport(path, f"{where}: timestamp {ts!r} is not a Unix time in seconds")
    if ts == 0:
        return None  # Instagram writes 0 for "no time recorded"
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidExport(path, f"{where}: timestamp {ts} is out of range") from None


def _date_range(
    at: datetime, followers: list[_Entry], following: list[_Entry] | None
) -> tuple[dict[Direction, datetime], str | None]:
    """When the followers look like an export limited to a standard date range: the time
    from which each list is complete, and a note when ``following.json`` confirms it by
    reaching further back (then it is not limited, and is complete for everyone; otherwise
    it may be limited as well, and is scoped like the followers).

    The earliest of n follows spread over a range of d days lies about d/n days after its
    start, so an account with few followers in the range is allowed a wider gap (up to a
    sixteenth of the range). A start returned is never after the list's earliest follow nor
    more than the slack after the range's nominal start: the list is surely complete from it.
    """
    starts = [t for _, t in followers if t is not None]
    if not starts:
        return {}, None
    earliest = min(starts)
    for days, label in _RANGES:
        start = at - timedelta(days=days)
        if earliest < start - _RANGE_SLACK:
            continue  # an older follower than this range holds: try a longer one
        length = timedelta(days=days)
        allowance = max(_RANGE_SLACK, min(length / 16, length * 3 / len(starts)))
        if earliest > start + allowance:
            return {}, None  # no range begins near it: longer ones begin even earlier
        latest_start = start + _RANGE_SLACK
        since = min(earliest, latest_start)
        older = min((t for _, t in following or [] if t is not None), default=None)
        if older is None or older >= start - _RANGE_SLACK:
            scopes = {Direction.FOLLOWERS: since}
            if following is not None:
                scopes[Direction.FOLLOWING] = min(older or latest_start, latest_start)
            return scopes, None
        return {Direction.FOLLOWERS: since}, (
            f"Instagram export covers only follows since {since:%Y-%m-%d} (a '{label}' "
            f"export; following.json reaches back to {older:%Y-%m-%d}): people who followed "
            "earlier are left as they were"
        )
    return {}, None


def _given_range(
    path: Path,
    since: datetime,
    at: datetime,
    followers: list[_Entry],
    following: list[_Entry] | None,
) -> tuple[dict[Direction, datetime], str]:
    """The scope of an export the user says is limited to follows since *since* (a custom
    range, which the follows cannot reveal): both lists complete only from then. An export
    holding an earlier follow is not limited so, and is refused rather than misread."""
    since = to_utc(since)
    if since >= at:
        raise InvalidExport(
            path, f"--since {since:%Y-%m-%d} is not before the export ({at:%Y-%m-%d %H:%M} UTC)"
        )
    for rows, what in ((followers, "follower"), (following or [], "following")):
        older = min((t for _, t in rows if t is not None and t < since), default=None)
        if older is not None:
            raise InvalidExport(
                path,
                f"--since {since:%Y-%m-%d}, but it lists a {what} from {older:%Y-%m-%d}: "
                "the export reaches further back (leave --since out for a full export)",
            )
    scopes = {Direction.FOLLOWERS: since}
    if following is not None:
        scopes[Direction.FOLLOWING] = since
    return scopes, (
        f"Instagram export covers only follows since {since:%Y-%m-%d} (--since): people "
        "who followed earlier are left as they were"
    )


def _from_export_name(path: Path, root: str) -> tuple[str | None, datetime | None]:
    """Username and date from ``instagram-USER-YYYY-MM-DD-…`` (the zip, or its folder)."""
    names = [root.rstrip("/").rsplit("/", 1)[-1]] if root else []
    names.append(path.name)
    for name in names:
        m = _EXPORT_NAME.match(name)
        if m is None:
            continue
        try:
            day = datetime.strptime(m["date"], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise InvalidExport(path, f"{name} has an impossible date {m['date']}") from None
        return m["user"], day
    return None, None


def _export_time(
    files: ExportFiles,
    options: ReadOptions,
    name_date: datetime | None,
    newest_follow: datetime | None,
) -> tuple[datetime, str | None]:
    path = files.path
    if options.at is not None:
        at = to_utc(options.at)
        if newest_follow is not None and at < newest_follow:
            raise InvalidExport(
                path,
                f"--at {at:%Y-%m-%d %H:%M:%S} is before a follow at "
                f"{newest_follow:%Y-%m-%d %H:%M:%S} UTC in the export; it was made later",
            )
        return at, None
    # The name carries a date only; the export cannot predate a follow it lists.
    if name_date is not None:
        return (max(name_date, newest_follow) if newest_follow else name_date), None
    newest_file = files.newest_member_time()
    if newest_file is None:
        raise InvalidExport(path, "cannot tell when the export was made; pass --at")
    at = max(newest_file, newest_follow) if newest_follow else newest_file
    return at, (
        f"the export's name has no date: export time taken as {at:%Y-%m-%d %H:%M} UTC "
        "from its file times; pass --at if you know better"
    )
