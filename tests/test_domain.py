"""The leaf module of domain words and the one base class for user errors."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cafe_monitor import domain
from cafe_monitor.errors import UserError

PACKAGE = Path(domain.__file__).resolve().parent


def _our_imports(module: Path) -> list[str]:
    tree = ast.parse(module.read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    return [m for m in imported if m.split(".")[0] == "cafe_monitor"]


@pytest.mark.parametrize("module", ["domain.py", "errors.py"])
def test_leaf_modules_import_only_leaves(module: str) -> None:
    """domain and errors sit at the bottom: what they import of ours (limits) imports nothing of ours."""
    for name in _our_imports(PACKAGE / module):
        leaf = PACKAGE.joinpath(*name.split(".")[1:]).with_suffix(".py")
        assert _our_imports(leaf) == [], (module, name)
    assert _our_imports(PACKAGE / "errors.py") == []


def test_domain_words_are_defined_once() -> None:
    """Every module that uses a domain word has domain's object, not a copy of its own."""
    from cafe_monitor import classification, pipeline, preprocessing, reports, scoring
    from training import data

    assert classification.CLASSES is domain.CLASSES and data.CLASSES is domain.CLASSES
    assert scoring.DEFAULT_VALENCE is domain.DEFAULT_VALENCE
    assert preprocessing.Box is domain.Box and pipeline.Region is domain.Region
    assert not hasattr(reports, "EMOTION_COLOURS")
    for path in PACKAGE.rglob("*.py"):
        if path.name == "domain.py":
            continue
        tree = ast.parse(path.read_text())
        defined = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets
                   if isinstance(t, ast.Name)}
        defined |= {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        assert not defined & {"CLASSES", "COLOURS", "DEFAULT_VALENCE", "Box", "Region"}, path


def test_colours_for_opencv_are_the_chart_colours_in_bgr() -> None:
    assert set(domain.COLOURS) == set(domain.CLASSES) == set(domain.COLOURS_BGR) == set(domain.DEFAULT_VALENCE)
    assert domain.COLOURS["angry"] == "#d62728" and domain.COLOURS_BGR["angry"] == (0x28, 0x27, 0xD6)


@pytest.mark.parametrize(("n", "text"), [(0, "0 visits"), (1, "1 visit"), (2, "2 visits"), (12, "12 visits")])
def test_counted_says_one_visit(n: int, text: str) -> None:
    assert domain.counted(n, "visit") == text


def test_counted_irregular_plural() -> None:
    assert domain.counted(1, "person", "people") == "1 person" and domain.counted(3, "person", "people") == "3 people"


def test_every_user_error_has_the_one_base_and_keeps_its_old_one() -> None:
    from cafe_monitor.autostart import AutostartError
    from cafe_monitor.capture import SourceError
    from cafe_monitor.classification import ModelError
    from cafe_monitor.config import ConfigError
    from cafe_monitor.detection import DetectorError
    from cafe_monitor.localtime import TimeZoneError
    from cafe_monitor.reports import ReportError
    from cafe_monitor.storage import CounterBusyError, StorageError

    for cls, old in [(SourceError, RuntimeError), (ModelError, RuntimeError), (ConfigError, ValueError),
                     (DetectorError, RuntimeError), (StorageError, RuntimeError), (ReportError, RuntimeError),
                     (TimeZoneError, ValueError), (CounterBusyError, RuntimeError),
                     (AutostartError, RuntimeError)]:
        assert issubclass(cls, UserError) and issubclass(cls, old), cls
