"""A headless session honours the customer area stored for its camera in settings.toml
(the same area the dashboard draws), on real face media."""

from __future__ import annotations

from pathlib import Path

import pytest

from cafe_monitor.config import load
from cafe_monitor.session import MonitorSession

pytestmark = pytest.mark.media


@pytest.mark.parametrize(("table", "visits"), [
    ("[cameras.till]\narea = [0.0, 0.0, 0.1, 0.1]\n", 0),  # a corner with no face: no visit
    ("[cameras.till]\narea = [0.0, 0.0, 1.0, 1.0]\n", 1),  # the whole frame: the face's visit
    ("[cameras.counter]\narea = [0.0, 0.0, 0.1, 0.1]\n", 1),  # another camera's area does not apply
    ("[region]\nx2 = 0.1\ny2 = 0.1\n", 0),  # the old form: the default camera's area
], ids=["corner", "whole-frame", "other-camera", "old-region-table"])
def test_headless_session_uses_its_cameras_stored_area(face_then_empty_clip: Path, tmp_path: Path,
                                                       table: str, visits: int) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(f"[storage]\ncamera_name = 'till'\n{table}")
    session = MonitorSession(load(path), source=str(face_then_empty_clip), store=False)
    try:
        result = session.run()
    finally:
        session.pipeline.close()
    assert result.stats.frames == 150
    assert len(result.visits) == visits
