"""Settings: one TOML file, strictly validated (an unknown or mistyped key is an error
that names it: a typo must not silently fall back to a default in a shop).

    [camera]   source = "0"       loop = false   start_at_launch = true
    [detector] model = "full_range"   min_score = 0.5
    [classifier] model = ""  (empty = the default; else a shipped model's name or a path)
                 cpu_only = false   precision = "auto"
    [tracker]  min_frames = 5  min_seconds = 0.5  max_gap_seconds = 2.0  iou_threshold = 0.25
    [region]   x1 = 0.0  y1 = 0.0  x2 = 1.0  y2 = 1.0   (fractions of the frame)
    [privacy]  blur_preview = false   retention_days = 30  (per-second rows)
               visit_retention_days = 0  (0 = keep visits and sessions; else delete them after N days)
    [storage]  url = ""  (empty = SQLite in the user data folder)  site = "main"  camera_name = "counter"
               time_zone = ""  (empty = this computer's zone; else an IANA name)  business_day_start = "04:00"
    [score]    satisfied_above = 0.25  dissatisfied_below = -0.25
    [score.valence]  happy = 1.0 ...
    [reports]  folder = ""  (empty = reports/ in the user data folder)  auto_daily = true
    [cameras.<name>]  source = "0"  area = [x1, y1, x2, y2]  width = 0  height = 0  fps = 0  (0 = device default)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import tomllib

from cafe_monitor.classification import PRECISIONS
from cafe_monitor.localtime import CafeClock, TimeZoneError, parse_day_start, zone
from cafe_monitor.pipeline import QualityConfig, Region
from cafe_monitor.scoring import DEFAULT_VALENCE, ScoreConfig
from cafe_monitor.tracking import TrackerConfig


class ConfigError(ValueError):
    """Malformed settings; the message names the file and the key."""


@dataclass(frozen=True)
class CameraSettings:
    source: str = "0"
    loop: bool = False
    start_at_launch: bool = True  # the dashboard starts monitoring when it opens (`run --start` always does)


@dataclass(frozen=True)
class DetectorSettings:
    model: str = "full_range"
    min_score: float = 0.5


@dataclass(frozen=True)
class ClassifierSettings:
    model: str = ""
    cpu_only: bool = False
    precision: str = "auto"  # auto: float32 on a GPU, the int8 twin on a CPU


@dataclass(frozen=True)
class PrivacySettings:
    blur_preview: bool = False
    retention_days: int = 30
    #: visits (and sessions left empty) are deleted after this many days; 0 keeps them
    visit_retention_days: int = 0


@dataclass(frozen=True)
class StorageSettings:
    url: str = ""
    site: str = "main"
    camera_name: str = "counter"
    #: the site's IANA zone ("" = this computer's) and when its business day begins: every
    #: hour and day a person sees is local (see cafe_monitor.localtime)
    time_zone: str = ""
    business_day_start: str = "04:00"

    def clock(self) -> CafeClock:
        return CafeClock.of(self.time_zone, self.business_day_start)


@dataclass(frozen=True)
class ReportSettings:
    """The day report written by itself at each business day's end (cafe_monitor.daily_reports)."""

    folder: str = ""  # "" = reports/ in the user data folder
    auto_daily: bool = True


@dataclass(frozen=True)
class CameraProfile:
    """One camera's table `[cameras.<name>]` (minimal version from the `unattended` branch; the
    `privacy` branch's fuller one replaces it): its source, customer area and capture mode."""

    source: str = ""
    area: Region = Region()
    width: int = 0  # 0 = the device's default
    height: int = 0
    fps: int = 0


@dataclass(frozen=True)
class ScoreSettings:
    satisfied_above: float = 0.25
    dissatisfied_below: float = -0.25
    valence: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_VALENCE))

    def to_config(self) -> ScoreConfig:
        return ScoreConfig(valence=dict(self.valence), satisfied_above=self.satisfied_above,
                           dissatisfied_below=self.dissatisfied_below)


@dataclass(frozen=True)
class Settings:
    camera: CameraSettings = CameraSettings()
    detector: DetectorSettings = DetectorSettings()
    classifier: ClassifierSettings = ClassifierSettings()
    tracker: TrackerConfig = TrackerConfig()
    region: Region = Region()
    quality: QualityConfig = QualityConfig()
    privacy: PrivacySettings = PrivacySettings()
    storage: StorageSettings = StorageSettings()
    score: ScoreSettings = ScoreSettings()
    reports: ReportSettings = ReportSettings()
    cameras: dict[str, CameraProfile] = field(default_factory=dict)

    def profile(self, name: str) -> CameraProfile:
        """The camera's stored table, or the defaults."""
        return self.cameras.get(name, CameraProfile())

    def with_named_zone(self) -> Settings:
        """These settings with the site's zone named ("" resolved to the computer's), as a
        session records them: a chain's other machines read a site's hours in its zone."""
        return dataclasses.replace(self, storage=dataclasses.replace(self.storage, time_zone=self.storage.clock().name))


def _build(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown setting {where}.{key}" if where else f"unknown section [{key}]")
    values = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        key = f"{where}.{f.name}" if where else f.name
        typ, value = hints[f.name], data[f.name]
        if typ is Region and isinstance(value, list) and len(value) == 4:  # area = [x1, y1, x2, y2]
            values[f.name] = _build(Region, dict(zip(("x1", "y1", "x2", "y2"), value, strict=True)), key)
        elif dataclasses.is_dataclass(typ):
            values[f.name] = _build(typ, value, key)  # type: ignore[arg-type]
        elif get_origin(typ) is dict and get_args(typ)[1] is CameraProfile:
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be a table of camera tables")
            values[f.name] = {str(k): _build(CameraProfile, v, f"{key}.{k}") for k, v in value.items()}
        elif typ is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{key} must be a number, got {value!r}")
            values[f.name] = float(value)
        elif get_origin(typ) is dict:
            if not isinstance(value, dict) or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()):
                raise ConfigError(f"{key} must be a table of numbers")
            values[f.name] = {k: float(v) for k, v in value.items()}
        elif not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise ConfigError(f"{key} must be {typ.__name__}, got {value!r}")
        else:
            values[f.name] = value
    return cls(**values)


def validate(settings: Settings) -> Settings:
    r = settings.region
    if not (0 <= r.x1 < r.x2 <= 1 and 0 <= r.y1 < r.y2 <= 1):
        raise ConfigError(f"region must satisfy 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1, got {r}")
    if not 0 < settings.detector.min_score < 1:
        raise ConfigError("detector.min_score must be between 0 and 1")
    if settings.classifier.precision not in PRECISIONS:
        raise ConfigError(f"classifier.precision must be one of {', '.join(PRECISIONS)}, "
                          f"got {settings.classifier.precision!r}")
    if settings.privacy.retention_days < 1:
        raise ConfigError("privacy.retention_days must be at least 1")
    if settings.privacy.visit_retention_days < 0:
        raise ConfigError("privacy.visit_retention_days must be 0 (keep) or a number of days")
    for name, cam in settings.cameras.items():
        if min(cam.width, cam.height, cam.fps) < 0:
            raise ConfigError(f"cameras.{name}: width, height and fps must be 0 (the device's default) or more")
    if settings.tracker.min_frames < 1:
        raise ConfigError("tracker.min_frames must be at least 1")
    for key, check in (("time_zone", zone), ("business_day_start", parse_day_start)):
        try:
            check(getattr(settings.storage, key))
        except TimeZoneError as exc:
            raise ConfigError(f"storage.{key}: {exc}") from exc
    try:
        settings.score.to_config().weights()
    except ValueError as exc:
        raise ConfigError(f"score.valence: {exc}") from exc
    return settings


def parse(data: dict[str, Any]) -> Settings:
    return validate(_build(Settings, data, ""))


def load(path: Path | None) -> Settings:
    """Settings from a TOML file; defaults when path is None or (for the user's own
    settings file) does not exist yet."""
    if path is None or not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read settings {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed settings {path}: {exc}") from exc
    try:
        return parse(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def to_toml(settings: Settings) -> str:
    """Write settings back (the dashboard's settings dialog persists through this)."""
    lines: list[str] = []

    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(v)

    for section in fields(Settings):
        value = getattr(settings, section.name)
        if section.name == "cameras":  # one table per camera, the area as a list
            for name, p in value.items():
                a = p.area
                lines += [f"[cameras.{fmt(name)}]", f"source = {fmt(p.source)}",
                          f"area = [{a.x1!r}, {a.y1!r}, {a.x2!r}, {a.y2!r}]",
                          f"width = {p.width}", f"height = {p.height}", f"fps = {p.fps}", ""]
            continue
        lines.append(f"[{section.name}]")
        tables = []
        for f in fields(value):
            v = getattr(value, f.name)
            if isinstance(v, dict):
                tables.append((f.name, v))
            else:
                lines.append(f"{f.name} = {fmt(v)}")
        for name, table in tables:
            lines.append(f"\n[{section.name}.{name}]")
            lines += [f"{k} = {fmt(v)}" for k, v in table.items()]
        lines.append("")
    return "\n".join(lines)


def save(settings: Settings, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(to_toml(settings), encoding="utf-8")
    tmp.replace(path)
