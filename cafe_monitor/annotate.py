"""Draw what the pipeline saw on a copy of the frame: boxes, the visitor's steady mood,
the region of interest, optional face blur. Pure OpenCV, so it tests without a screen."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from cafe_monitor.capture import Image
from cafe_monitor.domain import CLASSES, Region
from cafe_monitor.domain import COLOURS_BGR as COLOURS
from cafe_monitor.tracking import TrackedFace


def mood(face: TrackedFace) -> tuple[str, float]:
    """The steady (smoothed) label and its share."""
    i = int(np.argmax(face.smoothed))
    return CLASSES[i], float(face.smoothed[i])


def blur_faces(image: Image, faces: Sequence[TrackedFace]) -> Image:
    out = image.copy()
    h, w = out.shape[:2]
    for f in faces:
        x1, y1 = max(0, int(f.box.x1)), max(0, int(f.box.y1))
        x2, y2 = min(w, int(f.box.x2)), min(h, int(f.box.y2))
        if x2 - x1 > 2 and y2 - y1 > 2:
            k = max(3, ((x2 - x1) // 3) | 1)
            out[y1:y2, x1:x2] = cv2.GaussianBlur(out[y1:y2, x1:x2], (k, k), 0)
    return out


def draw(image: Image, faces: Sequence[TrackedFace], *, region: Region | None = None, blur: bool = False) -> Image:
    out = blur_faces(image, faces) if blur else image.copy()
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
        colour = COLOURS[label]
        p1, p2 = (int(f.box.x1), int(f.box.y1)), (int(f.box.x2), int(f.box.y2))
        cv2.rectangle(out, p1, p2, colour, max(2, int(3 * scale)))
        who = f"#{f.visit_id}" if f.visit_id is not None else "…"
        text = f"{who} {label} {share:.0%}" if f.visit_id is not None else f"{label} {share:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, 1)
        ty = max(th + base + 2, p1[1])
        cv2.rectangle(out, (p1[0], ty - th - base - 4), (p1[0] + tw + 6, ty), colour, -1)
        cv2.putText(out, text, (p1[0] + 3, ty - base - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 255),
                    max(1, int(1.5 * scale)), cv2.LINE_AA)
    return out
