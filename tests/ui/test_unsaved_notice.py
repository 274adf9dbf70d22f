"""The dashboard says when rows wait in rescue files (issue 15, item 1)."""

from __future__ import annotations

from cafe_monitor.config import Settings
from cafe_monitor.paths import data_dir
from cafe_monitor.ui.app import MainWindow


def test_status_line_names_unsaved_files_until_imported(qtbot, db_url: str) -> None:  # type: ignore[no-untyped-def]
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    rescue = folder / "unsaved-session-3-1700000000.jsonl"
    rescue.write_text('{"session": {"id": 3}}\n')
    w = MainWindow(Settings(), db_url=db_url)
    qtbot.addWidget(w)
    assert not w.unsaved.isHidden() and "1 unsaved session file" in w.unsaved.text()
    assert str(rescue) in w.unsaved.toolTip() and "cafe-monitor import" in w.unsaved.toolTip()
    rescue.rename(rescue.with_name(rescue.name + ".imported"))
    w.check_unsaved()
    assert w.unsaved.isHidden()
