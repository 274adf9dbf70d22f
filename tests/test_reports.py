"""Reports in the café's time: a day report is the site's business day (a late night
included, other sites excluded), its CSV/JSON/PDF name the zone and give local times."""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from cafe_monitor import reports, storage
from cafe_monitor.localtime import CafeClock
from cafe_monitor.scoring import ScoreConfig
from cafe_monitor.storage.queries import Counter
from tests.conftest import need_tool
from tests.test_queries import add_session, utc

CFG = ScoreConfig()
LA = CafeClock.of("America/Los_Angeles", "04:00")


@pytest.fixture
def engine(db_url: str) -> storage.Engine:
    engine = storage.open_database(db_url)
    # Saturday 31 Oct 2026 in Los Angeles (UTC-7 until 2 a.m. on 1 Nov, then UTC-8): 25 hours
    add_session(engine, utc(2026, 10, 31, 16), [(utc(2026, 10, 31, 17), "happy"),  # 10:00 PDT
                                                 (utc(2026, 11, 1, 8, 30), "sad"),  # 01:30 PDT, after midnight
                                                 (utc(2026, 11, 1, 9, 30), "happy"),  # 01:30 PST, the repeated hour
                                                 (utc(2026, 11, 1, 12, 30), "happy")], site="venice")  # 04:30: Sunday
    add_session(engine, utc(2026, 10, 31, 16), [(utc(2026, 10, 31, 18), "angry")], site="pasadena")
    return engine


def test_day_report_is_the_sites_business_day(engine: storage.Engine, tmp_path: Path) -> None:
    data = reports.day_report(engine, "2026-10-31", CFG, LA, Counter(site="venice"))
    assert data.score.visits == 3 and len(data.sessions) == 1  # Sunday 04:30 and the other site left out
    assert data.zone == "America/Los_Angeles" and "America/Los_Angeles" in data.subtitle
    assert data.start == dt.datetime(2026, 10, 31, 4, tzinfo=LA.tz)
    assert data.end.astimezone(dt.timezone.utc) - data.start.astimezone(dt.timezone.utc) == dt.timedelta(hours=25)
    assert [v.first_seen.hour for v in data.visits] == [10, 1, 1]  # local wall clock
    hours = reports.visits_per_hour(data)
    assert hours[0] == ("10", 1) and [n for label, n in hours if label == "01"] == [1, 1]
    assert reports.day_report(engine, "2026-10-31", CFG, LA).score.visits == 4  # every site
    assert data.slug == "day-2026-10-31-venice"

    written = reports.write(data, ["csv", "json", "pdf"], tmp_path)
    rows = list(csv.DictReader((tmp_path / "day-2026-10-31-venice-visits.csv").open()))
    assert [r["first_seen_local"] for r in rows] == ["2026-10-31 10:00:00", "2026-11-01 01:30:00",
                                                     "2026-11-01 01:30:00"]
    assert {r["business_day"] for r in rows} == {"2026-10-31"} and {r["time_zone"] for r in rows} == {LA.name}
    assert rows[1]["first_seen_utc"] == "2026-11-01T08:30:00+00:00"
    doc = json.loads((tmp_path / "day-2026-10-31-venice.json").read_text())
    assert doc["time_zone"] == LA.name and doc["business_day"] == "2026-10-31"
    assert doc["visits"][2]["first_seen"] == "2026-11-01T01:30:00-08:00"
    pdf = next(p for p in written if p.suffix == ".pdf")
    pdftotext = need_tool("pdftotext", "poppler-utils")
    text = subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Visits per hour (America/Los_Angeles)" in text and "local (America/Los_Angeles)" in text
    assert "Visits (3)" in text and "shown" not in text  # all three listed: no "first 3 shown"


def test_reports_use_the_sites_recorded_zone(db_url: str) -> None:
    engine = storage.open_database(db_url)
    add_session(engine, utc(2026, 7, 1, 15), [(utc(2026, 7, 1, 19, 30), "happy")], site="venice",
                zone="America/Los_Angeles")
    utc_clock = CafeClock.of("UTC", "04:00")  # the machine writing the report
    day = reports.day_report(engine, "2026-07-01", CFG, utc_clock, Counter(site="venice"))
    assert day.zone == "America/Los_Angeles" and day.visits[0].first_seen.hour == 12
    session = reports.session_report(engine, "last", CFG, utc_clock)
    assert session.zone == "America/Los_Angeles" and "America/Los_Angeles" in session.subtitle


def test_session_report_last_of_a_site(engine: storage.Engine) -> None:
    data = reports.session_report(engine, "last", CFG, LA, Counter(site="pasadena"))
    assert data.score.visits == 1 and data.sessions[0]["site"] == "pasadena"
    assert data.sessions[0]["started_at"] == "2026-10-31T09:00:00-07:00"
    with pytest.raises(reports.ReportError, match="nowhere"):
        reports.session_report(engine, "last", CFG, LA, Counter(site="nowhere"))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_a_report_error_and_leaves_nothing(engine: storage.Engine, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Disk full while the PDF is written (benchmarks/faults.py, a tmpfs filled up): matplotlib
    hides the OSError behind a zlib.error as it closes the file, which the daily-report thread
    logged as a bug with a traceback. It is the folder's error ("no space left"), the part file
    is removed and no figure is left open."""
    import matplotlib.pyplot as plt

    part = tmp_path / "day.pdf.part"
    part.symlink_to("/dev/full")  # every write: ENOSPC (the link is removed, never the device)
    monkeypatch.setattr(reports, "_atomic", lambda path: part)
    data = reports.day_report(engine, "2026-10-31", CFG, LA, Counter(site="venice"))
    figures = len(plt.get_fignums())
    with pytest.raises(reports.ReportError, match="No space left"):
        reports.write(data, ["pdf"], tmp_path)
    assert not part.is_symlink() and not list(tmp_path.glob("*.pdf"))
    assert len(plt.get_fignums()) == figures
