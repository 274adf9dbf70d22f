"""History's Day / Week / Month selector on a stored month: the bars are each business
day's figures, and no legend covers the plot area where bars are drawn."""

from __future__ import annotations

import dataclasses

import pyqtgraph as pg
import pytest
from PyQt6.QtCore import QDate

from cafe_monitor import history
from cafe_monitor.config import Settings
from cafe_monitor.ui.app import MainWindow
from tests.test_queries import add_session, utc


@pytest.fixture
def window(qtbot, db_url: str) -> MainWindow:  # type: ignore[no-untyped-def]
    base = Settings()
    settings = dataclasses.replace(base, storage=dataclasses.replace(base.storage, time_zone="Europe/London"))
    w = MainWindow(settings, db_url=db_url)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    engine = w.engine()
    # June 2026 (BST): Mon 1st two visits, Wed 3rd one, Sun 7th's night (01:30 on the 8th), Mon 15th one
    add_session(engine, utc(2026, 6, 1, 7), [(utc(2026, 6, 1, 8), "happy"), (utc(2026, 6, 1, 9), "sad")])
    add_session(engine, utc(2026, 6, 3, 7), [(utc(2026, 6, 3, 12), "neutral")], camera="seating")
    add_session(engine, utc(2026, 6, 7, 20), [(utc(2026, 6, 8, 0, 30), "happy")])
    add_session(engine, utc(2026, 6, 15, 7), [(utc(2026, 6, 15, 12), "angry")])
    w.tabs.setCurrentIndex(1)
    w.history.day.setDate(QDate(2026, 6, 3))
    return w


def bars(plot: pg.PlotWidget) -> list[pg.BarGraphItem]:
    return [i for i in plot.getPlotItem().items if isinstance(i, pg.BarGraphItem)]


def heights(plot: pg.PlotWidget) -> dict[int, float]:
    [item] = bars(plot)
    return {int(x): float(h) for x, h in zip(item.opts["x"], item.opts["height"], strict=True)}


def show(qtbot, window: MainWindow, span: str) -> None:  # type: ignore[no-untyped-def]
    """Choose a span and wait for its figures (not an earlier load's, still on their way)."""
    h = window.history

    def arrived() -> bool:
        v = h.shown
        if isinstance(v, history.PeriodView):
            return v.span == span and v.first <= h.selected_day() <= v.last
        return span == "day" and v is not None and v.day == h.selected_day() and (
            v.compare_day is not None) == h.compare.isChecked()

    h.span.setCurrentIndex(h.span.findData(span))
    qtbot.waitUntil(lambda: not h.loading and arrived(), timeout=10000)


def test_week_view_draws_each_days_score_and_visits(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    show(qtbot, window, "week")
    h = window.history
    assert h.summary.text() == "Week of Mon 01 Jun – Sun 07 Jun 2026: score <b>65</b> from 4 visits on 3 of 7 days"
    assert heights(h.hourly) == {0: pytest.approx(55.0), 2: 50.0, 6: 100.0}  # Mon, Wed, Sun (its night)
    assert heights(h.visits) == {0: 2, 2: 1, 6: 1}
    labels = [t for _x, t in h.hourly.getAxis("bottom")._tickLevels[0]]
    assert labels == ["Mon 01", "Tue 02", "Wed 03", "Thu 04", "Fri 05", "Sat 06", "Sun 07"]
    assert "Score by day (Europe/London)" in h.hourly.getPlotItem().titleLabel.text
    assert "last 8 weeks" in h.trend.getPlotItem().titleLabel.text and heights(h.trend) == {7: pytest.approx(65.0)}
    assert h.sessions.rowCount() == 3 and h.sessions.item(0, 1).text() == "Mon 01 08:00"  # local start, with its day
    assert not h.compare.isEnabled()  # comparing is for one day


def test_month_view_draws_every_day_of_the_month_and_its_weeks(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    show(qtbot, window, "month")
    h = window.history
    assert h.summary.text().startswith("June 2026: score <b>52</b> from 5 visits on 4 of 30 days")
    assert heights(h.hourly) == {0: pytest.approx(55.0), 2: 50.0, 6: 100.0, 14: 0.0}  # days 1, 3, 7, 15
    assert heights(h.visits) == {0: 2, 2: 1, 6: 1, 14: 1}
    assert len(h.hourly.getAxis("bottom")._tickLevels[0]) == 30
    weeks = [t for _x, t in h.trend.getAxis("bottom")._tickLevels[0]]
    assert weeks == ["01–07 Jun", "08–14 Jun", "15–21 Jun", "22–28 Jun", "29–30 Jun"]
    assert heights(h.trend) == {0: pytest.approx(65.0), 2: 0.0}
    show(qtbot, window, "day")  # and back to one day
    assert h.summary.text().startswith("Wednesday 03 June 2026: score <b>50</b>") and h.compare.isEnabled()


def test_legends_sit_outside_the_plot_area(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    h = window.history
    h.compare.setChecked(True)
    show(qtbot, window, "day")
    for plot, entries in ((h.hourly, 2), (h.mix, 7)):
        item = plot.getPlotItem()
        legend = item.legend
        assert legend is not None and len(legend.items) == entries

        def laid_out(legend: pg.LegendItem = legend) -> bool:
            """Qt lays the plot out from its event loop: a loaded machine gets there later."""
            return legend.sceneBoundingRect().top() > 0

        qtbot.waitUntil(laid_out, timeout=10000)
        area, box = item.vb.sceneBoundingRect(), legend.sceneBoundingRect()
        assert box.height() > 0 and not area.intersects(box), (area, box)
        assert box.top() >= area.bottom()  # under the x axis, however full the bars


def test_the_session_chart_keeps_one_date_axis_on_the_cafes_clock(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """Its axis is retimed in place: axes replaced on each redraw once crashed a paint."""
    h = window.history
    axis = h.session_plot.getAxis("bottom")
    assert isinstance(axis, pg.DateAxisItem)
    show(qtbot, window, "day")
    h.open_session(h._session_id(0))  # Wed 3 June: British Summer Time
    qtbot.waitUntil(lambda: "score each second" in h.session_plot.getPlotItem().titleLabel.text, timeout=10000)
    assert h.session_plot.getAxis("bottom") is axis and axis.utcOffset == -3600  # an hour east of UTC


def test_the_picked_session_stays_picked_across_views(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    show(qtbot, window, "day")
    h = window.history
    assert h.sessions.rowCount() == 1
    h.sessions.selectRow(0)
    picked = h.selected_session()
    show(qtbot, window, "month")  # Mon 1st's session is row 0 now: the Wed 3rd one must stay picked, by id
    assert h.sessions.rowCount() == 4 and h.selected_session() == picked
    window.history.day.setDate(QDate(2026, 6, 15))
    show(qtbot, window, "day")  # a day without it: nothing is picked, not whichever row had its number
    assert h.sessions.rowCount() == 1 and h.selected_session() is None
