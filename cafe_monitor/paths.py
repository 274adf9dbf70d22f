"""Where things live: shipped models beside the package, user data via platformdirs."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from cafe_monitor.owner_only import private_folder

PACKAGE_DIR = Path(__file__).resolve().parent
#: The application icon (window, desktop menu, autostart entry): package data in a wheel and a checkout alike.
ICON = PACKAGE_DIR / "ui" / "icon.svg"
#: Shipped models: `cafe_monitor/models` in a wheel, the repo's `models/` in a checkout.
MODELS_DIR = Path(os.environ.get("CAFE_MONITOR_MODELS", "")) if os.environ.get("CAFE_MONITOR_MODELS") else (
    PACKAGE_DIR / "models" if (PACKAGE_DIR / "models").is_dir() else PACKAGE_DIR.parent / "models"
)
#: The default emotion model: a cascade of three small nets (PrivateTest ~70%), float32 for a
#: GPU with its int8 twin beside it for CPUs (precision "auto" picks):
#: the cheapest answers alone for the faces it is sure of, the others get the mean of two or
#: all three.
DEFAULT_MODEL = MODELS_DIR / "emotion_cascade.onnx"
#: One of those nets alone, float32 with its int8 twin (PrivateTest 68.6%): the same cost
#: for every face (the cascade's depends on the faces), 1.3x the cascade's speed on FER2013.
FAST_MODEL = MODELS_DIR / "emotion_cafenet.onnx"


def resolve_model(value: str | Path | None) -> Path:
    """An emotion model setting as a file: empty is the default; a path as given; otherwise
    the name of a shipped model (`classifier.model = "emotion_cafenet.onnx"` works from any
    folder)."""
    if not value:
        return DEFAULT_MODEL
    path = Path(value)
    if not path.exists() and not path.is_absolute() and (MODELS_DIR / path).is_file():
        return MODELS_DIR / path
    return path


def data_dir() -> Path:
    """The user's data folder (database, settings, rescue files, reports); created on first
    use, and the owner's alone (cafe_monitor.owner_only)."""
    path = Path(os.environ.get("CAFE_MONITOR_HOME") or platformdirs.user_data_dir("cafe-monitor", appauthor=False))
    return private_folder(path)


def default_db_url() -> str:
    return os.environ.get("CAFE_MONITOR_DB") or f"sqlite:///{data_dir() / 'cafe_monitor.db'}"


def settings_path() -> Path:
    return data_dir() / "settings.toml"
