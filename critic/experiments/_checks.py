"""Input checks shared by the statistics: one-line errors naming the argument at fault."""

from __future__ import annotations

import math
from collections.abc import Sequence

from critic.errors import StatisticsError


def check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise StatisticsError(f"level: must lie strictly between 0 and 1, got {level}")


def check_same_length(name_a: str, a: Sequence[object], name_b: str, b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise StatisticsError(f"{name_a} and {name_b}: lengths differ ({len(a)} vs {len(b)})")
    if not a:
        raise StatisticsError(f"{name_a}: no observations")


def finite(name: str, values: Sequence[float]) -> list[float]:
    out = []
    for i, v in enumerate(values):
        try:
            number = float(v)
        except (TypeError, ValueError):
            raise StatisticsError(f"{name}[{i}]: not a number ({v!r})") from None
        if not math.isfinite(number):
            raise StatisticsError(f"{name}[{i}]: not a finite number ({v!r})")
        out.append(number)
    return out


def binary(name: str, values: Sequence[bool | int]) -> list[bool]:
    for i, v in enumerate(values):
        if v not in (0, 1):
            raise StatisticsError(f"{name}[{i}]: must be True/False (or 1/0), got {v!r}")
    return [bool(v) for v in values]
