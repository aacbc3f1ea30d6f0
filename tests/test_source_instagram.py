"""The instagram source, through the real store: fixtures are shaped like real exports."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breakup.clock import fixed_clock
from breakup.errors import InvalidExport
from breakup.ingest import ImportResult, save_batch
from breakup.sources import ReadOptions, get_source
from breakup.sources.instagram import InstagramSource
from breakup.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "instagram"
# Older layout: followers_and_following/ at the top, no profile file, values in `value`.
OLD = FIXTURES / "instagram-brandco-2023-04-02-Qm7rT2xk"
# Newer layout: connections/…, followers split in two files, following names in `title`.
NEW = FIXTURES / "instagram-brandco-2024-06-01-XyZ789ab"
NEW_FOLLOWERS = "connections/followers_and_following/followers_1.json"
NEW_FOLLOWING = "connections/followers_and_following/following.json"
PROFILE = "personal_information/personal_information/personal_information.json"
OLD_AT = datetime(2023, 4, 2)  # the date in the export's name, naive UTC as stored
NEW_AT = datetime(2024, 6, 1, 10, 0)  # gus.cooks followed at 10:00 on the export's date
DAY1, DAY5 = timedelta(days=1), timedelta(days=5)


def ts(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC).replace(tzinfo=None)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "s.duckdb", clock=fixed_clock(datetime(2026, 6, 1, tzinfo=UTC)))
    yield s
    s.close()


def read(path: Path, at: datetime | None = None) -> Any:
    return InstagramSource().read(path, ReadOptions(at=at))


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


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def save(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")


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
        FROM spans s JOIN people p USING (person_id) WHERE p.platform = 'instagram'
        """
    ).fetchall()
    out = {(r[0], r[1]): tuple(r[2:]) for r in rows}
    assert len(out) == len(rows), "one span per person and direction in these fixtures"
    return out


def members(batch: Any, direction: str) -> list[str]:
    (snap,) = [s for s in batch.snapshots if s.direction == direction]
    return list(snap.members.column("external_id").to_pylist())


# -- reading ---------------------------------------------------------------------------


def test_registered_under_its_name() -> None:
    source = get_source("instagram")
    assert isinstance(source, InstagramSource)
    assert source.platform == "instagram"


def test_old_layout_owner_and_time_come_from_the_export_name() -> None:
    batch = read(OLD)
    assert (batch.account_identity, batch.account_handle) == ("brandco", "brandco")
    assert batch.observed_at == OLD_AT.replace(tzinfo=UTC)
    assert batch.notes == []
    assert members(batch, "followers") == ["dan.photo", "cara.design", "ben_runs", "anna.bakes"]
    assert members(batch, "following") == ["partner.co", "anna.bakes"]
    follows = {(e.person.external_id, e.direction.value): e for e in batch.events}
    assert len(follows) == 6
    started = follows[("ben_runs", "followers")]
    assert (started.kind.value, started.at) == ("follow", datetime.fromtimestamp(1660000000, UTC))
    assert follows[("partner.co", "following")].at == datetime.fromtimestamp(1655000000, UTC)


def test_new_layout_split_followers_and_titles() -> None:
    batch = read(NEW)
    assert (batch.account_identity, batch.account_handle) == ("brandco", "brandco")
    assert members(batch, "followers") == [
        "gus.cooks",
        "fin.climbs",
        "eve.travels",  # followers_1.json
        "dan.photo",
        "cara.design",
        "anna.bakes",  # followers_2.json
    ]
    assert members(batch, "following") == ["newshop", "anna.bakes"]  # names from `title`
    # The name has a date only; a follow that day moves the snapshot up to it.
    assert batch.observed_at == NEW_AT.replace(tzinfo=UTC)
    assert max(e.at for e in batch.events) == batch.observed_at


def test_username_is_the_person_id_lower_cased_and_kept_as_handle(tmp_path: Path) -> None:
    export = copy(NEW, tmp_path)
    doc = load(export / NEW_FOLLOWERS)
    doc[0]["string_list_data"][0]["value"] = "Gus.Cooks"
    save(export / NEW_FOLLOWERS, doc)
    snap = next(s for s in read(export).snapshots if s.direction == "followers")
    assert snap.members.column("external_id")[0].as_py() == "gus.cooks"
    assert snap.members.column("handle")[0].as_py() == "Gus.Cooks"


def test_name_from_value_else_title_else_link(tmp_path: Path) -> None:
    export = copy(NEW, tmp_path)
    doc = load(export / NEW_FOLLOWING)
    first, second = (e["string_list_data"][0] for e in doc["relationships_following"][:2])
    del first["href"]  # the name is only in `title`
    doc["relationships_following"][1]["title"] = ""  # the name is only in the link
    second["href"] = "https://www.instagram.com/_u/anna.bakes"
    doc["relationships_following"].append(
        {"title": "ignored", "string_list_data": [{"value": "zoe.value", "timestamp": 1}]}
    )
    save(export / NEW_FOLLOWING, doc)
    assert members(read(export), "following") == ["newshop", "anna.bakes", "zoe.value"]


def test_profile_file_names_the_owner_over_the_export_name(tmp_path: Path) -> None:
    export = copy(NEW, tmp_path, "instagram-oldname-2024-06-01-XyZ789ab")
    assert read(export).account_identity == "brandco"
    # A translated export names the field otherwise: fall back to the export's name.
    doc = load(export / PROFILE)
    fields = doc["profile_user"][0]["string_map_data"]
    fields["Nome utente"] = fields.pop("Username")
    save(export / PROFILE, doc)
    assert read(export).account_identity == "oldname"


def test_earliest_layout_followers_json_and_account_information(tmp_path: Path) -> None:
    export = copy(OLD, tmp_path)
    folder = export / "followers_and_following"
    entries = load(folder / "followers_1.json")
    (folder / "followers_1.json").unlink()
    save(folder / "followers.json", {"relationships_followers": entries})
    profile = load(NEW / PROFILE)
    profile["profile_user"][0]["string_map_data"]["Username"]["value"] = "BrandCo"
    save(export / "account_information" / "personal_information.json", profile)
    batch = read(export)
    assert members(batch, "followers") == members(read(OLD), "followers")
    assert (batch.account_identity, batch.account_handle) == ("brandco", "BrandCo")


def test_zips_are_read_like_folders(tmp_path: Path) -> None:
    plain = read(OLD)
    as_sent = zip_dir(OLD, tmp_path / f"{OLD.name}.zip")
    # Re-zipped with the folder inside: the folder's name still dates and names it.
    wrapped = zip_dir(OLD, tmp_path / "download.zip", prefix=f"{OLD.name}/")
    for zipped in (read(as_sent), read(wrapped)):
        assert (zipped.account_identity, zipped.observed_at) == ("brandco", plain.observed_at)
        assert zipped.source_ref == plain.source_ref
        assert zipped.events == plain.events
        assert members(zipped, "followers") == members(plain, "followers")


def test_at_is_used_but_never_before_a_follow() -> None:
    at = datetime(2024, 6, 2, 8, 30, tzinfo=UTC)
    assert read(NEW, at).observed_at == at
    with pytest.raises(InvalidExport, match="before a follow at 2024-06-01 10:00:00"):
        read(NEW, datetime(2024, 6, 1, tzinfo=UTC))


def test_without_a_dated_name_the_newest_file_time_is_used_with_a_note(tmp_path: Path) -> None:
    export = copy(OLD, tmp_path, "my instagram")
    stamp = datetime(2023, 4, 3, 6, 0, tzinfo=UTC).timestamp()
    for f in export.rglob("*.json"):
        os.utime(f, (stamp, stamp))
    batch = read(export)
    assert batch.observed_at == datetime(2023, 4, 3, 6, 0, tzinfo=UTC)
    assert batch.account_identity is None  # nothing says whose it is: save asks for --account
    assert len(batch.notes) == 1 and "--at" in batch.notes[0]
    # File times older than a follow in the export are moved up to it.
    old = datetime(2023, 1, 1, tzinfo=UTC).timestamp()
    for f in export.rglob("*.json"):
        os.utime(f, (old, old))
    assert read(export).observed_at == datetime.fromtimestamp(1679000000, UTC)


def test_zero_timestamp_is_in_the_snapshot_without_an_event(tmp_path: Path) -> None:
    export = copy(NEW, tmp_path)
    doc = load(export / NEW_FOLLOWERS)
    doc[1]["string_list_data"][0]["timestamp"] = 0
    save(export / NEW_FOLLOWERS, doc)
    batch = read(export)
    assert "fin.climbs" in members(batch, "followers")
    assert "fin.climbs" not in {e.person.external_id for e in batch.events}


def test_missing_following_json_leaves_following_alone(tmp_path: Path) -> None:
    export = copy(NEW, tmp_path)
    (export / NEW_FOLLOWING).unlink()
    batch = read(export)
    assert [s.direction.value for s in batch.snapshots] == ["followers"]
    assert any("following.json" in n for n in batch.notes)


# -- through the store -----------------------------------------------------------------


def test_two_exports_make_spans(store: Store) -> None:
    first = import_(store, OLD)
    second = import_(store, NEW)
    assert first.account == second.account == "instagram:brandco"
    assert (first.snapshots, first.events) == (2, 6)
    assert second.events == 4  # the follows already known are not stored twice
    s = spans(store)
    # Left between the exports: closed, the end known only as the window between them.
    left = s[("ben_runs", "followers")]
    assert left == (ts(1660000000), ts(1660000000), True, OLD_AT, NEW_AT, False, "unknown")
    # New since: the follow time is exact.
    assert s[("eve.travels", "followers")] == (
        ts(1700000000),
        ts(1700000000),
        True,
        None,
        None,
        None,
        None,
    )
    assert s[("gus.cooks", "followers")][:3] == (NEW_AT, NEW_AT, True)
    assert s[("anna.bakes", "followers")][3:] == (None, None, None, None)
    assert s[("partner.co", "following")][3:] == (OLD_AT, NEW_AT, False, "unknown")
    assert s[("newshop", "following")][:3] == (ts(1705000000), ts(1705000000), True)


def test_import_order_does_not_matter(store: Store, tmp_path: Path) -> None:
    import_(store, OLD)
    import_(store, NEW)
    other = Store(tmp_path / "other.duckdb", clock=fixed_clock(datetime(2026, 6, 1, tzinfo=UTC)))
    try:
        import_(other, NEW)
        import_(other, OLD)
        assert spans(other) == spans(store)
    finally:
        other.close()


def test_reimporting_the_same_export_is_a_no_op(store: Store, tmp_path: Path) -> None:
    import_(store, NEW)
    before = table_counts(store)
    assert import_(store, NEW).skipped
    zipped = zip_dir(NEW, tmp_path / "instagram-brandco-2024-06-01-XyZ789ab.zip")
    assert import_(store, zipped).skipped  # the zip of the same export is the same export
    assert table_counts(store) == before


def test_unchanged_lists_exported_another_day_are_a_new_observation(
    store: Store, tmp_path: Path
) -> None:
    import_(store, OLD)
    week_later = copy(OLD, tmp_path, "instagram-brandco-2023-04-09-Hk3vN8qa")
    again = import_(store, week_later)
    assert not again.skipped and again.snapshots == 2
    assert again.events == 0  # the same follows, already known
    assert store.scalar("SELECT count(*) FROM observations WHERE direction = 'followers'") == 2


# -- broken input ----------------------------------------------------------------------


def _truncated_zip(tmp: Path) -> Path:
    z = zip_dir(NEW, tmp / "instagram-brandco-2024-06-01-XyZ789ab.zip")
    z.write_bytes(z.read_bytes()[: z.stat().st_size - 200])
    return z


def _changed(rel: str, change: Callable[[Any], Any]) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        export = copy(NEW, tmp)
        doc = load(export / rel)
        save(export / rel, change(doc))
        return export

    return make


def _raw(rel: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        export = copy(NEW, tmp)
        (export / rel).write_bytes(data)
        return export

    return make


def _first_item(key: str, value: Any) -> Callable[[Any], Any]:
    def change(doc: Any) -> Any:
        if value is None:
            del doc[0]["string_list_data"][0][key]
        else:
            doc[0]["string_list_data"][0][key] = value
        return doc

    return change


def _nameless(doc: Any) -> Any:
    doc[0]["title"] = ""
    item = doc[0]["string_list_data"][0]
    del item["value"]
    item["href"] = ""
    return doc


def _gap(tmp: Path) -> Path:
    export = copy(NEW, tmp)
    folder = export / "connections" / "followers_and_following"
    (folder / "followers_2.json").rename(folder / "followers_3.json")
    return export


def _html(tmp: Path) -> Path:
    export = copy(NEW, tmp)
    folder = export / "connections" / "followers_and_following"
    for f in folder.glob("*.json"):
        f.with_suffix(".html").write_text("<html><body>followers</body></html>")
        f.unlink()
    return export


def _renamed(name: str) -> Callable[[Path], Path]:
    return lambda tmp: copy(NEW, tmp, name)


def _x_archive(tmp: Path) -> Path:
    return copy(FIXTURES.parent / "x_archive" / "twitter-2023-05-20-9c2d4b", tmp)


BROKEN: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated zip": (_truncated_zip, "zip"),
    "x archive": (_x_archive, "not an Instagram export"),
    "html export": (_html, "HTML export"),
    "invalid json": (_raw(NEW_FOLLOWERS, b'[\n  {\n    "title": ""'), "is not valid JSON"),
    "not utf-8": (_raw(NEW_FOLLOWERS, b'[{"title": "caf\xe9"}]'), "not UTF-8"),
    "followers not a list": (
        _changed(NEW_FOLLOWERS, lambda d: {"followers": d}),
        "followers_1.json does not hold a list",
    ),
    "following without key": (
        _changed(NEW_FOLLOWING, lambda d: d["relationships_following"]),
        "following.json has no relationships_following",
    ),
    "timestamp a string": (
        _changed(NEW_FOLLOWERS, _first_item("timestamp", "1717236000")),
        "followers_1.json entry 0: timestamp '1717236000' is not a Unix time",
    ),
    "timestamp a float": (
        _changed(NEW_FOLLOWERS, _first_item("timestamp", 1717236000.5)),
        "timestamp 1717236000.5 is not a Unix time",
    ),
    "timestamp missing": (
        _changed(NEW_FOLLOWERS, _first_item("timestamp", None)),
        "timestamp None",
    ),
    "timestamp out of range": (
        _changed(NEW_FOLLOWERS, _first_item("timestamp", 10**18)),
        "out of range",
    ),
    "no username": (_changed(NEW_FOLLOWERS, _nameless), "entry 0 has no username"),
    "no string_list_data": (
        _changed(NEW_FOLLOWING, lambda d: {"relationships_following": [{"title": "x"}]}),
        "following.json entry 0 has no string_list_data",
    ),
    "follower files with a gap": (_gap, "not complete (have followers_1.json, followers_3.json)"),
    "profile without profile_user": (
        _changed(PROFILE, lambda d: {"profile_user": {}}),
        "personal_information.json has no profile_user",
    ),
    "impossible date in the name": (
        _renamed("instagram-brandco-2024-13-45-XyZ789ab"),
        "impossible date 2024-13-45",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_input_raises_and_changes_nothing(store: Store, tmp_path: Path, case: str) -> None:
    make, expected = BROKEN[case]
    import_(store, OLD)
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


def test_two_exports_in_one_folder_are_refused(tmp_path: Path) -> None:
    both = tmp_path / "exports"
    copy(OLD, both)
    copy(NEW, both)
    with pytest.raises(InvalidExport, match="more than one Instagram export"):
        read(both)


# -- date-limited exports ("Download your information" with a date range) -----------------

FULL_DAY = "2026-06-01"
RANGE_DAY = "2026-12-04"
YEAR_AGO = datetime(2025, 12, 4, 10, 0, tzinfo=UTC)  # a year before RANGE_DAY, to the day
OLD_FOLLOWERS = [(f"old.{i}", datetime(2021, 1, 1, 10, tzinfo=UTC) + i * DAY5) for i in range(300)]
RECENT = [(f"new.{i}", YEAR_AGO + i * DAY1) for i in range(180)]  # up to 2026-06-01
LATER = [(f"late.{i}", datetime(2026, 6, 2, 10, tzinfo=UTC) + i * DAY1) for i in range(180)]
LEFT = {"new.3", "new.40", "new.41", "new.99", "new.150", "new.179"}  # the real unfollowers
PARTNER = ("partner.co", datetime(2019, 3, 2, 9, tzinfo=UTC))
NEWSHOP = ("newshop", datetime(2026, 1, 5, 9, tzinfo=UTC))


def export(
    tmp: Path,
    day: str,
    followers: list[tuple[str, datetime]],
    following: list[tuple[str, datetime]],
) -> Path:
    """An export laid out like NEW (connections/…, names of followings in `title`), lists
    newest first as Instagram writes them."""
    root = tmp / f"instagram-brandco-{day}-Rg{len(followers)}x{len(following)}"
    folder = root / "connections" / "followers_and_following"
    newest_first = sorted(followers, key=lambda f: f[1], reverse=True)
    save(
        folder / "followers_1.json",
        [
            {
                "title": "",
                "media_list_data": [],
                "string_list_data": [
                    {
                        "href": f"https://www.instagram.com/{name}",
                        "value": name,
                        "timestamp": int(t.timestamp()),
                    }
                ],
            }
            for name, t in newest_first
        ],
    )
    save(
        folder / "following.json",
        {
            "relationships_following": [
                {
                    "title": name,
                    "string_list_data": [
                        {
                            "href": f"https://www.instagram.com/_u/{name}",
                            "timestamp": int(t.timestamp()),
                        }
                    ],
                }
                for name, t in sorted(following, key=lambda f: f[1], reverse=True)
            ]
        },
    )
    save(root / PROFILE, load(NEW / PROFILE))
    return root


def full_export(tmp: Path) -> Path:
    return export(tmp, FULL_DAY, OLD_FOLLOWERS + RECENT, [PARTNER, NEWSHOP])


def last_year_export(tmp: Path, following: list[tuple[str, datetime]]) -> Path:
    """What 'last year' gives on RANGE_DAY: only follows since YEAR_AGO, the real
    unfollowers gone, the older followers left out though they still follow."""
    kept = [f for f in RECENT if f[0] not in LEFT]
    return export(tmp, RANGE_DAY, kept + LATER, following)


def ended(store: Store) -> set[str]:
    rows = store.con.execute(
        "SELECT p.external_id FROM spans s JOIN people p USING (person_id) "
        "WHERE s.direction = 'followers' AND s.end_latest IS NOT NULL"
    ).fetchall()
    return {r[0] for r in rows}


def open_followers(store: Store) -> set[str]:
    rows = store.con.execute(
        "SELECT p.external_id FROM spans s JOIN people p USING (person_id) "
        "WHERE s.direction = 'followers' AND s.end_latest IS NULL"
    ).fetchall()
    return {r[0] for r in rows}


@pytest.fixture
def late_store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "s.duckdb", clock=fixed_clock(datetime(2027, 2, 1, tzinfo=UTC)))
    yield s
    s.close()


def test_a_last_year_export_is_complete_only_since_a_year_before_it(tmp_path: Path) -> None:
    batch = read(last_year_export(tmp_path, [PARTNER, NEWSHOP]))
    followers, following = batch.snapshots
    assert followers.complete_since == YEAR_AGO  # its earliest follower, 10 h after the start
    assert following.complete_since is None  # it reaches further back: not limited
    # A following list that does not may be limited too: scoped from the range's latest start.
    limited = read(last_year_export(tmp_path / "limited", [NEWSHOP])).snapshots[1]
    assert limited.complete_since == datetime(2025, 12, 6, tzinfo=UTC)
    assert batch.notes == [
        "Instagram export covers only follows since 2025-12-04 (a 'last year' export; "
        "following.json reaches back to 2019-03-02): people who followed earlier are left "
        "as they were"
    ]
    # A full export, or one whose earliest follower is far from any range's start, is not.
    assert read(full_export(tmp_path)).snapshots[0].complete_since is None
    assert read(NEW).snapshots[0].complete_since is None
    start = datetime(2026, 8, 26, 10, tzinfo=UTC)  # 100 days before: between two ranges
    hundred_days = [(n, start + i * DAY1) for i, (n, _) in enumerate(LATER[:90])]
    assert read(export(tmp_path, RANGE_DAY, hundred_days, [])).snapshots[0].complete_since is None


def test_a_last_year_export_after_a_full_one_records_only_the_real_departures(
    late_store: Store, tmp_path: Path
) -> None:
    import_(late_store, full_export(tmp_path))
    result = import_(late_store, last_year_export(tmp_path, [PARTNER, NEWSHOP]))
    assert ended(late_store) == LEFT
    assert result.closed == len(LEFT)
    # The older followers are not in the export but nothing says they left.
    assert {n for n, _ in OLD_FOLLOWERS} <= open_followers(late_store)
    windows = late_store.con.execute(
        "SELECT DISTINCT end_earliest, end_latest, end_kind FROM departures"
    ).fetchall()
    # From the full export (moved up to its newest follow, 10:00) to the limited one.
    assert windows == [(datetime(2026, 6, 1, 10), datetime(2026, 12, 4), "unknown")]
    assert any(
        n.startswith("Instagram export covers only follows since 2025-12-04") for n in result.notes
    )
    assert any(
        "covers only follows since 2025-12-04" in n
        and "300 followers who started earlier are missing from it and are left as they were" in n
        for n in result.notes
    )


def test_a_date_limited_following_list_too_is_recognised_from_the_followers_known(
    late_store: Store, tmp_path: Path
) -> None:
    import_(late_store, full_export(tmp_path))
    result = import_(late_store, last_year_export(tmp_path, [NEWSHOP]))  # following limited too
    assert ended(late_store) == LEFT
    assert {n for n, _ in OLD_FOLLOWERS} <= open_followers(late_store)
    assert not any(n.startswith("Instagram export") for n in result.notes)
    assert any("300 followers who started earlier" in n for n in result.notes)
    # The following list looks limited the same way: who the account followed earlier
    # is left as it was too.
    assert spans(late_store)[("partner.co", "following")][3:] == (None, None, None, None)
    assert any("1 following who started earlier is missing" in n for n in result.notes)


def test_a_last_year_export_gives_the_same_spans_whatever_the_import_order(
    late_store: Store, tmp_path: Path
) -> None:
    import_(late_store, full_export(tmp_path))
    import_(late_store, last_year_export(tmp_path, [NEWSHOP]))
    other = Store(tmp_path / "other.duckdb", clock=fixed_clock(datetime(2027, 1, 1, tzinfo=UTC)))
    try:
        import_(other, last_year_export(tmp_path / "b", [NEWSHOP]))
        assert ended(other) == set()
        import_(other, full_export(tmp_path / "b"))  # from the past: a rebuild
        assert spans(other) == spans(late_store)
        assert ended(other) == LEFT
    finally:
        other.close()


def test_a_young_accounts_full_export_is_complete(late_store: Store, tmp_path: Path) -> None:
    """An account whose first follower really came a year ago: its full export looks like
    a 'last year' one, but no follower known to be older is missing, so it is diffed as
    complete and later windows start at it."""
    import_(late_store, export(tmp_path, FULL_DAY, RECENT, [NEWSHOP]))
    result = import_(late_store, last_year_export(tmp_path, [NEWSHOP]))
    assert ended(late_store) == LEFT
    assert not any("covers only" in n for n in result.notes)
    last_complete = late_store.scalar(
        "SELECT last_complete_at FROM tracking_state WHERE direction = 'followers'"
    )
    assert last_complete == datetime(2026, 12, 4)
    # The next export's leavers are dated from it.
    gone = "late.0"
    later = [f for f in RECENT + LATER if f[0] not in LEFT and f[0] != gone]
    import_(late_store, export(tmp_path, "2027-01-04", later, [NEWSHOP]))
    window = late_store.con.execute(
        "SELECT end_earliest, end_latest FROM departures d JOIN people p USING (person_id) "
        "WHERE p.external_id = ?",
        [gone],
    ).fetchall()
    assert window == [(datetime(2026, 12, 4), datetime(2027, 1, 4))]


# A custom range ("from 1 May 2024"): the follows cannot reveal it; --since says it.
CUSTOM_START = datetime(2024, 5, 1, tzinfo=UTC)


def custom_export(tmp: Path) -> Path:
    """A custom-range export on RANGE_DAY from CUSTOM_START: the old followers before it
    left out, though still following; the real unfollowers gone."""
    kept = [f for f in OLD_FOLLOWERS + RECENT if f[1] >= CUSTOM_START and f[0] not in LEFT]
    return export(tmp, RANGE_DAY, kept + LATER, [NEWSHOP])


def test_a_custom_range_export_with_since_records_only_the_real_departures(
    late_store: Store, tmp_path: Path
) -> None:
    import_(late_store, full_export(tmp_path))
    path = custom_export(tmp_path)
    before_range = {n for n, t in OLD_FOLLOWERS if t < CUSTOM_START}
    assert len(before_range) > 100  # what a misread export would call gone
    batch = InstagramSource().read(path, ReadOptions(since=CUSTOM_START))
    assert {s.complete_since for s in batch.snapshots} == {CUSTOM_START}
    assert "covers only follows since 2024-05-01 (--since)" in batch.notes[0]
    save_batch(late_store, batch, path=str(path))
    assert ended(late_store) == LEFT
    assert before_range <= open_followers(late_store)
    # Who the account followed before the range is left as it was too.
    assert spans(late_store)[("partner.co", "following")][3:] == (None, None, None, None)


def test_since_after_a_follow_the_export_lists_is_refused(tmp_path: Path) -> None:
    path = full_export(tmp_path)
    with pytest.raises(InvalidExport) as err:
        InstagramSource().read(path, ReadOptions(since=CUSTOM_START))
    message = str(err.value)
    assert path.name in message and "\n" not in message
    assert "--since 2024-05-01, but it lists a follower from 2021-01-01" in message
    with pytest.raises(InvalidExport, match="is not before the export"):
        InstagramSource().read(path, ReadOptions(since=datetime(2026, 7, 1, tzinfo=UTC)))


# -- the typed fast path reads exactly what the checked path reads ---------------------------

_VALUES = st.one_of(
    st.none(),
    st.sampled_from(
        ["", "  ", "Ana.B", "ana b", " x_1 ", "ÉLODIE", "\tx_2\n", "y\u2003", "\u2003"]
    ),
    st.integers(-2, 2),
    st.booleans(),
)
_STAMPS = st.one_of(
    st.integers(-5, 2_000_000_000),
    st.sampled_from([0, 10**12, 2**63]),
    st.booleans(),
    st.floats(0, 10, allow_nan=False),
    st.text(max_size=3),
)
_ODD_ITEM = st.fixed_dictionaries(
    {},
    optional={
        "value": _VALUES,
        "href": st.sampled_from(["https://www.instagram.com/from.link", "x", 5]),
        "timestamp": _STAMPS,
    },
)
_GOOD_ITEM = st.fixed_dictionaries(
    {"timestamp": st.integers(0, 2_000_000_000)},
    optional={
        "value": st.sampled_from(["Ana.B", " x_1 ", "ÉLODIE", "", "ana b", "\tx_2\n", "y\u2003"]),
        "href": st.sampled_from(["https://www.instagram.com/from.link", "https://x.y/"]),
    },
)
_ITEM = st.one_of(_GOOD_ITEM, _GOOD_ITEM, _GOOD_ITEM, _ODD_ITEM)
_GOOD_ENTRY = st.fixed_dictionaries(
    {"string_list_data": st.lists(_GOOD_ITEM, min_size=1, max_size=2)},
    optional={
        "title": st.sampled_from(["", "brand_co", "two words"]),
        "media_list_data": st.just([]),
    },
)
_ENTRY = st.one_of(
    _GOOD_ENTRY,
    _GOOD_ENTRY,
    _GOOD_ENTRY,
    st.fixed_dictionaries(
        {"string_list_data": st.one_of(st.lists(_ITEM, max_size=2), st.just("x"))},
        optional={"title": _VALUES, "media_list_data": st.just([])},
    ),
    st.integers(0, 1),
)


def test_a_plain_export_takes_the_typed_path() -> None:
    from breakup.sources.instagram import _typed_entries

    entry = {"title": "", "string_list_data": [{"value": "Ana.B", "timestamp": 1700000000}]}
    for doc, key in (
        ([entry], "relationships_followers"),
        ({"relationships_followers": [entry]}, "relationships_followers"),
        ({"relationships_following": [entry]}, "relationships_following"),
    ):
        fast = _typed_entries(json.dumps(doc).encode(), key)
        assert fast is not None and fast[0][0].external_id == "ana.b"


@settings(max_examples=300, deadline=None)
@given(
    entries=st.lists(_ENTRY, max_size=4),
    wrap=st.sampled_from([None, "relationships_followers", "relationships_following"]),
)
def test_typed_entries_are_the_checked_entries(entries: list[Any], wrap: str | None) -> None:
    from breakup.sources.instagram import _entries, _typed_entries

    doc: Any = entries if wrap is None else {wrap: entries}
    data = json.dumps(doc).encode()
    for key in ("relationships_followers", "relationships_following"):
        fast = _typed_entries(data, key)
        if fast is None:
            continue  # the checked path decides
        listed = doc if isinstance(doc, list) else doc[key]
        assert key == "relationships_followers" or isinstance(doc, dict)
        assert fast == _entries(listed, Path("x"), "f.json")


def test_the_import_command_takes_since_for_instagram_only(tmp_path: Path) -> None:
    """`breakup import instagram --since DATE` as a user runs it; another kind refuses it
    in one line and creates nothing."""
    import subprocess
    import sys

    def breakup(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "breakup", "--db", str(tmp_path / "s.duckdb"), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )

    wrong = breakup("import", "csv", "--since", "2024-05-01", str(tmp_path))
    assert wrong.returncode != 0
    assert wrong.stderr.strip() == (
        "error: --since: csv exports are not limited to a date range"
    ), wrong.stderr
    assert not (tmp_path / "s.duckdb").exists()
    assert breakup("import", "instagram", "--json", str(full_export(tmp_path))).returncode == 0
    done = breakup(
        "import", "instagram", "--json", "--since", "2024-05-01", str(custom_export(tmp_path))
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    result = result[0] if isinstance(result, list) else result
    assert result["closed"] == len(LEFT)
    assert any("(--since)" in n for n in result["notes"])
