"""The x-archive source, through the real store: fixtures are shaped like real X archives."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from breakup.clock import fixed_clock
from breakup.errors import InvalidExport
from breakup.ingest import ImportResult, save_batch
from breakup.sources import ReadOptions, base, get_source, x_archive
from breakup.sources.x_archive import XArchiveSource
from breakup.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "x_archive"
FEB = FIXTURES / "twitter-2023-02-20-5f1e0a"  # tweet.js, 4 followers
MAY = FIXTURES / "twitter-2023-05-20-9c2d4b"  # tweets.js + tweets-part1.js, one left, one new
FEB_AT = datetime(2023, 2, 20, 9, 15, 2, 118000)  # manifest generationDate, naive UTC as stored
MAY_AT = datetime(2023, 5, 20, 17, 40, 11, 532000)
OWNER = "1400000000000000001"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "s.duckdb", clock=fixed_clock(datetime(2026, 6, 1, tzinfo=UTC)))
    yield s
    s.close()


def read(path: Path, at: datetime | None = None) -> Any:
    return XArchiveSource().read(path, ReadOptions(at=at))


def import_(store: Store, path: Path, at: datetime | None = None) -> ImportResult:
    return save_batch(store, read(path, at), path=str(path))


def copy(src: Path, tmp_path: Path, name: str | None = None) -> Path:
    return Path(shutil.copytree(src, tmp_path / (name or src.name)))


def zip_dir(src: Path, dest: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                z.write(f, prefix + f.relative_to(src).as_posix())
    return dest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture no longer contains {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def table_counts(store: Store) -> dict[str, int]:
    names = [
        r[0]
        for r in store.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()
    ]
    return {n: store.con.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}


def spans(store: Store) -> dict[tuple[str, str], tuple[Any, ...]]:
    rows = store.con.execute(
        """
        SELECT p.external_id, s.direction, s.start_earliest, s.start_latest, s.start_exact,
               s.end_earliest, s.end_latest, s.end_exact, s.end_kind
        FROM spans s JOIN people p USING (person_id) WHERE p.platform = 'x'
        """
    ).fetchall()
    out = {(r[0], r[1]): tuple(r[2:]) for r in rows}
    assert len(out) == len(rows), "one span per person and direction in these fixtures"
    return out


# -- reading ---------------------------------------------------------------------------


def test_registered_under_its_name() -> None:
    source = get_source("x-archive")
    assert isinstance(source, XArchiveSource)
    assert source.platform == "x"


def test_reads_snapshots_owner_and_time_from_the_archive() -> None:
    batch = read(FEB)
    assert (batch.account_identity, batch.account_handle) == (OWNER, "breakupbrand")
    assert batch.observed_at == FEB_AT.replace(tzinfo=UTC)
    assert batch.notes == []
    by_direction = {s.direction.value: s for s in batch.snapshots}
    followers = by_direction["followers"]
    assert followers.complete and followers.observed_at == batch.observed_at
    assert followers.members.column("external_id").to_pylist() == [
        "100000001",
        "100000002",
        "1600000000000000003",
        "100000004",
    ]
    assert followers.reported_count == 4  # from manifest.js
    assert by_direction["following"].members.column("external_id").to_pylist() == [
        "100000001",
        "100000009",
    ]


def test_old_tweet_js_becomes_posts_of_each_kind() -> None:
    posts = {p.external_id: p for p in read(FEB).posts}
    post = posts["1623000000000000101"]
    assert post.kind == "post"
    assert post.text == "Our spring catalogue is out & it is big"  # HTML entities undone
    assert post.created_at == datetime(2023, 2, 7, 15, 2, 11, tzinfo=UTC)
    assert post.metrics == {"likes": 12, "reposts": 3}
    assert post.url == "https://x.com/breakupbrand/status/1623000000000000101"
    reply = posts["1623500000000000102"]
    assert (reply.kind, reply.reply_to) == ("reply", "1623400000000000050")
    assert posts["1624000000000000103"].kind == "repost"


def test_split_tweets_parts_are_all_read() -> None:
    posts = {p.external_id: p for p in read(MAY).posts}
    assert set(posts) == {
        "1623000000000000101",
        "1640000000000000201",  # tweets.js
        "1650000000000000202",
        "1650000000000000203",  # tweets-part1.js
    }
    assert posts["1650000000000000203"].reply_to == "1650000000000000202"


def test_records_without_the_tweet_wrapper_are_read(tmp_path: Path) -> None:
    archive = copy(FEB, tmp_path)
    js = archive / "data" / "tweet.js"
    text = js.read_text(encoding="utf-8")
    # The oldest archives list tweet objects directly.
    unwrapped = re.sub(r'\{\s*"tweet" : (\{.*?\n    \})\n  \}', r"\1", text, flags=re.S)
    assert '"tweet"' not in unwrapped
    js.write_text(unwrapped, encoding="utf-8")
    assert [p.external_id for p in read(archive).posts] == [p.external_id for p in read(FEB).posts]


def test_at_overrides_the_generation_date() -> None:
    at = datetime(2023, 2, 21, 8, 0, tzinfo=UTC)
    batch = read(FEB, at)
    assert batch.observed_at == at
    assert {s.observed_at for s in batch.snapshots} == {at}


def test_without_manifest_the_newest_file_time_is_used_with_a_note(tmp_path: Path) -> None:
    archive = copy(FEB, tmp_path)
    (archive / "data" / "manifest.js").unlink()
    stamp = datetime(2023, 2, 19, 23, 0, tzinfo=UTC).timestamp()
    for f in (archive / "data").iterdir():
        os.utime(f, (stamp, stamp))
    os.utime(archive / "data" / "account.js", (stamp + 3600, stamp + 3600))
    batch = read(archive)
    assert batch.observed_at == datetime(2023, 2, 20, 0, 0, tzinfo=UTC)
    assert batch.account_identity == OWNER  # from account.js alone
    assert len(batch.notes) == 1 and "--at" in batch.notes[0]
    assert batch.snapshots[0].reported_count is None
    assert read(archive, datetime(2023, 2, 20, 9, tzinfo=UTC)).notes == []


def test_manifest_alone_names_the_owner(tmp_path: Path) -> None:
    archive = copy(FEB, tmp_path)
    (archive / "data" / "account.js").unlink()
    batch = read(archive)
    assert (batch.account_identity, batch.account_handle) == (OWNER, "breakupbrand")


# -- through the store -----------------------------------------------------------------


def test_two_archives_make_spans(store: Store) -> None:
    first = import_(store, FEB)
    second = import_(store, MAY)
    assert first.account == second.account == "x:breakupbrand"
    assert (first.snapshots, first.members, first.posts) == (2, 6, 3)
    assert second.closed == 2  # one follower, one followed account
    s = spans(store)
    # Left between the two exports: a closed span whose end window is the gap between them.
    left = s[("1600000000000000003", "followers")]
    assert left == (None, FEB_AT, False, FEB_AT, MAY_AT, False, "unknown")
    # New in May: a start window between the exports, still open.
    new = s[("1600000000000000005", "followers")]
    assert new == (FEB_AT, MAY_AT, False, None, None, None, None)
    # There all along: seen first in February, start unknown (before tracking).
    assert s[("100000001", "followers")] == (None, FEB_AT, False, None, None, None, None)
    assert s[("100000009", "following")][3:] == (FEB_AT, MAY_AT, False, "unknown")
    assert ("100000009", "followers") not in s


def test_import_order_does_not_matter(store: Store, tmp_path: Path) -> None:
    import_(store, FEB)
    import_(store, MAY)
    other = Store(tmp_path / "other.duckdb", clock=fixed_clock(datetime(2026, 6, 1, tzinfo=UTC)))
    try:
        import_(other, MAY)
        import_(other, FEB)
        assert spans(other) == spans(store)
    finally:
        other.close()


def test_posts_and_metric_readings_are_stored(store: Store) -> None:
    import_(store, FEB)
    import_(store, MAY)
    kinds = dict(store.con.execute("SELECT external_id, kind FROM posts").fetchall())
    assert len(kinds) == 6
    assert kinds["1624000000000000103"] == "repost"
    readings = store.con.execute(
        """
        SELECT m.observed_at, m.value FROM post_metrics m JOIN posts p USING (post_id)
        WHERE p.external_id = '1623000000000000101' AND m.metric = 'likes' ORDER BY 1
        """
    ).fetchall()
    assert readings == [(FEB_AT, 12), (MAY_AT, 15)]  # counts kept per archive, not overwritten


def test_reimporting_the_same_archive_is_a_no_op(store: Store, tmp_path: Path) -> None:
    import_(store, FEB)
    before = table_counts(store)
    again = import_(store, FEB)
    assert again.skipped
    # The zip of the same archive is the same export.
    zipped = import_(store, zip_dir(FEB, tmp_path / "twitter-2023-02-20-5f1e0a.zip"))
    assert zipped.skipped
    assert table_counts(store) == before


def test_the_same_archive_at_another_time_is_a_new_observation(store: Store) -> None:
    import_(store, FEB)
    later = import_(store, FEB, at=datetime(2023, 3, 1, tzinfo=UTC))
    assert not later.skipped and later.snapshots == 2
    assert later.posts == 0  # the same posts, already known


def test_zip_archives_are_read_like_folders(tmp_path: Path) -> None:
    plain = read(FEB)
    for prefix in ("", "twitter-2023-02-20-5f1e0a/"):
        zipped = read(zip_dir(FEB, tmp_path / f"a{len(prefix)}.zip", prefix))
        assert zipped.source_ref == plain.source_ref
        assert zipped.posts == plain.posts
        for a, b in zip(zipped.snapshots, plain.snapshots, strict=True):
            assert a.members.equals(b.members)


def test_a_list_shorter_than_the_manifest_count_is_not_diffed(store: Store, tmp_path: Path) -> None:
    import_(store, FEB)
    archive = copy(MAY, tmp_path)
    manifest = archive / "data" / "manifest.js"
    text = manifest.read_text(encoding="utf-8")
    text = re.sub(
        r'("globalName" : "YTD\.follower\.part0",\s*"count" : )"4"', r'\1"400"', text, count=1
    )
    manifest.write_text(text, encoding="utf-8")
    result = import_(store, archive)
    assert any("reports 400" in n for n in result.notes)
    left = spans(store)[("1600000000000000003", "followers")]
    assert left[4] is None  # not closed: the list may have lost records


# -- archives as they come (issue 16) ---------------------------------------------------


def test_tweets_listed_in_the_manifest_but_missing_are_noted(tmp_path: Path) -> None:
    # MAY's manifest lists data/tweets.js and data/tweets-part1.js.
    archive = copy(MAY, tmp_path)
    (archive / "data" / "tweets-part1.js").unlink()
    batch = read(zip_dir(archive, tmp_path / "twitter-2023-05-20-9c2d4b.zip"))
    assert len(batch.posts) == 2  # tweets.js alone
    notes = [n for n in batch.notes if "tweets-part1.js" in n]
    assert notes == [
        "data/tweets-part1.js is not in the archive: 2 posts were read (4 listed); no "
        "departure can be tied to the missing ones"
    ]
    (archive / "data" / "tweets.js").unlink()
    batch = read(archive)
    assert batch.posts == []
    assert [n for n in batch.notes if "tweets" in n] == [
        "data/tweets.js, data/tweets-part1.js are not in the archive: none of its posts were "
        "read (4 listed), so no departure can be tied to a post"
    ]


def test_a_gap_in_the_tweets_parts_is_noted(tmp_path: Path) -> None:
    archive = copy(MAY, tmp_path)
    (archive / "data" / "tweets.js").unlink()
    (archive / "data" / "manifest.js").unlink()
    batch = read(archive, MAY_AT.replace(tzinfo=UTC))
    assert len(batch.posts) == 2  # tweets-part1.js
    assert batch.notes == [
        "data/tweets.js is not in the archive: 2 posts were read; no departure can be tied "
        "to the missing ones"
    ]


def test_an_archive_without_following_js_is_imported_with_a_note(
    store: Store, tmp_path: Path
) -> None:
    for keep_manifest, part1 in ((True, False), (False, False), (False, True)):
        archive = copy(FEB, tmp_path, f"twitter-2023-02-20-5f1e0a-{keep_manifest}-{part1}")
        following = archive / "data" / "following.js"
        if part1:  # a following list cut short: part 0 is gone
            following.rename(archive / "data" / "following-part1.js")
        else:
            following.unlink()
        if not keep_manifest:
            (archive / "data" / "manifest.js").unlink()
        batch = read(archive, FEB_AT.replace(tzinfo=UTC))
        assert [s.direction.value for s in batch.snapshots] == ["followers"]
        assert len(batch.snapshots[0].members) == 4
        assert batch.notes == [
            "data/following.js is not in the archive"
            + (" (data/manifest.js lists it)" if keep_manifest else "")
            + ": no following snapshot was taken from it (the followers are all there)"
        ]
    result = import_(store, archive, FEB_AT.replace(tzinfo=UTC))
    assert (result.snapshots, result.members) == (1, 4)
    assert any("data/following.js is not in the archive" in n for n in result.notes)


def test_an_archive_without_follower_js_is_still_refused(tmp_path: Path) -> None:
    archive = copy(FEB, tmp_path)
    (archive / "data" / "follower.js").unlink()
    with pytest.raises(InvalidExport, match=r"data/follower\.js is missing"):
        read(archive)


def test_people_counts_each_person_once(store: Store) -> None:
    # FEB: 4 followers, 2 followed accounts, 100000001 in both lists.
    result = import_(store, FEB)
    assert (result.members, result.people) == (6, 5)


# -- broken input ----------------------------------------------------------------------


def _truncated_zip(tmp: Path) -> Path:
    z = zip_dir(FEB, tmp / "twitter-2023-02-20-5f1e0a.zip")
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    return z


def _damaged_member(tmp: Path) -> Path:
    z = zip_dir(FEB, tmp / "damaged.zip")
    data = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("data/follower.js")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start, start + info.compress_size):
        data[i] ^= 0x5A
    z.write_bytes(bytes(data))
    return z


def _member(rel: str, old: str, new: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        archive = copy(FEB, tmp)
        edit(archive / rel, old, new)
        return archive

    return make


def _remove(*rels: str, source: Path = FEB) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        archive = copy(source, tmp)
        for rel in rels:
            (archive / rel).unlink()
        return archive

    return make


def _rename(rel: str, to: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        archive = copy(FEB, tmp)
        (archive / rel).rename(archive / to)
        return archive

    return make


def _write(rel: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        archive = copy(FEB, tmp)
        (archive / rel).write_bytes(data)
        return archive

    return make


def _instagram(tmp: Path) -> Path:
    return copy(FIXTURES.parent / "instagram" / "instagram-brandco-2024-06-01-XyZ789ab", tmp)


def _text_file(tmp: Path) -> Path:
    f = tmp / "followers.txt"
    f.write_text("alice\nbob\n")
    return f


BROKEN: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated zip": (_truncated_zip, "not a valid zip"),
    "damaged zip member": (_damaged_member, "cannot read data/follower.js"),
    "instagram export": (_instagram, "not an X archive"),
    "not an archive": (_text_file, "not an X archive"),
    "wrong js prefix": (
        _member("data/follower.js", "window.YTD.follower.part0 =", "var followers ="),
        "data/follower.js does not start with window.YTD",
    ),
    "truncated json": (
        _write("data/follower.js", b'window.YTD.follower.part0 = [\n  {\n    "follower" : {'),
        "data/follower.js is not valid JSON",
    ),
    "not a list": (
        _write("data/following.js", b"window.YTD.following.part0 = {}"),
        "data/following.js does not hold a list",
    ),
    "not utf-8": (
        _write("data/follower.js", b'window.YTD.follower.part0 = [ "caf\xe9" ]'),
        "data/follower.js is not UTF-8",
    ),
    "missing follower part 0": (
        _rename("data/follower.js", "data/follower-part1.js"),  # a list cut short
        "data/follower.js is missing",
    ),
    "no owner": (_remove("data/account.js", "data/manifest.js"), "whose"),
    "non-numeric accountId": (
        _member("data/follower.js", '"accountId" : "100000002"', '"accountId" : "@bob"'),
        "data/follower.js record 1: '@bob' is not a number",
    ),
    "record without accountId": (
        _member("data/follower.js", '"accountId" : "100000002",', ""),
        "data/follower.js record 1: None is not a number",
    ),
    "bad created_at": (
        _member("data/tweet.js", "Tue Feb 07 15:02:11 +0000 2023", "2023-02-07T15:02:11Z"),
        "data/tweet.js record 0: created_at",
    ),
    "impossible created_at": (
        _member(
            "data/tweet.js", "Tue Feb 07 15:02:11 +0000 2023", "Tue Feb 31 15:02:11 +0000 2023"
        ),
        "not a real time",
    ),
    "count not a number": (
        _member("data/tweet.js", '"favorite_count" : "12"', '"favorite_count" : "a dozen"'),
        "favorite_count: 'a dozen' is not a number",
    ),
    "bad generationDate": (
        _member("data/manifest.js", "2023-02-20T09:15:02.118Z", "yesterday"),
        "generationDate",
    ),
    "manifest lists a missing part": (
        _member("data/manifest.js", '"data/follower.js"', '"data/follower-part1.js"'),
        "lists data/follower-part1.js but it is missing",
    ),
    "two owners": (
        _member("data/account.js", f'"accountId" : "{OWNER}"', '"accountId" : "42"'),
        "data/account.js is account 42",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_input_raises_and_changes_nothing(store: Store, tmp_path: Path, case: str) -> None:
    make, expected = BROKEN[case]
    import_(store, MAY)
    before = table_counts(store)
    work = tmp_path / "work"
    work.mkdir()
    bad = make(work)
    with pytest.raises(InvalidExport) as caught:
        import_(store, bad)
    message = str(caught.value)
    assert bad.name in message
    assert expected in message
    assert "\n" not in message
    assert table_counts(store) == before


def test_two_archives_in_one_folder_are_refused(tmp_path: Path) -> None:
    both = tmp_path / "exports"
    copy(FEB, both)
    copy(MAY, both)
    with pytest.raises(InvalidExport, match="2 X archives"):
        read(both)


# -- the streamed reading of follower lists (issue 16) ------------------------------------


def _follower_js(ids: list[str]) -> bytes:
    records = [
        f'  {{\n    "follower" : {{\n      "accountId" : "{i}",\n'
        f'      "userLink" : "https://twitter.com/intent/user?user_id={i}"\n    }}\n  }}'
        for i in ids
    ]
    return ("window.YTD.follower.part0 = [\n" + ",\n".join(records) + "\n]").encode()


def _outcome(archive: Path, streamed: bool, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as m:
        if not streamed:
            m.setattr(x_archive._Archive, "_stream_ids", lambda *_: None)
        try:
            batch = read(archive, FEB_AT.replace(tzinfo=UTC))
        except InvalidExport as exc:
            return ("refused", str(exc))
        followers = batch.snapshots[0].members.column("external_id").to_pylist()
        return ("read", followers, batch.source_ref)


def test_the_streamed_reading_agrees_with_the_full_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut into many small batches, from a zip read in small chunks, every mutation of a
    follower list is read exactly as the full parse reads it, or refused with its words."""
    monkeypatch.setattr(x_archive, "STREAM_BATCH", 300)
    monkeypatch.setattr(base, "CHUNK", 97)
    good = _follower_js([str(10**17 + 7919 * k) for k in range(40)] + ["100000002"])
    gap = b"},\n  {"
    cuts = [k for k in range(len(good)) if good.startswith(gap, k)]
    variants = {
        "as written": good,
        "bom": b"\xef\xbb\xbf" + good,
        "semicolon": good + b";\n",
        "minified": good.replace(b"\n", b"").replace(b" : ", b":"),
        "trailing comma": good[:-2] + b",\n]",
        "empty list": b"window.YTD.follower.part0 = [ ]",
        "a repeated id": good.replace(b'"100000002"', str(10**17).encode(), 1),
        "an int id": good.replace(b'"100000002"', b"100000002", 1),
        "an empty id": good.replace(b'"100000002"', b'""', 1),
        "an unwrapped record": good.replace(b'"follower" : {', b'"x" : 1, "y" : {', 1),
        "an extra field": good.replace(b'"userLink"', b'"note" : 1, "userLink"', 1),
        "a huge number": good.replace(b'"userLink" : "', b'"n" : ' + b"9" * 5000 + b', "u" : "', 1),
        "a lone surrogate": good.replace(b"intent", b"\\ud800", 1),
        "a surrogate pair": good.replace(b"intent", b"\\ud83d\\ude00", 1),
        "latin-1": good.replace(b"intent", b"caf\xe9", 1),
        "a cut in a string": good.replace(b"intent", b'in},\n  {"tent', 1),
        "object not list": good.replace(b"= [", b"= {", 1),
        "null record": good.replace(gap, b"},\n  null,\n  {", 1),
    }
    for k, at in enumerate(cuts[:: max(1, len(cuts) // 6)]):
        variants[f"truncated at gap {k}"] = good[: at + 1]
        variants[f"comma dropped at gap {k}"] = good[: at + 1] + good[at + 2 :]
        variants[f"bracket at gap {k}"] = good[: at + 1] + b"]" + good[at + 1 :]
    for i in range(0, len(good), 131):
        variants[f"truncated at {i}"] = good[:i]
        variants[f"junk at {i}"] = good[:i] + b'"}]' + good[i:]
    refused = 0
    for k, (name, data) in enumerate(variants.items()):
        folder = copy(FEB, tmp_path, f"archive-{k}")
        (folder / "data" / "follower.js").write_bytes(data)
        (folder / "data" / "manifest.js").unlink()
        archive = zip_dir(folder, tmp_path / f"{folder.name}.zip")
        for path in (folder, archive):
            streamed = _outcome(path, True, monkeypatch)
            assert streamed == _outcome(path, False, monkeypatch), name
        refused += streamed[0] == "refused"  # type: ignore[index]
    assert 0 < refused < len(variants)
    # The plain shape takes the streamed way (the full parse is never asked).
    full_parse = x_archive._Archive._part_records

    def only_posts(self: Any, rel: str, key: str) -> Any:
        assert key == "tweet", f"{rel} was parsed whole"
        return full_parse(self, rel, key)

    monkeypatch.setattr(x_archive._Archive, "_part_records", only_posts)
    batch = read(FEB)
    assert [len(s.members) for s in batch.snapshots] == [4, 2]
