"""Adapting a model to real faces: calibration in the graph, webcam damage, the wild_dev split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import need_module

need_module("torch")
onnx = need_module("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cafe_monitor.classification import softmax  # noqa: E402
from training import calibrate, wild_dev  # noqa: E402
from training.augment import WebcamConfig, webcam  # noqa: E402


def linear_model(w: np.ndarray, b: np.ndarray) -> onnx.ModelProto:
    """faces [N,1,48,48] -> mean pooled 1-d feature -> Gemm head -> logits: a stand-in model."""
    nodes = [helper.make_node("GlobalAveragePool", ["faces"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["features"]),
             helper.make_node("Gemm", ["features", "head.weight", "head.bias"], ["logits"], transB=1)]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("faces", TensorProto.FLOAT, ["N", 1, 48, 48])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 7])],
        [numpy_helper.from_array(w.astype(np.float32), "head.weight"),
         numpy_helper.from_array(b.astype(np.float32), "head.bias")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_calibration_in_the_graph_is_log_p_over_t_plus_bias() -> None:
    rng = np.random.default_rng(1)
    model = linear_model(rng.normal(size=(7, 1)), rng.normal(size=7))
    faces = rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)
    before = calibrate.run_graph(model, faces)
    bias = np.array([0.5, 0, 0, -0.5, 0, 0, 1.0], np.float32)
    calibrate.add_calibration(model, 2.0, bias)
    assert [o.name for o in model.graph.output] == ["logits"]  # the card contract is unchanged
    assert np.allclose(calibrate.run_graph(model, faces), before / 2.0 + bias, atol=1e-5)


def test_fit_calibration_recovers_a_known_bias() -> None:
    rng = np.random.default_rng(2)
    true_logits = rng.normal(size=(4000, 7)) * 2
    labels = np.array([rng.choice(7, p=p) for p in softmax(true_logits.astype(np.float32))])
    shift = np.array([0, 0, 0, 0, 0, 0, -1.5])  # the model under-reads neutral
    log_p = np.log(softmax((true_logits + shift).astype(np.float32)))
    temperature, bias = calibrate.fit_calibration(log_p, labels, np.ones(len(labels)))
    assert temperature == pytest.approx(1.0, abs=0.1)
    assert bias[6] - bias[:6].mean() == pytest.approx(1.5, abs=0.3)


def test_webcam_damage_keeps_shape_and_changes_faces() -> None:
    rng = np.random.default_rng(3)
    faces = rng.integers(60, 200, (20, 48, 48), dtype=np.uint8)
    out = webcam(faces, WebcamConfig(blur_p=1, jpeg_p=1, noise_p=1, dim_p=1, occlude_p=1), rng)
    assert out.shape == faces.shape and out.dtype == np.uint8
    assert (np.abs(out.astype(int) - faces).mean(axis=(1, 2)) > 3).all()
    assert out.mean() < faces.mean()  # dim light darkens
    untouched = webcam(faces, WebcamConfig(0, 0, 0, 0, 0), rng)
    np.testing.assert_array_equal(untouched, faces)


def test_wild_dev_split_keeps_each_person_in_one_split_and_most_people_out_of_training() -> None:
    photos = [wild_dev.Photo(Path(f"{c}/{p}_{k}.jpg"), k % 7, p)
              for p, n in [("Star_A", 40), ("Star_B", 30)] + [(f"Person_{i}", 2) for i in range(300)]
              for k in range(n) for c in ["x"]]
    people = wild_dev.split_people(photos)
    assert set(people.values()) <= set(wild_dev.SPLIT_NAMES)
    share_out = sum(v != "train" for v in people.values()) / len(people)
    assert 0.3 <= share_out <= 0.5
    assert people == wild_dev.split_people(list(reversed(photos)))  # a pure function of the names
    for name in wild_dev.SPLIT_NAMES:
        mine = {p.person for p in wild_dev.split(photos, name)}
        assert all(people[q] == name for q in mine)
