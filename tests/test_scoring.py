from __future__ import annotations

import numpy as np
import pytest

from cafe_monitor.classification import CLASSES
from cafe_monitor.scoring import ScoreConfig, score_visits, to_score, visit_valence


def one_hot(name: str) -> list[float]:
    return [1.0 if c == name else 0.0 for c in CLASSES]


def test_zero_visits() -> None:
    s = score_visits([])
    assert s.visits == 0 and s.score is None and s.low is None and s.satisfied is None


def test_one_happy_visit_is_100_but_uncertain() -> None:
    s = score_visits([one_hot("happy")])
    assert s.score == 100.0 and s.satisfied == 1.0 and s.dissatisfied == 0.0
    # 1.96 * 0.5 / sqrt(1) = 0.98 valence -> 49 points below
    assert s.low == pytest.approx(to_score(1 - 0.98)) and s.high == 100.0


def test_hand_computed_mixture() -> None:
    # happy 0.5 + sad 0.5 -> 0.5*1 + 0.5*(-0.8) = 0.1 -> 55
    d = [0.0] * 7
    d[CLASSES.index("happy")] = 0.5
    d[CLASSES.index("sad")] = 0.5
    assert visit_valence([d])[0] == pytest.approx(0.1)
    assert score_visits([d]).score == pytest.approx(55.0)


def test_visits_count_equally_whatever_their_length() -> None:
    # a very long angry visit does not outweigh three short happy ones: visits are the unit
    s = score_visits([one_hot("angry"), one_hot("happy"), one_hot("happy"), one_hot("happy")])
    assert s.score == pytest.approx(to_score((-1 + 3) / 4))
    assert s.satisfied == 0.75 and s.dissatisfied == 0.25


def test_interval_narrows_with_more_visits() -> None:
    rng = np.random.default_rng(1)
    def sample(n: int) -> np.ndarray:
        return rng.dirichlet(np.ones(7), size=n)
    few, many = score_visits(sample(3)), score_visits(sample(300))
    assert (few.high - few.low) > 3 * (many.high - many.low)
    assert many.low <= many.score <= many.high


def test_weights_are_configurable_and_validated() -> None:
    cfg = ScoreConfig(valence={"neutral": 1.0})
    assert score_visits([one_hot("neutral")], cfg).score == 100.0
    with pytest.raises(ValueError, match="joy"):
        ScoreConfig(valence={"joy": 1.0}).weights()


def test_readme_example() -> None:
    """The worked example in the README's score section."""
    def mix(**parts: float) -> list[float]:
        return [parts.get(c, 0.0) for c in CLASSES]
    s = score_visits([mix(happy=0.8, neutral=0.2), mix(neutral=1.0), mix(sad=0.5, neutral=0.5)])
    assert s.score == pytest.approx(56.67, abs=0.01)
    assert s.satisfied == pytest.approx(1 / 3, abs=1e-4) and s.dissatisfied == pytest.approx(1 / 3, abs=1e-4)
    assert s.high - s.low >= 2 * 28
