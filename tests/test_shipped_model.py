"""The shipped default model reads real faces as a person does, through the live path.

Two checks a model with the right file format but wrong answers cannot pass:

- the labelled stills of assets/faces (labels.csv: cut from the demo clip at unmistakable
  moments, and CC0 / public-domain / CC BY photos of calm and smiling faces; licences in
  assets/LICENSES.md) go through `cafe_monitor.evaluation` (MediaPipe detection, the shared
  crop, the classifier), and must be read at or above a stated accuracy and recall per class,
  with the score formula ordering them happy > neutral > sad;
- each segment of the demo clip, as the monitor records it, must have as its top class (the
  mean probability over that segment's frames) the expression a person sees there.

The bounds sit a few points below what the shipped model measures, so a retrained model as
good or better passes; a model whose outputs are shuffled fails both (the last test).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from cafe_monitor.classification import EmotionClassifier
from cafe_monitor.config import Settings
from cafe_monitor.domain import CLASSES
from cafe_monitor.evaluation import evaluate
from cafe_monitor.session import build_classifier
from tests.conftest import ASSETS, ClipRun

pytestmark = pytest.mark.media

LABELS = ASSETS / "faces" / "labels.csv"
#: Measured 2026-12-02 on the shipped default (emotion_cascade, its int8 twin on a CPU): 25 of
#: 26 stills (96.2%); the one miss is demo_emotions-024.jpg, a crying grimace read as happy.
#: 0.88 allows two more misses (23 of 26).
MIN_ACCURACY = 0.88
#: Measured: happy 9/9, sad 7/8, neutral 9/9; 0.75 allows one more miss in the smallest class.
MIN_RECALL = 0.75


@dataclass(frozen=True)
class Segment:
    what: str  # what a person sees
    first: int  # frame indices of the demo clip (23.976 fps), last excluded
    last: int
    reads: tuple[str, ...]  # the classes that read it right


#: A segment is read from at least this share of its frames. The hand over her mouth hides the
#: face from the detector on a few frames: measured 73 of 81 detecting every frame, 75 with
#: the planner at NO_SPARE_TIME, 72 to 77 with its spare-time detections by the machine's load.
MIN_FACE_SHARE = 0.8

#: Measured 2026-12-02, mean probability of the top class: sad 0.61, fear 0.72, happy 0.91.
SEGMENTS = (
    Segment("crying, eyes shut, later a hand at her face (0.0-5.8 s)", 0, 141, ("sad",)),
    # shock, between fear and surprise: a person could say either, so either reads it right
    Segment("a hand over her mouth, eyes wide open (6.0-9.4 s)", 144, 225, ("fear", "surprise")),
    Segment("smiling and laughing, to the end (10.7-19.7 s)", 256, 472, ("happy",)),
)


def still_misreadings(summary: dict[str, Any]) -> list[str]:
    """What is wrong with a model's reading of the labelled stills (evaluation's summary); empty: nothing."""
    problems = []
    if summary["detected"] != summary["n"]:
        problems.append(f"faces found in {summary['detected']} of {summary['n']} stills: {summary['no_face']}")
    if summary["accuracy"] < MIN_ACCURACY:
        problems.append(f"accuracy {summary['accuracy']:.1%} < {MIN_ACCURACY:.0%}")
    for name, row in summary["per_class"].items():
        if row["n"] and row["recall"] < MIN_RECALL:
            problems.append(f"{name}: recall {row['recall']:.1%} of {row['n']} < {MIN_RECALL:.0%}")
    scores = {name: row["score"] for name, row in summary["score_by_class"].items()}
    if not scores["happy"] > scores["neutral"] > scores["sad"]:
        problems.append(f"the score does not order happy > neutral > sad: {scores}")
    return problems


def segment_misreadings(probabilities: npt.NDArray[np.float32]) -> list[str]:
    """What is wrong with a model's reading of the demo clip's segments. `probabilities`:
    [frames, 7], the face's probabilities in each frame (NaN where no face was found)."""
    problems = []
    for seg in SEGMENTS:
        frames = probabilities[seg.first : seg.last]
        frames = frames[~np.isnan(frames).any(axis=1)]
        if len(frames) < MIN_FACE_SHARE * (seg.last - seg.first):
            problems.append(f"{seg.what}: a face in only {len(frames)} of {seg.last - seg.first} frames")
            continue
        mean = frames.mean(axis=0)
        top = CLASSES[int(mean.argmax())]
        if top not in seg.reads:
            problems.append(f"{seg.what}: read as {top} ({mean.max():.2f}), a person sees {' or '.join(seg.reads)}")
    return problems


def clip_probabilities(run: ClipRun) -> npt.NDArray[np.float32]:
    probs = np.full((run.stats.frames, len(CLASSES)), np.nan, np.float32)
    for r in run.results:
        if r.faces:
            probs[r.index] = max(r.faces, key=lambda f: f.box.area).probabilities
    return probs


class PermutedClassifier(EmotionClassifier):
    """The shipped model with its output classes shuffled: the same file format, wrong answers."""

    def __init__(self, inner: EmotionClassifier, order: npt.NDArray[np.int64]) -> None:
        self.__dict__.update(inner.__dict__)
        self.order = order

    def classify(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return super().classify(faces)[:, self.order]


@pytest.fixture(scope="module")
def shipped() -> EmotionClassifier:
    """The default model as the monitor loads it (DEFAULT_MODEL; its int8 twin on a CPU)."""
    return build_classifier(Settings())


def test_the_labels_list_every_still_and_where_it_comes_from() -> None:
    with LABELS.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["file", "label", "source", "time"]
    listed = {r["file"] for r in rows}
    assert listed == {p.name for p in LABELS.parent.glob("*.jpg")}
    assert {r["label"] for r in rows} == {"happy", "sad", "neutral"}
    licences = (ASSETS / "LICENSES.md").read_text()
    for source in {Path(r["source"]).name for r in rows}:
        assert source in licences, f"{source}: licence and attribution missing from assets/LICENSES.md"


def test_the_shipped_model_reads_the_labelled_stills(shipped: EmotionClassifier) -> None:
    summary = evaluate(LABELS, shipped, crops=False, progress=False).summary(LABELS)
    assert summary["n"] == 26
    assert still_misreadings(summary) == []


def test_the_shipped_model_reads_each_segment_of_the_demo_clip(emotions_clip_run: ClipRun) -> None:
    assert segment_misreadings(clip_probabilities(emotions_clip_run)) == []


@pytest.mark.parametrize("shift", range(1, len(CLASSES)))
def test_a_model_with_shuffled_outputs_fails_both_checks(shift: int, shipped: EmotionClassifier,
                                                         emotions_clip_run: ClipRun) -> None:
    """Every class answered as another one (a cyclic shift of the 7 outputs). On the clip the
    recorded outputs are shifted, which is what a shifted classifier would have given: a
    tracked face's probabilities in a frame where it was detected are that frame's output."""
    order = np.roll(np.arange(len(CLASSES)), shift)
    shuffled = PermutedClassifier(shipped, order)
    summary = evaluate(LABELS, shuffled, crops=False, progress=False).summary(LABELS)
    assert any(p.startswith("accuracy") for p in still_misreadings(summary)), summary["accuracy"]
    assert len(segment_misreadings(clip_probabilities(emotions_clip_run)[:, order])) >= 2
