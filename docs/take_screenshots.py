"""Screenshots of the dashboard from a real run on the demo clip (offscreen Qt).

    QT_QPA_PLATFORM=offscreen python docs/take_screenshots.py

Writes docs/screenshots/{live,live_blur_region,history,export,report_page1,live_grid}.png, using a
throw-away database and data folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HOME = Path(tempfile.mkdtemp(prefix="cafe-shots-"))
os.environ["CAFE_MONITOR_HOME"] = str(HOME)

from PyQt6.QtWidgets import QApplication  # noqa: E402

from cafe_monitor.config import Settings, StorageSettings  # noqa: E402
from cafe_monitor.domain import Region  # noqa: E402
from cafe_monitor.ui.app import MainWindow  # noqa: E402
from cafe_monitor.ui.dialogs import ExportDialog  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"


def pump(app: QApplication, seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv)
    settings = Settings(storage=StorageSettings(time_zone="Europe/London"))  # charts name the café's zone
    w = MainWindow(settings, db_url=f"sqlite:///{HOME / 'shots.db'}")
    w.resize(1280, 800)
    w.show()
    for clip, seconds in ((REPO / "assets" / "demo_three_customers.gif", 4.5), (REPO / "assets" / "demo_emotions.mp4",
                                                                                  18.5)):
        w.start(str(clip))
        pump(app, seconds)
        if clip.suffix == ".mp4":
            w.grab().save(str(OUT / "live.png"))
        while w.worker is not None and w.worker.running:
            pump(app, 0.1)
    w.start(str(REPO / "assets" / "demo_three_customers.gif"))
    w.set_region(Region(0.3, 0.0, 1.0, 1.0))  # blur is on and labels off by default
    pump(app, 2.2)
    w.grab().save(str(OUT / "live_blur_region.png"))
    while w.worker is not None and w.worker.running:
        pump(app, 0.1)
    w.set_region(Region())
    w.tabs.setCurrentIndex(1)
    pump(app, 0.5)
    while w.history.loading:  # History reads in a background thread
        pump(app, 0.1)
    w.history.sessions.selectRow(1)
    w.history.open_session(w.history.selected_session())
    pump(app, 0.5)
    while w.history.loading:
        pump(app, 0.1)
    w.grab().save(str(OUT / "history.png"))
    dialog = ExportDialog("session", str(w.history.selected_session()), HOME / "reports", w)
    dialog.show()
    pump(app, 0.3)
    dialog.grab().save(str(OUT / "export.png"))
    folder, _formats = dialog.chosen()
    dialog.close()
    w.export("session", str(w.history.selected_session()), folder, ["pdf", "csv", "json"])
    while not w.status.text().startswith(("Exported", "Export failed")):
        pump(app, 0.1)
    print(w.status.text())
    pdf = next(folder.glob("*.pdf"))
    subprocess.run(["pdftoppm", "-r", "70", "-png", "-singlefile", str(pdf), str(OUT / "report_page1")], check=True)
    w.close()
    grid_shot(app, settings)


def grid_shot(app: QApplication, settings: Settings) -> None:
    """Two cameras at once (`--source` repeated): live_grid.png."""
    w = MainWindow(settings, db_url=f"sqlite:///{HOME / 'shots.db'}")
    w.resize(1280, 800)
    w.show()
    w.start_all([f"counter={REPO / 'assets' / 'demo_three_customers.gif'}",
                 f"seats={REPO / 'assets' / 'demo_emotions.mp4'}"])
    pump(app, 5.0)
    w.grab().save(str(OUT / "live_grid.png"))
    w.stop()
    while w.grid_worker is not None and w.grid_worker.running:
        pump(app, 0.1)
    w.close()


if __name__ == "__main__":
    main()
