"""Visits -> satisfaction score. Pure functions; see README "Satisfaction score".

Each emotion has a valence; a visit's valence is the expectation of valence under its
emotion distribution (in [-1, 1]). The score of a set of visits is the mean visit
valence mapped to 0-100, with each visit counting once however long it lasted. The
uncertainty is a 95% bootstrap interval over visits, never narrower than the interval a
visit-to-visit spread of `prior_sd` would give, so that 3 visits never look as certain
as 300.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

from cafe_monitor.classification import CLASSES

DEFAULT_VALENCE: dict[str, float] = {
    "angry": -1.0, "disgust": -1.0, "fear": -0.7, "happy": 1.0, "sad": -0.8, "surprise": 0.3, "neutral": 0.0,
}


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


def score_visits(distributions: Sequence[npt.ArrayLike] | npt.NDArray[np.float32],
                 config: ScoreConfig = ScoreConfig()) -> Score:
    d = np.asarray(distributions, dtype=np.float64).reshape(-1, len(CLASSES))
    n = len(d)
    if n == 0:
        return Score(0, None, None, None, None, None, {c: 0.0 for c in CLASSES})
    v = visit_valence(d, config)
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
        mean_distribution={c: round(float(x), 4) for c, x in zip(CLASSES, d.mean(axis=0), strict=True)},
    )
