"""Allowed ranges and one-line help of settings, written next to the fields they describe
(dataclass field metadata): one table drives the settings check at load, its one-line errors,
the dialog's spin boxes, the tests that try every key with a bad value and the generated
reference, docs/settings.md (`python -m cafe_monitor.docs`). A leaf module, so the dataclasses
of any stage (tracker, quality, region) can use it."""

from __future__ import annotations

from dataclasses import Field, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Limit:
    low: float
    high: float
    low_open: bool = False  # True: low itself is not allowed
    high_open: bool = False

    def allows(self, x: float) -> bool:
        above = x > self.low if self.low_open else x >= self.low
        below = x < self.high if self.high_open else x <= self.high
        return above and below

    def __str__(self) -> str:
        return (f"{number(self.low)} {'<' if self.low_open else '≤'} x "
                f"{'<' if self.high_open else '≤'} {number(self.high)}")


def number(x: float) -> str:
    """A setting's value as a person wrote it: 2 not 2.0, 0.25 not 0.25000001."""
    return str(x) if isinstance(x, int) else f"{x:g}"


def bounded(default: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False,
            help: str = "") -> Any:
    """A dataclass field with a default, its allowed range and what it is for."""
    return field(default=default, metadata={"limit": Limit(low, high, low_open, high_open), "help": help})


def setting(default: Any, help: str) -> Any:
    """A field without a numeric range, with what it is for (shown in docs/settings.md)."""
    return field(default=default, metadata={"help": help})


def limit_of(f: Field[Any]) -> Limit | None:
    found = f.metadata.get("limit")
    return found if isinstance(found, Limit) else None


def help_of(f: Field[Any]) -> str:
    return str(f.metadata.get("help", ""))
