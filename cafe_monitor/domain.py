"""The domain's words, in one leaf module (it imports only `limits`, itself a leaf).

Emotion classes (in the model's output order), their colours, the valence each class
adds to a visit's score, a face box in pixels and the customer area in fractions of a
frame. Every stage imports them from here, so training, runtime, charts and reports
cannot disagree on the order of the classes or on which colour "happy" is.
"""

from __future__ import annotations

from dataclasses import dataclass

from cafe_monitor.limits import bounded  # a leaf too: ranges written next to the fields they bound

#: A camera with no new frame for this long is lost, not showing an empty counter: the capture's
#: watchdog gives the device up and reopens it, and the tracker ends the visits it was following
#: (a face at the same place after the outage is a new customer).
CAMERA_LOST_SECONDS = 3.0

#: The seven FER2013 classes in the order of every model's output and every stored row.
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: One colour per class for charts, reports and the preview (matplotlib's tab10).
COLOURS: dict[str, str] = {"angry": "#d62728", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#2ca02c",
                           "sad": "#1f77b4", "surprise": "#ff7f0e", "neutral": "#7f7f7f"}


def _bgr(colour: str) -> tuple[int, int, int]:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return b, g, r


#: The same colours as OpenCV draws them (blue, green, red).
COLOURS_BGR: dict[str, tuple[int, int, int]] = {c: _bgr(v) for c, v in COLOURS.items()}

#: How much each class counts towards satisfaction (-1 unhappy .. +1 happy); settings may override.
DEFAULT_VALENCE: dict[str, float] = {
    "angry": -1.0, "disgust": -1.0, "fear": -0.7, "happy": 1.0, "sad": -0.8, "surprise": 0.3, "neutral": 0.0,
}


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """ "1 visit", "2 visits", "0 visits": a count with its noun in the right number."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in pixel coordinates (x1, y1) inclusive, (x2, y2) exclusive."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2


@dataclass(frozen=True)
class Region:
    """Customers' side of the counter, as fractions of the frame (0..1)."""

    x1: float = bounded(0.0, 0, 1, help="left edge, as a fraction of the frame's width")
    y1: float = bounded(0.0, 0, 1, help="top edge, as a fraction of the frame's height")
    x2: float = bounded(1.0, 0, 1, help="right edge")
    y2: float = bounded(1.0, 0, 1, help="bottom edge")

    def contains(self, box: Box, width: int, height: int) -> bool:
        cx, cy = box.centre
        return self.x1 * width <= cx <= self.x2 * width and self.y1 * height <= cy <= self.y2 * height

    @property
    def is_full(self) -> bool:
        return (self.x1, self.y1, self.x2, self.y2) == (0.0, 0.0, 1.0, 1.0)
