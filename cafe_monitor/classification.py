"""Emotion classifier on ONNX Runtime, checked against its model card on load.

The card (`<model>.card.json` beside the `.onnx`) is the contract: class order, input
shape and the preprocessing constants. A model that disagrees with it, or with the
preprocessing this program applies, is refused with a one-line error naming the file,
because a silently mismatched model gives plausible-looking but wrong moods.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cafe_monitor import preprocessing
from cafe_monitor.domain import CLASSES
from cafe_monitor.errors import UserError
from cafe_monitor.native_output import quiet_native_output
from cafe_monitor.paths import FAST_MODEL

log = logging.getLogger(__name__)

#: Fastest first; the first one that actually loads wins.
PROVIDER_PREFERENCE = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "DmlExecutionProvider",
    "CoreMLExecutionProvider",
    "CPUExecutionProvider",
)


class ModelError(UserError, RuntimeError):
    """Missing, corrupt or mismatched model/card; the message names the file."""


def card_path(model_path: Path) -> Path:
    return model_path.with_suffix(".card.json")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelCard:
    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.data.get("name", self.path.stem))

    @property
    def sha256(self) -> str:
        return str(self.data["sha256"])

    @property
    def output_kind(self) -> str:
        return str(self.data["output"]["kind"])

    @property
    def quantized(self) -> bool:
        """int8 (training/quantize.py): a format for CPU kernels."""
        return "quantization" in self.data

    @property
    def crop_margin(self) -> float:
        return float(self.data["preprocessing"].get("crop_margin", preprocessing.DEFAULT_MARGIN))

    @property
    def crop_shift(self) -> float:
        """How far the crop's centre sits below the detector box's, as a fraction of its side."""
        return float(self.data["preprocessing"].get("crop_shift", 0.0))

    @property
    def align_eyes(self) -> bool:
        """Whether the model was chosen with faces turned upright from the eye keypoints."""
        return bool(self.data["preprocessing"].get("align_eyes", False))


def load_card(model_path: Path) -> ModelCard:
    path = card_path(model_path)
    if not path.is_file():
        raise ModelError(f"model card missing for {model_path}: expected {path}")
    try:
        data = json.loads(path.read_text())
        pre = data["preprocessing"]
        checks = {
            "classes": (list(data["classes"]) == list(CLASSES), f"{data['classes']} != {list(CLASSES)}"),
            "input.shape": (list(data["input"]["shape"])[1:] == [1, 48, 48], str(data["input"]["shape"])),
            "preprocessing.scale": (np.isclose(pre["scale"], preprocessing.SCALE), str(pre["scale"])),
            "preprocessing.mean": (np.isclose(pre["mean"], preprocessing.MEAN), str(pre["mean"])),
            "preprocessing.std": (np.isclose(pre["std"], preprocessing.STD), str(pre["std"])),
            "output.kind": (data["output"]["kind"] in ("logits", "probabilities"), data["output"]["kind"]),
            "sha256": (isinstance(data["sha256"], str) and len(data["sha256"]) == 64, "malformed"),
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"malformed model card {path}: {exc!r}") from exc
    for key, (ok, got) in checks.items():
        if not ok:
            raise ModelError(f"model card {path} does not match this program: {key} = {got}")
    return ModelCard(path, data)


def select_providers(available: list[str], prefer_cpu: bool = False) -> list[str]:
    if prefer_cpu:
        return ["CPUExecutionProvider"]
    return [p for p in PROVIDER_PREFERENCE if p in available] or ["CPUExecutionProvider"]


#: auto: the float32 model on a GPU, its int8 twin on a CPU. An int8 model always runs on the CPU.
PRECISIONS = ("auto", "float32", "int8")


def int8_variant(model_path: Path) -> Path:
    """Where training/quantize.py puts a model's int8 twin."""
    return model_path.with_name(model_path.stem + ".int8.onnx")


class EmotionClassifier:
    """48x48 faces -> 7 probabilities each, all faces of a frame in one batch.

    precision "auto" runs the float32 model on a GPU and its int8 twin (when one sits
    beside it) on a CPU, where it is ~3x faster and picks the same class for ~99% of
    faces (docs/benchmarks.md, the twin's card). An int8 model, such as the int8-only
    default cascade, runs on the CPU even where a GPU is available."""

    def __init__(self, model_path: str | Path, *, cpu_only: bool = False, verify_checksum: bool = True,
                 precision: str = "auto") -> None:
        if precision not in PRECISIONS:
            raise ModelError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        path = Path(model_path)
        if precision == "int8" and not path.stem.endswith(".int8"):
            path = int8_variant(path)
        self._verify_checksum = verify_checksum
        import onnxruntime as ort

        requested = select_providers(ort.get_available_providers(), cpu_only)
        twin = int8_variant(path) if precision == "auto" and int8_variant(path).is_file() else None
        if twin is not None and requested == ["CPUExecutionProvider"]:
            path = twin  # no GPU on offer: the float32 session would be thrown away
        if requested != ["CPUExecutionProvider"] and path.is_file() and load_card(path).quantized:
            # ONNX Runtime's CUDA provider has no per-channel int8 kernels: it would copy each
            # tensor back to the host, slower than running the whole graph on the CPU.
            log.info("%s is an int8 model: running it on the CPU", path.name)
            requested = ["CPUExecutionProvider"]
        self._open(path, requested)
        if self.quantized and precision == "float32":
            raise ModelError(f"emotion model {path} is int8 only; precision \"float32\" needs a float32 model "
                             f"(e.g. classifier.model = \"{FAST_MODEL.name}\")")
        if twin is not None and self.provider == "CPUExecutionProvider" and not self.quantized:
            self._open(twin, ["CPUExecutionProvider"])  # a GPU provider was listed but did not load
        if requested[0] != self.provider:  # the usual case on a computer without a GPU: not news to staff
            log.debug("%s unavailable (no matching GPU libraries); running on %s", requested[0], self.provider)

    def _open(self, path: Path, providers: list[str]) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelError(f"emotion model not found: {path}")
        card = load_card(path)
        if self._verify_checksum and sha256(path) != card.sha256:
            raise ModelError(f"emotion model {path} is corrupt or not the one its card describes "
                             "(sha256 mismatch)")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # A 48x48 CNN on a handful of faces takes ~1 ms on one core; more threads only
        # add spinning workers that burn CPU the detector and the GUI need.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # onnxruntime-gpu on a machine without CUDA logs an ERROR per provider before it
        # falls back to CPU; that is expected here, so mute the default logger while the
        # session is built and report the outcome ourselves.
        ort.set_default_logger_severity(4)
        try:
            with quiet_native_output():
                session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:
            raise ModelError(f"cannot load emotion model {path}: {str(exc).splitlines()[0]}") from exc
        finally:
            ort.set_default_logger_severity(2)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or list(inputs[0].shape)[1:] != [1, 48, 48] or outputs[0].shape[-1] != len(CLASSES):
            raise ModelError(f"emotion model {path} has input {inputs[0].shape} / output "
                             f"{outputs[0].shape}; expected [N,1,48,48] -> [N,7]")
        self.model_path, self.card, self.session = path, card, session
        self.provider: str = session.get_providers()[0]
        self.quantized = card.quantized
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name

    @property
    def precision(self) -> str:
        return "int8" if self.quantized else "float32"

    @property
    def engine(self) -> str:
        """What runs the model, for status lines: e.g. "CUDA float32", "CPU int8"."""
        return f"{self.provider.replace('ExecutionProvider', '')} {self.precision}"

    def classify(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """uint8 faces [N,48,48] -> probabilities [N,7] (rows sum to 1)."""
        if len(faces) == 0:
            return np.zeros((0, len(CLASSES)), dtype=np.float32)
        out = self.session.run([self.output_name], {self.input_name: preprocessing.normalise(faces)})[0]
        out = np.asarray(out, dtype=np.float32)
        if self.card.output_kind == "logits":
            out = softmax(out)
        return out


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
