"""Several cameras on the Live tab: a grid of views, one gauge per camera and a combined one.

1 camera fills the grid, 2 sit side by side, 3-4 make a 2x2 grid. The combined gauge
adds the cameras' running score sums (`ScoreSums`), so it is exactly the live formula
over all cameras' visits together. `GridWorker` runs a `Monitor` off the GUI thread and,
like `MonitorWorker`, keeps only each camera's newest state, so a slow window never lags.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from cafe_monitor.capture import CameraState
from cafe_monitor.config import Settings
from cafe_monitor.domain import Region, counted
from cafe_monitor.monitor import CameraPlan, CameraRun, Monitor
from cafe_monitor.scoring import Score, ScoreConfig, ScoreSums, empty_score
from cafe_monitor.session import LiveState
from cafe_monitor.ui.live import ScoreGauge, VideoView, camera_text, score_colour
from cafe_monitor.ui.today import TodayPanel
from cafe_monitor.ui.worker import RunWorker

log = logging.getLogger(__name__)

def grid_shape(cameras: int) -> tuple[int, int]:
    """(rows, columns): 1 -> 1x1, 2 -> side by side, 3-4 -> 2x2."""
    return (1, max(cameras, 1)) if cameras <= 2 else (2, 2)


def combined_sums(states: Sequence[LiveState]) -> ScoreSums:
    return sum((s.sums for s in states if s.sums is not None), ScoreSums())


class CameraTile(QFrame):
    """One camera: its name, its picture, its own score and its status line."""

    def __init__(self, name: str, region: Region = Region()) -> None:
        super().__init__()
        self.name = name
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(name)
        self.title.setStyleSheet("font-weight:bold; font-size:14px;")
        self.score = QLabel("–")
        font = QFont()
        font.setPointSize(22)
        font.setBold(True)
        self.score.setFont(font)
        self.score.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.detail = QLabel("no visits yet")
        self.detail.setStyleSheet("color:#555;")
        self.video = VideoView()  # draws as the single view does: every face blurred, labels off by default
        self.video.region = region
        self.video.setMinimumSize(240, 135)
        self.video.setText(f"{name}: starting…")
        self.status = QLabel("Camera: starting")
        self.status.setStyleSheet("color:#555;")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addStretch(1)
        head.addWidget(self.detail)
        head.addWidget(self.score)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(head)
        layout.addWidget(self.video, 1)
        layout.addWidget(self.status)

    def set_score(self, s: Score) -> None:
        self.score.setText("–" if s.score is None else f"{s.score:.0f}")
        self.score.setStyleSheet(f"color:{score_colour(s.score)};")
        self.detail.setText("no visits yet" if s.score is None else
                            f"{s.low:.0f}–{s.high:.0f} · {s.visits} visit{'s' * (s.visits != 1)}")

    def update_state(self, state: LiveState) -> None:
        self.video.show_state(state)
        self.set_score(state.score)
        self.status.setText(self.status_text(state))

    def show_problem(self, message: str) -> None:
        self.status.setText(f"⚠ {message}")
        self.status.setStyleSheet("color:#b00020;")

    @staticmethod
    def status_text(state: LiveState) -> str:
        text = (f"Camera: {camera_text(state)} · {state.processing_fps:.0f} fps · "
                f"dropped {state.dropped} · session {state.session_id or '-'}")
        return text + (f" · ⚠ database: {state.db_error}" if state.db_error else "")


class CameraGrid(QWidget):
    """The Live tab with several cameras: the combined gauge above a grid of camera tiles."""

    def __init__(self, score_config: ScoreConfig = ScoreConfig()) -> None:
        super().__init__()
        self.score_config = score_config
        self.tiles: dict[str, CameraTile] = {}
        self.states: dict[str, LiveState] = {}
        #: "machine too slow: ..." while the cameras are not all processed as fast as they deliver
        self.shortfall: str | None = None
        self.combined = ScoreGauge("Satisfaction (all cameras)")
        self.combined.setMaximumHeight(170)
        self.cameras_line = QLabel()
        self.cameras_line.setWordWrap(True)
        self.notice = QLabel()  # tells customers who see the screen what is measured
        self.notice.setWordWrap(True)
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setStyleSheet("background:#222; color:#eee; padding:6px; font-size:13px;")
        self.notice.hide()
        self.today = TodayPanel()  # today across every camera and the usual for this hour, as on one camera
        top = QHBoxLayout()
        top.addWidget(self.combined, 1)
        top.addWidget(self.cameras_line, 2)
        top.addWidget(self.today, 1)
        self.grid = QGridLayout()
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(self.grid, 1)
        layout.addWidget(self.notice)

    def set_cameras(self, cameras: Sequence[tuple[str, Region]], blur: bool = True, labels: bool = False) -> None:
        """Lay out one tile per camera (name, customer area), in order."""
        for tile in self.tiles.values():
            self.grid.removeWidget(tile)
            tile.deleteLater()
        self.tiles, self.states, self.shortfall = {}, {}, None
        _, columns = grid_shape(len(cameras))
        for i, (name, region) in enumerate(cameras):
            tile = CameraTile(name, region)
            tile.video.blur, tile.video.labels = blur, labels
            self.tiles[name] = tile
            self.grid.addWidget(tile, i // columns, i % columns)
        self.combined.set_score(empty_score())
        self.cameras_line.setText(f"{len(cameras)} cameras: " + ", ".join(n for n, _ in cameras))

    def set_blur(self, on: bool) -> None:
        for tile in self.tiles.values():
            tile.video.blur = on
            tile.video.redraw()  # a stopped or still camera gets no new frame

    def set_labels(self, on: bool) -> None:
        for tile in self.tiles.values():
            tile.video.labels = on
            tile.video.redraw()

    def set_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text.strip()))

    def update_states(self, states: dict[str, LiveState], shortfall: str | None = None) -> None:
        """Show each camera's newest state; `shortfall`: the monitor's, for the status line."""
        self.shortfall = shortfall
        for name, state in states.items():
            if name in self.tiles:
                self.states[name] = state
                self.tiles[name].update_state(state)
        self.combined.set_score(self.combined_score())

    def combined_score(self) -> Score:
        """The live score of every camera's visits together."""
        return combined_sums(list(self.states.values())).score(self.score_config)

    def status_text(self) -> str:
        live = sum(s.camera == CameraState.LIVE for s in self.states.values())
        text = f"{len(self.tiles)} cameras, {live} live · " + " · ".join(
            f"{n}: {camera_text(s)}" for n, s in self.states.items())
        return text + (f" · ⚠ {self.shortfall}" if self.shortfall else "")


class GridWorker(RunWorker):
    """Runs a Monitor (up to four cameras) off the GUI thread; `finished` carries its
    list[CameraRun]."""

    def __init__(self, settings: Settings, plans: Sequence[CameraPlan], *, db_url: str | None = None,
                 model: Path | None = None) -> None:
        super().__init__("monitor-grid")
        self.settings, self.plans, self.db_url, self.model = settings, list(plans), db_url, model
        self._latest: dict[str, LiveState] = {}
        self._monitor: Monitor | None = None

    def cameras(self) -> list[tuple[str, Region]]:
        """Each camera's name and the customer area it watches."""
        return [(p.name, self.settings.profile(p.name).area) for p in self.plans]

    def take(self) -> dict[str, LiveState]:
        """The newest state of each camera that has one since the last take."""
        with self._lock:
            states, self._latest, self._pending = self._latest, {}, False
            return states

    def shortfall(self) -> str | None:
        """The running monitor's "machine too slow: ..." line, or None."""
        monitor = self._monitor
        return monitor.shortfall() if monitor is not None else None

    def _on_state(self, name: str, state: LiveState) -> None:
        with self._lock:
            self._latest[name] = state
            notify, self._pending = not self._pending, True
        if notify:
            self.state_ready.emit()

    def _current(self) -> Monitor | None:
        return self._monitor

    def _work(self) -> list[CameraRun]:
        # realtime: files are paced like cameras, for people watching
        monitor = Monitor(self.settings, self.plans, db_url=self.db_url, model=self.model, realtime=True)
        self._monitor = monitor
        if self._stop_requested.is_set():
            monitor.stop()
        return monitor.run(on_state=self._on_state)

    def _close(self) -> None:
        if self._monitor is not None:
            self._monitor.close()


def runs_summary(runs: Sequence[CameraRun]) -> str:
    """One status line for a finished multi-camera run."""
    parts = []
    for r in runs:
        if r.result is None:
            parts.append(f"{r.name}: failed ({r.error})")
        else:
            s = r.result.score
            parts.append(f"{r.name}: session {r.result.session_id}, {counted(len(r.result.visits), 'visit')}"
                         + (f", score {s.score:.0f}" if s.score is not None else ""))
    return "Cameras ended: " + "; ".join(parts) + ". See History."
