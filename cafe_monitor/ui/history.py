"""After hours: a day's score/mix/visits by hour, the daily trend, compare two days,
sessions list and a session's timeline."""

from __future__ import annotations

import datetime as dt

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

from cafe_monitor import history, storage
from cafe_monitor.classification import CLASSES
from cafe_monitor.scoring import ScoreConfig, score_visits, to_score, visit_valence
from cafe_monitor.ui.live import EMOTION_QCOLOURS

UTC = dt.timezone.utc


def _plot(title: str, date_axis: bool = False) -> pg.PlotWidget:
    w = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()} if date_axis else None)
    w.setBackground("w")
    w.setTitle(title, color="#333", size="10pt")
    w.showGrid(y=True, alpha=0.2)
    w.setMouseEnabled(False, False)
    w.hideButtons()
    return w


class HistoryView(QWidget):
    export_requested = pyqtSignal(str, str)  # ("session", id) or ("day", YYYY-MM-DD)

    def __init__(self, engine_factory: object, score_config: ScoreConfig) -> None:
        super().__init__()
        self.engine_factory = engine_factory
        self.score_config = score_config
        self.day = QDateEdit(QDate.currentDate())
        self.day.setCalendarPopup(True)
        self.day.setDisplayFormat("ddd yyyy-MM-dd")
        self.compare = QCheckBox("Compare with")
        self.compare_day = QDateEdit(QDate.currentDate().addDays(-7))
        self.compare_day.setCalendarPopup(True)
        self.compare_day.setDisplayFormat("ddd yyyy-MM-dd")
        self.site = QComboBox()
        self.site.addItem("All sites", None)
        refresh = QPushButton("Refresh")
        export_day = QPushButton("Export day…")
        self.export_session = QPushButton("Export session…")
        self.export_session.setEnabled(False)
        self.summary = QLabel()
        self.summary.setStyleSheet("font-size:14px; padding:4px;")

        top = QHBoxLayout()
        for w in (QLabel("Day:"), self.day, self.compare, self.compare_day, QLabel("Site:"), self.site, refresh):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(export_day)
        top.addWidget(self.export_session)

        self.hourly = _plot("Score by hour (UTC)")
        self.hourly.setYRange(0, 100)
        self.hourly.addLegend(offset=(10, 5))
        self.mix = _plot("Emotion mix by hour")
        self.mix.setYRange(0, 1)
        self.mix.addLegend(offset=(5, 5), colCount=4, labelTextSize="8pt")
        self.visits = _plot("Visits per hour")
        self.trend = _plot("Daily score, last 4 weeks", date_axis=True)
        self.trend.setYRange(0, 100)
        self.session_plot = _plot("Session timeline (double-click a session)", date_axis=True)
        self.session_plot.setYRange(0, 100)

        self.sessions = QTableWidget(0, 7)
        self.sessions.setHorizontalHeaderLabels(["id", "start (UTC)", "duration", "visits", "score", "status",
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

        refresh.clicked.connect(self.refresh)
        self.day.dateChanged.connect(self.refresh)
        self.compare.toggled.connect(self.refresh)
        self.compare_day.dateChanged.connect(self.refresh)
        self.site.currentIndexChanged.connect(self.refresh)
        self.sessions.itemSelectionChanged.connect(
            lambda: self.export_session.setEnabled(bool(self.selected_session())))
        self.sessions.cellDoubleClicked.connect(lambda row, _c: self.open_session(self._session_id(row)))
        export_day.clicked.connect(lambda: self.export_requested.emit("day", self.selected_day().isoformat()))
        self.export_session.clicked.connect(lambda: self.export_requested.emit("session", str(self.selected_session())))

    # -- data ---------------------------------------------------------------------
    def engine(self) -> storage.Engine:
        return self.engine_factory()  # type: ignore[operator]

    def selected_day(self) -> dt.date:
        return self.day.date().toPyDate()

    def selected_site(self) -> str | None:
        return self.site.currentData()

    def _session_id(self, row: int) -> int | None:
        item = self.sessions.item(row, 0)
        return int(item.text()) if item is not None else None

    def selected_session(self) -> int | None:
        rows = self.sessions.selectionModel().selectedRows()  # type: ignore[union-attr]
        return self._session_id(rows[0].row()) if rows else None

    def refresh(self) -> None:
        engine = self.engine()
        self._refresh_sites(engine)
        day, site, cfg = self.selected_day(), self.selected_site(), self.score_config
        visits = history.day_visits(engine, day, site)
        hours = history.by_hour(visits, day, cfg)
        total = score_visits([v.distribution() for v in visits], cfg)
        if total.score is None:
            self.summary.setText(f"{day:%A %d %B %Y}: no visits recorded.")
        else:
            self.summary.setText(
                f"{day:%A %d %B %Y}: score <b>{total.score:.0f}</b> (95% {total.low:.0f}–{total.high:.0f}) from "
                f"{total.visits} visits · satisfied {total.satisfied:.0%} · dissatisfied {total.dissatisfied:.0%}")
        x = np.arange(24)
        self.hourly.clear()
        self.hourly.addLegend(offset=(10, 5))
        self._score_bars(self.hourly, x, hours, "#2ca02c", f"{day:%a %d %b}", -0.2 if self.compare.isChecked() else 0)
        if self.compare.isChecked():
            other = self.compare_day.date().toPyDate()
            other_hours = history.by_hour(history.day_visits(engine, other, site), other, cfg)
            self._score_bars(self.hourly, x, other_hours, "#9e9e9e", f"{other:%a %d %b}", 0.2)
        self._mix_bars(hours)
        self.visits.clear()
        busy = [h for h in range(24) if hours[h].score.visits]
        self.visits.addItem(pg.BarGraphItem(x=busy, height=[hours[h].score.visits for h in busy], width=0.8,
                                            brush="#1f77b4"))
        self.visits.setXRange(-0.5, 23.5)
        days = history.by_day(engine, day, 28, cfg, site)
        self.trend.clear()
        self.trend.setXRange(days[0].start.timestamp(), days[-1].start.timestamp() + 86400)
        pts = [(b.start.timestamp(), b.score.score) for b in days if b.score.score is not None]
        if pts:
            t, s = zip(*pts, strict=True)
            self.trend.plot(list(t), list(s), pen=pg.mkPen("#2ca02c", width=2), symbol="o", symbolSize=6,
                            symbolBrush="#2ca02c")
        self._fill_sessions(engine, day)

    def _refresh_sites(self, engine: storage.Engine) -> None:
        sites = sorted({s.site for s in storage.list_sessions(engine, 500)})
        known = {self.site.itemData(i) for i in range(self.site.count())}
        self.site.blockSignals(True)
        for s in sites:
            if s not in known:
                self.site.addItem(s, s)
        self.site.blockSignals(False)

    @staticmethod
    def _score_bars(plot: pg.PlotWidget, x: np.ndarray, buckets: list[history.Bucket], colour: str, name: str,
                    shift: float) -> None:
        keep = [i for i, b in enumerate(buckets) if b.score.score is not None]  # no bar for empty hours
        heights = [buckets[i].score.score or 0.0 for i in keep]
        item = pg.BarGraphItem(x=x[keep] + shift, height=heights, width=0.4 if shift else 0.8, brush=colour, name=name)
        plot.addItem(item)
        plot.setXRange(-0.5, 23.5)

    def _mix_bars(self, hours: list[history.Bucket]) -> None:
        self.mix.clear()
        self.mix.addLegend(offset=(5, 5), colCount=4, labelTextSize="8pt")
        m = history.mix_matrix(hours)
        busy = np.array([h for h in range(24) if hours[h].score.visits], dtype=int)
        bottom = np.zeros(len(busy))
        for i, c in enumerate(CLASSES):
            self.mix.addItem(pg.BarGraphItem(x=busy, y0=bottom.copy(), height=m[busy, i], width=0.8,
                                             brush=EMOTION_QCOLOURS[c], name=c))
            bottom += m[busy, i]
        self.mix.setXRange(-0.5, 23.5)

    def _fill_sessions(self, engine: storage.Engine, day: dt.date) -> None:
        start = dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
        rows = storage.sessions_between(engine, start, start + dt.timedelta(days=1))
        site = self.selected_site()
        rows = [r for r in rows if site is None or r.site == site]
        self.sessions.setRowCount(len(rows))
        for i, s in enumerate(rows):
            visits = storage.session_visits(engine, s.id)
            sc = score_visits([v.distribution() for v in visits], self.score_config)
            began, ended = storage.as_utc(s.started_at), storage.as_utc(s.ended_at or s.started_at)
            secs = int((ended - began).total_seconds())
            cells = [str(s.id), f"{began:%H:%M:%S}", f"{secs // 3600}h{secs % 3600 // 60:02d}m{secs % 60:02d}s",
                     str(sc.visits), "-" if sc.score is None else f"{sc.score:.0f} ({sc.low:.0f}–{sc.high:.0f})",
                     s.status, f"{s.site} / {s.camera}"]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j in (0, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.sessions.setItem(i, j, item)
        self.sessions.resizeColumnsToContents()

    def open_session(self, session_id: int | None) -> None:
        if session_id is None:
            return
        engine = self.engine()
        self.session_plot.clear()
        self.session_plot.setTitle(f"Session {session_id}: faces in view (grey), score by visit (green)",
                                   color="#333", size="10pt")
        tl = [r for r in storage.session_timeline(engine, session_id) if r.faces]
        if tl:
            t = [storage.as_utc(r.at).timestamp() for r in tl]
            vals = visit_valence([r.distribution() for r in tl], self.score_config)
            self.session_plot.plot(t, [to_score(v) for v in vals], pen=pg.mkPen("#aaaaaa", width=1))
        visits = storage.session_visits(engine, session_id)
        if visits:
            vals = visit_valence([v.distribution() for v in visits], self.score_config)
            cum = np.cumsum(vals) / np.arange(1, len(vals) + 1)
            t = [storage.as_utc(v.last_seen).timestamp() for v in visits]
            self.session_plot.plot(t, [to_score(c) for c in cum], pen=pg.mkPen("#2ca02c", width=2), symbol="o",
                                   symbolSize=6, symbolBrush="#2ca02c")
