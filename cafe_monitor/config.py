"""Settings: one TOML file, strictly validated. An unknown or mistyped key is an error that
names it (a typo must not silently fall back to a default in a shop); every number has an
allowed range (written next to its field, see cafe_monitor.limits) and a value outside it is
a one-line error with the key's full name and the range; a partial table keeps the defaults
of the keys it leaves out (a `[score.valence]` with only `surprise` keeps the other classes').

Every key, its default, range and help is in the field metadata below (cafe_monitor.limits);
docs/settings.md is generated from it (`python -m cafe_monitor.docs`), never written by hand.

The old form `[region] x1 = .. y1 = .. x2 = .. y2 = ..` is still read: it is the customer area
of the default camera (`storage.camera_name`) unless that camera's table sets `area`; saving
writes the new form.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import tomllib

from cafe_monitor.classification import PRECISIONS
from cafe_monitor.domain import CLASSES, DEFAULT_VALENCE, Region
from cafe_monitor.errors import UserError
from cafe_monitor.limits import Limit, bounded, limit_of, number, setting
from cafe_monitor.localtime import CafeClock, TimeZoneError, parse_day_start, zone
from cafe_monitor.owner_only import write_private
from cafe_monitor.pipeline import QualityConfig
from cafe_monitor.scoring import ScoreConfig
from cafe_monitor.tracking import TrackerConfig

DEFAULT_NOTICE = ("This camera estimates how satisfied customers are from facial expressions. "
                  "No image or video is stored: only anonymous numbers.")


class ConfigError(UserError, ValueError):
    """Malformed settings; the message names the file and the key."""


@dataclass(frozen=True)
class CameraSettings:
    """The default camera (one counter); several cameras: [cameras.NAME] tables."""

    source: str = setting("0", "camera index (0, 1, ...), video file or stream URL (rtsp://...)")
    loop: bool = setting(False, "play a video file in a loop (demos)")
    start_at_launch: bool = setting(True, "the dashboard starts monitoring as it opens (`run --start` always does)")


@dataclass(frozen=True)
class DetectorSettings:
    """Face detection (MediaPipe BlazeFace, shipped with the program)."""

    model: str = setting("full_range", '"full_range" (customers 0.5-2.5 m away) or "short_range" (a close, '
                                       'selfie-distance camera), or a .tflite path')
    min_score: float = bounded(0.5, 0, 1, low_open=True, high_open=True,
                               help="faces the detector is less sure of are ignored")
    #: the work planner (cafe_monitor.work_planner, issue 24) decides per frame whether to detect or to
    #: carry the faces at their predicted boxes; this is its longest stride (docs/benchmarks.md "Work that
    #: follows the need"). 1 = detect on every frame.
    every_n_frames: int = bounded(6, 1, 30, help="the most frames from one detection to the next; the planner "
                                                 "detects more often while there is time, a face enters or moves, "
                                                 "or a reading is due (1 = every frame)")
    budget_ms: float = bounded(2.0, 0, 1000, help="per frame, the time (ms) a camera may spend beyond what its "
                                                  "faces need, on detections nobody asked for (0 = none)")
    classify_carried: bool = setting(False, "no effect since the work planner decides what to classify "
                                            "(kept so older settings files load)")


@dataclass(frozen=True)
class ClassifierSettings:
    """The emotion model (ONNX, with its .card.json)."""

    model: str = setting("", '"" = the default cascade; a shipped model\'s name ("emotion_cafenet.onnx": one net, '
                             'the same cost for every face) or a path')
    cpu_only: bool = setting(False, "never use a GPU")
    precision: str = setting("auto", '"auto" (float32 on a GPU, the int8 twin on a CPU), "float32" or "int8"')
    readings_per_second: float = bounded(5.0, 0, 1000, help="each steady face is classified at most this often "
                                                            "(0 = on every detection)")
    min_readings: int = bounded(5, 1, 10_000, help="every face is classified on each detection until it has this "
                                                   "many readings")


@dataclass(frozen=True)
class PrivacySettings:
    """What the screen shows and how long detail is kept (no image is ever stored)."""

    blur_preview: bool = setting(True, "pixelate every face the detector finds in the live preview (staff and "
                                       "small faces too)")
    show_labels: bool = setting(False, 'per-face mood labels ("happy 34%") in the preview: for setting up, not '
                                       "for judging people")
    notice: str = setting(DEFAULT_NOTICE, 'shown under the live image, for customers who can see the screen; "" '
                                          "= none")
    retention_days: int = bounded(30, 1, 36_500, help="per-second timeline rows older than this are deleted at "
                                                      "each session start")
    visit_retention_days: int = bounded(0, 0, 36_500, help="visits (and sessions left empty) older than this are "
                                                           "deleted; 0 keeps them")


@dataclass(frozen=True)
class StorageSettings:
    """Where sessions go, under which names, and the café's clock (cafe_monitor.localtime)."""

    url: str = setting("", '"" = SQLite in the user data folder; else a SQLAlchemy URL '
                           "(postgresql+psycopg://user@host/cafe for a chain)")
    site: str = setting("main", "this shop's name in a shared database")
    camera_name: str = setting("counter", "the default camera's name; its sessions are stored under it")
    time_zone: str = setting("", '"" = this computer\'s zone; else an IANA name such as "Europe/London"')
    business_day_start: str = setting("04:00", "HH:MM, at most 12:00: a night until 2 a.m. belongs to the day "
                                               "it began")

    def clock(self) -> CafeClock:
        return CafeClock.of(self.time_zone, self.business_day_start)


@dataclass(frozen=True)
class ReportSettings:
    """The day report written by itself at each business day's end (cafe_monitor.daily_reports)."""

    folder: str = setting("", '"" = reports/ in the user data folder')
    auto_daily: bool = setting(True, "write each business day's PDF and CSV report five minutes after it ends")


@dataclass(frozen=True)
class ScoreSettings:
    """The satisfaction score (docs/user-guide.md, Satisfaction score)."""

    satisfied_above: float = bounded(0.25, -1, 1, help="a visit whose valence is at least this counts as "
                                                       "satisfied")
    dissatisfied_below: float = bounded(-0.25, -1, 1, help="at most this: dissatisfied")
    #: a partial table keeps the other classes' defaults (merged at load)
    valence: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_VALENCE), metadata={
        "limit": Limit(-1, 1), "help": "each emotion's weight in a visit's valence; a table that names only some "
                                       "keeps the others' defaults"})

    def to_config(self) -> ScoreConfig:
        return ScoreConfig(valence=dict(self.valence), satisfied_above=self.satisfied_above,
                           dissatisfied_below=self.dissatisfied_below)


@dataclass(frozen=True)
class CameraProfile:
    """One camera's own settings (`[cameras.<name>]`), keyed by the name its sessions are stored under."""

    source: str = setting("", '"" = [camera] source')
    area: Region = setting(Region(), "the customer area [x1, y1, x2, y2] as fractions of the frame (x1 < x2, "
                                     "y1 < y2); faces outside it are neither classified nor stored; not set = the "
                                     "whole frame")
    width: int = bounded(0, 0, 16_384, help="capture width asked of the device; 0 = its default")
    height: int = bounded(0, 0, 16_384, help="capture height; 0 = the device's default")
    fps: int = bounded(0, 0, 1000, help="frame rate asked of the device; 0 = its default")


@dataclass(frozen=True)
class Settings:
    camera: CameraSettings = CameraSettings()
    detector: DetectorSettings = DetectorSettings()
    classifier: ClassifierSettings = ClassifierSettings()
    tracker: TrackerConfig = TrackerConfig()
    quality: QualityConfig = QualityConfig()
    privacy: PrivacySettings = PrivacySettings()
    storage: StorageSettings = StorageSettings()
    score: ScoreSettings = ScoreSettings()
    reports: ReportSettings = ReportSettings()
    cameras: dict[str, CameraProfile] = field(default_factory=dict)

    def profile(self, name: str | None = None) -> CameraProfile:
        """The named camera's settings (default: storage.camera_name), or the defaults."""
        return self.cameras.get(self.storage.camera_name if name is None else name, CameraProfile())

    def with_area(self, area: Region, name: str | None = None) -> Settings:
        """These settings with a camera's customer area replaced (checked, like a loaded file)."""
        name = self.storage.camera_name if name is None else name
        cameras = {**self.cameras, name: dataclasses.replace(self.profile(name), area=area)}
        return validate(dataclasses.replace(self, cameras=cameras))

    def with_named_zone(self) -> Settings:
        """These settings with the site's zone named ("" resolved to the computer's), as a
        session records them: a chain's other machines read a site's hours in its zone."""
        return dataclasses.replace(self, storage=dataclasses.replace(self.storage, time_zone=self.storage.clock().name))


#: rules between two keys of one table: (table, lower key, higher key), lower < higher
ORDERED = ((QualityConfig, "min_face_px", "good_face_px"), (QualityConfig, "min_sharpness", "good_sharpness"),
           (ScoreSettings, "dissatisfied_below", "satisfied_above"), (Region, "x1", "x2"), (Region, "y1", "y2"))


def _number(value: Any, key: str, typ: type) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or (typ is int and not isinstance(value, int)):
        kind = "a whole number" if typ is int else "a number"
        raise ConfigError(f"{key} must be {kind}, got {value!r}")
    return value if typ is int else float(value)


def _area(value: Any, key: str) -> Region:
    if (not isinstance(value, list) or len(value) != 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise ConfigError(f"{key} must be [x1, y1, x2, y2] as fractions of the frame, got {value!r}")
    return Region(*(float(v) for v in value))


def _build(cls: type[Any], data: Any, where: str) -> Any:
    """A dataclass from a TOML table: unknown keys and wrong types refused; keys left out keep
    their defaults (tables of numbers merge with the default table)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown setting {where}.{key}" if where else f"unknown section [{key}]")
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        key = f"{where}.{f.name}" if where else f.name
        typ, value = hints[f.name], data[f.name]
        if typ is Region and where:  # a camera's area: a list, not a table
            values[f.name] = _area(value, key)
        elif dataclasses.is_dataclass(typ):
            values[f.name] = _build(typ, value, key)  # type: ignore[arg-type]
        elif get_origin(typ) is dict and dataclasses.is_dataclass(get_args(typ)[1]):
            if not isinstance(value, dict):
                raise ConfigError(f"{key}: expected tables like [{key}.name], got {value!r}")
            if not value:
                raise ConfigError(f"{key}: empty; add a table per camera, like [{key}.counter]")
            values[f.name] = {str(name): _build(get_args(typ)[1], v, f"{key}.{_toml_key(str(name))}")
                              for name, v in value.items()}
        elif get_origin(typ) is dict:
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be a table of numbers")
            unknown = sorted(set(value) - set(CLASSES)) if f.name == "valence" else []
            if unknown:
                raise ConfigError(f"unknown setting {key}.{unknown[0]} (the emotions are {', '.join(CLASSES)})")
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else {}
            values[f.name] = {**default, **{k: float(_number(v, f"{key}.{k}", float)) for k, v in value.items()}}
        elif typ in (int, float):
            values[f.name] = _number(value, key, typ)
        elif not isinstance(value, typ):
            raise ConfigError(f"{key} must be {typ.__name__}, got {value!r}")
        else:
            values[f.name] = value
    return cls(**values)


def check_limits(obj: Any, where: str, sep: str = ".") -> None:
    """Every bounded number of a settings dataclass (and the tables inside it) within its range,
    and ordered pairs in order; the first that is not -> a one-line ConfigError."""

    def name(key: str) -> str:
        return f"{where}{sep}{key}" if where else key

    for f in fields(obj):
        value, key, limit = getattr(obj, f.name), name(f.name), limit_of(f)
        if isinstance(value, Region) and where:
            check_limits(value, key, " ")  # a camera's area is a list: "cameras.counter.area x1"
        elif dataclasses.is_dataclass(value):
            check_limits(value, key)
        elif isinstance(value, dict):
            for k, v in value.items():
                if dataclasses.is_dataclass(v):
                    check_limits(v, f"{key}.{_toml_key(k)}")
                elif limit is not None and not limit.allows(v):
                    raise ConfigError(f"{key}.{k} = {number(v)} is out of range ({limit})")
        elif limit is not None and not limit.allows(value):
            raise ConfigError(f"{key} = {number(value)} is out of range ({limit})")
    for cls, low, high in ORDERED:
        if type(obj) is cls and not getattr(obj, low) < getattr(obj, high):
            raise ConfigError(f"{name(low)} = {number(getattr(obj, low))} must be less than "
                              f"{name(high)} = {number(getattr(obj, high))}")


def validate(settings: Settings) -> Settings:
    check_limits(settings, "")
    if settings.classifier.precision not in PRECISIONS:
        raise ConfigError(f"classifier.precision must be one of {', '.join(PRECISIONS)}, "
                          f"got {settings.classifier.precision!r}")
    for name in settings.cameras:
        if not name.strip():
            raise ConfigError("cameras: a camera needs a name, like [cameras.counter]")
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
    data = dict(data)
    old_region = data.pop("region", None)  # the old form of the default camera's area
    settings = _build(Settings, data, "")
    if old_region is not None:
        region = _build(Region, old_region, "region")
        check_limits(region, "region")
        name = settings.storage.camera_name
        if "area" not in data.get("cameras", {}).get(name, {}):
            settings = dataclasses.replace(settings, cameras={
                **settings.cameras, name: dataclasses.replace(settings.profile(name), area=region)})
    return validate(settings)


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


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, Region):
        return "[" + ", ".join(repr(x) for x in (v.x1, v.y1, v.x2, v.y2)) + "]"
    return repr(v)


def to_toml(settings: Settings) -> str:
    """Write settings back (the dashboard's settings dialog persists through this)."""
    lines: list[str] = []

    def table(name: str, value: Any) -> None:
        lines.append(f"[{name}]")
        tables = []
        for f in fields(value):
            v = getattr(value, f.name)
            if isinstance(v, dict):
                tables.append((f.name, v))
            else:
                lines.append(f"{f.name} = {_toml_value(v)}")
        lines.append("")
        for sub, items in tables:
            lines.append(f"[{name}.{sub}]")
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in items.items())
            lines.append("")

    for section in fields(Settings):
        value = getattr(settings, section.name)
        if isinstance(value, dict):
            for name, profile in value.items():
                table(f"{section.name}.{_toml_key(name)}", profile)
        else:
            table(section.name, value)
    return "\n".join(lines)


def save(settings: Settings, path: Path) -> None:
    """Write the settings file owner-only (it may hold a database password), atomically."""
    write_private(path, to_toml(settings))
