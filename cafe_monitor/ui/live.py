"""Live monitor: camera image with moods, score gauge, emotion mix, session timeline."""

from __future__ import annotations

import datetime as dt
import html
import time
from typing import ClassVar

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPoint, QRect, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from cafe_monitor.annotate import draw
from cafe_monitor.capture import CameraState
from cafe_monitor.domain import CLASSES, Region, counted
from cafe_monitor.domain import COLOURS as EMOTION_QCOLOURS
from cafe_monitor.localtime import CafeClock
from cafe_monitor.scoring import Score
from cafe_monitor.session import LiveState
from cafe_monitor.ui.today import TodayPanel


def score_colour(score: float | None) -> str:
    if score is None:
        return "#888888"
    return "#2ca02c" if score >= 60 else "#e6a100" if score >= 45 else "#d62728"


def camera_text(state: LiveState) -> str:
    """The camera's state in words, for the single view's and the grid's status lines; a
    silent camera says for how long, and what is waited for says when it is tried again
    ("camera 0 not found, retrying in 4 s", "database not reachable, retrying in 8 s")."""
    if state.problem:
        return state.problem
    if state.camera is CameraState.STALLED:
        age = f" – no frame for {state.frame_age:.0f} s" if state.frame_age is not None else ""
        return f"stalled{age}"
    return {CameraState.LIVE: "live", CameraState.RECONNECTING: "reconnecting…", CameraState.ENDED: "ended",
            CameraState.FAILED: "failed", CameraState.STARTING: "starting"}[state.camera]


class VideoView(QLabel):
    """Shows a session's frames scaled to fit, drawn with the privacy settings (every face
    blurred, labels off by default) and the customer area; lets staff drag a rectangle =
    customers' side. Used by the single view and by each camera of the grid."""

    region_drawn = pyqtSignal(object)  # Region

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumSize(QSize(480, 270))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background:#111; color:#ccc; font-size:15px;")
        self.setText("No session running.\nPress Start (camera) or Open video…")
        self.region = Region()
        self.blur = True  # private by default: every detected face is pixelated
        self.labels = False  # per-face moods only while setting up
        self._drawn: LiveState | None = None  # the last state with a frame, to redraw on a toggle
        self.drawing = False
        self._drag_from: QPoint | None = None
        self._drag_to: QPoint | None = None
        self._image_rect = QRect()

    def show_state(self, state: LiveState) -> None:
        """Draw a state's frame (a state without one keeps the last frame shown)."""
        if state.frame is not None:
            self._drawn = state
            self.redraw()

    def redraw(self) -> None:
        """Draw the last frame again (after blur, labels or the area changed; a still image
        or a stopped session gets no new frame)."""
        state = self._drawn
        if state is not None and state.frame is not None:
            self.show_image(draw(state.frame.image, state.faces, boxes=state.boxes, region=self.region,
                                 blur=self.blur, labels=self.labels))

    def show_image(self, bgr: np.ndarray) -> None:
        h, w = bgr.shape[:2]
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        qimg = QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888)
        pix = QPixmap.fromImage(qimg).scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation)
        self._image_rect = QRect((self.width() - pix.width()) // 2, (self.height() - pix.height()) // 2,
                                 pix.width(), pix.height())
        self.setPixmap(pix)

    def to_fraction(self, p: QPoint) -> tuple[float, float]:
        r = self._image_rect if not self._image_rect.isEmpty() else self.rect()
        return (min(1.0, max(0.0, (p.x() - r.x()) / max(1, r.width()))),
                min(1.0, max(0.0, (p.y() - r.y()) / max(1, r.height()))))

    def mousePressEvent(self, ev: QMouseEvent | None) -> None:
        if self.drawing and ev is not None:
            self._drag_from = self._drag_to = ev.position().toPoint()

    def mouseMoveEvent(self, ev: QMouseEvent | None) -> None:
        if self.drawing and self._drag_from is not None and ev is not None:
            self._drag_to = ev.position().toPoint()
            self.update()

    def mouseReleaseEvent(self, ev: QMouseEvent | None) -> None:
        if not (self.drawing and self._drag_from is not None and ev is not None):
            return
        (x1, y1), (x2, y2) = self.to_fraction(self._drag_from), self.to_fraction(ev.position().toPoint())
        self._drag_from = self._drag_to = None
        self.drawing = False
        self.setCursor(Qt.CursorShape.ArrowCursor)
        self.update()
        if abs(x2 - x1) > 0.05 and abs(y2 - y1) > 0.05:
            self.region_drawn.emit(Region(round(min(x1, x2), 3), round(min(y1, y2), 3),
                                          round(max(x1, x2), 3), round(max(y1, y2), 3)))

    def paintEvent(self, ev: QPaintEvent | None) -> None:
        super().paintEvent(ev)
        if self._drag_from is not None and self._drag_to is not None:
            p = QPainter(self)
            p.setPen(QPen(QColor("#ffd700"), 2, Qt.PenStyle.DashLine))
            p.drawRect(QRect(self._drag_from, self._drag_to).normalized())
            p.end()


class ScoreGauge(QFrame):
    """The big number staff glance at, with its certainty and visit count."""

    def __init__(self, title: str = "Satisfaction (this session)") -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        heading = QLabel(title)
        heading.setStyleSheet("color:#555; font-size:13px;")
        self.number = QLabel("–")
        font = QFont()
        font.setPointSize(44)
        font.setBold(True)
        self.number.setFont(font)
        self.number.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail = QLabel("no visits yet")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        for w in (heading, self.number, self.detail):
            layout.addWidget(w)

    def set_score(self, s: Score) -> None:
        if s.score is None:
            self.number.setText("–")
            self.detail.setText("no visits yet")
        else:
            self.number.setText(f"{s.score:.0f}")
            self.detail.setText(f"95% interval {s.low:.0f}–{s.high:.0f} · {counted(s.visits, 'visit')}\n"
                                f"satisfied {s.satisfied:.0%} · dissatisfied {s.dissatisfied:.0%}")
        self.number.setStyleSheet(f"color:{score_colour(s.score)};")


class EmotionMixChart(pg.PlotWidget):
    def __init__(self, title: str = "Emotion mix, last 5 minutes") -> None:
        super().__init__()
        self.setBackground("w")
        self.setTitle(title, color="#333", size="10pt")
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.getAxis("left").setTicks([[(i, c) for i, c in enumerate(CLASSES)]])
        self.setXRange(0, 1)
        self.setYRange(-0.6, len(CLASSES) - 0.4)
        self.getPlotItem().invertY(True)
        self.bars = pg.BarGraphItem(x0=0, y=list(range(len(CLASSES))), height=0.7, width=[0.0] * len(CLASSES),
                                    brushes=[EMOTION_QCOLOURS[c] for c in CLASSES])
        self.addItem(self.bars)

    def set_mix(self, mix: dict[str, float]) -> None:
        self.bars.setOpts(width=[mix.get(c, 0.0) for c in CLASSES])


class ScoreTimeline(pg.PlotWidget):
    #: the shortest time the axis shows (seconds): clock ticks, never fractions of a second
    MIN_SPAN = 60.0

    def __init__(self) -> None:
        self.axis = pg.DateAxisItem()
        super().__init__(axisItems={"bottom": self.axis})
        self.setBackground("w")
        self.set_clock(None)
        self.setYRange(0, 100)
        self.setLabel("left", "score")
        self.showGrid(y=True, alpha=0.2)
        self.curve = self.plot(pen=pg.mkPen("#2ca02c", width=2))
        self.lo = self.plot(pen=pg.mkPen("#2ca02c", width=1, style=Qt.PenStyle.DotLine))
        self.hi = self.plot(pen=pg.mkPen("#2ca02c", width=1, style=Qt.PenStyle.DotLine))
        self.empty = pg.TextItem("no visits yet", color="#888888", anchor=(0.5, 0.5))
        self.addItem(self.empty)
        self.clear_points()

    def clear_points(self) -> None:
        self.t: list[float] = []
        self.v: list[float] = []
        self.vl: list[float] = []
        self.vh: list[float] = []
        for c in (self.curve, self.lo, self.hi):
            c.setData([], [])
        # an empty chart still reads as one: the clock from now on and the 0-100 score, says why it is empty
        now = time.time()
        self.setXRange(now, now + 600, padding=0)
        self.empty.setPos(now + 300, 50)
        self.empty.show()

    def add(self, t: float, s: Score) -> None:
        if s.score is None or (self.t and t - self.t[-1] < 1.0):
            return  # one point a second is plenty for a day-long session
        if not self.t:
            self.empty.hide()
        self.t.append(t)
        self.v.append(s.score)
        self.vl.append(s.low or 0.0)
        self.vh.append(s.high or 100.0)
        self.curve.setData(self.t, self.v)
        self.lo.setData(self.t, self.vl)
        self.hi.setData(self.t, self.vh)
        if self.t[-1] - self.t[0] < self.MIN_SPAN:  # a few seconds would read as "34.500 35.000 …"
            self.setXRange(self.t[0], self.t[0] + self.MIN_SPAN, padding=0)
        else:
            self.enableAutoRange(x=True)


    def set_clock(self, clock: CafeClock | None) -> None:
        """Times on the axis in the café's zone (named in the title), not the computer's."""
        if clock is None:
            self.axis.utcOffset = None
            self.setTitle("Session score over time", color="#333", size="10pt")
            return
        offset = clock.local(dt.datetime.now(dt.timezone.utc)).utcoffset() or dt.timedelta(0)
        self.axis.utcOffset = -int(offset.total_seconds())  # pyqtgraph counts seconds west of UTC
        self.setTitle(f"Session score over time ({clock.name})", color="#333", size="10pt")


class LiveView(QWidget):
    open_file_requested = pyqtSignal()

    def __init__(self) -> None:
        super().__init__()
        self.video = VideoView()
        self.gauge = ScoreGauge()
        self.today = TodayPanel()  # today's score and the usual for this hour, from the database
        self.mix = EmotionMixChart()
        self.timeline = ScoreTimeline()
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background:#fff3cd; color:#664d03; padding:8px; border:1px solid #ffe69c;")
        self.banner_button = QPushButton("Open video file…")
        self.banner_button.clicked.connect(self.open_file_requested.emit)
        banner_row = QHBoxLayout()
        banner_row.addWidget(self.banner, 1)
        banner_row.addWidget(self.banner_button)
        self.banner_box = QWidget()
        self.banner_box.setLayout(banner_row)
        self.banner_box.hide()
        self.notice = QLabel()  # tells customers who see the screen what is measured
        self.notice.setWordWrap(True)
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setStyleSheet("background:#222; color:#eee; padding:6px; font-size:13px;")

        right = QVBoxLayout()
        right.addWidget(self.gauge)
        right.addWidget(self.today)
        right.addWidget(self.mix, 1)
        left = QVBoxLayout()
        left.addWidget(self.banner_box)
        left.addWidget(self.video, 3)
        left.addWidget(self.notice)
        left.addWidget(self.timeline, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 3)
        side = QWidget()
        side.setLayout(right)
        side.setMaximumWidth(360)
        layout.addWidget(side, 1)

    # how the preview is drawn lives with the preview (the grid's tiles draw the same way)
    @property
    def region(self) -> Region:
        return self.video.region

    @region.setter
    def region(self, region: Region) -> None:
        self.video.region = region

    @property
    def blur(self) -> bool:
        return self.video.blur

    @blur.setter
    def blur(self, on: bool) -> None:
        self.video.blur = on

    @property
    def labels(self) -> bool:
        return self.video.labels

    @labels.setter
    def labels(self, on: bool) -> None:
        self.video.labels = on

    def redraw(self) -> None:
        self.video.redraw()

    def set_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text.strip()))

    def show_problem(self, message: str) -> None:
        self.banner.setText(message)
        self.banner_box.show()

    def clear_problem(self) -> None:
        self.banner_box.hide()

    def reset(self) -> None:
        self.timeline.clear_points()
        self.gauge.set_score(Score(0, None, None, None, None, None, {}))
        self.mix.set_mix({})

    def update_state(self, state: LiveState) -> None:
        self.video.show_state(state)
        self.gauge.set_score(state.score)
        self.mix.set_mix(state.recent_mix)
        self.timeline.add(time.time(), state.score)

    #: the status line's camera word when the camera needs attention
    CAMERA_ATTENTION_COLOURS: ClassVar[dict[CameraState, str]] = {
        CameraState.STALLED: "#b86e00", CameraState.RECONNECTING: "#d62728", CameraState.FAILED: "#d62728"}

    @staticmethod
    def status_text(state: LiveState) -> str:
        """The status line as plain text (fps over the last few seconds, not the session)."""
        return f"Camera: {camera_text(state)}   {LiveView._status_rest(state)}"

    @staticmethod
    def status_markup(state: LiveState) -> str:
        """The status line as rich text: a camera that needs attention stands out (amber
        when stalled, red when reconnecting or failed)."""
        camera = html.escape(camera_text(state))
        colour = "#d62728" if state.problem else LiveView.CAMERA_ATTENTION_COLOURS.get(state.camera)
        if colour is not None:
            camera = f'<b style="color:{colour}">{camera}</b>'
        rest = html.escape(LiveView._status_rest(state)).replace("   ", "&nbsp;&nbsp; ")
        # one tag always, so a label (auto text format) reads it as rich text even when the
        # camera is fine and nothing is coloured: else "&nbsp;" is shown literally
        return f"<span>Camera: {camera}&nbsp;&nbsp; {rest}</span>"

    @staticmethod
    def _status_rest(state: LiveState) -> str:
        provider = state.provider.replace("ExecutionProvider", "")
        text = (f"Input {state.input_fps:.0f} fps   Processing {state.processing_fps:.0f} fps   "
                f"Dropped {state.dropped}   Inference: {provider}   Session {state.session_id or '-'}")
        if state.db_error:
            text += f"   ⚠ database: {state.db_error}"
        return text
