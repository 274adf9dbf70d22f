"""After hours: a business day's score/mix/visits by local hour, the daily trend,
compare two days, the day's sessions and a session's timeline, for a site and camera.

Every read runs in a `Loader` thread; the widgets are drawn when the figures arrive, so
switching days on a year of data never freezes the window. Hours and days are the
café's (`CafeClock`), and every chart names the zone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QDate, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cafe_monitor import history
from cafe_monitor.domain import CLASSES, counted
from cafe_monitor.domain import COLOURS as EMOTION_QCOLOURS
from cafe_monitor.localtime import CafeClock
from cafe_monitor.scoring import ScoreConfig, to_score, visit_valence
from cafe_monitor.site_clock import site_clock
from cafe_monitor.storage import Engine
from cafe_monitor.storage.queries import (
    Counter,
    TimelinePoint,
    VisitInfo,
    cameras,
    find_session,
    sites,
    timeline_of,
    visits_of,
)
from cafe_monitor.ui.worker import Loader, failure_message


def _legend_outside(plot: pg.PlotWidget, columns: int) -> pg.LegendItem:
    """The plot's legend in its own row under the x axis, so it can never cover a bar
    (pyqtgraph's own legend floats over the data). Named items join it as usual."""
    item = plot.getPlotItem()
    legend = pg.LegendItem(colCount=columns, labelTextSize="8pt", labelTextColor="#333")
    item.layout.addItem(legend, 4, 1)  # rows: title, top axis, view, bottom axis
    item.legend = legend
    return legend


def _show_clock(plot: pg.PlotWidget, offset: dt.timedelta) -> None:
    """Point a date axis at the café's clock. The one axis is changed in place: replacing it
    (`setAxisItems`) on every redraw left deleted AxisItems that a later paint could reach, and
    that crashed the interpreter (a CI run, 2026-11-30)."""
    axis = plot.getAxis("bottom")
    axis.utcOffset = -int(offset.total_seconds())  # pyqtgraph counts seconds west of UTC
    axis.picture = None  # drawn again with the new labels
    axis.update()


def _plot(title: str, date_axis: bool = False) -> pg.PlotWidget:
    w = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()} if date_axis else None)
    w.setBackground("w")
    w.setTitle(title, color="#333", size="10pt")
    w.showGrid(y=True, alpha=0.2)
    w.setMouseEnabled(False, False)
    w.hideButtons()
    return w


@dataclasses.dataclass(frozen=True)
class Loaded:
    """What one History load brings back to the GUI thread."""

    view: history.DayView | history.PeriodView
    sites: list[str]
    cameras: list[str]


@dataclasses.dataclass(frozen=True)
class SessionTimeline:
    session_id: int
    timeline: list[TimelinePoint]
    visits: list[VisitInfo]
    clock: CafeClock  # the session's site's


class HistoryView(QWidget):
    export_requested = pyqtSignal(str, str)  # ("session", id) or ("day", YYYY-MM-DD); counters: selected_counter()

    def __init__(self, engine_factory: Callable[[], Engine], score_config: ScoreConfig,
                 clock: CafeClock | None = None) -> None:
        super().__init__()
        self.engine_factory = engine_factory
        self.score_config = score_config
        self.clock = clock or CafeClock.of()
        self.loader = Loader("history")
        self.session_loader = Loader("history-session")
        self.shown: history.DayView | history.PeriodView | None = None
        self.span = QComboBox()  # one business day, or the week or month holding it
        for name, span in (("Day", "day"), ("Week", "week"), ("Month", "month")):
            self.span.addItem(name, span)
        today = self.clock.business_day(dt.datetime.now(dt.timezone.utc))
        self.day = QDateEdit(QDate(today.year, today.month, today.day))
        self.day.setCalendarPopup(True)
        self.day.setDisplayFormat("ddd yyyy-MM-dd")
        self.compare = QCheckBox("Compare with")
        self.compare_day = QDateEdit(self.day.date().addDays(-7))
        self.compare_day.setCalendarPopup(True)
        self.compare_day.setDisplayFormat("ddd yyyy-MM-dd")
        self.site = QComboBox()
        self.site.addItem("All sites", None)
        self.camera = QComboBox()
        self.camera.addItem("All cameras", None)
        refresh = QPushButton("Refresh")
        export_day = QPushButton("Export day…")
        self.export_session = QPushButton("Export session…")
        self.export_session.setEnabled(False)
        self.summary = QLabel()
        self.summary.setStyleSheet("font-size:14px; padding:4px;")

        top = QHBoxLayout()
        for w in (QLabel("Show:"), self.span, self.day, self.compare, self.compare_day, QLabel("Site:"), self.site,
                  QLabel("Camera:"), self.camera, refresh):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(export_day)
        top.addWidget(self.export_session)

        self.hourly = _plot("Score by hour")
        self.hourly.setYRange(0, 100)
        _legend_outside(self.hourly, 2)
        self.mix = _plot("Emotion mix by hour")
        self.mix.setYRange(0, 1)
        _legend_outside(self.mix, 7)
        self.visits = _plot("Visits per hour")
        self.trend = _plot("Daily score, last 4 weeks")
        self.trend.setYRange(0, 100)
        self.session_plot = _plot("Session timeline (double-click a session)", date_axis=True)
        self.session_plot.setYRange(0, 100)

        self.sessions = QTableWidget(0, 7)
        self.sessions.setHorizontalHeaderLabels(["id", "start", "duration", "visits", "score", "status",
                                                 "site / camera"])
        self.sessions.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.sessions.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sessions.verticalHeader().setVisible(False)  # type: ignore[union-attr]
        self.sessions.horizontalHeader().setStretchLastSection(True)  # type: ignore[union-attr]

        grid = QGridLayout()
        grid.addWidget(self.hourly, 0, 0)
        grid.addWidget(self.mix, 0, 1)
        grid.addWidget(self.visits, 1, 0)
        grid.addWidget(self.trend, 1, 1)
        grid.addWidget(self.sessions, 2, 0)
        grid.addWidget(self.session_plot, 2, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addLayout(grid, 1)

        self.loader.loaded.connect(self._drawing(self._show))
        self.loader.failed.connect(self._failed)
        self.session_loader.loaded.connect(self._drawing(self._show_session))
        self.session_loader.failed.connect(self._failed)
        refresh.clicked.connect(self.refresh)
        self.day.dateChanged.connect(self.refresh)
        self.span.currentIndexChanged.connect(self.refresh)
        self.compare.toggled.connect(self.refresh)
        self.compare_day.dateChanged.connect(self.refresh)
        self.site.currentIndexChanged.connect(self.refresh)
        self.camera.currentIndexChanged.connect(self.refresh)
        self.sessions.itemSelectionChanged.connect(
            lambda: self.export_session.setEnabled(bool(self.selected_session())))
        self.sessions.cellDoubleClicked.connect(lambda row, _c: self.open_session(self._session_id(row)))
        export_day.clicked.connect(lambda: self.export_requested.emit("day", self.selected_day().isoformat()))
        self.export_session.clicked.connect(lambda: self.export_requested.emit("session", str(self.selected_session())))
        self._empty_session_plot()

    def _empty_session_plot(self) -> None:
        """Before a session is picked, its chart's axis shows the chosen day's hours on the café's clock."""
        start, end = self.clock.day_range(self.selected_day())
        offset = self.clock.local(start).utcoffset() or dt.timedelta(0)
        _show_clock(self.session_plot, offset)
        self.session_plot.setXRange(start.timestamp(), end.timestamp(), padding=0)

    def _drawing(self, draw: Callable[[Any], None]) -> Callable[[object], None]:
        """`draw`, run as a slot: a failure while drawing is said above the charts like a failed read."""
        def run(loaded: object) -> None:
            try:
                draw(loaded)
            except Exception as exc:
                self._failed(failure_message(exc))
        return run

    # -- choices ------------------------------------------------------------------
    def selected_day(self) -> dt.date:
        return self.day.date().toPyDate()

    def selected_span(self) -> str:
        return str(self.span.currentData())

    def selected_site(self) -> str | None:
        return self.site.currentData()

    def selected_counter(self) -> Counter:
        return Counter(site=self.site.currentData(), camera=self.camera.currentData())

    def _session_id(self, row: int) -> int | None:
        item = self.sessions.item(row, 0)
        return int(item.text()) if item is not None else None

    def selected_session(self) -> int | None:
        rows = self.sessions.selectionModel().selectedRows()  # type: ignore[union-attr]
        return self._session_id(rows[0].row()) if rows else None

    # -- loading (worker thread) ------------------------------------------------------
    def refresh(self) -> None:
        """Ask for the chosen day's figures; they are drawn when they arrive."""
        day, counter, cfg, clock = self.selected_day(), self.selected_counter(), self.score_config, self.clock
        span = self.selected_span()
        self.compare.setEnabled(span == "day")
        self.compare_day.setEnabled(span == "day")
        other = self.compare_day.date().toPyDate() if self.compare.isChecked() and span == "day" else None
        factory = self.engine_factory

        def load() -> Loaded:
            engine = factory()
            view: history.DayView | history.PeriodView = (
                history.load_day(engine, day, clock, cfg, counter, compare_day=other) if span == "day"
                else history.load_period(engine, day, span, clock, cfg, counter))
            return Loaded(view, sites(engine), cameras(engine, counter.site))

        self.summary.setText(f"{day:%A %d %B %Y}: loading…")
        self.loader.load(load)

    @property
    def loading(self) -> bool:
        return self.loader.busy or self.session_loader.busy

    def _failed(self, message: str) -> None:
        self.summary.setText(f"<span style='color:#b00020'>Could not read the history: {message}</span>")

    # -- drawing (GUI thread) -----------------------------------------------------
    def _show(self, loaded: Loaded) -> None:
        view = loaded.view
        self.shown = view
        self._fill_choices(self.site, loaded.sites)
        self._fill_choices(self.camera, loaded.cameras)
        if isinstance(view, history.PeriodView):
            self._show_period(view)
            return
        total, zone = view.total, view.zone
        where = "" if view.counter == Counter() else f" · {view.counter.describe()}"
        if total.score is None:
            self.summary.setText(f"{view.day:%A %d %B %Y}{where}: no visits recorded.")
        else:
            self.summary.setText(
                f"{view.day:%A %d %B %Y}{where}: score <b>{total.score:.0f}</b> (95% {total.low:.0f}–"
                f"{total.high:.0f}) from {counted(total.visits, 'visit')} · satisfied {total.satisfied:.0%} · "
                f"dissatisfied {total.dissatisfied:.0%}")
        labels = [b.label for b in view.hours]
        ticks = [[(i, label) for i, label in enumerate(labels) if i % 2 == 0]]
        x = np.arange(len(view.hours))
        span = (-0.5, len(view.hours) - 0.5)
        comparing = view.compare_day is not None
        self.hourly.clear()
        self.hourly.setTitle(f"Score by hour ({zone})", color="#333", size="10pt")
        self._score_bars(self.hourly, x, view.hours, "#2ca02c", f"{view.day:%a %d %b}", -0.2 if comparing else 0)
        if view.compare_day is not None:
            other = view.compare_hours
            self._score_bars(self.hourly, np.arange(len(other)), other, "#9e9e9e", f"{view.compare_day:%a %d %b}", 0.2)
        busy = [i for i, b in enumerate(view.hours) if b.score.visits]
        self._mix_bars(history.mix_matrix(view.hours), busy, f"Emotion mix by hour ({zone})")
        self.visits.clear()
        self.visits.setTitle(f"Visits per hour ({zone})", color="#333", size="10pt")
        self.visits.addItem(pg.BarGraphItem(x=busy, height=[view.hours[i].score.visits for i in busy], width=0.8,
                                            brush="#1f77b4"))
        self.visits.setYRange(0, max(max((view.hours[i].score.visits for i in busy), default=0) * 1.1, 5), padding=0)
        for plot in (self.hourly, self.mix, self.visits):
            plot.getAxis("bottom").setTicks(ticks)
            plot.setXRange(*span, padding=0)
        self._draw_trend(view)
        self._fill_sessions(view)

    @staticmethod
    def _fill_choices(box: QComboBox, names: list[str]) -> None:
        known = {box.itemData(i) for i in range(box.count())}
        box.blockSignals(True)
        for name in names:
            if name not in known:
                box.addItem(name, name)
        box.blockSignals(False)

    @staticmethod
    def _score_bars(plot: pg.PlotWidget, x: np.ndarray, buckets: list[history.Bucket], colour: str, name: str,
                    shift: float) -> None:
        keep = [i for i, b in enumerate(buckets) if b.score.score is not None]  # no bar for empty hours
        heights = [buckets[i].score.score or 0.0 for i in keep]
        item = pg.BarGraphItem(x=x[keep] + shift, height=heights, width=0.4 if shift else 0.8, brush=colour, name=name)
        plot.addItem(item)

    def _mix_bars(self, m: np.ndarray, busy_rows: list[int], title: str) -> None:
        """Stacked bars of [N, 7] mean distributions, for the rows that had visits."""
        self.mix.clear()
        self.mix.setTitle(title, color="#333", size="10pt")
        busy = np.array(busy_rows, dtype=int)
        bottom = np.zeros(len(busy))
        for i, c in enumerate(CLASSES):
            self.mix.addItem(pg.BarGraphItem(x=busy, y0=bottom.copy(), height=m[busy, i], width=0.8,
                                             brush=EMOTION_QCOLOURS[c], name=c))
            bottom += m[busy, i]

    def _draw_trend(self, view: history.DayView) -> None:
        self.trend.clear()
        self.trend.setTitle(f"Daily score, last {len(view.trend)} business days ({view.zone})", color="#333",
                            size="10pt")
        ticks = [(i, f"{d.day:%d %b}") for i, d in enumerate(view.trend) if (len(view.trend) - 1 - i) % 7 == 0]
        self.trend.getAxis("bottom").setTicks([ticks])
        self.trend.setXRange(-0.5, len(view.trend) + 0.5, padding=0)  # room for the last tick's label (the day shown)
        pts = [(i, d.score) for i, d in enumerate(view.trend) if d.score is not None]
        if pts:
            x, y = zip(*pts, strict=True)
            self.trend.plot(list(x), list(y), pen=pg.mkPen("#2ca02c", width=2), symbol="o", symbolSize=6,
                            symbolBrush="#2ca02c")

    def _fill_sessions(self, view: history.DayView | history.PeriodView, when: str = "%H:%M:%S") -> None:
        self.sessions.setHorizontalHeaderItem(1, QTableWidgetItem(f"start ({view.zone})"))
        picked = self.selected_session()  # kept by id: row numbers change between day, week and month
        self.sessions.clearSelection()
        self.sessions.setRowCount(len(view.sessions))
        for i, (s, sc) in enumerate(view.sessions):
            secs = int(s.seconds)
            cells = [str(s.id), f"{view.clock.local(s.started_at):{when}}",
                     f"{secs // 3600}h{secs % 3600 // 60:02d}m{secs % 60:02d}s",
                     str(sc.visits), "-" if sc.score is None else f"{sc.score:.0f} ({sc.low:.0f}–{sc.high:.0f})",
                     s.status, f"{s.site} / {s.camera}"]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j in (0, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.sessions.setItem(i, j, item)
            if s.id == picked:
                self.sessions.selectRow(i)
        self.sessions.resizeColumnsToContents()

    def _show_period(self, view: history.PeriodView) -> None:
        """A week or a month: score, mix and visits per business day, and weekly scores."""
        zone, days = view.zone, view.days
        where = "" if view.counter == Counter() else f" · {view.counter.describe()}"
        if view.score is None:
            self.summary.setText(f"{view.title}{where}: no visits recorded.")
        else:
            self.summary.setText(f"{view.title}{where}: score <b>{view.score:.0f}</b> from "
                                 f"{counted(view.visits, 'visit')} on {view.days_with_visits} of {len(days)} days")
        week = view.span == "week"
        labels = [f"{d.day:%a %d}" if week else f"{d.day.day}" for d in days]
        ticks = [[(i, label) for i, label in enumerate(labels)]]
        busy = [i for i, d in enumerate(days) if d.visits]
        self.hourly.clear()
        self.hourly.setTitle(f"Score by day ({zone})", color="#333", size="10pt")
        self.hourly.addItem(pg.BarGraphItem(x=busy, height=[days[i].score or 0.0 for i in busy], width=0.8,
                                            brush="#2ca02c"))
        self._mix_bars(np.array([d.mix for d in days], dtype=float).reshape(len(days), len(CLASSES)), busy,
                       f"Emotion mix by day ({zone})")
        self.visits.clear()
        self.visits.setTitle(f"Visits per day ({zone})", color="#333", size="10pt")
        self.visits.addItem(pg.BarGraphItem(x=busy, height=[days[i].visits for i in busy], width=0.8, brush="#1f77b4"))
        for plot in (self.hourly, self.mix, self.visits):
            plot.getAxis("bottom").setTicks(ticks)
            plot.setXRange(-0.5, len(days) - 0.5, padding=0)
        self.trend.clear()
        self.trend.setTitle(f"Score by week, last {len(view.weeks)} weeks ({zone})" if week
                            else f"Score by week ({zone})", color="#333", size="10pt")
        self.trend.getAxis("bottom").setTicks([[(i, w.label) for i, w in enumerate(view.weeks)]])
        self.trend.setXRange(-0.5, len(view.weeks) - 0.5, padding=0)
        full = [i for i, w in enumerate(view.weeks) if w.score is not None]
        self.trend.addItem(pg.BarGraphItem(x=full, height=[view.weeks[i].score or 0.0 for i in full], width=0.6,
                                           brush="#2ca02c"))
        self._fill_sessions(view, "%a %d %H:%M")

    # -- one session ----------------------------------------------------------------
    def open_session(self, session_id: int | None) -> None:
        if session_id is None:
            return
        factory, fallback = self.engine_factory, self.clock

        def load() -> SessionTimeline:
            engine = factory()
            info = find_session(engine, session_id)
            clock = site_clock(engine, info.site, fallback) if info else fallback
            return SessionTimeline(session_id, [p for p in timeline_of(engine, session_id) if p.faces],
                                   visits_of(engine, [session_id]), clock)

        self.session_plot.setTitle(f"Session {session_id}: loading…", color="#333", size="10pt")
        self.session_loader.load(load)

    def _show_session(self, loaded: SessionTimeline) -> None:
        self.session_plot.clear()
        self.session_plot.enableAutoRange(x=True)
        self.session_plot.setTitle(f"Session {loaded.session_id}: score each second (grey), after each visit "
                                   f"(green), {loaded.clock.name}", color="#333", size="10pt")
        times = [p.at for p in loaded.timeline] or [v.last_seen for v in loaded.visits]
        if times:  # the axis shows the café's wall clock, whatever the computer's zone
            offset = loaded.clock.local(times[0]).utcoffset() or dt.timedelta(0)
            _show_clock(self.session_plot, offset)
        if loaded.timeline:
            t = [p.at.timestamp() for p in loaded.timeline]
            vals = visit_valence([p.distribution for p in loaded.timeline], self.score_config)
            self.session_plot.plot(t, [to_score(v) for v in vals], pen=pg.mkPen("#aaaaaa", width=1))
        if loaded.visits:
            vals = visit_valence([v.distribution for v in loaded.visits], self.score_config)
            cum = np.cumsum(vals) / np.arange(1, len(vals) + 1)
            t = [v.last_seen.timestamp() for v in loaded.visits]
            self.session_plot.plot(t, [to_score(c) for c in cum], pen=pg.mkPen("#2ca02c", width=2), symbol="o",
                                   symbolSize=6, symbolBrush="#2ca02c")
