from __future__ import annotations

import os
from pathlib import Path

import pytest

from cafe_monitor.paths import DEFAULT_MODEL, FAST_MODEL, MODELS_DIR, resolve_model


def test_model_setting_resolves_default_name_and_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # away from the repo: a shipped model's name must still work
    assert resolve_model("") == resolve_model(None) == DEFAULT_MODEL
    assert resolve_model("emotion_cafenet.onnx") == FAST_MODEL == MODELS_DIR / "emotion_cafenet.onnx"
    own = tmp_path / "emotion_cafenet.onnx"  # a file of that name here wins: it is what was written
    own.write_bytes(b"")
    assert resolve_model("emotion_cafenet.onnx") == Path("emotion_cafenet.onnx")
    assert resolve_model(str(own)) == own
    assert resolve_model("absent.onnx") == Path("absent.onnx")  # left for the classifier's "not found"
    assert os.fspath(resolve_model(Path("emotion_cascade.onnx"))) == os.fspath(DEFAULT_MODEL)
