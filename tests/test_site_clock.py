"""One clock per site for every day-based command (issue 23, point 2): from a London
machine, `delete --day` for a Los Angeles site removes that site's business day, as
`report --day` counts it, and retention cuts at the site's business-day start."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from cafe_monitor import storage
from cafe_monitor.localtime import CafeClock
from cafe_monitor.site_clock import site_clock
from tests.test_storage import visit
from tests.test_storage_delete import delete

UTC = dt.timezone.utc
# 10:00 UTC on 28 Nov is 02:00 in Los Angeles: still LA's business day of 27 Nov (London's 28th)
LA_NIGHT_BEFORE = dt.datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
# 06:00 UTC on 29 Nov is 22:00 on 28 Nov in Los Angeles: LA's 28th (London's 29th)
LA_EVENING = dt.datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def zoned_session(engine: storage.Engine, site: str, zone: str, at: dt.datetime) -> int:
    """A finished session of `site` recorded in `zone`, one visit and one second at `at`."""
    sid = storage.start_session(engine, source="0", site=site, camera="counter", model_name="m",
                                model_sha256="0" * 64, provider="CPU", started_at=at,
                                settings={"storage": {"time_zone": zone, "business_day_start": "04:00"}})
    w = storage.SessionWriter(engine, sid, origin=at.timestamp(), flush_seconds=0.05)
    w.start()
    w.add_visit(visit(1))
    w.add_bucket(storage.TimelineBucket(at, 25, 25, (0.0,) * 7))
    w.close("ended", at + dt.timedelta(minutes=10))
    return sid


@pytest.fixture
def london_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "settings.toml"
    cfg.write_text('[storage]\ntime_zone = "Europe/London"\nsite = "soho"\n')
    return cfg


def test_delete_a_day_of_another_site_uses_that_sites_zone(db_url: str, london_config: Path, tmp_path: Path) -> None:
    engine = storage.open_database(db_url)
    before, evening = (zoned_session(engine, "la", "America/Los_Angeles", t) for t in (LA_NIGHT_BEFORE, LA_EVENING))
    from tests.test_cli import cli

    p = cli("--config", str(london_config), "report", "--day", "2026-11-28", "--site", "la", "--format", "json",
            "--out", str(tmp_path), "--db", db_url)
    assert p.returncode == 0, p.stderr
    report = json.loads(Path(p.stdout.split()[0]).read_text())
    assert [s["id"] for s in report["sessions"]] == [evening]
    p = delete("--day", "2026-11-28", "--site", "la", "--db", db_url, "--yes", config=london_config)
    assert p.returncode == 0, p.stderr
    assert "(America/Los_Angeles)" in p.stdout
    assert storage.get_session(engine, evening) is None  # LA's 28th: gone
    assert storage.get_session(engine, before) is not None  # LA's 27th: kept


def test_delete_a_day_of_every_site_reads_each_in_its_own_zone(db_url: str, london_config: Path) -> None:
    engine = storage.open_database(db_url)
    la = zoned_session(engine, "la", "America/Los_Angeles", LA_EVENING)  # LA's 28th, London's 29th
    ldn = zoned_session(engine, "soho", "Europe/London", LA_NIGHT_BEFORE)  # London's 28th
    ldn_next = zoned_session(engine, "soho", "Europe/London", LA_EVENING)  # London's 29th
    p = delete("--day", "2026-11-28", "--db", db_url, "--yes", config=london_config)
    assert p.returncode == 0, p.stderr
    assert storage.get_session(engine, la) is None and storage.get_session(engine, ldn) is None
    assert storage.get_session(engine, ldn_next) is not None


def test_site_clock_is_the_sites_recorded_zone_else_this_machines(db_url: str) -> None:
    engine = storage.open_database(db_url)
    zoned_session(engine, "la", "America/Los_Angeles", LA_EVENING)
    own = CafeClock.of("Europe/London", "05:00")
    assert site_clock(engine, "la", own).name == "America/Los_Angeles"
    assert site_clock(engine, "elsewhere", own) == own


def test_retention_cuts_at_the_sites_business_day_start(db_url: str) -> None:
    """Per-second rows go by whole business days of the site, never half a day."""
    engine = storage.open_database(db_url)
    clock = CafeClock.of("America/Los_Angeles", "04:00")
    sid = zoned_session(engine, "la", "America/Los_Angeles", LA_EVENING)
    # keep 1 day: LA's 28th ends 29 Nov 04:00 LA (12:00 UTC); on LA's 30th, 11:00 LA, the 29th is kept, the 28th goes
    now = dt.datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
    storage.prune(engine, "la", timeline_days=1, clock=clock, now=now)
    assert storage.session_timeline(engine, sid) == []
    sid2 = zoned_session(engine, "la", "America/Los_Angeles", dt.datetime(2026, 11, 29, 13, 0, tzinfo=UTC))  # LA 29th
    storage.prune(engine, "la", timeline_days=1, clock=clock, now=now)
    assert len(storage.session_timeline(engine, sid2)) == 1  # 30 h old, but of a day still kept
