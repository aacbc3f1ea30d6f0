"""The X (Twitter) data archive: the zip X sends you, or its extracted folder.

What an archive holds (checked against real 2021-2025 archives):

* ``data/follower.js`` and ``data/following.js``:
  ``window.YTD.follower.part0 = [{"follower": {"accountId": "…", "userLink": "…"}}]``.
  Ids only: no handles and no follow dates. So each archive is one complete followers
  snapshot and one complete following snapshot at its export time, and departures come
  from diffing two archives. Big lists may be split into ``follower-part1.js`` ….
* ``data/tweets.js`` (``tweet.js`` before late 2022), split into ``tweets-part1.js`` … when
  large: ``[{"tweet": {...}}]`` (the oldest archives lack the wrapper); every number is a
  string and ``full_text`` is HTML-escaped.
* ``data/account.js``: the owner's ``accountId`` and ``username``.
* ``data/manifest.js``: ``window.__THAR_CONFIG = {...}`` with ``archiveInfo.generationDate``
  and the record count of every file.

The export time is ``--at`` if given, else ``generationDate``, else the newest file time in
the archive (with a note: file times are a guess).
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

from ..clock import parse_time, to_utc
from ..collector import collector_paused
from ..errors import InvalidExport, InvalidInput
from ..models import Batch, Direction, Post, PostKind, Snapshot, members_table
from ..readahead import BackgroundHash
from . import register
from .base import ExportFiles, FileSource, ReadOptions, parse_json

# Files only an X archive has: where one is, there is an archive (``data/`` under ``root``).
_ANCHOR = re.compile(
    r"^(?P<root>(?:.*/)?)data/(?:follower|following|manifest|account)(?:-part\d+)?\.js$"
)
_JS_ASSIGNMENT = re.compile(r"\A\s*window\.(?:YTD\.\w+\.part\d+|__THAR_CONFIG)\s*=\s*")
_CREATED_AT = re.compile(
    r"^[A-Z][a-z]{2} (?P<mon>[A-Z][a-z]{2}) (?P<day>\d{2}) (?P<hms>\d{2}:\d{2}:\d{2}) "
    r"(?P<sign>[+-])(?P<oh>\d{2})(?P<om>\d{2}) (?P<year>\d{4})$"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DIGITS = re.compile(r"[0-9]+")


# How X writes a follower or following list, and the batches it is decoded in (see
# _Archive._stream_ids): records of exactly these fields, pretty-printed with two spaces.
STREAM_BATCH = 8 << 20
_RECORD_GAP = b"},\n  {"
_BOM = b"\xef\xbb\xbf"
_JS_ASSIGNMENT_BYTES = re.compile(rb"\A\s*window\.YTD\.\w+\.part\d+\s*=\s*")


class _Account(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    accountId: str  # X's names
    userLink: str | None = None


class _Follower(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    follower: _Account


class _Following(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    following: _Account


_DECODERS: dict[str, tuple[msgspec.json.Decoder[Any], Callable[[Any], str]]] = {
    "follower": (msgspec.json.Decoder(list[_Follower]), attrgetter("follower.accountId")),
    "following": (msgspec.json.Decoder(list[_Following]), attrgetter("following.accountId")),
}


def _decode_into(
    ids: list[str],
    decoder: msgspec.json.Decoder[Any],
    unwrap: Callable[[Any], str],
    batch: bytes | bytearray | memoryview,
    first: bool,
) -> bool:
    """Append the ids of one batch of records to *ids*; False if it is not a valid batch
    in X's plain shape (or is empty after a cut: the file had a trailing comma). msgspec
    is strict JSON: it refuses bad UTF-8 in a string and half a surrogate pair too."""
    try:
        records = decoder.decode(batch)
    except msgspec.MsgspecError:
        return False
    if not records and not first:
        return False
    ids.extend(map(unwrap, records))
    return True


def _digit_strings(ids: list[str]) -> pa.Array | None:
    """Ids as an Arrow string array built from one joined buffer, or None unless every
    one is ASCII digits."""
    lengths = np.fromiter(map(len, ids), np.int64, len(ids))
    if len(ids) == 0 or not lengths.all():
        return None
    joined = "".join(ids)
    if not joined.isascii():
        return None
    data = joined.encode("ascii")
    del joined
    if not data.isdigit() or len(data) >= 2**31:
        return None
    offsets = np.zeros(len(ids) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:], dtype=np.int32)
    return pa.StringArray.from_buffers(len(ids), pa.py_buffer(offsets), pa.py_buffer(data))


@dataclass
class _Manifest:
    """What ``data/manifest.js`` tells, when the archive has one."""

    identity: str | None = None
    handle: str | None = None
    generated: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)  # records per data type
    missing: dict[str, list[str]] = field(default_factory=dict)  # files listed, not there


@register
class XArchiveSource(FileSource):
    name = "x-archive"
    platform = "x"
    summary = "X/Twitter data archive (zip or folder): follower/following snapshots and posts."

    def read(self, path: Path, options: ReadOptions) -> Batch:
        with ExportFiles(path) as files:
            archive = _Archive(files)
            manifest = archive.manifest()
            identity, handle = archive.owner(manifest)
            followers = archive.accounts("follower")
            following, following_note = archive.following(manifest)
            posts = [_post(t, path, where, handle) for t, where in archive.tweets()]
            missing = archive.missing_tweets(manifest)
            notes = [following_note, _tweets_note(missing, manifest, len(posts))]
            at, time_note = _export_time(options, manifest, files)
            source_ref = archive.digest(at)
        batch = Batch(
            source=self.name,
            platform=self.platform,
            source_ref=source_ref,
            account_identity=identity,
            account_handle=handle,
            observed_at=at,
            posts=posts,
        )
        for direction, ids, kind in (
            (Direction.FOLLOWERS, followers, "follower"),
            (Direction.FOLLOWING, following, "following"),
        ):
            if ids is None:
                continue
            batch.snapshots.append(
                Snapshot(
                    direction, at, members_table(ids), reported_count=manifest.counts.get(kind)
                )
            )
        batch.notes += [n for n in (*notes, time_note) if n]
        return batch


class _Archive:
    """One archive inside an ExportFiles: finds its files, parses them, fingerprints them."""

    def __init__(self, files: ExportFiles) -> None:
        self.files = files
        self.path = files.path
        roots = sorted({m["root"] for n in files.names if (m := _ANCHOR.match(n))})
        if not roots:
            raise InvalidExport(
                self.path, "no data/follower.js: not an X archive (give the zip or its folder)"
            )
        if len(roots) > 1:
            raise InvalidExport(self.path, f"holds {len(roots)} X archives; import them one by one")
        self.root = roots[0]
        if not self.parts("follower"):
            # Without its followers an archive has nothing to track.
            raise InvalidExport(self.path, "data/follower.js is missing: no followers to import")
        self.seen: dict[str, str] = {}  # relative name -> sha256 of what was read

    def parts(self, kind: str, strict: bool = True) -> list[str]:
        """Relative names of ``data/KIND.js``, ``data/KIND-part1.js`` … in part order; a
        gap in the numbering is refused, unless not *strict* (then the parts there)."""
        found = self._numbered(kind)
        gaps = self.gaps(kind)
        if gaps and strict:
            # A lost part of a follower list would read as mass unfollows.
            raise InvalidExport(self.path, f"{gaps[0]} is missing (other parts are there)")
        return [found[k] for k in sorted(found)]

    def gaps(self, kind: str) -> list[str]:
        """The parts missing from the numbering of ``data/KIND….js``."""
        found = self._numbered(kind)
        return [
            f"data/{kind}-part{number}.js" if number else f"data/{kind}.js"
            for number in range(max(found, default=-1) + 1)
            if number not in found
        ]

    def _numbered(self, kind: str) -> dict[int, str]:
        rx = re.compile(rf"^{re.escape(self.root)}data/{kind}(?:-part(\d+))?\.js$")
        names = self.files.names
        return {int(m[1] or 0): n[len(self.root) :] for n in names if (m := rx.match(n))}

    def load(self, rel: str) -> Any:
        """Parse one ``window.… = <JSON>`` file, remembering its hash for the digest."""
        data = self.files.read_bytes(self.root + rel)
        self.seen[rel] = hashlib.sha256(data).hexdigest()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidExport(self.path, f"{rel} is not UTF-8 text (byte {exc.start})") from None
        prefix = _JS_ASSIGNMENT.match(text)
        if prefix is None:
            raise InvalidExport(self.path, f"{rel} does not start with window.YTD.….part0 =")
        body = text[prefix.end() :].rstrip().removesuffix(";")
        return parse_json(body, self.path, rel)

    def records(self, kind: str, key: str, strict: bool = True) -> list[tuple[dict[str, Any], str]]:
        """Every record of a (possibly split) file, unwrapped from ``{key: {...}}``."""
        return [r for rel in self.parts(kind, strict) for r in self._part_records(rel, key)]

    def _part_records(self, rel: str, key: str) -> list[tuple[dict[str, Any], str]]:
        doc = self.load(rel)
        if not isinstance(doc, list):
            raise InvalidExport(self.path, f"{rel} does not hold a list")
        out: list[tuple[dict[str, Any], str]] = []
        for i, item in enumerate(doc):
            where = f"{rel} record {i}"
            inner = item.get(key, item) if isinstance(item, dict) else None
            out.append((_obj(inner, self.path, where), where))
        return out

    def accounts(self, kind: str) -> pa.Array:
        """The account ids of a (possibly split) follower or following list, in file order
        (an id listed twice is one person to the store)."""
        parts = self.parts(kind)
        if not parts:
            raise InvalidExport(self.path, f"no data/{kind}.js in the archive")
        arrays = []
        for rel in parts:
            with collector_paused():  # a million strings in a list, no cycles
                array = self._stream_ids(rel, kind)
            if array is None:  # not in the plain shape: read it record by record
                records = self._part_records(rel, kind)
                ids = [_id(r.get("accountId"), self.path, w) for r, w in records]
                array = pa.array(ids, pa.string())
            arrays.append(array)
        return pa.concat_arrays(arrays) if len(arrays) > 1 else arrays[0]

    def _stream_ids(self, rel: str, kind: str) -> pa.Array | None:
        """The ids of one part as X writes it, decoded as it is decompressed, batch by
        batch, never holding the whole file; or None where it departs from that shape in
        any way (then :meth:`_part_records` reads it, and says what is wrong if anything).

        A batch ends at a ``},`` between two records, whose comma becomes ``]``; the next
        batch begins there, with ``[``. Whatever the cuts, a file whose every batch is a
        valid non-empty array is valid and holds their records, in order; a cut inside a
        string makes a batch invalid, never a wrong record. Only ASCII, in records of
        exactly the fields X writes (so nothing the full parser would refuse, such as a
        giant number, can hide in a field not read) and ids of digits."""
        digest = BackgroundHash()  # hashed beside being inflated and parsed
        try:
            return self._decode_ids(rel, kind, digest)
        finally:
            digest.close()

    def _decode_ids(self, rel: str, kind: str, digest: BackgroundHash) -> pa.Array | None:
        decoder, unwrap = _DECODERS[kind]
        ids: list[str] = []
        pending = bytearray()
        started = False  # the ``window.YTD… =`` prefix is behind us
        first = True  # the next batch is the first (it brings its own ``[``)
        searched = 0  # where the next search for a cut starts (what is before has none)
        chunks = self.files.chunks(self.root + rel, digest)
        try:
            for chunk in chunks:
                pending += chunk
                if not started:
                    if pending.startswith(_BOM):
                        del pending[: len(_BOM)]
                    prefix = _JS_ASSIGNMENT_BYTES.match(pending)
                    if prefix is None or not pending.isascii():
                        return None
                    del pending[: prefix.end()]
                    started = True
                elif not chunk.isascii():
                    return None
                if len(pending) < STREAM_BATCH:
                    continue
                cut = pending.rfind(_RECORD_GAP, searched)
                if cut < 0:  # not cut where X cuts: decoded whole at the end
                    searched = max(0, len(pending) - len(_RECORD_GAP) + 1)
                    continue
                pending[cut + 1] = ord("]")  # was the comma
                with memoryview(pending) as view:
                    ok = _decode_into(ids, decoder, unwrap, view[: cut + 2], first)
                if not ok:
                    return None
                first = False
                del pending[: cut + 1]
                pending[0] = ord("[")
                searched = 0
        finally:
            chunks.close()
        if not started:
            return None  # an empty file
        if not _decode_into(ids, decoder, unwrap, pending.rstrip().removesuffix(b";"), first):
            return None
        del pending
        array = _digit_strings(ids)
        if array is not None:
            self.seen[rel] = digest.hexdigest()
        return array

    def following(self, manifest: _Manifest) -> tuple[pa.Array | None, str | None]:
        """The following list, or None and why: an archive without (all of) it still has
        its followers, and a part of a following list would read as mass unfollowing."""
        listed = manifest.missing.get("following", [])
        missing = _union(listed, self.gaps("following"))
        if not missing and self.parts("following"):
            return self.accounts("following"), None
        names = ", ".join(missing or ["data/following.js"])
        verb = "are" if len(missing) > 1 else "is"
        return None, (
            f"{names} {verb} not in the archive"
            + (" (data/manifest.js lists it)" if listed else "")
            + ": no following snapshot was taken from it (the followers are all there)"
        )

    def missing_tweets(self, manifest: _Manifest) -> list[str]:
        listed = manifest.missing.get("tweets", []) + manifest.missing.get("tweet", [])
        return _union(listed, self.gaps("tweets") + self.gaps("tweet"))

    def tweets(self) -> list[tuple[dict[str, Any], str]]:
        # A missing part of the posts is noted (_tweets_note), not refused: the followers
        # are what is tracked, and they are all there.
        return self.records("tweets", "tweet", False) + self.records("tweet", "tweet", False)

    def manifest(self) -> _Manifest:
        rel = "data/manifest.js"
        out = _Manifest()
        if self.root + rel not in self.files.names:
            return out
        doc = _obj(self.load(rel), self.path, rel)
        user = _obj(doc.get("userInfo") or {}, self.path, f"{rel} userInfo")
        info = _obj(doc.get("archiveInfo") or {}, self.path, f"{rel} archiveInfo")
        types = _obj(doc.get("dataTypes") or {}, self.path, f"{rel} dataTypes")
        if user.get("accountId") is not None:
            out.identity = _id(user["accountId"], self.path, f"{rel} userInfo")
            out.handle = _str(user.get("userName"), self.path, f"{rel} userInfo.userName")
        if info.get("generationDate") is not None:
            out.generated = _time(info["generationDate"], self.path, f"{rel} generationDate")
        for kind in ("follower", "following", "tweets", "tweet"):
            listed = _obj(types.get(kind) or {}, self.path, f"{rel} dataTypes.{kind}")
            parts = listed.get("files") or []
            if not isinstance(parts, list):
                raise InvalidExport(self.path, f"{rel} dataTypes.{kind}.files is not a list")
            total: int | None = 0
            for part in parts:
                part = _obj(part, self.path, f"{rel} dataTypes.{kind}")
                name = _str(part.get("fileName"), self.path, f"{rel} {kind} fileName")
                if self.root + name not in self.files.names:
                    if kind == "follower":  # a lost part would read as mass unfollows
                        raise InvalidExport(self.path, f"{rel} lists {name} but it is missing")
                    out.missing.setdefault(kind, []).append(name)
                count = part.get("count")
                if count is None and kind.startswith("tweet"):
                    total = None  # only used to say how many posts are missing
                elif total is not None:
                    total += _count(count, self.path, f"{rel} {kind} count")
            if parts and total is not None:
                # The archive's own count lets tracking refuse a list that lost records.
                out.counts[kind] = total
        return out

    def owner(self, manifest: _Manifest) -> tuple[str, str | None]:
        identity, handle = manifest.identity, manifest.handle
        rel = "data/account.js"
        if self.root + rel in self.files.names:
            doc = self.load(rel)
            if not isinstance(doc, list) or len(doc) != 1:
                raise InvalidExport(self.path, f"{rel} should hold exactly one account")
            account = _obj(_obj(doc[0], self.path, rel).get("account"), self.path, rel)
            found = _id(account.get("accountId"), self.path, f"{rel} accountId")
            if identity is not None and identity != found:
                raise InvalidExport(
                    self.path, f"{rel} is account {found} but manifest.js is {identity}"
                )
            identity = found
            handle = _str(account.get("username"), self.path, f"{rel} username")
        if identity is None:
            raise InvalidExport(self.path, "no data/account.js or manifest.js: whose is it?")
        return identity, handle

    def digest(self, at: datetime) -> str:
        """Hash of the files read, named relative to the archive, and of the export time:
        the zip and its extracted folder give the same value, media (most of the bytes) is
        never read, and the same lists seen at another time are another observation."""
        h = hashlib.sha256(f"x-archive/1\0{at.isoformat()}\0".encode())
        for rel in sorted(self.seen):
            h.update(f"{rel}\0{self.seen[rel]}\0".encode())
        return h.hexdigest()


def _union(*lists: list[str]) -> list[str]:
    return list(dict.fromkeys(n for names in lists for n in names))


def _tweets_note(missing: list[str], manifest: _Manifest, read: int) -> str | None:
    """What the posts lack when parts of them (listed in data/manifest.js, or numbered
    around a gap) are not in the archive."""
    if not missing:
        return None
    listed = sum(manifest.counts.get(k, 0) for k in ("tweets", "tweet"))
    of = f" ({listed:,} listed)" if listed else ""
    what = (
        f"none of its posts were read{of}, so no departure can be tied to a post"
        if read == 0
        else f"{read:,} posts were read{of}; no departure can be tied to the missing ones"
    )
    verb = "are" if len(missing) > 1 else "is"
    return f"{', '.join(missing)} {verb} not in the archive: {what}"


def _post(tweet: dict[str, Any], path: Path, where: str, owner: str | None) -> Post:
    tid = _id(tweet.get("id_str", tweet.get("id")), path, f"{where} id_str")
    text = tweet.get("full_text", tweet.get("text", ""))
    if not isinstance(text, str):
        raise InvalidExport(path, f"{where}: full_text is not a string")
    text = html.unescape(text)  # the archive escapes &, < and >; keep what was written
    reply_to = tweet.get("in_reply_to_status_id_str") or tweet.get("in_reply_to_status_id")
    if reply_to is not None:
        reply_to = _id(reply_to, path, f"{where} in_reply_to_status_id_str")
    kind = PostKind.REPLY if reply_to else PostKind.POST
    if text.startswith("RT @"):
        kind = PostKind.REPOST
    metrics = {
        "likes": _count(tweet.get("favorite_count", "0"), path, f"{where} favorite_count"),
        "reposts": _count(tweet.get("retweet_count", "0"), path, f"{where} retweet_count"),
    }
    author = owner or "i/web"
    return Post(
        external_id=tid,
        created_at=_created_at(tweet.get("created_at"), path, where),
        kind=kind,
        text=text,
        url=f"https://x.com/{author}/status/{tid}",
        reply_to=reply_to,
        metrics=metrics,
    )


def _created_at(value: Any, path: Path, where: str) -> datetime:
    m = _CREATED_AT.match(value) if isinstance(value, str) else None
    if m is None or m["mon"] not in _MONTHS:
        raise InvalidExport(path, f"{where}: created_at {value!r} is not like 'Sat Feb 18 …'")
    hour, minute, second = m["hms"].split(":")
    try:
        month = _MONTHS.index(m["mon"]) + 1
        local = datetime(int(m["year"]), month, int(m["day"]), int(hour), int(minute), int(second))
    except ValueError:
        raise InvalidExport(path, f"{where}: created_at {value!r} is not a real time") from None
    offset = timedelta(hours=int(m["oh"]), minutes=int(m["om"]))
    # Parsed by hand: strptime's %a/%b follow the process locale (and it is slow).
    try:
        return (local - offset if m["sign"] == "+" else local + offset).replace(tzinfo=UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        raise InvalidExport(path, f"{where}: created_at {value!r} is out of range") from None


def _export_time(
    options: ReadOptions, manifest: _Manifest, files: ExportFiles
) -> tuple[datetime, str | None]:
    if options.at is not None:
        return to_utc(options.at), None
    if manifest.generated is not None:
        return manifest.generated, None
    newest = files.newest_member_time()
    if newest is None:
        raise InvalidExport(files.path, "cannot tell when the archive was made; pass --at")
    return newest, (
        f"the archive has no manifest.js with its generation date: taken as "
        f"{newest:%Y-%m-%d %H:%M} UTC from its file times; pass --at if you know better"
    )


def _obj(value: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidExport(path, f"{where}: expected an object")
    return value


def _str(value: Any, path: Path, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidExport(path, f"{where}: expected a non-empty string")
    return value.strip()


def _id(value: Any, path: Path, where: str) -> str:
    """A numeric id or count: the archive writes them as digit strings."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return value
    raise InvalidExport(path, f"{where}: {value!r} is not a number")


def _count(value: Any, path: Path, where: str) -> int:
    """A count: digits (or a number) that fit the store's 64 bits."""
    digits = _id(value, path, where)
    if len(digits) > 19 or int(digits) > 2**63 - 1:
        raise InvalidExport(path, f"{where}: {digits[:24]}... is too large to be a count")
    return int(digits)


def _time(value: Any, path: Path, where: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidExport(path, f"{where}: expected an ISO-8601 time")
    try:
        return parse_time(value)
    except (InvalidInput, OverflowError):  # OverflowError: out of range once in UTC
        raise InvalidExport(path, f"{where}: {value!r} is not an ISO-8601 time") from None
