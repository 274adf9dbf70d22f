"""The sdist and the wheel work on their own: built from a copy of the sources (sdist first, the
wheel from the sdist, as a user's pip would), installed into a fresh virtual environment outside
the repository, and run from a temporary folder on the demo clip. Offline and without pip's build
isolation: setuptools and every dependency come from this test's own environment, reached
through one .pth line (its site-packages' own .pth files, such as this checkout's editable
install, are not read, so `cafe_monitor` can only come from the wheel)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from cafe_monitor import __version__
from tests.conftest import ASSETS, REPO, clip_frames

pytestmark = pytest.mark.slow

#: What the runtime can pick (paths.DEFAULT_MODEL, FAST_MODEL, their int8 twins, detection.DETECTOR_MODELS)
SHIPPED = ("emotion_cascade.onnx", "emotion_cascade.int8.onnx", "emotion_cafenet.onnx", "emotion_cafenet.int8.onnx",
           "emotion_cascade.card.json", "emotion_cascade.int8.card.json", "emotion_cafenet.card.json",
           "emotion_cafenet.int8.card.json", "face_detection_full_range_sparse.tflite",
           "face_detection_short_range.tflite", "LICENSE.mediapipe")
#: The sources an sdist is built from (what a clean clone has; nothing built in place)
SOURCES = ("pyproject.toml", "setup.py", "README.md", "cafe_monitor", "models")
WHEEL_LIMIT_MB = 80  # every model shipped: ~69 MB today; PyPI's default file limit is 100 MB


@dataclass(frozen=True)
class Installed:
    sdist: Path
    wheel: Path
    venv: Path
    work: Path  # an empty folder outside the repository, the commands' working directory
    home: Path  # CAFE_MONITOR_HOME

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CAFE_MONITOR_MODELS", "CAFE_MONITOR_DB")}
        env["CAFE_MONITOR_HOME"] = str(self.home)
        return subprocess.run([str(self.venv / "bin" / "cafe-monitor"), *args], cwd=self.work, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)


def _check(cmd: list[str], cwd: Path) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    if sys.platform == "win32":
        pytest.skip("the venv layout below (bin/) is POSIX")
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        (shutil.copytree(REPO / name, src / name, ignore=junk) if (REPO / name).is_dir()
         else shutil.copy2(REPO / name, src / name))
    dist = root / "dist"
    sdist = dist / _check([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
                           "print(b.build_sdist(sys.argv[1]))", str(dist)], src).strip().splitlines()[-1]
    _check([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
            "-w", str(dist), str(sdist)], root)
    wheel = next(dist.glob("cafe_monitor-*.whl"))

    venv = root / "venv"
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)], root)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_check([str(venv / "bin" / "python"), "-c", where], root).strip())
    deps = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "dependencies.pth").write_text("".join(f"{p}\n" for p in deps))
    _check([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q", "--no-deps",
            "--no-index", str(wheel)], root)
    work = root / "elsewhere"
    work.mkdir()
    shutil.copy2(ASSETS / "demo_emotions.mp4", work / "demo_emotions.mp4")
    return Installed(sdist, wheel, venv, work, root / "home")


def test_sdist_and_wheel_carry_the_models_and_one_version(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as tar:
        in_sdist = {Path(n).name for n in tar.getnames() if "/models/" in n}
    assert set(SHIPPED) <= in_sdist
    with zipfile.ZipFile(installed.wheel) as whl:
        names = set(whl.namelist())
    assert {f"cafe_monitor/models/{n}" for n in SHIPPED} <= names
    assert "cafe_monitor/ui/icon.svg" in names and "cafe_monitor/migrations/script.py.mako" in names
    assert "cafe_monitor/migrations/versions/0001_initial.py" in names  # a folder without __init__.py
    assert not any(n.startswith(("models/", "tests/", "training/")) for n in names)  # only the package
    assert installed.wheel.name == f"cafe_monitor-{__version__}-py3-none-any.whl"
    assert installed.wheel.stat().st_size < WHEEL_LIMIT_MB * 1e6
    assert installed.run("--version").stdout.strip() == f"cafe-monitor {__version__}"


def test_installed_wheel_runs_the_demo_clip_from_any_folder(installed: Installed) -> None:
    ran = installed.run("run", "--headless", "--json", "--source", "demo_emotions.mp4")
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["visits"] and summary["score"]["score"] is not None
    assert f"settings: {installed.home / 'settings.toml'}" in ran.stderr  # the first start says where they live

    check = installed.run("check")
    assert check.returncode == 0, check.stderr
    model = Path(json.loads(check.stdout)["model"])
    assert model.is_relative_to(installed.venv) and model.parent.name == "models"

    out = installed.work / "reports"
    report = installed.run("report", "--session", "last", "--format", "json,csv", "--out", str(out))
    assert report.returncode == 0, report.stderr
    data = json.loads(next(out.glob("*.json")).read_text())
    assert data["visits"] and list(out.glob("*.csv"))

    photos = installed.work / "photos" / "happy"
    photos.mkdir(parents=True)
    import cv2

    cv2.imwrite(str(photos / "face.png"), clip_frames(installed.work / "demo_emotions.mp4", [440])[0])
    evaluate = installed.run("evaluate", "--images", str(photos.parent), "--json")
    assert evaluate.returncode == 0, evaluate.stderr
    assert json.loads(evaluate.stdout)["detected"] == 1
