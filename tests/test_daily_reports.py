"""Day reports written by themselves: which days are due (a fake clock across a business-day
boundary and daylight saving), a missed day written at the next start, today never, a
written day never again."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from cafe_monitor import daily_reports, storage
from cafe_monitor.config import PrivacySettings, ReportSettings, Settings, StorageSettings
from cafe_monitor.daily_reports import DailyReporter, DailyReportThread, due_days, next_check_in, next_day_end
from cafe_monitor.domain import CLASSES
from cafe_monitor.localtime import CafeClock
from cafe_monitor.storage.queries import Counter
from tests.test_queries import add_session, utc

D = dt.date
LONDON = CafeClock.of("Europe/London", "04:00")
NO_GRACE = dt.timedelta(0)


def test_a_day_is_due_once_its_business_day_is_over() -> None:
    data = [D(2026, 11, 26), D(2026, 11, 27)]
    # Friday 27 Nov ends at 04:00 on Saturday (GMT = UTC in November)
    assert due_days(utc(2026, 11, 28, 3, 59), LONDON, data, [], NO_GRACE) == [D(2026, 11, 26)]
    assert due_days(utc(2026, 11, 28, 4, 0), LONDON, data, [], NO_GRACE) == [D(2026, 11, 26), D(2026, 11, 27)]
    assert due_days(utc(2026, 11, 28, 4, 2), LONDON, data, []) == [D(2026, 11, 26)]  # 5 min grace
    assert due_days(utc(2026, 11, 28, 4, 5), LONDON, data, [D(2026, 11, 26)]) == [D(2026, 11, 27)]  # written
    assert due_days(utc(2026, 11, 28, 4, 5), LONDON, [], []) == []  # no data, no report
    assert next_day_end(utc(2026, 11, 28, 3, 0), LONDON) == utc(2026, 11, 28, 4, 5)  # the thread's next wake-up
    assert next_day_end(utc(2026, 11, 28, 4, 2), LONDON) == utc(2026, 11, 28, 4, 5)  # woke early: not a day late
    assert next_day_end(utc(2026, 11, 28, 4, 5), LONDON) == utc(2026, 11, 29, 4, 5)


def test_a_failed_check_is_retried_within_minutes_then_less_often() -> None:
    """A full disk freed at 10:00 gets its report at about 10:01, not at the next hourly check
    (benchmarks/faults.py: the report waited for a restart)."""
    now = utc(2026, 11, 28, 10, 0)  # the day ends at 04:05 tomorrow: hourly checks till then
    minutes = [next_check_in(now, LONDON, failures) / dt.timedelta(minutes=1) for failures in range(9)]
    assert minutes == [60, 1, 2, 4, 8, 16, 32, 60, 60]
    # never past the day's end, failing or not
    assert next_check_in(utc(2026, 11, 28, 4, 4, 30), LONDON, 3) == dt.timedelta(seconds=30)


def test_the_25_hour_autumn_day_ends_an_hour_later() -> None:
    la = CafeClock.of("America/Los_Angeles", "04:00")
    day = D(2026, 10, 31)  # clocks go back at 2 a.m. on Sunday 1 Nov: 04:00 PST = 12:00 UTC
    assert due_days(utc(2026, 11, 1, 11, 30), la, [day], [], NO_GRACE) == []  # 03:30 PST, 24.5 h in
    assert due_days(utc(2026, 11, 1, 12, 0), la, [day], [], NO_GRACE) == [day]
    assert next_day_end(utc(2026, 11, 1, 11, 30), la, NO_GRACE) == utc(2026, 11, 1, 12)


def test_the_23_hour_spring_day_and_a_start_inside_the_skipped_hour() -> None:
    late = CafeClock.of("Europe/London", "01:30")  # 01:30 does not exist on Sunday 29 March 2026
    day = D(2026, 3, 28)
    # the day ends when the clocks jump from 01:00 GMT to 02:00 BST, past 01:30 (issue 23, point 7)
    assert due_days(utc(2026, 3, 29, 0, 59), late, [day], [], NO_GRACE) == []
    assert due_days(utc(2026, 3, 29, 1, 0), late, [day], [], NO_GRACE) == [day]  # 02:00 BST
    spring = CafeClock.of("Europe/Berlin", "04:00")  # 29 March: 04:00 CEST = 02:00 UTC, 23 h after 03:00 UTC
    assert due_days(utc(2026, 3, 30, 1, 59), spring, [D(2026, 3, 29)], [], NO_GRACE) == []
    assert due_days(utc(2026, 3, 29, 2, 0), spring, [D(2026, 3, 28)], [], NO_GRACE) == [D(2026, 3, 28)]


@pytest.fixture
def engine(db_url: str) -> storage.Engine:
    """Sessions on Mon 23 (reported), Tue 24 and Wed 25 Nov (both missed: the program was
    off at their ends) and today, Thu 26 (still running), in London."""
    engine = storage.open_database(db_url)
    for day, emotion in ((23, "happy"), (24, "sad"), (25, "happy"), (26, "happy")):
        add_session(engine, utc(2026, 11, day, 9), [(utc(2026, 11, day, 10), emotion)], site="soho",
                    zone="Europe/London")
    # a late customer after midnight on Tuesday night belongs to Tuesday's business day
    add_session(engine, utc(2026, 11, 25, 1), [(utc(2026, 11, 25, 1, 30), "angry")], site="soho",
                zone="Europe/London")
    add_session(engine, utc(2026, 11, 22, 9), [(utc(2026, 11, 22, 10), "happy")], site="other")
    return engine


def settings(folder: Path) -> Settings:
    return Settings(storage=StorageSettings(site="soho", time_zone="Europe/London"),
                    reports=ReportSettings(folder=str(folder)))


def test_missed_days_are_written_at_the_next_start_and_today_is_not(engine: storage.Engine, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / daily_reports.LEDGER).write_text("soho\t2026-11-23\n")  # written on Monday night
    reporter = DailyReporter(engine, settings(folder))
    written = reporter.run_due(utc(2026, 11, 26, 15))  # Thursday afternoon
    assert sorted(p.name for p in written) == [
        "day-2026-11-24-soho-timeline.csv", "day-2026-11-24-soho-visits.csv", "day-2026-11-24-soho.pdf",
        "day-2026-11-25-soho-timeline.csv", "day-2026-11-25-soho-visits.csv", "day-2026-11-25-soho.pdf"]
    assert all(p.stat().st_size > 0 for p in written)
    tuesday = list(csv.DictReader((folder / "day-2026-11-24-soho-visits.csv").open()))
    assert [(r["first_seen_local"], r["business_day"], r["p_sad"], r["p_angry"]) for r in tuesday] == [
        ("2026-11-24 10:00:00", "2026-11-24", "1.0", "0.0"),
        ("2026-11-25 01:30:00", "2026-11-24", "0.0", "1.0")]  # after midnight: still Tuesday
    assert not list(folder.glob("day-2026-11-26*")) and not list(folder.glob("day-2026-11-23*"))
    assert not list(folder.glob("*other*"))  # another site's day is its own machine's job
    assert reporter.run_due(utc(2026, 11, 26, 23)) == []  # nothing is written twice
    assert reporter.written() == {D(2026, 11, 23), D(2026, 11, 24), D(2026, 11, 25)}
    later = reporter.run_due(utc(2026, 11, 27, 4, 10))  # Thursday is over
    assert sorted(p.name for p in later)[2] == "day-2026-11-26-soho.pdf"


def test_a_day_written_by_hand_is_not_written_again(engine: storage.Engine, tmp_path: Path) -> None:
    (tmp_path / "day-2026-11-24-soho.pdf").write_bytes(b"%PDF by hand")
    reporter = DailyReporter(engine, settings(tmp_path))
    reporter.run_due(utc(2026, 11, 24, 12))
    assert D(2026, 11, 24) in reporter.written()
    assert [p.name for p in reporter.run_due(utc(2026, 11, 25, 5)) if p.suffix == ".pdf"] == []
    assert (tmp_path / "day-2026-11-24-soho.pdf").read_bytes() == b"%PDF by hand"


def wait_for_first_check(thread: DailyReportThread, seconds: float) -> None:
    deadline = dt.datetime.now() + dt.timedelta(seconds=seconds)
    while thread.checks == 0 and dt.datetime.now() < deadline:
        thread.join(0.1)


def test_the_thread_writes_a_missed_day_at_start_then_waits_for_the_day_end(
        engine: storage.Engine, tmp_path: Path) -> None:
    thread = DailyReportThread(DailyReporter(engine, settings(tmp_path)), now=lambda: utc(2026, 11, 25, 12))
    thread.start()
    try:
        wait_for_first_check(thread, 60)
        assert thread.checks == 1 and thread.last_error is None
        assert sorted(p.name for p in thread.written if p.suffix == ".pdf") == ["day-2026-11-23-soho.pdf",
                                                                              "day-2026-11-24-soho.pdf"]
        assert thread.is_alive()  # sleeping until Wednesday's end
    finally:
        thread.stop()
        thread.join(5)
    assert not thread.is_alive()


def test_an_unwritable_folder_is_retried_not_fatal(engine: storage.Engine, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    thread = DailyReportThread(DailyReporter(engine, settings(blocker / "reports")), now=lambda: utc(2026, 11, 25, 12))
    thread.start()
    try:
        wait_for_first_check(thread, 30)
        assert thread.last_error is not None and "report folder" in thread.last_error
    finally:
        thread.stop()
        thread.join(5)


def test_a_bug_in_a_check_is_logged_and_the_thread_goes_on(
        engine: storage.Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An unexpected error (not a database or folder problem) must not end the thread silently:
    every later day's report would never be written."""
    class Broken(DailyReporter):
        def run_due(self, now: dt.datetime | None = None, should_stop: object = None) -> list[Path]:
            raise KeyError("a bug")

    thread = DailyReportThread(Broken(engine, settings(tmp_path)), now=lambda: utc(2026, 11, 25, 12))
    thread.start()
    try:
        wait_for_first_check(thread, 30)
        assert thread.checks == 1 and thread.is_alive()  # sleeping until the next check
        assert thread.last_error is not None and "KeyError" in thread.last_error
        assert any("daily report check failed" in r.getMessage() and r.exc_info for r in caplog.records)
    finally:
        thread.stop()
    assert not thread.is_alive()  # stop() waits for the thread


def test_off_when_the_setting_says_so(engine: storage.Engine, tmp_path: Path) -> None:
    """`auto_daily = false`: no report is written (the thread still applies the retention)."""
    off = dataclasses.replace(settings(tmp_path), reports=ReportSettings(folder=str(tmp_path), auto_daily=False))
    assert DailyReporter(engine, off).check(utc(2026, 11, 26, 15)) == []
    assert list(tmp_path.glob("day-*")) == []


def test_a_written_day_is_rewritten_when_rows_are_imported_later(engine: storage.Engine, tmp_path: Path) -> None:
    """The database was down on Tuesday: its rows reach the database from a rescue file on
    Thursday. Tuesday's automatic report is written again with them, once; a day whose rows
    did not change is not."""
    reporter = DailyReporter(engine, settings(tmp_path))
    first = reporter.run_due(utc(2026, 11, 25, 12))
    assert "day-2026-11-24-soho.pdf" in [p.name for p in first]
    add_session(engine, utc(2026, 11, 24, 14), [(utc(2026, 11, 24, 14, 5), "happy"), (utc(2026, 11, 24, 15), "sad")],
                site="soho", zone="Europe/London")  # imported from the rescue file
    again = reporter.run_due(utc(2026, 11, 26, 12))
    assert sorted(p.name for p in again if p.suffix == ".pdf") == ["day-2026-11-24-soho.pdf", "day-2026-11-25-soho.pdf"]
    tuesday = list(csv.DictReader((tmp_path / "day-2026-11-24-soho-visits.csv").open()))
    assert len(tuesday) == 4  # the two visits of Tuesday, the late one after midnight and the imported two
    assert reporter.run_due(utc(2026, 11, 26, 13)) == []  # nothing changed since: not written again


def test_a_long_session_keeps_no_row_past_the_retention(db_url: str, tmp_path: Path) -> None:
    """A session started weeks ago and still recording: the day-end thread applies the
    retention while it runs (not only when a session starts)."""
    engine = storage.open_database(db_url)
    started = utc(2026, 10, 1, 9)
    session = storage.start_session(engine, source="0", site="soho", camera="counter", model_name="m",
                                    model_sha256="0", provider="CPU", settings={}, started_at=started)
    with storage.session_scope(engine) as s:
        for days in (0, 4, 40):  # per-second rows of 1 Oct, 5 Oct and 10 Nov
            s.add(storage.TimelineRow(session_id=session, at=started + dt.timedelta(days=days), frames=25, faces=0,
                                      **{f"p_{c}": 0.0 for c in CLASSES}))
        s.commit()
    keep_30_days = dataclasses.replace(settings(tmp_path), privacy=PrivacySettings(retention_days=30))
    now = utc(2026, 11, 12, 12)
    thread = DailyReportThread(lambda: DailyReporter(engine, keep_30_days), now=lambda: now)
    thread.start()
    try:
        wait_for_first_check(thread, 60)
    finally:
        thread.stop()
    assert thread.last_error is None
    left = [storage.as_utc(p.at) for p in storage.session_timeline(engine, session)]
    assert left == [started + dt.timedelta(days=40)]  # the two older than 30 days are gone
    row = storage.get_session(engine, session)
    assert row is not None and row.status == "running"  # the session itself goes on


def test_another_sites_camera_named_like_this_site_does_not_count_as_written(
        engine: storage.Engine, tmp_path: Path) -> None:
    """Site x's camera 'soho' wrote day-2026-11-24-x-soho.pdf: soho's own 24th is still due
    (issue 23, point 8); names are built and parsed exactly, never globbed."""
    from cafe_monitor.reports import day_report_stem

    (tmp_path / "day-2026-11-24-x-soho.pdf").write_bytes(b"%PDF site x, camera soho")
    (tmp_path / f"{day_report_stem(D(2026, 11, 25), Counter(camera='soho'))}.pdf").write_bytes(b"%PDF camera only")
    reporter = DailyReporter(engine, settings(tmp_path))
    assert reporter.written() == set()
    assert "day-2026-11-24-soho.pdf" in [p.name for p in reporter.run_due(utc(2026, 11, 26, 5))]


@pytest.mark.parametrize(("site", "camera"), [("soho", None), ("x", "soho"), ("x-soho", None), (None, "soho"),
                                              ("north shop/1", "till-2"), ("café", "~"), ("all", None)])
def test_day_report_names_are_exact_per_site_and_camera(site: str | None, camera: str | None) -> None:
    from cafe_monitor.reports import day_report_stem, parse_day_report_stem

    stem = day_report_stem(D(2026, 11, 24), Counter(site=site, camera=camera))
    assert "/" not in stem and " " not in stem
    assert parse_day_report_stem(stem) == (D(2026, 11, 24), Counter(site=site, camera=camera))
    others = {day_report_stem(D(2026, 11, 24), Counter(site=s, camera=c))
              for s, c in [("soho", None), ("x", "soho"), ("x-soho", None), (None, "soho"), ("x", None)]}
    assert sum(stem == o for o in others) <= 1
