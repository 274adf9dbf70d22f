"""Closing the window while monitoring: keep monitoring in the system tray, or stop.

A café's monitor runs all day; a click on the window's close button should not end the
day's session by accident. Where the desktop has a system tray the monitor can live there
(its menu: Show, Quit); where it has none (some Wayland and minimal desktops), we say so
and offer only to stop or cancel.
"""

from __future__ import annotations

import enum

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QAction, QIcon
from PyQt6.QtWidgets import QMenu, QMessageBox, QSystemTrayIcon, QWidget


class CloseChoice(enum.Enum):
    TRAY = "tray"  # hide the window, keep monitoring
    STOP = "stop"  # stop monitoring and close
    CANCEL = "cancel"  # keep the window open


def ask_on_close(parent: QWidget, tray_available: bool) -> CloseChoice:
    """Ask what closing the window while monitoring should do."""
    box = QMessageBox(parent)
    box.setWindowTitle("Close Café Monitor")
    box.setIcon(QMessageBox.Icon.Question)
    keep = None
    if tray_available:
        box.setText("Monitoring is running.\nKeep monitoring in the system tray, or stop monitoring and close?")
        keep = box.addButton("Keep monitoring in tray", QMessageBox.ButtonRole.AcceptRole)
    else:
        box.setText("Monitoring is running.\nThis desktop has no system tray to keep it in, so closing the "
                    "window stops monitoring.")
    stop = box.addButton("Stop monitoring and close", QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(keep if keep is not None else cancel)
    box.setEscapeButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    if keep is not None and clicked is keep:
        return CloseChoice.TRAY
    return CloseChoice.STOP if clicked is stop else CloseChoice.CANCEL


class Tray(QObject):
    """The tray icon while the window is hidden: Show brings the window back, Quit stops and quits."""

    show_requested = pyqtSignal()
    quit_requested = pyqtSignal()

    def __init__(self, icon: QIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.icon = QSystemTrayIcon(icon, self)
        self.icon.setToolTip("Café Monitor: monitoring")
        self.menu = QMenu()
        self.show_action = QAction("Show", self.menu)
        self.quit_action = QAction("Quit (stop monitoring)", self.menu)
        self.menu.addAction(self.show_action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.icon.setContextMenu(self.menu)
        self.show_action.triggered.connect(self.show_requested)
        self.quit_action.triggered.connect(self.quit_requested)
        self.icon.activated.connect(self._activated)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_requested.emit()

    def show(self) -> None:
        self.icon.setToolTip("Café Monitor: monitoring")
        self.icon.show()
        if QSystemTrayIcon.supportsMessages():
            self.icon.showMessage("Café Monitor", "Still monitoring. Use the tray icon to show the window or quit.",
                                  QSystemTrayIcon.MessageIcon.Information, 5000)

    def say_stopped(self, message: str, problem: bool = False) -> None:
        """Monitoring ended while the window is hidden: the icon's tooltip and a message say so."""
        self.icon.setToolTip(f"Café Monitor: not monitoring – {message}")
        if QSystemTrayIcon.supportsMessages():
            icon = QSystemTrayIcon.MessageIcon.Warning if problem else QSystemTrayIcon.MessageIcon.Information
            self.icon.showMessage("Café Monitor stopped monitoring", message, icon, 0 if problem else 10000)

    def hide(self) -> None:
        self.icon.hide()

    @property
    def visible(self) -> bool:
        return self.icon.isVisible()
