"""The Live tab with several cameras: grid layout, per-camera and combined gauges, and a
real two-camera run from the main window (offscreen, pytest-qt)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtGui import QImage

from cafe_monitor import storage
from cafe_monitor.capture import CameraState, Frame
from cafe_monitor.config import Settings, parse
from cafe_monitor.domain import Box, Region, counted
from cafe_monitor.scoring import LiveScore, ScoreSums
from cafe_monitor.session import LiveState
from cafe_monitor.ui.app import MainWindow
from cafe_monitor.ui.grid import CameraGrid, GridWorker, grid_shape
from tests.conftest import ASSETS, clip_frames

#: where the screenshots go for a person to look at (docs/ takes one of them)
SHOTS = Path(os.environ.get("CAFE_MONITOR_SHOTS", "")) if os.environ.get("CAFE_MONITOR_SHOTS") else None


def state(image: np.ndarray, visits: np.ndarray, camera: CameraState = CameraState.LIVE) -> LiveState:
    live = LiveScore()
    live.add(visits)
    sums = live.sums()
    return LiveState(frame=Frame(image, 0, 0.0), faces=[], score=sums.score(), camera=camera, input_fps=25.0,
                     processing_fps=24.0, dropped=0, provider="CPU int8", recent_mix={}, visits_done=len(visits),
                     session_id=7, sums=sums)


def test_grid_shapes() -> None:
    assert [grid_shape(n) for n in (1, 2, 3, 4)] == [(1, 1), (1, 2), (2, 2), (2, 2)]


@pytest.mark.parametrize("cameras", [2, 4])
def test_grid_lays_out_cameras_and_combines_their_scores(qtbot, cameras: int, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    grid = CameraGrid()
    qtbot.addWidget(grid)
    grid.resize(1200, 760)
    names = ["counter", "seats", "terrace", "door"][:cameras]
    grid.set_cameras([(n, Region(0.0, 0.2, 1.0, 1.0) if n == "seats" else Region()) for n in names])
    grid.show()
    frames = clip_frames(ASSETS / "demo_emotions.mp4", [20, 150, 300, 440])
    rng = np.random.default_rng(0)
    visits = {n: rng.dirichlet(np.ones(7) * 0.3, size=3 + 4 * i) for i, n in enumerate(names)}
    grid.update_states({n: state(frames[i], visits[n]) for i, n in enumerate(names)})
    qtbot.wait(50)

    tiles = [grid.tiles[n] for n in names]
    rows = [grid.grid.getItemPosition(grid.grid.indexOf(t))[:2] for t in tiles]
    assert rows == ([(0, 0), (0, 1)] if cameras == 2 else [(0, 0), (0, 1), (1, 0), (1, 1)])
    assert tiles[0].geometry().top() == tiles[1].geometry().top()  # side by side
    if cameras == 4:
        assert tiles[2].geometry().top() > tiles[0].geometry().bottom()  # a second row
    for n, t in zip(names, tiles, strict=True):
        assert t.title.text() == n and t.score.text() == f"{state(frames[0], visits[n]).score.score:.0f}"
        assert t.video.pixmap() is not None and not t.video.pixmap().isNull()
        assert "Camera: live" in t.status.text()

    everyone = LiveScore()
    everyone.add(np.vstack(list(visits.values())))
    assert grid.combined_score() == everyone.score()  # all cameras' visits together, one formula
    assert grid.combined.number.text() == f"{everyone.score().score:.0f}"
    assert f"{sum(len(v) for v in visits.values())} visits" in grid.combined.detail.text()
    assert grid.status_text().startswith(f"{cameras} cameras, {cameras} live")

    grid.update_states({names[0]: state(frames[0], visits[names[0]], CameraState.RECONNECTING)})
    assert "reconnecting" in grid.tiles[names[0]].status.text() and f"{names[0]}: reconnecting" in grid.status_text()
    assert "too slow" not in grid.status_text()
    slow = "machine too slow: each camera processed at 22 of 30 frames/s"
    grid.update_states({}, slow)  # the monitor's shortfall reaches the status line, and leaves it
    assert grid.status_text().startswith(f"{cameras} cameras") and grid.status_text().endswith(f" · ⚠ {slow}")
    grid.update_states({}, None)
    assert "too slow" not in grid.status_text()
    shot = grid.grab()
    assert shot.save(str(tmp_path / f"grid-{cameras}.png"))
    if SHOTS is not None:
        shot.save(str(SHOTS / f"grid-{cameras}.png"))


def test_one_camera_without_sums_counts_nothing_twice(qtbot) -> None:  # type: ignore[no-untyped-def]
    grid = CameraGrid()
    qtbot.addWidget(grid)
    grid.set_cameras([("counter", Region())])
    blank = np.zeros((90, 160, 3), np.uint8)
    s = state(blank, np.zeros((0, 7)))
    grid.update_states({"counter": s, "not-shown": s})
    assert list(grid.states) == ["counter"] and grid.combined_score().score is None
    assert ScoreSums().score() == grid.combined_score()


def test_a_stalled_camera_says_so_on_its_tile_and_the_status_line(qtbot) -> None:  # type: ignore[no-untyped-def]
    grid = CameraGrid()
    qtbot.addWidget(grid)
    grid.set_cameras([("counter", Region()), ("seats", Region())])
    silent = dataclasses.replace(state(np.zeros((90, 160, 3), np.uint8), np.zeros((0, 7)), CameraState.STALLED),
                                 frame_age=3.2)
    grid.update_states({"counter": silent})
    assert "Camera: stalled – no frame for 3 s" in grid.tiles["counter"].status.text()
    assert "counter: stalled – no frame for 3 s" in grid.status_text()


def test_blur_and_labels_toggles_redraw_every_tile_without_a_new_frame(qtbot) -> None:  # type: ignore[no-untyped-def]
    """A stopped grid (or a still image) gets no new frame: the toggle must redraw what is shown."""
    grid = CameraGrid()
    qtbot.addWidget(grid)
    grid.resize(800, 400)
    grid.set_cameras([("counter", Region()), ("seats", Region())])
    grid.show()
    image = np.random.default_rng(1).integers(0, 255, (180, 320, 3), dtype=np.uint8)  # texture a blur changes
    shown = dataclasses.replace(state(image, np.zeros((0, 7))), boxes=[Box(40, 40, 200, 160)])
    grid.update_states({"counter": shown, "seats": shown})

    def drawn() -> dict[str, QImage]:
        return {n: t.video.pixmap().toImage() for n, t in grid.tiles.items()}

    blurred = drawn()
    grid.set_blur(False)
    sharp = drawn()
    assert all(sharp[n] != blurred[n] for n in grid.tiles)  # redrawn at once, faces now sharp
    assert all(not t.video.blur for t in grid.tiles.values())
    grid.set_blur(True)
    assert drawn() == blurred
    grid.set_labels(True)
    assert all(t.video.labels for t in grid.tiles.values())


@pytest.mark.media
def test_main_window_runs_two_cameras_in_a_grid(qtbot, db_url: str, customers_gif: Path,  # type: ignore[no-untyped-def]
                                                face_then_empty_clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse({"storage": {"camera_name": "till"},
                      "cameras": {"till": {"source": str(customers_gif)},
                                  "seats": {"source": str(face_then_empty_clip), "area": [0.0, 0.0, 0.05, 0.05]}}})
    window = MainWindow(settings, db_url=db_url)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    assert window.start_all_action.isVisible()  # two [cameras.*] tables with a source
    assert not MainWindow(Settings(), db_url=db_url).start_all_action.isVisible()
    slow = "machine too slow: each camera processed at 9 of 25 frames/s"
    real_shortfall = GridWorker.shortfall
    asked: list[str | None] = []

    def said(worker: GridWorker) -> str | None:
        asked.append(real_shortfall(worker))  # the running monitor's own (None: keeping up, or a shortfall)
        return slow

    monkeypatch.setattr(GridWorker, "shortfall", said)
    window.start_all()
    try:
        assert window.live_views.currentWidget() is window.grid and list(window.grid.tiles) == ["till", "seats"]
        qtbot.waitUntil(lambda: window.status.text().endswith(f"⚠ {slow}"), timeout=30000)  # the status line
        assert all(a is None or a.startswith("machine too slow") for a in asked)
        assert not window.start_action.isEnabled() and window.stop_action.isEnabled()
        qtbot.waitUntil(lambda: "Cameras ended" in window.status.text(), timeout=60000)
        ended = window.status.text()
    finally:
        if window.grid_worker is not None and window.grid_worker.running:
            window.stop()
            window.grid_worker.wait(10)
    assert "till: session" in ended and "seats: session" in ended
    assert window.grid.tiles["seats"].score.text() == "–"  # its area excludes the face
    assert window.start_all_action.isEnabled()
    sessions = {s.camera: s for s in storage.list_sessions(window.engine())}
    assert set(sessions) == {"till", "seats"} and all(s.status == "ended" for s in sessions.values())
    # the till's tile says what was stored of it (the clips are paced like cameras here, so how
    # many of the three customers a busy machine keeps is not this test's; test_monitor counts them)
    till_visits = len(storage.session_visits(window.engine(), sessions["till"].id))
    assert till_visits >= 1 and window.grid.tiles["till"].detail.text().endswith(counted(till_visits, "visit"))
    if SHOTS is not None:
        window.grab().save(str(SHOTS / "dashboard-grid.png"))

    window.tabs.setCurrentIndex(1)  # History's camera picker offers each camera by its name
    qtbot.waitUntil(lambda: window.history.camera.count() == 3, timeout=10000)
    assert {window.history.camera.itemData(i) for i in range(window.history.camera.count())} == {
        None, "till", "seats"}


def test_cameras_added_in_settings_offer_start_all_at_once(qtbot, db_url: str,  # type: ignore[no-untyped-def]
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    window = MainWindow(Settings(), db_url=db_url, settings_file=Path(db_url.removeprefix("sqlite:///")).with_suffix(".toml"))
    qtbot.addWidget(window)
    assert not window.start_all_action.isVisible()
    two = parse({"cameras": {"till": {"source": "0"}, "seats": {"source": "1"}}})

    class Saved:
        result_settings = two

        def __init__(self, *args: object) -> None:
            pass

        def exec(self) -> bool:
            return True

    monkeypatch.setattr("cafe_monitor.ui.app.SettingsDialog", Saved)
    window.edit_settings()
    assert window.start_all_action.isVisible()
