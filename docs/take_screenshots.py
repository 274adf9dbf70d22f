"""Screenshots of the dashboard from real runs on the bundled demo media (offscreen Qt).

    QT_QPA_PLATFORM=offscreen python docs/take_screenshots.py

Writes docs/screenshots/{live,live_region,live_stalled,live_grid,history,history_week,history_month,
export,report_page1}.png with the default settings (every face pixelated, mood labels off, the
customer notice shown), into a throw-away database and data folder.

Where the data comes from:
- today's sessions are the demo clips played through the window, as a user would;
- "usual for this hour" needs visits on the same weekday in earlier weeks: the demo clips are
  recorded by the pipeline (no database), and their visits are written as rescue files dated 1-3
  weeks back at this hour and loaded with the same import `cafe-monitor import` uses. The visits
  are real pipeline output; only their dates are earlier;
- the stalled camera is the demo clip read through a capture (`opener`) whose device stops
  answering after a few seconds, as a hung USB camera does: the window shows the watchdog's real
  "stalled – no frame for N s" line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HOME = Path(tempfile.mkdtemp(prefix="cafe-shots-"))
os.environ["CAFE_MONITOR_HOME"] = str(HOME)

import cv2  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from cafe_monitor import storage  # noqa: E402
from cafe_monitor.capture import CaptureThread, Image  # noqa: E402
from cafe_monitor.config import Settings, StorageSettings  # noqa: E402
from cafe_monitor.domain import Region  # noqa: E402
from cafe_monitor.session import MonitorSession  # noqa: E402
from cafe_monitor.storage import rescue  # noqa: E402
from cafe_monitor.ui import worker as worker_module  # noqa: E402
from cafe_monitor.ui.app import MainWindow  # noqa: E402
from cafe_monitor.ui.dialogs import ExportDialog  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
CLIP = REPO / "assets" / "demo_emotions.mp4"
GIF = REPO / "assets" / "demo_three_customers.gif"
DB_URL = f"sqlite:///{HOME / 'shots.db'}"
SIZE = (1280, 800)


def pump(app: QApplication, seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def pump_until(app: QApplication, done: Any, limit: float = 60.0) -> None:
    end = time.time() + limit
    while not done():
        if time.time() > end:
            raise RuntimeError("timed out waiting for the window")
        pump(app, 0.05)


def wait_session_end(app: QApplication, w: MainWindow) -> None:
    """Until the window has handled the session's end (its thread may be gone a moment before)."""
    pump_until(app, lambda: not (w.worker and w.worker.running) and not w.stop_action.isEnabled())


def save(widget: Any, name: str) -> None:
    path = OUT / name
    widget.grab().save(str(path))
    print(f"{path.relative_to(REPO)}: {path.stat().st_size // 1024} KB")


# -- earlier weeks: the clips' real visits, dated back, loaded as rescue files ---------------
def earlier_weeks(settings: Settings) -> None:
    """Record each clip without a database, then store its visits as sessions that began at
    this hour on the same weekday 1, 2 and 3 weeks ago (one clip, the other, then both)."""
    recorded = {}
    for clip in (CLIP, GIF):
        session = MonitorSession(settings, source=str(clip), store=False, loop=False)
        try:
            recorded[clip] = session, session.run()
        finally:
            session.pipeline.close()
    zone = settings.storage.clock()
    now = zone.local(dt.datetime.now(dt.timezone.utc))
    begin = max(now.replace(minute=0, second=0, microsecond=0), now - dt.timedelta(minutes=5))
    engine = storage.open_database(DB_URL)
    for weeks, clips in ((1, (CLIP, GIF)), (2, (CLIP,)), (3, (GIF,))):
        started = (begin.replace(tzinfo=None) - dt.timedelta(days=7 * weeks)).replace(tzinfo=begin.tzinfo)
        for k, clip in enumerate(clips):
            session, result = recorded[clip]
            origin = started.timestamp() + 60 * k  # the second clip a minute later

            def to_datetime(t: float, origin: float = origin) -> dt.datetime:
                return dt.datetime.fromtimestamp(origin + t, dt.timezone.utc)

            card = session.pipeline.classifier.card
            about = {"site": settings.storage.site, "camera": settings.storage.camera_name,
                     "started_at": to_datetime(0).isoformat(), "source": str(clip.relative_to(REPO)),
                     "model_name": card.name, "model_sha256": card.sha256, "provider": result.provider,
                     "settings": dataclasses.asdict(settings.with_named_zone())}
            last = max((v.last_seen for v in result.visits), default=0.0)
            lines = [rescue.rescue_header(0, about)]
            lines += [rescue.rescue_line(v, to_datetime) for v in result.visits]
            lines.append({"end": {"status": "ended", "ended_at": to_datetime(last + 1).isoformat(),
                                  "camera_gaps": []}})
            path = HOME / f"{rescue.RESCUE_PREFIX}w{weeks}-{k}.jsonl"
            path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
            imported = rescue.import_file(engine, path)
            rescue.mark_imported(path)
            print(f"{started:%a %d %b %H:%M}: {clip.name}, {imported.visits} visits imported")
    engine.dispose()


# -- a camera that hangs ---------------------------------------------------------------------
class HangingCamera:
    """The demo clip as a camera (paced at its frame rate) whose read() stops returning after
    `frames` frames, as a hung USB camera's does; `release_all` lets the hung reads return."""

    hung = threading.Event()

    def __init__(self, path: Path, frames: int) -> None:
        self.cap = cv2.VideoCapture(str(path))
        self.left = frames
        self.period = 1.0 / (self.cap.get(cv2.CAP_PROP_FPS) or 25.0)
        self.next_at = time.monotonic()

    def isOpened(self) -> bool:
        return bool(self.cap.isOpened())

    def read(self) -> tuple[bool, Image | None]:
        if self.left <= 0:
            self.hung.wait()  # the driver never answers
            return False, None
        self.left -= 1
        self.next_at += self.period
        time.sleep(max(0.0, self.next_at - time.monotonic()))
        ok, image = self.cap.read()
        return bool(ok), image  # type: ignore[return-value]  # cv2 reads 8-bit frames

    def release(self) -> None:
        self.cap.release()

    def get(self, prop: int) -> float:
        return float(self.cap.get(prop))


def stalled_shot(app: QApplication, w: MainWindow) -> None:
    """A live camera that stops delivering: the last frame stays, the status line says so."""
    source = "rtsp://camera.local/counter"  # a live source: read by the watchdog, as a camera is
    seconds = 6.0
    capture = CaptureThread(source, opener=lambda _s: HangingCamera(CLIP, int(24 * seconds)))
    real = worker_module.MonitorSession
    with mock.patch.object(worker_module, "MonitorSession",
                           lambda settings, **kw: real(settings, capture=capture, **kw)):
        w.start(source)
        pump_until(app, lambda: "no frame for 2 s" in w.status.text(), limit=60)
    save(w, "live_stalled.png")
    w.stop()
    HangingCamera.hung.set()
    wait_session_end(app, w)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv)
    settings = Settings(storage=StorageSettings(time_zone="Europe/London"))  # charts name the café's zone
    earlier_weeks(settings)
    w = MainWindow(settings, db_url=DB_URL)
    w.resize(*SIZE)
    w.show()
    # today: the three customers, then the clip, played through the window with the defaults
    w.start(str(GIF))
    wait_session_end(app, w)
    w.start(str(CLIP))
    pump(app, 16.0)
    w.live.today.refresh()  # the panel reads every 30 s; the running session's visits count too
    pump(app, 1.5)
    pump_until(app, lambda: not w.live.today.loading)
    save(w, "live.png")
    wait_session_end(app, w)

    # a customer area: the staff side (left) is dimmed and its face pixelated too
    w.start(str(GIF))
    w.set_region(Region(0.3, 0.0, 1.0, 1.0))
    pump(app, 2.2)
    save(w, "live_region.png")
    wait_session_end(app, w)
    w.set_region(Region())

    stalled_shot(app, w)

    w.tabs.setCurrentIndex(1)
    pump(app, 0.5)
    pump_until(app, lambda: not w.history.loading)
    w.history.sessions.selectRow(1)
    w.history.open_session(w.history.selected_session())
    pump(app, 0.5)
    pump_until(app, lambda: not w.history.loading)
    save(w, "history.png")
    session = str(w.history.selected_session())
    for index, name in ((1, "history_week.png"), (2, "history_month.png")):
        w.history.span.setCurrentIndex(index)
        pump(app, 0.5)
        pump_until(app, lambda: not w.history.loading)
        save(w, name)
    w.history.span.setCurrentIndex(0)
    pump_until(app, lambda: not w.history.loading)

    dialog = ExportDialog("session", session, HOME / "owner" / "Documents" / "Café reports", w)
    dialog.show()
    pump(app, 0.3)
    save(dialog, "export.png")
    folder, _formats = dialog.chosen()
    dialog.close()
    w.export("session", session, folder, ["pdf", "csv", "json"])
    pump_until(app, lambda: w.status.text().startswith(("Exported", "Export failed")))
    print(w.status.text())
    pdf = next(folder.glob("*.pdf"))
    subprocess.run(["pdftoppm", "-r", "70", "-png", "-singlefile", str(pdf), str(OUT / "report_page1")], check=True)
    w.close()
    grid_shot(app, settings)


def grid_shot(app: QApplication, settings: Settings) -> None:
    """Two cameras at once (`--source` repeated): live_grid.png."""
    w = MainWindow(settings, db_url=DB_URL)
    w.resize(*SIZE)
    w.show()
    w.start_all([f"counter={GIF}", f"seats={CLIP}"])
    pump(app, 5.0)
    save(w, "live_grid.png")
    w.stop()
    pump_until(app, lambda: not (w.grid_worker and w.grid_worker.running))
    w.close()


if __name__ == "__main__":
    main()
