"""Face detection with MediaPipe's BlazeFace, fully offline from the models we ship.

mediapipe 1.2 ships no face model and we never download one at run time: the two
BlazeFace variants live in `models/` (Apache-2.0, from the mediapipe 0.10.21 wheel).
Full-range is the default because counter customers stand 0.5-2.5 m from the camera,
where the short-range model (tuned for selfies under ~2 m) loses confidence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cafe_monitor.capture import Image
from cafe_monitor.domain import Box
from cafe_monitor.errors import UserError
from cafe_monitor.native_output import quiet_native_output
from cafe_monitor.paths import MODELS_DIR
from cafe_monitor.preprocessing import Point

DETECTOR_MODELS = {
    "full_range": MODELS_DIR / "face_detection_full_range_sparse.tflite",
    "short_range": MODELS_DIR / "face_detection_short_range.tflite",
}


class DetectorError(UserError, RuntimeError):
    pass


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    #: BlazeFace's two eye keypoints in pixels (the crop turns the face upright from them).
    eyes: tuple[Point, Point] | None = None


class FaceDetector:
    """MediaPipe Tasks FaceDetector in IMAGE mode (stateless, so frames may be dropped)."""

    def __init__(self, model: str | Path = "full_range", min_score: float = 0.5, max_side: int = 640) -> None:
        path = DETECTOR_MODELS.get(str(model), Path(model))
        if not Path(path).is_file():
            raise DetectorError(f"face detector model not found: {path}")
        os.environ.setdefault("GLOG_minloglevel", "2")  # keep MediaPipe's C++ INFO lines quiet
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=min_score,
        )
        try:
            with quiet_native_output():
                self._detector = vision.FaceDetector.create_from_options(options)
                self._detector.detect(_blank_image())  # first call prints delegate banners
        except Exception as exc:
            raise DetectorError(f"cannot load face detector model {path}: {exc}") from exc
        self.model_path = Path(path)
        #: BlazeFace sees a 128/192 px input, so bigger frames are shrunk first: colour
        #: conversion and the model's own resize then cost the same at 720p as at 360p.
        self.max_side = max_side
        self._closed = False

    def detect(self, image: Image) -> list[Detection]:
        """BGR (or gray) frame -> face boxes in pixel coordinates, clipped to the frame."""
        import mediapipe as mp

        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)),
                                                      interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB if small.ndim == 2 else cv2.COLOR_BGR2RGB)
        result = self._detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb)))
        out = []
        for d in result.detections:
            bb = d.bounding_box
            x1, y1 = max(0.0, bb.origin_x / scale), max(0.0, bb.origin_y / scale)
            x2 = min(float(w), (bb.origin_x + bb.width) / scale)
            y2 = min(float(h), (bb.origin_y + bb.height) / scale)
            if x2 > x1 and y2 > y1:
                keypoints = d.keypoints or []
                eyes = ((keypoints[0].x * w, keypoints[0].y * h), (keypoints[1].x * w, keypoints[1].y * h)) \
                    if len(keypoints) >= 2 else None
                out.append(Detection(Box(x1, y1, x2, y2), float(d.categories[0].score), eyes))
        return out

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with quiet_native_output():
                self._detector.close()

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _blank_image() -> object:
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8))
