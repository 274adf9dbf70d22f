"""The day report, written by itself: at the end of each business day the site's day report
(PDF + CSV, the same as `cafe-monitor report --day`) goes into the reports folder, and days
that ended while the program was not running are written at its next start.

Which days are due is one pure function (`due_days`) of the time now, the site's clock,
the days with data and the days already written, so it is tested across a day boundary and
daylight saving without waiting for either. A day is due once its business day has ended
(the site's zone and day start: a 23- or 25-hour day ends when its real hours are over)
plus a few minutes' grace, so a visit still open at the boundary has been checkpointed.

Already written days are listed in a small ledger in the reports folder
(`written-days.txt`, one `site<TAB>day<TAB>rows` a line): a report the owner moved or
deleted is not written again, unless the day's rows change later (rows of a database outage
imported from a rescue file, a deletion): `rows` is what the report was made from (visits,
their frames, timeline seconds, sessions), compared at each check, and a day whose rows
differ is written again. Only the last LOOKBACK_DAYS days are looked at, so installing on
a machine with a year of history does not write a year of PDFs (older days: `cafe-monitor
report --day`).

`DailyReportThread` does a running monitor's day-end chores: it applies the retention
(`[privacy] retention_days`, so a session that runs for weeks keeps no row past it) and
writes the due reports, at start and then at least hourly and at each day's end. It opens
the database itself, retrying while it is not reachable, so starting it never waits on
the database (the dashboard's window never freezes on it). The headless run and the
dashboard both start one (so does an autostarted monitor).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from cafe_monitor import reports
from cafe_monitor.config import Settings
from cafe_monitor.localtime import UTC, CafeClock, as_utc
from cafe_monitor.owner_only import open_private
from cafe_monitor.paths import data_dir
from cafe_monitor.reports import parse_day_report_stem
from cafe_monitor.retry import RetryNote, RetryPolicy, keep_trying
from cafe_monitor.site_clock import site_clock
from cafe_monitor.storage import Engine, StorageError
from cafe_monitor.storage.queries import Counter, sessions_started, timeline_seconds, visits_started

log = logging.getLogger(__name__)

FORMATS = ("pdf", "csv")
LEDGER = "written-days.txt"
LOOKBACK_DAYS = 14
#: after a day's end, wait this long before writing it (open visits checkpointed, last rows committed)
GRACE = dt.timedelta(minutes=5)
#: the longest sleep between checks: a suspended or re-clocked machine catches up within this
RECHECK = dt.timedelta(hours=1)
#: after a failed check (disk full, folder gone, database down), the next comes this soon,
#: doubling with each failure in a row up to RECHECK: a freed disk gets its report in minutes
RETRY_AFTER_FAILURE = dt.timedelta(minutes=1)


def due_days(now: dt.datetime, clock: CafeClock, days_with_data: Iterable[dt.date] | Mapping[dt.date, str],
             written: Iterable[dt.date] | Mapping[dt.date, str | None], grace: dt.timedelta = GRACE) -> list[dt.date]:
    """The business days to write now: they have data, have ended (their last real hour is
    over, plus `grace`) and are not written yet, or were written from other rows than the
    day has now (both given as {day: rows}; a day written without rows noted, by hand or by
    an older version, is not written again). Today, still running, never is."""
    rows: Mapping[dt.date, str | None] = (days_with_data if isinstance(days_with_data, Mapping)
                                          else dict.fromkeys(days_with_data))
    done: Mapping[dt.date, str | None] = written if isinstance(written, Mapping) else dict.fromkeys(written)
    t = as_utc(now)

    def stale(day: dt.date) -> bool:
        if day not in done:
            return True
        was, now_rows = done[day], rows[day]
        return was is not None and now_rows is not None and was != now_rows

    return sorted(d for d in rows if stale(d) and clock.day_range(d)[1] + grace <= t)


def next_day_end(now: dt.datetime, clock: CafeClock, grace: dt.timedelta = GRACE) -> dt.datetime:
    """When the next report becomes due (UTC): yesterday's, if its grace is not over yet, else today's."""
    start, end = clock.day_range(clock.business_day(now))
    return start + grace if as_utc(now) < start + grace else end + grace


def reports_folder(settings: Settings) -> Path:
    """`[reports] folder`, or reports/ in the user data folder."""
    return Path(settings.reports.folder).expanduser() if settings.reports.folder else data_dir() / "reports"


def days_with_data(engine: Engine, clock: CafeClock, counter: Counter, first: dt.date, last: dt.date) -> set[dt.date]:
    """Business days from `first` to `last` with a visit or a session start at the counter."""
    return set(day_rows(engine, clock, counter, first, last))


def day_rows(engine: Engine, clock: CafeClock, counter: Counter, first: dt.date,
             last: dt.date) -> dict[dt.date, str]:
    """For each business day from `first` to `last` with data, what its report is made of,
    in a few numbers ("3 visits, 60 frames, 3 s, 1 sessions"): rows imported or deleted
    later change it. A session's own frame count is left out: a session running for weeks
    raises it every second, which changes no past day's report."""
    start, end = clock.day_range(first)[0], clock.day_range(last)[1]
    visits: dict[dt.date, list[int]] = {}
    for v in visits_started(engine, start, end, counter):
        visits.setdefault(clock.business_day(v.first_seen), []).append(v.frames)
    sessions: dict[dt.date, int] = {}
    for s in sessions_started(engine, start, end, counter):
        day = clock.business_day(s.started_at)
        sessions[day] = sessions.get(day, 0) + 1
    rows = {}
    for day in sorted(set(visits) | set(sessions)):
        seconds = timeline_seconds(engine, *clock.day_range(day), counter)
        frames = visits.get(day, [])
        rows[day] = f"{len(frames)} visits, {sum(frames)} frames, {seconds} s, {sessions.get(day, 0)} sessions"
    return rows


def read_ledger(folder: Path, site: str) -> set[dt.date]:
    return set(read_ledger_rows(folder, site))


def read_ledger_rows(folder: Path, site: str) -> dict[dt.date, str | None]:
    """The site's written days, each with the rows its report was made from (None: not noted)."""
    try:
        lines = (folder / LEDGER).read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, NotADirectoryError):  # nothing written yet
        return {}
    days: dict[dt.date, str | None] = {}
    for line in lines:
        name, _, rest = line.partition("\t")
        day, _, rows = rest.partition("\t")
        if name == site:
            try:
                days[dt.date.fromisoformat(day.strip())] = rows.strip() or None  # the last line of a day counts
            except ValueError:
                log.warning("%s: ignoring a malformed line %r", folder / LEDGER, line)
    return days


def _record(folder: Path, site: str, day: dt.date, rows: str) -> None:
    with open_private(folder / LEDGER, "a") as fh:
        fh.write(f"{site}\t{day.isoformat()}\t{rows}\n")


class DailyReporter:
    """Writes the site's due day reports into the folder (one check; no thread)."""

    def __init__(self, engine: Engine, settings: Settings, folder: Path | None = None) -> None:
        self.engine = engine
        self.site = settings.storage.site
        self.counter = Counter(site=self.site)  # every camera of this site
        self.clock = site_clock(engine, self.site, settings.storage.clock())  # the site's recorded zone
        self.score_config = settings.score.to_config()
        self.folder = folder or reports_folder(settings)
        self.auto_daily = settings.reports.auto_daily
        self.privacy = settings.privacy

    def written(self) -> set[dt.date]:
        """Days in the ledger, or whose PDF for exactly this site is in the folder (written by
        `report --day --site` by hand); another site's camera of the same name is not this site."""
        return set(self.written_rows())

    def written_rows(self) -> dict[dt.date, str | None]:
        """`written()`, each day with the rows its report was made from (None: not noted)."""
        days = read_ledger_rows(self.folder, self.site)
        try:
            names = [p.name for p in self.folder.iterdir()]
        except OSError:  # no folder yet
            return days
        for name in names:
            named = parse_day_report_stem(name.removesuffix(".pdf")) if name.endswith(".pdf") else None
            if named is not None and named[1] == self.counter:
                days.setdefault(named[0], None)
        return days

    def check(self, now: dt.datetime | None = None, should_stop: Callable[[], bool] = lambda: False) -> list[Path]:
        """One round of day-end chores: the retention, then (with `[reports] auto_daily`) the due reports."""
        from cafe_monitor import storage

        now = now or dt.datetime.now(UTC)
        removed = storage.prune(self.engine, self.site, timeline_days=self.privacy.retention_days,
                                visit_days=self.privacy.visit_retention_days, now=now, clock=self.clock)
        if removed != storage.Removed():
            log.info("retention (%s): %s removed", self.site, removed)
        return self.run_due(now, should_stop) if self.auto_daily else []

    def run_due(self, now: dt.datetime | None = None,
                should_stop: Callable[[], bool] = lambda: False) -> list[Path]:
        """Write every due day (until `should_stop()`: the program is closing); returns the files written."""
        now = now or dt.datetime.now(UTC)
        today = self.clock.business_day(now)
        with_data = day_rows(self.engine, self.clock, self.counter, today - dt.timedelta(days=LOOKBACK_DAYS), today)
        written = self.written_rows()
        paths: list[Path] = []
        for day in due_days(now, self.clock, with_data, written):
            if should_stop():
                break
            data = reports.day_report(self.engine, day.isoformat(), self.score_config, self.clock, self.counter)
            paths += reports.write(data, FORMATS, self.folder)
            _record(self.folder, self.site, day, with_data[day])
            log.info("day report for %s (%s) %s to %s", day, self.site,
                     "rewritten (its rows changed)" if day in written else "written", self.folder)
        return paths


def next_check_in(now: dt.datetime, clock: CafeClock, failures: int) -> dt.timedelta:
    """Until the next check: the business day's end, at most RECHECK; after `failures` failed
    checks in a row, RETRY_AFTER_FAILURE doubled for each but the first, if that is sooner."""
    wait = min(next_day_end(now, clock) - as_utc(now), RECHECK)
    if failures:
        wait = min(wait, RETRY_AFTER_FAILURE * 2 ** min(failures - 1, 6))
    return max(wait, dt.timedelta(seconds=1))


class DailyReportThread(threading.Thread):
    """Checks at start (missed days), then at each business day's end and at least hourly;
    `stop()` ends it.

    Given a way to open its reporter (a database open: connect timeout, migrations, an
    integrity check), it opens it here, retrying with `retry`'s backoff while that fails,
    so whoever starts it never waits. A failing check (database down, folder not writable,
    or a bug) is logged and retried at the next check; it never stops monitoring, nor the
    next days' reports."""

    def __init__(self, reporter: DailyReporter | Callable[[], DailyReporter],
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC),
                 retry: RetryPolicy = RetryPolicy(), folder: Path | None = None) -> None:
        super().__init__(name="daily-reports", daemon=True)
        self.reporter: DailyReporter | None = reporter if isinstance(reporter, DailyReporter) else None
        self._open = reporter if not isinstance(reporter, DailyReporter) else None
        self.now, self.retry = now, retry
        #: where the reports go (known before the database is open)
        self.folder = self.reporter.folder if self.reporter is not None else folder
        self._halt = threading.Event()
        self.written: list[Path] = []
        self.last_error: str | None = None
        self.waiting = RetryNote(clock=time.monotonic)  # "daily reports: database not reachable, retrying in 8 s"
        self.checks = 0

    def stop(self, timeout: float = 5.0) -> None:
        """No more checks; a report being written is finished first (waited for up to
        `timeout`; 0 from a thread that must not wait, such as the GUI's)."""
        self._halt.set()
        if timeout > 0 and self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def _opened(self) -> DailyReporter | None:
        if self.reporter is None and self._open is not None:
            def not_yet(exc: BaseException) -> str:
                self.last_error = str(exc)
                if not isinstance(exc, (StorageError, OSError)):
                    log.error("daily reports: opening the database failed", exc_info=exc)
                return "daily reports: database not reachable"

            self.reporter = keep_trying(self._open, transient=not_yet, wait=self._halt.wait, policy=self.retry,
                                        on_retry=self.waiting.set)
        return self.reporter

    def run(self) -> None:
        reporter = self._opened()
        if reporter is None:  # stopped while the database was not reachable
            return
        failures = 0
        while not self._halt.is_set():
            try:
                self.written += reporter.check(self.now(), should_stop=self._halt.is_set)
                self.last_error, failures = None, 0
            except (reports.ReportError, StorageError, OSError) as exc:
                self.last_error, failures = str(exc), failures + 1
                log.warning("daily report not written yet: %s", exc)
            except Exception as exc:  # a bug: logged in full, not the end of every later day's report
                self.last_error, failures = f"{type(exc).__name__}: {exc}", failures + 1
                log.exception("daily report check failed")
            self.checks += 1
            self._halt.wait(next_check_in(self.now(), reporter.clock, failures).total_seconds())


def start_for(settings: Settings, db_url: str, retry: RetryPolicy = RetryPolicy()) -> DailyReportThread:
    """Start a monitor run's day-end chores (retention, and the day reports unless
    `[reports] auto_daily` is off) at once: the database is opened by the thread itself,
    and waited for while it is not reachable; monitoring goes on either way."""
    from cafe_monitor import storage

    thread = DailyReportThread(lambda: DailyReporter(storage.open_database(db_url), settings), retry=retry,
                               folder=reports_folder(settings))
    thread.start()
    return thread
