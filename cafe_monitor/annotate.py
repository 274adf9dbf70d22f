"""Draw what the pipeline saw on a copy of the frame: the customer area, thin face boxes,
and, private by default, every detected face pixelated (staff outside the area, faces too
small to classify, faces not tracked yet); per-face mood labels only when asked for (set-up).
Pure OpenCV, so it tests without a screen."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from cafe_monitor.capture import Image
from cafe_monitor.classification import CLASSES
from cafe_monitor.pipeline import Region
from cafe_monitor.preprocessing import Box
from cafe_monitor.tracking import TrackedFace

# BGR colours per emotion, matching the report charts
COLOURS = {"angry": (40, 39, 214), "disgust": (75, 86, 140), "fear": (189, 103, 148), "happy": (44, 160, 44),
           "sad": (180, 119, 31), "surprise": (14, 127, 255), "neutral": (127, 127, 127)}


def mood(face: TrackedFace) -> tuple[str, float]:
    """The steady (smoothed) label and its share."""
    i = int(np.argmax(face.smoothed))
    return CLASSES[i], float(face.smoothed[i])


#: the blurred patch reaches this share of the face box beyond each side (hair, ears, chin)
BLUR_MARGIN = 0.25
#: the patch is shown as this many blocks across: too few for a face to be recognised
BLUR_BLOCKS = 6


def blur_boxes(image: Image, boxes: Sequence[Box], *, margin: float = BLUR_MARGIN,
               blocks: int = BLUR_BLOCKS) -> Image:
    """A copy of the image with each box (grown by `margin` of its size on every side)
    pixelated to `blocks` blocks across, then smoothed: nothing of the face is left to
    recognise, only where it is."""
    out = image.copy()
    h, w = out.shape[:2]
    for b in boxes:
        mx, my = b.width * margin, b.height * margin
        x1, y1 = max(0, int(b.x1 - mx)), max(0, int(b.y1 - my))
        x2, y2 = min(w, int(np.ceil(b.x2 + mx))), min(h, int(np.ceil(b.y2 + my)))
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        patch = out[y1:y2, x1:x2]
        small = cv2.resize(patch, (max(1, min(blocks, x2 - x1)), max(1, min(blocks, y2 - y1))),
                           interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
        k = max(3, (min(x2 - x1, y2 - y1) // blocks) | 1)
        out[y1:y2, x1:x2] = cv2.GaussianBlur(coarse, (k, k), 0).reshape(patch.shape)
    return out


def draw(image: Image, faces: Sequence[TrackedFace], *, boxes: Sequence[Box] = (), region: Region | None = None,
         blur: bool = True, labels: bool = False) -> Image:
    """The preview: `boxes` are every face the detector found (all are blurred, with the tracked
    `faces`); a thin box marks each classified face; `labels` adds its visit and mood."""
    out = blur_boxes(image, [*boxes, *(f.box for f in faces)]) if blur else image.copy()
    if out.ndim == 2:
        out = np.asarray(cv2.cvtColor(out, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    h, w = out.shape[:2]
    scale = max(0.4, min(w, h) / 720)
    if region is not None and not region.is_full:
        overlay = out.copy()
        x1, y1, x2, y2 = int(region.x1 * w), int(region.y1 * h), int(region.x2 * w), int(region.y2 * h)
        mask = np.ones((h, w), bool)
        mask[y1:y2, x1:x2] = False
        overlay[mask] = (overlay[mask] * 0.45).astype(np.uint8)  # dim the staff side
        out = overlay
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), (0, 215, 255), max(1, int(2 * scale)))
    for f in faces:
        label, share = mood(f)
        p1, p2 = (int(f.box.x1), int(f.box.y1)), (int(f.box.x2), int(f.box.y2))
        if not labels:  # no colour either: a colour per face is a label too
            cv2.rectangle(out, p1, p2, (235, 235, 235), 1, cv2.LINE_AA)
            continue
        colour = COLOURS[label]
        cv2.rectangle(out, p1, p2, colour, max(2, int(3 * scale)))
        who = f"#{f.visit_id}" if f.visit_id is not None else "…"
        text = f"{who} {label} {share:.0%}" if f.visit_id is not None else f"{label} {share:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, 1)
        ty = max(th + base + 2, p1[1])
        cv2.rectangle(out, (p1[0], ty - th - base - 4), (p1[0] + tw + 6, ty), colour, -1)
        cv2.putText(out, text, (p1[0] + 3, ty - base - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 255),
                    max(1, int(1.5 * scale)), cv2.LINE_AA)
    return out
