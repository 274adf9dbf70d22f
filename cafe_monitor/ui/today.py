"""The Live tab's "today at a glance": today's score so far across every session and
camera, and the usual score for this hour, beside the per-session gauge.

Read from the database every ~30 s and when a session ends, in a `Loader` thread: the
GUI thread never waits on the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QShowEvent
from PyQt6.QtWidgets import QFrame, QLabel, QVBoxLayout

from cafe_monitor.localtime import CafeClock
from cafe_monitor.scoring import ScoreConfig
from cafe_monitor.storage import Engine
from cafe_monitor.storage.queries import Counter
from cafe_monitor.today import Figure, Glance, load_glance
from cafe_monitor.ui.worker import Loader

REFRESH_MS = 30_000


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def today_text(g: Glance) -> str:
    return f"Today so far: {_figure(g.today, days=False)}"


def usual_text(g: Glance) -> str:
    return f"Usual for {g.hour}: {_figure(g.usual, days=True)}"


def _figure(f: Figure, *, days: bool) -> str:
    if f.score is None:
        return "no data yet"
    counts = f"n = {_plural(f.days, 'day')}, {_plural(f.visits, 'visit')}" if days else _plural(f.visits, "visit")
    return f"{f.score:.0f} ({counts})"


class TodayPanel(QFrame):
    """Two lines under the session gauge; inert until `attach` names the database."""

    def __init__(self) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel("Today at a glance")
        self.title.setStyleSheet("color:#555; font-size:13px;")
        self.today = QLabel("Today so far: –")
        self.today.setStyleSheet("font-size:15px; font-weight:bold;")
        self.usual = QLabel("Usual for this hour: –")
        self.usual.setStyleSheet("font-size:13px;")
        self.note = QLabel()  # a read error, in words
        self.note.setStyleSheet("color:#b00020;")
        self.note.setWordWrap(True)
        self.note.hide()
        layout = QVBoxLayout(self)
        for w in (self.title, self.today, self.usual, self.note):
            w.setAlignment(Qt.AlignmentFlag.AlignLeft)
            layout.addWidget(w)
        self.usual.setWordWrap(True)
        self.loader = Loader("today")
        self.loader.loaded.connect(self._show)
        self.loader.failed.connect(self._failed)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._tick)
        self.now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)
        self.shown: Glance | None = None
        self._source: tuple[Callable[[], Engine], CafeClock, ScoreConfig, Counter] | None = None
        self._stale = False  # a read was due while hidden

    def attach(self, engine_factory: Callable[[], Engine], clock: CafeClock, score_config: ScoreConfig,
               counter: Counter) -> None:
        """Read these counters (this site) from this database, now and every 30 s."""
        self._source = (engine_factory, clock, score_config, counter)
        self.timer.start()
        self.refresh()

    @property
    def loading(self) -> bool:
        return self.loader.busy

    def refresh(self) -> None:
        if self._source is None:
            return
        factory, clock, cfg, counter = self._source
        self._stale = False
        now = self.now()
        self.loader.load(lambda: load_glance(factory(), now, clock, cfg, counter))

    def refresh_when_shown(self) -> None:
        """Read now if on screen, else as soon as it is shown: a hidden panel (the single
        view's, behind the grid) does not read the database for nobody."""
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def _tick(self) -> None:
        self.refresh_when_shown()

    def showEvent(self, event: QShowEvent | None) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def _show(self, g: Glance) -> None:
        self.shown = g
        self.note.hide()
        self.today.setText(today_text(g))
        self.usual.setText(usual_text(g))
        self.setToolTip(f"Business day {g.day:%a %d %b %Y} ({g.zone}); the usual pools the same hour of the last "
                        f"{g.weeks} {g.day:%A}s. Updated {dt.datetime.now(ZoneInfo(g.zone)):%H:%M:%S}.")

    def _failed(self, message: str) -> None:
        self.note.setText(f"Could not read today's figures: {message}")
        self.note.show()
