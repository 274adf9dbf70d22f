from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cafe_monitor.classification import EmotionClassifier, ModelError, select_providers
from cafe_monitor.domain import CLASSES
from cafe_monitor.preprocessing import normalise
from tests.conftest import need_module


@pytest.fixture
def model_copy(model_path: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "m.onnx"
    shutil.copy(model_path, dst)
    shutil.copy(model_path.with_suffix(".card.json"), dst.with_suffix(".card.json"))
    return dst


def test_shipped_model_batch_probabilities(model_path: Path) -> None:
    clf = EmotionClassifier(model_path)
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    p = clf.classify(faces)
    assert p.shape == (5, 7) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert clf.classify(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)
    assert clf.provider in clf.session.get_providers()


def test_batch_equals_single(model_path: Path) -> None:
    clf = EmotionClassifier(model_path)
    faces = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    batch = clf.classify(faces)
    single = np.concatenate([clf.classify(f[None]) for f in faces])
    assert np.allclose(batch, single, atol=1e-5)


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found: .*absent.onnx"):
        EmotionClassifier(tmp_path / "absent.onnx")


def test_corrupt_model_is_refused(model_copy: Path) -> None:
    data = bytearray(model_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        EmotionClassifier(model_copy)


def test_truncated_model_with_matching_card_is_refused(model_copy: Path) -> None:
    model_copy.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match=str(model_copy.name)):
        EmotionClassifier(model_copy, verify_checksum=False)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("classes", list(reversed(CLASSES)), "classes"),
    ("preprocessing", {"scale": 1.0, "mean": 0.0, "std": 1.0}, "preprocessing.scale"),
    ("input", {"name": "x", "shape": ["N", 3, 64, 64]}, "input.shape"),
])
def test_mismatched_card_is_refused(model_copy: Path, key: str, value: object, message: str) -> None:
    card_file = model_copy.with_suffix(".card.json")
    card = json.loads(card_file.read_text())
    card[key] = value
    card_file.write_text(json.dumps(card))
    with pytest.raises(ModelError, match=message):
        EmotionClassifier(model_copy)


def test_missing_card(model_copy: Path) -> None:
    model_copy.with_suffix(".card.json").unlink()
    with pytest.raises(ModelError, match="card missing"):
        EmotionClassifier(model_copy)


def test_provider_preference() -> None:
    assert select_providers(["CPUExecutionProvider", "CUDAExecutionProvider"]) == [
        "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert select_providers(["CUDAExecutionProvider", "CPUExecutionProvider"], prefer_cpu=True) == [
        "CPUExecutionProvider"]


def test_precision_choice_and_unknown_precision(fast_model_path: Path) -> None:
    from cafe_monitor.classification import int8_variant

    assert EmotionClassifier(fast_model_path, cpu_only=True).quantized
    assert not EmotionClassifier(fast_model_path, cpu_only=True, precision="float32").quantized
    assert EmotionClassifier(fast_model_path, precision="int8").model_path == int8_variant(fast_model_path)
    with pytest.raises(ModelError, match="unknown precision"):
        EmotionClassifier(fast_model_path, precision="fp8")


def test_default_model_is_a_float32_cascade_with_an_int8_twin_and_answers_each_face_alone(
        model_path: Path) -> None:
    from cafe_monitor.classification import int8_variant

    clf = EmotionClassifier(model_path, cpu_only=True)  # precision "auto" on a CPU: the int8 twin
    cascade = clf.card.data["ensemble"]
    assert clf.quantized and clf.model_path == int8_variant(model_path) and len(cascade["escalate_below"]) == 2
    exact = EmotionClassifier(model_path, cpu_only=True, precision="float32")
    assert not exact.quantized and exact.model_path == model_path
    assert exact.card.data["ensemble"]["escalate_below"] == cascade["escalate_below"]
    # Which faces go on to the later nets depends on each face, never on its batch-mates. The
    # batch mixes faces that stop at the first net with faces that go on (checked below).
    noise = np.random.default_rng(5).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    plain = np.stack([np.zeros((48, 48)), np.full((48, 48), 255), np.tile(np.arange(48) * 5, (48, 1))])
    faces = np.concatenate([noise, plain.astype(np.uint8)])
    together = clf.classify(faces)
    assert np.allclose(together, np.concatenate([clf.classify(f[None]) for f in faces]), atol=1e-5)

    onnx = need_module("onnx")
    need_module("torch")  # training.quantize, where cascade thresholds are set
    import onnxruntime as ort

    from training.quantize import set_thresholds

    graph = onnx.load(str(clf.model_path))
    assert set_thresholds(graph, 0.0)  # no face may go past the first net
    first = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    alone = first.run(None, {clf.card.data["input"]["name"]: normalise(faces)})[0]
    alone = np.exp(alone) / np.exp(alone).sum(1, keepdims=True)
    escalated = np.abs(alone - together).max(1) > 1e-4
    assert escalated.any() and not escalated.all(), escalated
    assert EmotionClassifier(model_path, precision="int8").model_path == int8_variant(model_path)
    with pytest.raises(ModelError, match="int8 only.*emotion_cafenet.onnx"):
        EmotionClassifier(int8_variant(model_path), precision="float32")


def test_shipped_int8_twin_agrees_with_float32(fast_model_path: Path) -> None:
    faces = np.random.default_rng(2).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    fp32 = EmotionClassifier(fast_model_path, precision="float32").classify(faces)
    int8 = EmotionClassifier(fast_model_path, precision="int8").classify(faces)
    assert np.abs(fp32 - int8).max() < 0.2 and (fp32.argmax(1) == int8.argmax(1)).mean() >= 0.85


def test_int8_model_is_not_offered_to_a_gpu_provider(model_path: Path, fast_model_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    import onnxruntime as ort

    if ort.get_available_providers() == ["CPUExecutionProvider"]:
        pytest.skip("this onnxruntime offers no GPU provider, so there is nothing to keep the model from")
    from cafe_monitor.classification import int8_variant

    caplog.set_level("INFO", logger="cafe_monitor.classification")
    assert EmotionClassifier(int8_variant(model_path)).provider == "CPUExecutionProvider"
    assert "is an int8 model: running it on the CPU" in caplog.text and "unavailable" not in caplog.text
    caplog.clear()
    # the float32 default is offered to the GPU; where none loads, its int8 twin runs on the CPU
    default = EmotionClassifier(model_path)
    assert default.provider != "CPUExecutionProvider" or default.model_path == int8_variant(model_path)
    caplog.clear()
    EmotionClassifier(fast_model_path, precision="float32")  # float32 is offered to the GPU provider first
    assert "is an int8 model" not in caplog.text
