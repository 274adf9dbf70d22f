"""Chains of shops on one database: retention per site, migrations one at a time, a
database that hangs ends in an error and a rescue file (issue 15, item 5)."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cafe_monitor import storage
from cafe_monitor.config import ConfigError, parse
from cafe_monitor.localtime import UTC_CLOCK
from cafe_monitor.storage import database
from cafe_monitor.tracking import Visit
from tests.test_storage import recorded_session, visit, wait_for

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def shop(engine: storage.Engine, site: str, days_ago: float) -> int:
    """A session of `site` `days_ago` days back with one visit and one timeline second."""
    return recorded_session(engine, site, NOW - dt.timedelta(days=days_ago), dt.timedelta(hours=1))


def counts(engine: storage.Engine, sid: int) -> tuple[bool, int, int]:
    return (storage.get_session(engine, sid) is not None, len(storage.session_visits(engine, sid)),
            len(storage.session_timeline(engine, sid)))


def test_pruning_is_per_site_with_that_sites_retention(any_db_url: str) -> None:
    engine = storage.open_database(any_db_url)
    north_old, south_old = shop(engine, "north", 40), shop(engine, "south", 40)
    north_ancient, north_new = shop(engine, "north", 400), shop(engine, "north", 1)
    # north keeps 30 days of seconds and a year of visits; south's own counter prunes south
    removed = storage.prune(engine, "north", timeline_days=30, visit_days=365, clock=UTC_CLOCK, now=NOW)
    assert (removed.sessions, removed.visits, removed.seconds) == (1, 1, 2)
    assert counts(engine, north_old) == (True, 1, 0)
    assert counts(engine, north_ancient) == (False, 0, 0)
    assert counts(engine, north_new) == (True, 1, 1)
    assert counts(engine, south_old) == (True, 1, 1)  # another site's data: untouched
    storage.prune(engine, "south", timeline_days=60, clock=UTC_CLOCK, now=NOW)  # south keeps 60 days
    assert counts(engine, south_old) == (True, 1, 1)
    storage.prune(engine, "south", timeline_days=7, clock=UTC_CLOCK, now=NOW)  # visits are kept by default
    assert counts(engine, south_old) == (True, 1, 0)


def test_visit_retention_setting() -> None:
    assert parse({}).privacy.visit_retention_days == 0  # default: keep visits
    assert parse({"privacy": {"visit_retention_days": 365}}).privacy.visit_retention_days == 365
    with pytest.raises(ConfigError, match="visit_retention_days"):
        parse({"privacy": {"visit_retention_days": -1}})


@pytest.mark.postgres
def test_migrations_wait_for_the_advisory_lock(pg_url: str) -> None:
    from cafe_monitor.migrations import MIGRATION_LOCK

    holder = create_engine(pg_url)
    conn = holder.connect()
    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})  # another counter is migrating
    done = threading.Event()
    errors: list[BaseException] = []

    def start() -> None:
        try:
            storage.open_database(pg_url).dispose()
        except BaseException as exc:  # reported below
            errors.append(exc)
        done.set()

    threading.Thread(target=start, daemon=True).start()
    try:
        assert not done.wait(1.5), "migrated without the lock"
        with holder.connect() as c:  # it waited before touching the schema
            assert "sessions" not in {r[0] for r in c.execute(text("SELECT tablename FROM pg_tables "
                                                                   "WHERE schemaname = 'public'"))}
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
        conn.close()
        holder.dispose()
    assert done.wait(30) and not errors, errors


@pytest.mark.postgres
def test_two_counters_starting_together_both_start(pg_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def start() -> None:
        barrier.wait()
        try:
            storage.open_database(pg_url).dispose()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    engine = create_engine(pg_url)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


def test_a_database_that_never_answers_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that accepts the connection and then says nothing (a hung network)."""
    monkeypatch.setattr(database, "CONNECT_TIMEOUT_S", 2)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    started = time.monotonic()
    try:
        with pytest.raises(storage.StorageError, match=r"cannot open database postgresql\+psycopg://cafe:\*\*\*@"):
            storage.open_database(f"postgresql+psycopg://cafe:pw@127.0.0.1:{port}/cafe")
    finally:
        silent.close()
    assert time.monotonic() - started < 15


@pytest.mark.postgres
def test_a_hung_statement_ends_and_rows_go_to_the_rescue_file(pg_url: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """statement_timeout is PostgreSQL's; SQLite's busy timeout is tested in test_storage."""
    monkeypatch.setattr(database, "STATEMENT_TIMEOUT_S", 1)
    engine = storage.open_database(pg_url)
    sid = storage.start_session(engine, source="0", site="north", camera="counter", model_name="m",
                                model_sha256="0" * 64, provider="CPU", settings={})
    w = storage.SessionWriter(engine, sid, origin=0.0, flush_seconds=0.05, rescue_dir=tmp_path)
    w.start()
    blocker = create_engine(pg_url).connect()
    blocker.execute(text("LOCK TABLE visits IN ACCESS EXCLUSIVE MODE"))  # someone's endless transaction
    try:
        w.add_visit(Visit(1, 0.0, 3.0, 30, visit(3).distribution, 30.0))
        deadline = time.monotonic() + 15
        while w.rescue_file is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert w.rescue_file is not None and '"visit"' in w.rescue_file.read_text()
        assert w.last_error is not None and "timeout" in w.last_error
    finally:
        blocker.rollback()
        blocker.close()
    w.close()
    assert [v.visit_no for v in storage.session_visits(engine, sid)] == [1]  # stored once it was free


@pytest.mark.postgres
def test_connections_killed_by_the_server_lose_no_row(pg_url: str, tmp_path: Path) -> None:
    """The server ends every connection of ours mid-session (a restart, a failover, an admin's
    pg_terminate_backend): the writer reconnects and every row is stored, none twice."""
    engine = storage.open_database(pg_url)
    sid = storage.start_session(engine, source="0", site="north", camera="counter", model_name="m",
                                model_sha256="0" * 64, provider="CPU", settings={})
    w = storage.SessionWriter(engine, sid, origin=0.0, flush_seconds=0.05, rescue_dir=tmp_path)
    w.start()
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT").connect()
    try:
        w.add_visit(Visit(1, 0.0, 3.0, 30, visit(3).distribution, 30.0))
        wait_for(lambda: len(storage.session_visits(engine, sid)) == 1, 20)
        killed = admin.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        assert killed and killed >= 1  # the writer's pooled connection at least
        w.add_visit(Visit(2, 4.0, 7.0, 30, visit(3).distribution, 30.0))
        w.add_visit(Visit(1, 0.0, 3.5, 35, visit(3).distribution, 35.0))  # the first visit, grown
        wait_for(lambda: [(v.visit_no, v.frames) for v in storage.session_visits(engine, sid)] == [(1, 35), (2, 30)],
                 20)
    finally:
        admin.close()
    w.close()
    assert [(v.visit_no, v.frames) for v in storage.session_visits(engine, sid)] == [(1, 35), (2, 30)]
    assert storage.get_session(engine, sid).status == "ended"
    assert w.rescue_file is None or not w.rescue_file.exists()  # nothing left over for `import`



class Cable:
    """A TCP proxy to the test server that can be cut (every connection dropped, new ones
    refused: the shop's network down) and mended on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, 0
        self.links: list[socket.socket] = []
        self._listen()

    def _listen(self) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", self.port))
        self.port = self.server.getsockname()[1]
        self.server.listen(16)
        threading.Thread(target=self._accept, args=(self.server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:  # cut
                return
            upstream = socket.create_connection(self.target)
            self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            s.close()

    def cut(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accepting thread (close alone would not)
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        for s in self.links:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.links = []

    def mend(self) -> None:
        self._listen()


@pytest.mark.postgres
def test_a_network_outage_to_postgresql_loses_no_row(pg_url: str, tmp_path: Path) -> None:
    """The network to the chain's server goes down mid-session (connections dropped, new ones
    refused) and comes back: rows of the outage go to the rescue file as they queue, then into
    the database once it answers; the file goes; every row stored once."""
    from sqlalchemy.engine import make_url

    real = make_url(pg_url)
    cable = Cable((real.host or "127.0.0.1", real.port or 5432))
    url = real.set(port=cable.port).render_as_string(hide_password=False)
    engine = storage.open_database(url)
    sid = storage.start_session(engine, source="0", site="north", camera="counter", model_name="m",
                                model_sha256="0" * 64, provider="CPU", settings={})
    w = storage.SessionWriter(engine, sid, origin=0.0, flush_seconds=0.05, rescue_dir=tmp_path)
    w.start()
    try:
        w.add_visit(Visit(1, 0.0, 3.0, 30, visit(3).distribution, 30.0))
        wait_for(lambda: w.last_error is None and len(storage.session_visits(engine, sid)) == 1, 20)
        cable.cut()
        w.add_visit(Visit(2, 4.0, 7.0, 30, visit(3).distribution, 30.0))
        wait_for(lambda: w.rescue_file is not None and '"visit_no": 2' in w.rescue_file.read_text(), 20)
        rescue_file = w.rescue_file
        assert w.last_error is not None
        cable.mend()
        w.add_visit(Visit(3, 8.0, 11.0, 30, visit(3).distribution, 30.0))
        wait_for(lambda: w.last_error is None and w.rescue_file is None, 30)
    finally:
        w.close()
        cable.cut()
    direct = storage.open_database(pg_url)
    assert [v.visit_no for v in storage.session_visits(direct, sid)] == [1, 2, 3]
    assert storage.get_session(direct, sid).status == "ended"
    assert rescue_file is not None and not rescue_file.exists()
