from __future__ import annotations

import numpy as np
import pytest

from cafe_monitor.domain import CLASSES
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
    """The worked example in docs/user-guide.md, Satisfaction score."""
    def mix(**parts: float) -> list[float]:
        return [parts.get(c, 0.0) for c in CLASSES]
    s = score_visits([mix(happy=0.8, neutral=0.2), mix(neutral=1.0), mix(sad=0.5, neutral=0.5)])
    assert s.score == pytest.approx(56.67, abs=0.01)
    assert s.satisfied == pytest.approx(1 / 3, abs=1e-4) and s.dissatisfied == pytest.approx(1 / 3, abs=1e-4)
    assert s.high - s.low >= 2 * 28


def test_score_valences_is_score_visits() -> None:
    from cafe_monitor.scoring import score_valences

    d = np.random.default_rng(4).dirichlet(np.ones(7), size=57)
    assert score_valences(visit_valence(d), d.mean(axis=0)) == score_visits(d)


def test_live_score_matches_the_reported_score_as_visits_end() -> None:
    """Running sums give the same score and shares as the full formula, and an interval
    within a point of the bootstrap, at every step of a session."""
    from cafe_monitor.scoring import LiveScore

    rng = np.random.default_rng(7)
    visits = rng.dirichlet(np.full(7, 0.4), size=600)
    live = LiveScore()
    assert live.score().score is None
    for i in range(0, 600, 50):
        live.add(visits[i:i + 45])  # 45 ended, 5 still open
        open_now = visits[i + 45:i + 50]
        got, want = live.score(open_now), score_visits(visits[:i + 50])
        assert got.visits == want.visits == i + 50
        assert got.score == pytest.approx(want.score, abs=0.011)
        assert got.satisfied == want.satisfied and got.dissatisfied == want.dissatisfied
        assert got.mean_distribution == pytest.approx(want.mean_distribution, abs=1e-4)
        assert got.low == pytest.approx(want.low, abs=1.0) and got.high == pytest.approx(want.high, abs=1.0)
        live.add(open_now)  # they end
    assert live.visits == 600


def test_live_score_keeps_the_few_visits_floor() -> None:
    from cafe_monitor.scoring import LiveScore

    live = LiveScore()
    live.add([one_hot("happy")] * 3)
    s, exact = live.score(), score_visits([one_hot("happy")] * 3)
    assert s.score == exact.score == 100.0
    assert s.low == pytest.approx(exact.low, abs=0.01)  # both: the prior_sd floor, 1.96*0.5/sqrt(3)


@pytest.mark.timing
def test_live_score_cost_does_not_grow_with_the_session() -> None:
    """A reading at 10,000 visits costs what one at 10 visits costs, measured side by side
    (the fastest of several rounds each, so a busy machine's pauses do not count)."""
    import time

    from cafe_monitor.scoring import LiveScore

    def cost(visits: int) -> float:
        live = LiveScore()
        live.add(np.random.default_rng(0).dirichlet(np.ones(7), size=visits))
        open_now = np.random.default_rng(1).dirichlet(np.ones(7), size=8)
        rounds = []
        for _ in range(7):
            t = time.perf_counter()
            for _ in range(20):
                live.score(open_now)
            rounds.append(time.perf_counter() - t)
        return min(rounds)

    small, large = cost(10), cost(10_000)
    assert large < 3 * small, (large, small)  # a bootstrap would cost ~1000 times more


def test_score_sums_of_cameras_add_up_to_the_score_of_all_their_visits() -> None:
    """The dashboard's combined gauge: each camera's running sums added = one LiveScore
    over every camera's visits (ended and open)."""
    from cafe_monitor.scoring import LiveScore, ScoreSums

    rng = np.random.default_rng(3)
    ended = [rng.dirichlet(np.ones(7), size=n) for n in (5, 0, 12)]
    still_open = [rng.dirichlet(np.ones(7), size=n) for n in (1, 2, 0)]
    cameras = [LiveScore() for _ in ended]
    for live, visits in zip(cameras, ended, strict=True):
        live.add(visits)
    combined = sum((live.sums(o) for live, o in zip(cameras, still_open, strict=True)), ScoreSums()).score()
    together = LiveScore()
    together.add(np.vstack(ended))
    assert combined == together.score(np.vstack(still_open))
    assert combined.visits == 20
    assert combined.score == pytest.approx(score_visits(np.vstack(ended + still_open)).score, abs=0.01)
    assert ScoreSums().score().score is None
