from __future__ import annotations

import numpy as np
import pytest

from cafe_monitor.session import RecentMix


def test_recent_mix_is_a_sliding_mean() -> None:
    mix = RecentMix(seconds=10)
    happy, sad = np.eye(7)[3], np.eye(7)[4]
    for t in range(10):
        mix.add(float(t), [happy])
    mix.add(10.5, [sad, sad])
    # the window is the last 10 s: the frame at t=0 has just left it
    assert mix.mix()["happy"] == pytest.approx(9 / 11) and mix.mix()["sad"] == pytest.approx(2 / 11)
    mix.add(30.0, [])  # everything older than 10 s falls out
    assert mix.mix()["sad"] == 0.0 and len(mix._items) == 0


def test_recent_mix_memory_is_bounded_per_second() -> None:
    mix = RecentMix(seconds=300)
    for i in range(30 * 600):  # ten minutes at 30 fps
        mix.add(i / 30, [np.eye(7)[3]])
    assert len(mix._items) <= 302
