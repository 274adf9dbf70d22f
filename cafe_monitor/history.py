"""Owner's history: a business day's score, mix and visits by local hour, the daily
trend, and the day's sessions with their scores. Pure aggregation over what the query
module returns (the dashboard's loader thread, the CLI and tests call these; no Qt).

Every hour and day here is the café's (`CafeClock`): a visit belongs to the local hour
and business day it began in, and a daylight-saving day has 23 or 25 hourly buckets.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cafe_monitor.domain import CLASSES
from cafe_monitor.localtime import CafeClock
from cafe_monitor.scoring import Score, ScoreConfig, score_visits, to_score
from cafe_monitor.site_clock import clock_for
from cafe_monitor.storage import Engine
from cafe_monitor.storage.queries import (
    EVERY_COUNTER,
    Counter,
    SessionInfo,
    VisitInfo,
    period_means,
    sessions_started,
    visits_of,
    visits_started,
)


@dataclass(frozen=True)
class Bucket:
    """One local hour of a business day and the score of the visits that began in it."""

    start: dt.datetime  # UTC
    label: str  # the local clock hour it starts at, "00".."23"
    score: Score


@dataclass(frozen=True)
class DayMean:
    """A business day's visit count and mean score (no interval: the trend line only)."""

    day: dt.date
    start: dt.datetime  # UTC
    visits: int
    score: float | None
    mix: tuple[float, ...] = ()  # mean emotion distribution, CLASSES order (zeros without visits)


def pool(parts: Sequence[tuple[int, Sequence[float]]], cfg: ScoreConfig) -> tuple[int, float | None]:
    """Visits and score of several periods taken together, from each one's visit count and
    mean distribution: the visit-weighted mean distribution's valence is the mean visit
    valence (valence is linear), so the pooled score is the README's over all the visits."""
    n = sum(k for k, _mix in parts)
    if not n:
        return 0, None
    mix = sum(np.asarray(m, dtype=np.float64) * k for k, m in parts if k) / n
    return n, round(to_score(float(np.dot(cfg.weights(), mix))), 2)


def by_hour(visits: Sequence[VisitInfo], day: dt.date, clock: CafeClock, cfg: ScoreConfig) -> list[Bucket]:
    """The day's real hours (24, or 23/25 on a daylight-saving day), each scored from the
    visits that began in it; visits outside the business day are ignored."""
    slots = clock.hours(day)
    groups: list[list[tuple[float, ...]]] = [[] for _ in slots]
    for v in visits:
        i = clock.hour_index(v.first_seen, day)
        if i is not None:
            groups[i].append(v.distribution)
    return [Bucket(s.start, s.label, score_visits(g, cfg)) for s, g in zip(slots, groups, strict=True)]


def by_day(engine: Engine, last_day: dt.date, days: int, clock: CafeClock, cfg: ScoreConfig,
           counter: Counter = EVERY_COUNTER) -> list[DayMean]:
    """Mean score of each of the `days` business days ending on `last_day`, averaged by the
    database in one query (mean valence = valence of the mean distribution)."""
    first = last_day - dt.timedelta(days=days - 1)
    weights = cfg.weights()
    means = period_means(engine, clock.days_range(first, days), counter)
    return [DayMean(first + dt.timedelta(days=i), m.start, m.visits,
                    round(to_score(float(np.dot(weights, m.mean_distribution))), 2) if m.visits else None,
                    m.mean_distribution)
            for i, m in enumerate(means)]


def day_visits(engine: Engine, day: dt.date, clock: CafeClock, counter: Counter = EVERY_COUNTER) -> list[VisitInfo]:
    return visits_started(engine, *clock.day_range(day), counter)


def session_scores(visits: Sequence[VisitInfo], cfg: ScoreConfig) -> dict[int, Score]:
    """Each session's score from one list holding every session's visits."""
    groups: dict[int, list[tuple[float, ...]]] = defaultdict(list)
    for v in visits:
        groups[v.session_id].append(v.distribution)
    return {sid: score_visits(g, cfg) for sid, g in groups.items()}


def scored_sessions(engine: Engine, sessions: Sequence[SessionInfo],
                    cfg: ScoreConfig) -> list[tuple[SessionInfo, Score]]:
    """Sessions with their scores: one query for all their visits, not one per session."""
    scores = session_scores(visits_of(engine, [s.id for s in sessions]), cfg)
    empty = score_visits([], cfg)
    return [(s, scores.get(s.id, empty)) for s in sessions]


def mix_matrix(buckets: Sequence[Bucket]) -> np.ndarray:
    """[len(buckets), 7] mean emotion distribution per bucket (zeros when empty)."""
    return np.array([[b.score.mean_distribution.get(c, 0.0) for c in CLASSES] for b in buckets])


@dataclass(frozen=True)
class DayView:
    """Everything the History tab draws for one choice of day and counters."""

    day: dt.date
    clock: CafeClock
    counter: Counter
    total: Score
    hours: list[Bucket]
    trend: list[DayMean]
    sessions: list[tuple[SessionInfo, Score]]
    compare_day: dt.date | None = None
    compare_hours: list[Bucket] = field(default_factory=list)

    @property
    def zone(self) -> str:
        return self.clock.name


def load_day(engine: Engine, day: dt.date, clock: CafeClock, cfg: ScoreConfig, counter: Counter = EVERY_COUNTER,
             compare_day: dt.date | None = None, trend_days: int = 28) -> DayView:
    """One History view: a handful of queries whatever the number of sessions. `clock` is
    the fallback: a site is read in its own recorded zone (`clock_for`)."""
    clock = clock_for(engine, counter, clock)
    visits = day_visits(engine, day, clock, counter)
    compare = (by_hour(day_visits(engine, compare_day, clock, counter), compare_day, clock, cfg)
               if compare_day is not None else [])
    sessions = scored_sessions(engine, sessions_started(engine, *clock.day_range(day), counter), cfg)
    return DayView(day=day, clock=clock, counter=counter, total=score_visits([v.distribution for v in visits], cfg),
                   hours=by_hour(visits, day, clock, cfg), trend=by_day(engine, day, trend_days, clock, cfg, counter),
                   sessions=sessions, compare_day=compare_day, compare_hours=compare)


# --- week and month views ------------------------------------------------------------


@dataclass(frozen=True)
class GroupMean:
    """Several business days taken together (a week), pooled over their visits."""

    label: str
    first: dt.date
    last: dt.date
    visits: int
    score: float | None


@dataclass(frozen=True)
class PeriodView:
    """What the History tab draws for a week (Monday to Sunday) or a calendar month of
    business days: the score, mix and visits of each day, and weekly scores (a month's
    weeks, cut at its ends; or the eight weeks up to a chosen week)."""

    span: str  # "week" | "month"
    first: dt.date
    last: dt.date
    clock: CafeClock
    counter: Counter
    days: list[DayMean]
    weeks: list[GroupMean]
    visits: int
    score: float | None
    sessions: list[tuple[SessionInfo, Score]]

    @property
    def zone(self) -> str:
        return self.clock.name

    @property
    def days_with_visits(self) -> int:
        return sum(1 for d in self.days if d.visits)

    @property
    def title(self) -> str:
        if self.span == "month":
            return f"{self.first:%B %Y}"
        return f"Week of {self.first:%a %d %b} – {self.last:%a %d %b %Y}"


SPANS = ("day", "week", "month")


def span_days(day: dt.date, span: str) -> tuple[dt.date, dt.date]:
    """First and last business day of the week (Monday to Sunday) or month holding `day`."""
    if span == "week":
        first = day - dt.timedelta(days=day.weekday())
        return first, first + dt.timedelta(days=6)
    if span == "month":
        first = day.replace(day=1)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return first, following - dt.timedelta(days=1)
    if span == "day":
        return day, day
    raise ValueError(f"unknown span {span!r} (one of {', '.join(SPANS)})")


def weeks_of(days: Sequence[DayMean], cfg: ScoreConfig) -> list[GroupMean]:
    """The days grouped into Monday-to-Sunday weeks (cut where `days` begin and end)."""
    groups: dict[tuple[int, int], list[DayMean]] = {}
    for d in days:
        groups.setdefault(d.day.isocalendar()[:2], []).append(d)
    out = []
    for members in groups.values():
        visits, score = pool([(d.visits, d.mix) for d in members], cfg)
        first, last = members[0].day, members[-1].day
        label = f"{first:%d %b}" if first == last else f"{first:%d}–{last:%d %b}"
        out.append(GroupMean(label, first, last, visits, score))
    return out


def week_trend(engine: Engine, last_monday: dt.date, weeks: int, clock: CafeClock, cfg: ScoreConfig,
               counter: Counter = EVERY_COUNTER) -> list[GroupMean]:
    """The score of each of `weeks` Monday-to-Sunday weeks ending with the one starting on
    `last_monday`, averaged by the database in one query."""
    mondays = [last_monday - dt.timedelta(days=7 * k) for k in range(weeks - 1, -1, -1)]
    ranges = [(clock.day_range(m)[0], clock.day_range(m + dt.timedelta(days=6))[1]) for m in mondays]
    means = period_means(engine, ranges, counter)
    return [GroupMean(f"{m:%d %b}", m, m + dt.timedelta(days=6), *pool([(p.visits, p.mean_distribution)], cfg))
            for m, p in zip(mondays, means, strict=True)]


def load_period(engine: Engine, day: dt.date, span: str, clock: CafeClock, cfg: ScoreConfig,
                counter: Counter = EVERY_COUNTER, trend_weeks: int = 8) -> PeriodView:
    """The week or month holding `day`: a handful of queries whatever its length (zones,
    the days' means, the weekly trend for a week, its sessions and their visits)."""
    clock = clock_for(engine, counter, clock)
    first, last = span_days(day, span)
    days = by_day(engine, last, (last - first).days + 1, clock, cfg, counter)
    weeks = weeks_of(days, cfg) if span == "month" else week_trend(engine, first, trend_weeks, clock, cfg, counter)
    visits, score = pool([(d.visits, d.mix) for d in days], cfg)
    start, end = clock.day_range(first)[0], clock.day_range(last)[1]
    sessions = scored_sessions(engine, sessions_started(engine, start, end, counter), cfg)
    return PeriodView(span, first, last, clock, counter, days, weeks, visits, score, sessions)
