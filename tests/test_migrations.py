"""Schema migrations inside one program: threads that open databases at the same time
(the dashboard's History and today panels' first reads, a session starting) each get an
up-to-date schema; Alembic's module-level context is not theirs to share at once."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import inspect

from cafe_monitor import storage


def test_threads_opening_databases_at_once_all_get_the_schema(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / f'db{i % 3}.sqlite'}" for i in range(6)]  # each file opened twice
    start, errors, engines = threading.Barrier(len(urls)), [], {}

    def open_one(i: int) -> None:
        start.wait()
        try:
            engines[i] = storage.open_database(urls[i])
        except Exception as exc:  # what a loader thread would show the user
            errors.append(repr(exc))

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    for engine in engines.values():
        assert {"sessions", "visits", "timeline"} <= set(inspect(engine).get_table_names())
