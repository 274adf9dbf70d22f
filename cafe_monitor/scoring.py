"""Visits -> satisfaction score. Pure functions; see docs/user-guide.md "Satisfaction score".

Each emotion has a valence; a visit's valence is the expectation of valence under its
emotion distribution (in [-1, 1]). The score of a set of visits is the mean visit
valence mapped to 0-100, with each visit counting once however long it lasted. The
uncertainty is a 95% bootstrap interval over visits, never narrower than the interval a
visit-to-visit spread of `prior_sd` would give, so that 3 visits never look as certain
as 300.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

from cafe_monitor.domain import CLASSES, DEFAULT_VALENCE


@dataclass(frozen=True)
class ScoreConfig:
    valence: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_VALENCE))
    satisfied_above: float = 0.25  # visit valence >= this -> satisfied
    dissatisfied_below: float = -0.25  # visit valence <= this -> dissatisfied
    prior_sd: float = 0.5
    bootstrap_samples: int = 2000
    seed: int = 0

    def weights(self) -> npt.NDArray[np.float64]:
        unknown = set(self.valence) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown emotion(s) in valence weights: {', '.join(sorted(unknown))}")
        return np.array([float(self.valence.get(c, 0.0)) for c in CLASSES])


@dataclass(frozen=True)
class Score:
    visits: int
    score: float | None  # 0..100, None without visits
    low: float | None  # 95% interval
    high: float | None
    satisfied: float | None  # share of visits, 0..1
    dissatisfied: float | None
    mean_distribution: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def visit_valence(distributions: npt.ArrayLike, config: ScoreConfig = ScoreConfig()) -> npt.NDArray[np.float64]:
    """[N,7] emotion distributions -> [N] valences in [-1, 1]."""
    d = np.asarray(distributions, dtype=np.float64).reshape(-1, len(CLASSES))
    return d @ config.weights()


def to_score(valence: float) -> float:
    """Mean valence in [-1, 1] -> 0..100."""
    return float(np.clip(50.0 * (1.0 + valence), 0.0, 100.0))


def score_visits(distributions: npt.ArrayLike, config: ScoreConfig = ScoreConfig()) -> Score:
    """The README's score of a set of visits ([N,7] distributions), with its bootstrap interval."""
    d = np.asarray(distributions, dtype=np.float64).reshape(-1, len(CLASSES))
    if len(d) == 0:
        return empty_score()
    return score_valences(visit_valence(d, config), d.mean(axis=0), config)


def empty_score() -> Score:
    return Score(0, None, None, None, None, None, {c: 0.0 for c in CLASSES})


def score_valences(valences: npt.ArrayLike, mean_distribution: npt.ArrayLike,
                   config: ScoreConfig = ScoreConfig()) -> Score:
    """The README's score from per-visit valences and their mean distribution (so a
    query can fetch one number per visit and average the distributions in SQL)."""
    v = np.asarray(valences, dtype=np.float64).reshape(-1)
    n = len(v)
    if n == 0:
        return empty_score()
    mean = float(v.mean())
    rng = np.random.default_rng(config.seed)
    if n > 1:
        means = v[rng.integers(0, n, size=(config.bootstrap_samples, n))].mean(axis=1)
        lo, hi = np.percentile(means, [2.5, 97.5])
    else:
        lo = hi = mean
    floor = 1.96 * config.prior_sd / np.sqrt(n)
    lo, hi = min(lo, mean - floor), max(hi, mean + floor)
    return Score(
        visits=n,
        score=round(to_score(mean), 2),
        low=round(to_score(lo), 2),
        high=round(to_score(hi), 2),
        satisfied=round(float((v >= config.satisfied_above).mean()), 4),
        dissatisfied=round(float((v <= config.dissatisfied_below).mean()), 4),
        mean_distribution={c: round(float(x), 4) for c, x in
                           zip(CLASSES, np.asarray(mean_distribution, dtype=np.float64), strict=True)},
    )


class LiveScore:
    """The session score for the live gauge, at a cost that does not grow with the session.

    Ended visits are folded into running sums once (count, sum and sum of squares of
    valence, satisfied/dissatisfied counts, summed distributions); the few visits still
    open are added on top at each reading. The interval is the normal approximation of
    the bootstrap (mean +- 1.96 sd/sqrt(n), with the same prior_sd floor), so a reading
    costs microseconds at 10,000 visits instead of a 2,000-resample bootstrap. The
    stored and reported figures are not this: they are `score_visits` over all visits.
    """

    def __init__(self, config: ScoreConfig = ScoreConfig()) -> None:
        self.config = config
        self._w = config.weights()
        self._n = 0
        self._sum = 0.0
        self._sq = 0.0
        self._satisfied = 0
        self._dissatisfied = 0
        self._dist = np.zeros(len(CLASSES))

    @property
    def visits(self) -> int:
        """Ended visits folded in so far."""
        return self._n

    def add(self, distributions: npt.ArrayLike) -> None:
        """Fold in visits that have ended (each exactly once)."""
        d = np.asarray(distributions, dtype=np.float64).reshape(-1, len(CLASSES))
        if not len(d):
            return
        v = d @ self._w
        self._n += len(v)
        self._sum += float(v.sum())
        self._sq += float(v @ v)
        self._satisfied += int((v >= self.config.satisfied_above).sum())
        self._dissatisfied += int((v <= self.config.dissatisfied_below).sum())
        self._dist += d.sum(axis=0)

    def sums(self, open_distributions: npt.ArrayLike = ()) -> ScoreSums:
        """The running sums of the ended visits plus the visits still open (not folded in)."""
        d = np.asarray(open_distributions, dtype=np.float64).reshape(-1, len(CLASSES))
        v = d @ self._w
        return ScoreSums(
            visits=self._n + len(v), total=self._sum + float(v.sum()), squares=self._sq + float(v @ v),
            satisfied=self._satisfied + int((v >= self.config.satisfied_above).sum()),
            dissatisfied=self._dissatisfied + int((v <= self.config.dissatisfied_below).sum()),
            distribution=tuple(float(x) for x in self._dist + d.sum(axis=0)))

    def score(self, open_distributions: npt.ArrayLike = ()) -> Score:
        """The score of the ended visits plus the visits still open (not folded in)."""
        return self.sums(open_distributions).score(self.config)


@dataclass(frozen=True)
class ScoreSums:
    """A LiveScore reading as plain sums: they add up across cameras, so the dashboard's
    combined gauge is exactly the live formula over every camera's visits together."""

    visits: int = 0
    total: float = 0.0  # sum of visit valences
    squares: float = 0.0  # sum of squared visit valences
    satisfied: int = 0
    dissatisfied: int = 0
    distribution: tuple[float, ...] = (0.0,) * len(CLASSES)  # summed emotion distributions

    def __add__(self, other: ScoreSums) -> ScoreSums:
        return ScoreSums(self.visits + other.visits, self.total + other.total, self.squares + other.squares,
                         self.satisfied + other.satisfied, self.dissatisfied + other.dissatisfied,
                         tuple(a + b for a, b in zip(self.distribution, other.distribution, strict=True)))

    def score(self, config: ScoreConfig = ScoreConfig()) -> Score:
        n = self.visits
        if n == 0:
            return empty_score()
        mean = self.total / n
        sd = float(np.sqrt(max(self.squares / n - mean * mean, 0.0)))  # population sd, as the bootstrap sees it
        half = 1.96 * max(sd, config.prior_sd) / np.sqrt(n)
        return Score(
            visits=n,
            score=round(to_score(mean), 2),
            low=round(to_score(mean - half), 2),
            high=round(to_score(mean + half), 2),
            satisfied=round(self.satisfied / n, 4),
            dissatisfied=round(self.dissatisfied / n, 4),
            mean_distribution={c: round(x / n, 4) for c, x in zip(CLASSES, self.distribution, strict=True)},
        )
