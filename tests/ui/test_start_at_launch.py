"""`cafe-monitor run --start` and `[camera] start_at_launch`: the dashboard starts monitoring
as it opens (offscreen, where the quick start otherwise waits for a click)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cafe_monitor.config import CameraSettings, Settings, StorageSettings
from cafe_monitor.ui.app import launch


@pytest.mark.parametrize("start", [True, False])
def test_start_flag_starts_monitoring_at_launch(qtbot, looping_clip: Path, db_url: str,  # type: ignore[no-untyped-def]
                                                start: bool) -> None:
    settings = Settings(camera=CameraSettings(source=str(looping_clip), loop=True, start_at_launch=False),
                        storage=StorageSettings(url=db_url))
    window = launch(settings, start=start)
    qtbot.addWidget(window)
    try:
        assert window.isVisible()
        assert (window.worker is not None and window.worker.running) is start
        assert window.stop_action.isEnabled() is start
    finally:
        window.quitting = True
        window.close()
    assert window.worker is None or not window.worker.running
