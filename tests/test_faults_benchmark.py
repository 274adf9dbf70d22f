"""The fault benchmark's accounting (benchmarks/faults.py): what counts as a visit expected
and as a second lost, without running the day itself (about 9 minutes)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from cafe_monitor.localtime import CafeClock


@pytest.fixture(scope="module")
def faults() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "faults.py"
    if str(path.parent) not in sys.path:  # as when run as a script: its sibling pipeline_options
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("faults_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_lost_seconds_are_served_seconds_without_a_stored_second(faults: ModuleType) -> None:
    stored = set(range(100, 110)) | set(range(115, 130))
    # served from 100.5 to 130: seconds 101..129 are whole; 110..114 missing
    assert faults.lost_seconds(stored, [(100.5, 130.0)], (0.0, 200.0)) == 5
    # only the window counts, and seconds the camera did not serve are not lost
    assert faults.lost_seconds(stored, [(100.5, 130.0)], (112.0, 200.0)) == 3
    assert faults.lost_seconds(set(), [(100.0, 105.0), (120.0, 122.0)], (0.0, 200.0)) == 7
    assert faults.lost_seconds(set(), [(100.0, 105.0)], (200.0, 300.0)) == 0


def test_each_up_interval_starts_a_new_loop(faults: ModuleType) -> None:
    shown = faults.appearances([(0.0, 50.0), (60.0, 65.0)], face_s=20.0, cycle_s=25.0)
    assert shown == [(0.0, 20.0), (25.0, 45.0), (60.0, 65.0)]


def test_a_visit_in_view_across_a_restart_is_expected_once_per_session(faults: ModuleType) -> None:
    shown = [(0.0, 20.0), (25.0, 45.0)]
    recording = [(-5.0, 10.0), (14.0, 100.0)]  # stopped at 10 s, restarted at 14 s
    assert faults.expected_visits(shown, recording) == [(0.0, 10.0), (14.0, 20.0), (25.0, 45.0)]
    # a glimpse shorter than a visit needs is not expected
    assert faults.expected_visits(shown, [(19.0, 100.0)]) == [(25.0, 45.0)]


def test_visit_counts_pair_each_expected_visit_with_its_stored_one(faults: ModuleType) -> None:
    expected = [(0.0, 20.0), (25.0, 45.0), (50.0, 70.0)]
    stored = [(0.8, 20.1), (25.9, 45.0), (50.5, 70.2)]  # each a little late, as frames arrive
    assert faults.visit_counts(expected, stored, (-10.0, 100.0)) == (3, 3)
    # a window edge between an expected visit's middle (35) and its stored one's (35.45): still one each
    assert faults.visit_counts(expected, stored, (-10.0, 35.2)) == (2, 2)
    # two appearances stored as one visit (stretched over a camera outage): one lost
    assert faults.visit_counts(expected, [(0.8, 45.0), (50.5, 70.2)], (-10.0, 100.0)) == (3, 2)
    # one split in two: an extra visit
    assert faults.visit_counts(expected[:1], [(0.8, 9.0), (12.0, 20.0)], (-10.0, 100.0)) == (1, 2)


def test_first_stored_after(faults: ModuleType) -> None:
    assert faults.first_stored_after({5, 9, 12}, 8.5, 10.0) == pytest.approx(0.5)
    assert faults.first_stored_after({5}, 8.5, 10.0) is None


@pytest.mark.parametrize("hour", [0, 5, 12, 13, 23])
def test_zone_makes_the_business_day_end_at_the_boundary(faults: ModuleType, hour: int) -> None:
    boundary = dt.datetime(2026, 12, 3, hour, 37, tzinfo=dt.timezone.utc)
    zone, start = faults.zone_for(boundary)
    clock = CafeClock.of(zone, start)
    day = clock.business_day(boundary - dt.timedelta(seconds=1))
    assert clock.day_range(day)[1] == boundary
