"""The dashboard stays responsive while the store changes under it: a changed store is
copied in the background while requests read the previous copy; a report for the new copy
is built in the background while requests get the previous one at once; the index and the
JSON report are rendered once per report, not per request; requests share one connection
per copy. (The load itself is measured by benchmarks/bench_load.py, see
docs/reliability.md.)"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import breakup.web.app as web_app
from breakup.store import Store
from breakup.web import StoreReader, create_app

from .reportkit import CLOCK, kit_store
from .webkit import LOCAL


def _add_account(db: Path, name: str) -> None:
    with Store(db, clock=CLOCK) as store, store.transaction():
        store.ensure_account(name, "csv")


def test_a_new_copys_report_is_built_while_the_previous_one_is_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = kit_store(tmp_path)
    real = web_app.build_report
    gate = threading.Event()
    builds: list[Path] = []

    def gated(store: Store, *args: Any, **kwargs: Any) -> Any:
        builds.append(store.path)
        if len(builds) > 1:
            assert gate.wait(timeout=60)  # the second build waits until the test says
        return real(store, *args, **kwargs)

    monkeypatch.setattr(web_app, "build_report", gated)
    reader = StoreReader(db, clock=CLOCK, max_age=0.0)
    try:
        with TestClient(
            create_app(db, clock=CLOCK, reader=reader, analyses=False), base_url=LOCAL
        ) as c:
            assert "late-account" not in c.get("/api/report").text
            _add_account(db, "late-account")
            began = time.monotonic()
            stale = c.get("/api/report")  # the new copy's report is still being built
            assert time.monotonic() - began < 10 and stale.status_code == 200
            assert "late-account" not in stale.text
            deadline = time.monotonic() + 60
            while len(builds) < 2:  # the background build has begun (and waits at the gate)
                assert time.monotonic() < deadline, "no background build"
                time.sleep(0.01)
            gate.set()
            deadline = time.monotonic() + 60
            while "late-account" not in c.get("/api/report").text:
                assert time.monotonic() < deadline, "the new report never arrived"
                time.sleep(0.05)
            assert len(builds) == 2  # built once, in the background
    finally:
        gate.set()
        reader.close()


def test_the_index_and_json_report_are_rendered_once_per_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = kit_store(tmp_path)
    calls: list[int] = []
    real = web_app.report_context

    def counted(report: Any) -> Any:
        calls.append(1)
        return real(report)

    monkeypatch.setattr(web_app, "report_context", counted)
    with TestClient(create_app(db, clock=CLOCK, analyses=False), base_url=LOCAL) as c:
        pages = [c.get("/") for _ in range(5)]
        apis = [c.get("/api/report") for _ in range(5)]
        other = c.get("/", params={"channel": "bsky"})
    assert len({p.text for p in pages}) == 1 and all(p.status_code == 200 for p in pages)
    assert len({a.content for a in apis}) == 1 and apis[0].json()["status"]
    assert other.status_code == 200 and other.text != pages[0].text
    assert len(calls) == 2  # once for the whole store, once for the bsky filter


def test_a_changed_store_is_copied_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = kit_store(tmp_path)
    reader = StoreReader(db, clock=CLOCK, max_age=0.0, background=True)
    try:
        first = reader.snapshot()
        with reader.store() as store:
            assert store.path == first
        gate = threading.Event()
        real_copy = shutil.copyfile

        def slow_copy(src: Any, dst: Any) -> Any:
            assert gate.wait(timeout=60)
            return real_copy(src, dst)

        monkeypatch.setattr("breakup.web.reader.shutil.copyfile", slow_copy)
        _add_account(db, "late-account")
        began = time.monotonic()
        with reader.store() as store:  # answered from the previous copy, at once
            assert store.path == first
            assert "late-account" not in [a.name for a in store.accounts()]
        assert time.monotonic() - began < 5
        gate.set()
        deadline = time.monotonic() + 60
        while reader.snapshot() == first:
            assert time.monotonic() < deadline, "the background copy never finished"
            time.sleep(0.05)
        with reader.store() as store:
            assert "late-account" in [a.name for a in store.accounts()]
    finally:
        gate.set()
        reader.close()


def test_requests_share_one_connection_per_copy(tmp_path: Path) -> None:
    db = kit_store(tmp_path)
    reader = StoreReader(db, clock=CLOCK)
    try:
        with reader.store() as a, reader.store() as b:
            assert a.con is not b.con and a.accounts() == b.accounts()
        assert len(reader._conns) == 1
    finally:
        reader.close()


def test_a_report_is_rebuilt_at_most_every_interval_while_the_store_keeps_changing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = kit_store(tmp_path)
    real = web_app.build_report
    builds: list[Path] = []

    def counted(store: Store, *args: Any, **kwargs: Any) -> Any:
        builds.append(store.path)
        return real(store, *args, **kwargs)

    monkeypatch.setattr(web_app, "build_report", counted)
    reader = StoreReader(db, clock=CLOCK, max_age=0.0)
    app = create_app(db, clock=CLOCK, reader=reader, analyses=False, rebuild_every=3600)
    try:
        with TestClient(app, base_url=LOCAL) as c:
            c.get("/api/report")  # the first report: built while the request waits
            _add_account(db, "second")
            c.get("/api/report")  # starts one background build for the changed store
            deadline = time.monotonic() + 60
            while "second" not in c.get("/api/report").text:
                assert time.monotonic() < deadline, "the rebuilt report never arrived"
                time.sleep(0.05)
            _add_account(db, "third")
            for _ in range(5):  # changed again, within the hour: the last report answers
                assert "third" not in c.get("/api/report").text
        assert len(builds) == 2
    finally:
        reader.close()


def test_rebuilds_can_run_in_a_worker_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``breakup serve`` does: the background rebuild runs in a spawned worker, so
    the analyses never hold the server's GIL against its requests."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    db = kit_store(tmp_path)
    here: list[Path] = []
    real = web_app.build_report

    def counted(store: Store, *args: Any, **kwargs: Any) -> Any:
        here.append(store.path)
        return real(store, *args, **kwargs)

    monkeypatch.setattr(web_app, "build_report", counted)
    workers = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    reader = StoreReader(db, clock=CLOCK, max_age=0.0)
    app = create_app(db, clock=CLOCK, reader=reader, analyses=False, workers=workers)
    try:
        with TestClient(app, base_url=LOCAL) as c:
            c.get("/api/report")  # the first one: in this process, while the request waits
            _add_account(db, "from-the-worker")
            deadline = time.monotonic() + 120
            while "from-the-worker" not in c.get("/api/report").text:
                assert time.monotonic() < deadline, "the worker's report never arrived"
                time.sleep(0.1)
        assert len(here) == 1  # the rebuild did not run here
    finally:
        reader.close()
        workers.shutdown(cancel_futures=True)
