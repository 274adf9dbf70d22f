"""The day report, written by itself: at the end of each business day the site's day report
(PDF + CSV, the same as `cafe-monitor report --day`) goes into the reports folder, and days
that ended while the program was not running are written at its next start.

Which days are due is one pure function (`due_days`) of the time now, the site's clock,
the days with data and the days already written, so it is tested across a day boundary and
daylight saving without waiting for either. A day is due once its business day has ended
(the site's zone and day start: a 23- or 25-hour day ends when its real hours are over)
plus a few minutes' grace, so a visit still open at the boundary has been checkpointed.

Already written days are listed in a small ledger in the reports folder
(`written-days.txt`, one `site<TAB>day` a line): a report the owner moved or deleted is
not written again. Only the last LOOKBACK_DAYS days are looked at, so installing on a
machine with a year of history does not write a year of PDFs (older days: `cafe-monitor
report --day`).

`DailyReportThread` runs the check at start and then sleeps until the next day's end; the
headless run and the dashboard both start one (so does an autostarted monitor).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from cafe_monitor import reports
from cafe_monitor.config import Settings
from cafe_monitor.localtime import UTC, CafeClock, as_utc
from cafe_monitor.owner_only import open_private
from cafe_monitor.paths import data_dir
from cafe_monitor.reports import parse_day_report_stem
from cafe_monitor.site_clock import site_clock
from cafe_monitor.storage import Engine, StorageError
from cafe_monitor.storage.queries import Counter, sessions_started, visits_started

log = logging.getLogger(__name__)

FORMATS = ("pdf", "csv")
LEDGER = "written-days.txt"
LOOKBACK_DAYS = 14
#: after a day's end, wait this long before writing it (open visits checkpointed, last rows committed)
GRACE = dt.timedelta(minutes=5)
#: the longest sleep between checks: a suspended or re-clocked machine catches up within this
RECHECK = dt.timedelta(hours=1)


def due_days(now: dt.datetime, clock: CafeClock, days_with_data: Iterable[dt.date],
             written: Iterable[dt.date], grace: dt.timedelta = GRACE) -> list[dt.date]:
    """The business days to write now: they have data, are not written yet, and have ended
    (their last real hour is over, plus `grace`). Today, still running, never is."""
    done, t = set(written), as_utc(now)
    return sorted(d for d in set(days_with_data) - done if clock.day_range(d)[1] + grace <= t)


def next_day_end(now: dt.datetime, clock: CafeClock, grace: dt.timedelta = GRACE) -> dt.datetime:
    """When the next report becomes due (UTC): yesterday's, if its grace is not over yet, else today's."""
    start, end = clock.day_range(clock.business_day(now))
    return start + grace if as_utc(now) < start + grace else end + grace


def reports_folder(settings: Settings) -> Path:
    """`[reports] folder`, or reports/ in the user data folder."""
    return Path(settings.reports.folder).expanduser() if settings.reports.folder else data_dir() / "reports"


def days_with_data(engine: Engine, clock: CafeClock, counter: Counter, first: dt.date, last: dt.date) -> set[dt.date]:
    """Business days from `first` to `last` with a visit or a session start at the counter."""
    start, end = clock.day_range(first)[0], clock.day_range(last)[1]
    days = {clock.business_day(v.first_seen) for v in visits_started(engine, start, end, counter)}
    return days | {clock.business_day(s.started_at) for s in sessions_started(engine, start, end, counter)}


def read_ledger(folder: Path, site: str) -> set[dt.date]:
    try:
        lines = (folder / LEDGER).read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, NotADirectoryError):  # nothing written yet
        return set()
    days = set()
    for line in lines:
        name, _, day = line.partition("\t")
        if name == site:
            try:
                days.add(dt.date.fromisoformat(day.strip()))
            except ValueError:
                log.warning("%s: ignoring a malformed line %r", folder / LEDGER, line)
    return days


def _record(folder: Path, site: str, day: dt.date) -> None:
    with open_private(folder / LEDGER, "a") as fh:
        fh.write(f"{site}\t{day.isoformat()}\n")


class DailyReporter:
    """Writes the site's due day reports into the folder (one check; no thread)."""

    def __init__(self, engine: Engine, settings: Settings, folder: Path | None = None) -> None:
        self.engine = engine
        self.site = settings.storage.site
        self.counter = Counter(site=self.site)  # every camera of this site
        self.clock = site_clock(engine, self.site, settings.storage.clock())  # the site's recorded zone
        self.score_config = settings.score.to_config()
        self.folder = folder or reports_folder(settings)

    def written(self) -> set[dt.date]:
        """Days in the ledger, or whose PDF for exactly this site is in the folder (written by
        `report --day --site` by hand); another site's camera of the same name is not this site."""
        days = read_ledger(self.folder, self.site)
        try:
            names = [p.name for p in self.folder.iterdir()]
        except OSError:  # no folder yet
            return days
        for name in names:
            named = parse_day_report_stem(name.removesuffix(".pdf")) if name.endswith(".pdf") else None
            if named is not None and named[1] == self.counter:
                days.add(named[0])
        return days

    def run_due(self, now: dt.datetime | None = None,
                should_stop: Callable[[], bool] = lambda: False) -> list[Path]:
        """Write every due day (until `should_stop()`: the program is closing); returns the files written."""
        now = now or dt.datetime.now(UTC)
        today = self.clock.business_day(now)
        with_data = days_with_data(self.engine, self.clock, self.counter,
                                   today - dt.timedelta(days=LOOKBACK_DAYS), today)
        paths: list[Path] = []
        for day in due_days(now, self.clock, with_data, self.written()):
            if should_stop():
                break
            data = reports.day_report(self.engine, day.isoformat(), self.score_config, self.clock, self.counter)
            paths += reports.write(data, FORMATS, self.folder)
            _record(self.folder, self.site, day)
            log.info("day report for %s (%s) written to %s", day, self.site, self.folder)
        return paths


class DailyReportThread(threading.Thread):
    """Checks at start (missed days), then at each business day's end; `stop()` ends it.

    A failing check (database down, folder not writable, or a bug) is logged and retried at
    the next check; it never stops monitoring, nor the next days' reports."""

    def __init__(self, reporter: DailyReporter, now: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC)) -> None:
        super().__init__(name="daily-reports", daemon=True)
        self.reporter, self.now = reporter, now
        self._halt = threading.Event()
        self.written: list[Path] = []
        self.last_error: str | None = None
        self.checks = 0

    def stop(self, timeout: float = 5.0) -> None:
        """No more checks; a report being written is finished first (waited for up to `timeout`)."""
        self._halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.written += self.reporter.run_due(self.now(), should_stop=self._halt.is_set)
                self.last_error = None
            except (reports.ReportError, StorageError, OSError) as exc:
                self.last_error = str(exc)
                log.warning("daily report not written yet: %s", exc)
            except Exception as exc:  # a bug: logged in full, not the end of every later day's report
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("daily report check failed")
            self.checks += 1
            now = self.now()
            wait = min(next_day_end(now, self.reporter.clock) - as_utc(now), RECHECK)
            self._halt.wait(max(wait.total_seconds(), 1.0))


def start_for(settings: Settings, db_url: str) -> DailyReportThread | None:
    """Start the daily reports for a monitor run (None when `[reports] auto_daily` is off or
    the database cannot be opened now: monitoring goes on either way)."""
    if not settings.reports.auto_daily:
        return None
    from cafe_monitor import storage

    try:
        thread = DailyReportThread(DailyReporter(storage.open_database(db_url), settings))
    except StorageError as exc:
        log.warning("daily reports off for this run: %s", exc)
        return None
    thread.start()
    return thread
