from __future__ import annotations

import cv2
import numpy as np
import pytest

from cafe_monitor.preprocessing import (
    INPUT_SIZE,
    MEAN,
    SCALE,
    STD,
    Box,
    crop_face,
    eye_angle,
    normalise,
    square_with_margin,
    to_gray,
)
from tests.conftest import need_module


def test_normalise_matches_card_formula() -> None:
    faces = np.array([[[0, 128, 255] * 16] * 48], dtype=np.uint8)
    x = normalise(faces)
    assert x.shape == (1, 1, 48, 48) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == pytest.approx((0 * SCALE - MEAN) / STD)
    assert x[0, 0, 0, 2] == pytest.approx((255 * SCALE - MEAN) / STD)


def test_square_with_margin_is_centred_and_square() -> None:
    sq = square_with_margin(Box(10, 20, 50, 100), margin=0.25)
    assert sq.width == pytest.approx(sq.height) == pytest.approx(80 * 1.5)
    assert sq.centre == pytest.approx((30, 60))


def test_crop_face_gray_48_and_content() -> None:
    img = np.zeros((200, 300, 3), np.uint8)
    img[50:150, 100:200] = (255, 255, 255)  # white square = the "face"
    crop = crop_face(img, Box(100, 50, 200, 150), margin=0.0)
    assert crop.shape == (INPUT_SIZE, INPUT_SIZE) and crop.dtype == np.uint8
    assert crop.mean() > 250  # margin 0 -> only the white face


def test_crop_at_border_is_padded_not_stretched() -> None:
    img = np.full((100, 100), 200, np.uint8)
    img[:, :10] = 0
    crop = crop_face(img, Box(-20, 10, 40, 70), margin=0.1)
    assert crop.shape == (48, 48)
    # the left columns replicate the dark edge instead of shifting the face
    assert crop[:, 0].mean() < 50


def test_empty_crop_outside_frame() -> None:
    crop = crop_face(np.zeros((50, 50, 3), np.uint8), Box(500, 500, 600, 600))
    assert crop.shape == (48, 48)


def test_to_gray_accepts_gray_bgra() -> None:
    assert to_gray(np.zeros((4, 4), np.uint8)).shape == (4, 4)
    assert to_gray(np.zeros((4, 4, 4), np.uint8)).shape == (4, 4)


def test_training_imports_the_same_function() -> None:
    need_module("torch")
    import training.train as train

    assert train.normalise is normalise


def test_tilted_face_is_turned_upright_from_the_eyes() -> None:
    img = np.full((300, 300), 128, np.uint8)
    left, right = (100, 100), (200, 140)  # the eye line dips 21.8 degrees to the right
    cv2.circle(img, left, 8, 0, -1)
    cv2.circle(img, right, 8, 0, -1)
    box = Box(75, 45, 225, 195)
    assert eye_angle((right, left)) == pytest.approx(21.8, abs=0.1)

    def eye_rows(crop: np.ndarray) -> tuple[float, float]:
        ys, xs = np.nonzero(crop < 60)
        return ys[xs < 24].mean(), ys[xs >= 24].mean()

    tilted_l, tilted_r = eye_rows(crop_face(img, box, 0.0))
    level_l, level_r = eye_rows(crop_face(img, box, 0.0, eyes=(right, left)))
    assert tilted_r - tilted_l > 8  # without the eyes the tilt stays
    assert abs(level_r - level_l) < 1.5
    # a small tilt is left as it is (no resample)
    np.testing.assert_array_equal(crop_face(img, box, 0.1, eyes=((100, 100), (200, 101))), crop_face(img, box, 0.1))


def test_shift_moves_the_crop_down() -> None:
    sq = square_with_margin(Box(0, 0, 100, 100), margin=0.0, shift=0.1)
    assert sq.centre == pytest.approx((50, 60))
