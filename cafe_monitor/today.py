"""Today at a glance: today's score so far, and the usual score for this hour.

The live gauge is one session's; a café owner wants the day's. "Today" is the site's
business day in its own zone (`CafeClock`), across every session and camera of the
chosen counters, the running one included (its writer stores open visits as
checkpoints). "The usual for this hour" pools the visits that began in the same local
hour of the same business weekday over the last four weeks, with how many visits and
how many of those days had any, so a figure from one quiet Monday does not pass for a
habit. Figures are the README's score, the one History shows (mean visit valence of
every visit, each counted once), averaged by the database: one grouped query for both.

Pure reading and arithmetic (no Qt); the Live tab's panel calls `load_glance` off the
GUI thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cafe_monitor.history import pool
from cafe_monitor.localtime import CafeClock, HourSlot
from cafe_monitor.scoring import ScoreConfig
from cafe_monitor.site_clock import clock_for
from cafe_monitor.storage import Engine
from cafe_monitor.storage.queries import EVERY_COUNTER, Counter, PeriodMeans, period_means

WEEKS = 4


@dataclass(frozen=True)
class Figure:
    """A score with what it stands on: visits, and the days that had any."""

    score: float | None  # 0..100, None without visits
    visits: int
    days: int


@dataclass(frozen=True)
class Glance:
    """What the Live tab's "today" panel shows."""

    day: dt.date  # today's business day
    hour: str  # the local hour the usual figure is for, e.g. "Mon 14:00–15:00"
    today: Figure
    usual: Figure
    weeks: int  # how many past weeks the usual looks back
    zone: str


def pooled_score(means: Sequence[PeriodMeans], cfg: ScoreConfig) -> tuple[int, float | None]:
    """Visits and score of several periods taken together (every visit once)."""
    return pool([(m.visits, m.mean_distribution) for m in means], cfg)


def current_hour(clock: CafeClock, now: dt.datetime) -> tuple[dt.date, HourSlot]:
    """Today's business day and the real hour of it that `now` falls in."""
    day = clock.business_day(now)
    index = clock.hour_index(now, day)
    assert index is not None  # business_day(now) contains now
    return day, clock.hours(day)[index]


def same_hour_before(clock: CafeClock, day: dt.date, slot: HourSlot,
                     weeks: int = WEEKS) -> list[tuple[dt.date, HourSlot]]:
    """The hours of the same business weekday in the `weeks` weeks before `day` whose
    local clock reads as `slot`'s does (oldest first). A day on which that clock time
    does not exist (the hour skipped when clocks go forward) has none; the day clocks go
    back may have two, and both count."""
    wall = slot.local.time()
    out = []
    for k in range(weeks, 0, -1):
        past = day - dt.timedelta(days=7 * k)
        out += [(past, s) for s in clock.hours(past) if s.local.time() == wall]
    return out


def hour_label(day: dt.date, slot: HourSlot) -> str:
    """'Mon 14:00–15:00': the business weekday and the local clock hour."""
    start = slot.local.replace(tzinfo=None)
    return f"{day:%a} {start:%H:%M}–{start + dt.timedelta(hours=1):%H:%M}"


def load_glance(engine: Engine, now: dt.datetime, clock: CafeClock, cfg: ScoreConfig,
                counter: Counter = EVERY_COUNTER, weeks: int = WEEKS) -> Glance:
    """Today so far and the usual for this hour, read in the counters' own zone
    (`clock` is the fallback, as in History): two queries (zones, then one grouped read)."""
    clock = clock_for(engine, counter, clock)
    day, slot = current_hour(clock, now)
    past = same_hour_before(clock, day, slot, weeks)
    means = period_means(engine, [(s.start, s.end) for _d, s in past] + [clock.day_range(day)], counter)
    *usual, today = means
    visits, score = pooled_score(usual, cfg)
    days = len({d for (d, _s), m in zip(past, usual, strict=True) if m.visits})
    today_visits, today_score = pooled_score([today], cfg)
    return Glance(day=day, hour=hour_label(day, slot), today=Figure(today_score, today_visits, int(today_visits > 0)),
                  usual=Figure(score, visits, days), weeks=weeks, zone=clock.name)
