"""The live preview (annotate.draw): private by default. Every face the detector finds is
pixelated, classified or not; per-face mood labels only when asked for."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from cafe_monitor.annotate import draw
from cafe_monitor.config import Settings
from cafe_monitor.domain import CLASSES, COLOURS_BGR, Box, Region
from cafe_monitor.session import build_pipeline
from cafe_monitor.tracking import TrackedFace
from tests.conftest import face_like


def sharpness(image: np.ndarray, box: Box) -> float:
    patch = image[int(box.y1):int(box.y2), int(box.x1):int(box.x2)]
    return float(cv2.Laplacian(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def edges(image: np.ndarray, box: Box) -> int:
    patch = image[int(box.y1):int(box.y2), int(box.x1):int(box.x2)]
    return int(np.count_nonzero(cv2.Canny(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY), 50, 150)))


def happy_face(box: Box, visit_id: int | None = 1) -> TrackedFace:
    p = np.array([0.9 if c == "happy" else 0.1 / 6 for c in CLASSES], np.float32)
    return TrackedFace(track_id=1, visit_id=visit_id, box=box, probabilities=p, smoothed=p)


def test_every_box_is_pixelated_with_a_margin_and_nothing_else_changes() -> None:
    image = face_like(240, seed=3)
    small, big = Box(10, 10, 22, 22), Box(100, 100, 180, 180)  # a 12 px face is never classified
    out = draw(image, [], boxes=[small, big])
    for b in (small, big):
        assert sharpness(out, b) < 0.05 * sharpness(image, b)
    ring = Box(big.x1 - 18, big.y1, big.x1 - 2, big.y2)  # inside the 25% margin, left of the box
    assert sharpness(out, ring) < 0.1 * sharpness(image, ring)
    untouched = np.ones(image.shape[:2], bool)
    untouched[:32, :32] = untouched[75:205, 75:205] = False
    assert np.array_equal(out[untouched], image[untouched])
    assert np.array_equal(draw(image, [], boxes=[small, big], blur=False), image)


@pytest.mark.media
def test_blur_covers_faces_outside_the_area_and_too_small_to_classify(group_photo: Path) -> None:
    """Six real faces: the right three outside the customer area, the left three smaller than
    min_face_px: none is classified, all six are blurred beyond recognition."""
    settings = Settings()
    settings = dataclasses.replace(settings.with_area(Region(0.0, 0.0, 0.5, 1.0)), quality=dataclasses.replace(
        settings.quality, min_face_px=1000.0, good_face_px=2000.0))
    pipeline = build_pipeline(settings)
    try:
        image = cv2.imread(str(group_photo))
        result = pipeline.process(image, 0.0)
    finally:
        pipeline.close()
    assert result.faces == [] and len(result.boxes) == 6
    area = settings.profile().area
    plain = draw(image, result.faces, boxes=result.boxes, region=area, blur=False)
    private = draw(image, result.faces, boxes=result.boxes, region=area)  # the default
    for b in result.boxes:
        assert sharpness(private, b) < 0.05 * sharpness(plain, b), b
        assert edges(private, b) < 0.1 * max(1, edges(plain, b)), b


def test_labels_off_by_default_on_when_asked() -> None:
    image = np.full((240, 320, 3), 30, np.uint8)
    face = happy_face(Box(100, 80, 180, 160))
    happy = np.array(COLOURS_BGR["happy"], np.uint8)

    def happy_pixels(out: np.ndarray) -> int:
        return int(np.count_nonzero(np.all(out == happy, axis=2)))

    default = draw(image, [face])
    assert happy_pixels(default) == 0  # no mood colour, no label: a thin neutral box only
    assert np.count_nonzero(np.any(default != image, axis=2)) > 0
    assert happy_pixels(draw(image, [face], labels=True)) > 200
