"""Face crop -> classifier input. The ONE implementation shared by training and runtime.

Training imports `normalise` for the 48x48 FER2013 faces; the live pipeline calls
`crop_face` then `normalise`. Keeping both in one module means a change to the
input contract is a change in one place, and the model card records the constants.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from cafe_monitor.domain import Box

INPUT_SIZE = 48
#: x = (pixel * SCALE - MEAN) / STD, the contract written into every model card.
SCALE = 1.0 / 255.0
MEAN = 0.5
STD = 0.25
#: Box margin added on each side, as a fraction of the box size. FER2013 faces are
#: loosely cropped (forehead to chin, some hair), MediaPipe boxes are tight.
DEFAULT_MARGIN = 0.15


def to_gray(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """BGR, BGRA or gray uint8 image -> gray uint8 (OpenCV's BT.601 weights)."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return np.asarray(cv2.cvtColor(image, code), dtype=np.uint8)


def square_with_margin(box: Box, margin: float = DEFAULT_MARGIN, shift: float = 0.0) -> Box:
    """Square box around the face centre, side = longer edge * (1 + 2 * margin), moved
    down by `shift` x side (negative: up), so a detector's framing can match FER2013's."""
    cx, cy = box.centre
    half = max(box.width, box.height) * (0.5 + margin)
    cy += 2 * half * shift
    return Box(cx - half, cy - half, cx + half, cy + half)


Point = tuple[float, float]


def eye_angle(eyes: tuple[Point, Point]) -> float:
    """Degrees the line from the image-left eye to the image-right eye dips below horizontal:
    the rotation that levels a tilted head."""
    (xa, ya), (xb, yb) = sorted(eyes)
    return float(np.degrees(np.arctan2(yb - ya, xb - xa)))


#: Tilts smaller than this are left alone: rotating costs a resample, and detector keypoints
#: jitter by about a degree from frame to frame.
MIN_TILT_DEG = 2.0


def crop_face(
    image: npt.NDArray[np.uint8],
    box: Box,
    margin: float = DEFAULT_MARGIN,
    *,
    shift: float = 0.0,
    eyes: tuple[Point, Point] | None = None,
) -> npt.NDArray[np.uint8]:
    """Square crop with margin, turned upright from the eyes when given, grayscale, 48x48.

    FER2013's faces are upright, so a head tilted towards a shoulder reads worse unless it
    is levelled first. Parts of the square outside the frame are filled by edge replication,
    so a face at the border keeps its aspect ratio instead of being stretched.
    """
    sq = square_with_margin(box, margin, shift)
    angle = eye_angle(eyes) if eyes is not None else 0.0
    if abs(angle) < MIN_TILT_DEG:
        return _square_gray(image, sq, INPUT_SIZE)
    # Cut (and shrink, with area averaging) a square big enough to hold the turned one,
    # then turn it about its centre and keep the middle 48x48.
    t = np.radians(angle)
    grow = abs(np.cos(t)) + abs(np.sin(t))
    cx, cy = sq.centre
    half = sq.width * grow / 2
    size = int(np.ceil(INPUT_SIZE * grow)) | 1
    outer = _square_gray(image, Box(cx - half, cy - half, cx + half, cy + half), size)
    rotation = np.asarray(cv2.getRotationMatrix2D((size / 2, size / 2), angle, size / (INPUT_SIZE * grow)),
                          dtype=np.float64)
    rotation[:, 2] += INPUT_SIZE / 2 - size / 2
    turned = cv2.warpAffine(outer, rotation, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(turned, dtype=np.uint8)


def _square_gray(image: npt.NDArray[np.uint8], sq: Box, out_size: int) -> npt.NDArray[np.uint8]:
    x1, y1 = round(sq.x1), round(sq.y1)
    side = max(1, round(sq.x2 - sq.x1))
    x2, y2 = x1 + side, y1 + side
    h, w = image.shape[:2]
    pad_l, pad_t = max(0, -x1), max(0, -y1)
    pad_r, pad_b = max(0, x2 - w), max(0, y2 - h)
    region = image[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]
    if region.size == 0:
        return np.zeros((out_size, out_size), dtype=np.uint8)
    crop = to_gray(region)  # convert only the face, not the frame (OpenCV reads the view in place)
    if pad_l or pad_t or pad_r or pad_b:
        crop = np.asarray(cv2.copyMakeBorder(crop, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE), np.uint8)
    interpolation = cv2.INTER_AREA if side > out_size else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(crop, (out_size, out_size), interpolation=interpolation), dtype=np.uint8)


def normalise(faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """uint8 faces [..., 48, 48] -> float32 [N, 1, 48, 48] model input."""
    arr = np.asarray(faces, dtype=np.float32).reshape(-1, 1, INPUT_SIZE, INPUT_SIZE)
    return (arr * np.float32(SCALE) - np.float32(MEAN)) / np.float32(STD)
