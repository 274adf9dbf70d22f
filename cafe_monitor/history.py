"""Owner's history: scores by hour and by day, emotion mix, visits per hour. Pure
aggregation over stored visits (the dashboard and tests call these; no Qt here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cafe_monitor import storage
from cafe_monitor.classification import CLASSES
from cafe_monitor.scoring import Score, ScoreConfig, score_visits

UTC = dt.timezone.utc


@dataclass(frozen=True)
class Bucket:
    start: dt.datetime
    score: Score


def by_hour(visits: Sequence[storage.VisitRow], day: dt.date, cfg: ScoreConfig) -> list[Bucket]:
    """24 buckets for the day (UTC), each scored from the visits that started in it."""
    groups: list[list[list[float]]] = [[] for _ in range(24)]
    for v in visits:
        t = storage.as_utc(v.first_seen)
        if t.date() == day:
            groups[t.hour].append(v.distribution())
    start = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [Bucket(start + dt.timedelta(hours=h), score_visits(g, cfg)) for h, g in enumerate(groups)]


def day_visits(engine: storage.Engine, day: dt.date, site: str | None = None) -> list[storage.VisitRow]:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
    return storage.visits_between(engine, start, start + dt.timedelta(days=1), site)


def by_day(engine: storage.Engine, last_day: dt.date, days: int, cfg: ScoreConfig,
           site: str | None = None) -> list[Bucket]:
    """Daily scores for the `days` days ending on `last_day` (inclusive)."""
    first = last_day - dt.timedelta(days=days - 1)
    start = dt.datetime(first.year, first.month, first.day, tzinfo=UTC)
    visits = storage.visits_between(engine, start, start + dt.timedelta(days=days), site)
    groups: dict[dt.date, list[list[float]]] = {first + dt.timedelta(days=i): [] for i in range(days)}
    for v in visits:
        d = storage.as_utc(v.first_seen).date()
        if d in groups:
            groups[d].append(v.distribution())
    return [Bucket(dt.datetime(d.year, d.month, d.day, tzinfo=UTC), score_visits(g, cfg)) for d, g in groups.items()]


def mix_matrix(buckets: Sequence[Bucket]) -> np.ndarray:
    """[len(buckets), 7] mean emotion distribution per bucket (zeros when empty)."""
    return np.array([[b.score.mean_distribution.get(c, 0.0) for c in CLASSES] for b in buckets])
