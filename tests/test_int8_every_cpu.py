"""The shipped int8 models give the same answers on every x86-64 CPU.

ONNX Runtime's u8s8 kernels on CPUs without VNNI (AVX2 only) add pairs of uint8 x int8
products in int16; with 8-bit weights (|w| up to 127) 255 x 127 x 2 overflows and saturates,
so such CPUs answered differently (PrivateTest 69.1% instead of 70.2%). The weights are now
quantised to 7 bits. The first test checks that bound on the files themselves, which needs no
particular CPU. The second runs each model on such a CPU, emulated by QEMU's user mode (a
Haswell: AVX2 and FMA, no AVX-512, no VNNI, so ONNX Runtime takes its AVX2 u8s8 kernels; and
a Nehalem, without AVX) on the live path's crops of the demo clip, and requires this CPU's
logits: the 8-bit files differed by up to 0.68 logits there on the Haswell. The third
compares each model with graph optimisations on (the int8 kernels of this CPU) and off (the
QDQ graph computed in float, the same everywhere) on 1,200 FER2013 faces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cafe_monitor.paths import MODELS_DIR
from tests.conftest import clip_frames, need_module, skip_or_fail
from training.cpu_check import EMULATED_CPUS, can_emulate, logits_on

onnx = need_module("onnx")

INT8_MODELS = sorted(MODELS_DIR.glob("*.int8.onnx"))
#: 255 (largest uint8 activation) x |w| x 2 (pairs summed by vpmaddubsw) must fit in int16.
INT16_MAX = 32767


def test_int8_models_are_shipped() -> None:
    assert {p.name for p in INT8_MODELS} >= {"emotion_cascade.int8.onnx", "emotion_cafenet.int8.onnx"}


@pytest.mark.parametrize("model", INT8_MODELS, ids=lambda p: p.name)
def test_int8_weights_cannot_saturate_an_avx2_int16_sum(model: Path) -> None:
    graph = onnx.load(str(model))
    weights = [onnx.numpy_helper.to_array(t) for t in graph.graph.initializer
               if t.data_type == onnx.TensorProto.INT8 and len(t.dims) >= 2]
    assert len(weights) >= 10  # every conv and dense layer of the nets
    largest = max(int(np.abs(w.astype(np.int32)).max()) for w in weights)
    assert 255 * largest * 2 <= INT16_MAX, f"{model.name}: |w| up to {largest}"


@pytest.fixture(scope="module")
def live_crops(emotions_clip: Path) -> np.ndarray:
    """The demo clip's face (sad, shocked, surprised, happy) every 12th frame, cut as the monitor cuts it."""
    from cafe_monitor.classification import load_card
    from cafe_monitor.detection import FaceDetector
    from cafe_monitor.preprocessing import crop_face, normalise

    card = load_card(MODELS_DIR / "emotion_cascade.int8.onnx")
    crops = []
    with FaceDetector() as detector:
        for frame in clip_frames(emotions_clip, list(range(5, 472, 12))):
            found = detector.detect(frame)
            if not found:
                continue
            face = max(found, key=lambda d: d.box.area)
            crops.append(crop_face(frame, face.box, card.crop_margin, shift=card.crop_shift,
                                   eyes=face.eyes if card.align_eyes else None))
    assert len(crops) >= 30
    return normalise(np.stack(crops))


#: Largest logit difference from this CPU allowed on each emulated one. Haswell runs the
#: u8s8 AVX2 kernels: with 7-bit weights, exact integer sums leave only float rounding (an 8-bit file that
#: saturates there differs by 0.68). On Nehalem's SSE kernels the 2026-12-02 cascade differs by
#: up to 0.031 on these crops (the 2026-11-30 one by 5e-7), with the same classes on every face
#: and the same PrivateTest accuracy (its card's cpus_checked). The cause: one residual Add of
#: the first net (ONNX Runtime's fused int8 Add) rounds a few values one level differently on
#: the SSE kernels, and the layers after it carry that on (training/README.md, "CPUs checked").
LOGIT_GAP = {"Haswell-v4": 0.01, "Nehalem": 0.05}


@pytest.mark.parametrize("cpu", EMULATED_CPUS)
@pytest.mark.parametrize("model", INT8_MODELS, ids=lambda p: p.name)
def test_int8_answers_are_the_same_on_other_cpus(model: Path, cpu: str, live_crops: np.ndarray) -> None:
    """Haswell: AVX2 without VNNI (where 8-bit weights saturated); Nehalem: no AVX at all."""
    if not can_emulate():
        skip_or_fail("needs qemu-x86_64 (Debian's qemu-user, scripts/test.sh installs it) on an x86-64 machine "
                     "to emulate a CPU without VNNI", "QEMU")
    here, there = logits_on(model, live_crops), logits_on(model, live_crops, cpu, processes=2)
    assert (there.argmax(1) == here.argmax(1)).all()
    gap = float(np.abs(there - here).max())
    assert gap <= LOGIT_GAP[cpu], f"{model.name} on {cpu}: logits differ by up to {gap:.3f}"


@pytest.mark.needs_shared("data/fer2013")
@pytest.mark.parametrize("model", INT8_MODELS, ids=lambda p: p.name)
def test_int8_answers_match_the_cpu_independent_reference_on_fer2013(model: Path, fer_dir: Path) -> None:
    need_module("torch")
    from training.data import DEFAULT_CACHE, load_fer2013
    from training.quantize import int8_logits

    faces = load_fer2013(fer_dir, DEFAULT_CACHE)[0]["PublicTest"].images[:1200]
    optimised, reference = int8_logits(model, faces), int8_logits(model, faces, optimised=False)
    same = float((optimised.argmax(1) == reference.argmax(1)).mean())
    assert same >= 0.995, f"{model.name}: same class on {same:.2%} of {len(faces)} faces"
