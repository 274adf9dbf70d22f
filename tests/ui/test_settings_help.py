"""The settings dialog's tooltips are the settings' own help lines (as docs/settings.md shows them)."""

from __future__ import annotations

from cafe_monitor import config
from cafe_monitor.ui.dialogs import SettingsDialog, help_for


def test_settings_dialog_tooltips_are_the_settings_help(qtbot) -> None:  # type: ignore[no-untyped-def]
    d = SettingsDialog(config.Settings())
    qtbot.addWidget(d)
    assert d.retention.toolTip() == help_for(config.PrivacySettings, "retention_days") != ""
    assert d.time_zone.toolTip() == help_for(config.StorageSettings, "time_zone")
