"""Labelled data for calibration: a file of judged outputs, or a built-in set.

A labelled file is JSONL or CSV (by suffix ``.csv``; anything else is read as
JSONL), one item per line or row, in one of two shapes:

- **graded**: ``id``, ``input``, ``output``, ``label``. The label is *pass* or
  *fail* (also ``true``/``false``, ``1``/``0``, ``accept``/``reject``,
  ``correct``/``incorrect``, ``yes``/``no``, any case) or a graded score (a
  number). A graded score counts as *pass* when ``>= label_threshold``.
- **pairwise**: ``id``, ``input``, ``output_a``, ``output_b``, ``preferred``
  (``a`` or ``b``).

Every problem is a one-line :class:`~critic.errors.TranscriptError` naming
``FILE:LINE: field``. Built-in sets are named instead of a path; see
:data:`BUILTIN_SETS`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from critic.errors import TranscriptError
from critic.scoring.records import MAX_LINE_BYTES
from critic.transcript import open_regular

_PASS = {"accept", "pass", "yes", "true", "correct"}
_FAIL = {"discard", "reject", "fail", "no", "false", "incorrect"}
_GRADED = ("id", "input", "output", "label")
_PAIRWISE = ("id", "input", "output_a", "output_b", "preferred")


class GradedItem(BaseModel):
    """An output with its label: ``passed`` for the pass/fail call, ``grade`` when graded."""

    model_config = ConfigDict(frozen=True)

    id: str
    input: str
    output: str
    passed: bool
    grade: float | None = None
    """The graded score as given (None for a pass/fail label)."""


class PairedItem(BaseModel):
    """Two outputs for one input, and the one a person preferred."""

    model_config = ConfigDict(frozen=True)

    id: str
    input: str
    output_a: str
    output_b: str
    preferred: Literal["a", "b"]


class LabelledSet(BaseModel):
    """What a calibration measures against: graded items or pairs (never both)."""

    model_config = ConfigDict(frozen=True)

    source: str
    graded: tuple[GradedItem, ...] = ()
    pairs: tuple[PairedItem, ...] = ()
    notes: dict[str, int | str] = {}
    """How a built-in set was built (seed, problems, ...), copied to the report."""

    @property
    def size(self) -> int:
        return len(self.graded) + len(self.pairs)


def parse_label(value: object, label_threshold: float) -> tuple[bool, float | None]:
    """A label as (passed, grade); raises ``ValueError`` saying what is wrong with it."""
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        word = value.strip().lower()
        if word in _PASS:
            return True, None
        if word in _FAIL:
            return False, None
        try:
            number = float(word)
        except ValueError:
            raise ValueError(f"{value!r} is not pass/fail or a number") from None
    else:
        raise ValueError(f"{value!r} is not pass/fail or a number")
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number >= label_threshold, number


def _text(row: dict[str, object], field: str) -> str:
    value = row[field]
    if isinstance(value, int) and not isinstance(value, bool) and field == "id":
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected text, got {type(value).__name__}")
    if field in ("id", "input") and not value:
        raise ValueError(f"{field}: must not be empty")
    return value


def _rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    """Numbered rows as dicts (CSV: the header is line 1, so the first row is line 2)."""
    with open_regular(path) as fh:
        if path.suffix.lower() == ".csv":
            text = fh.read().decode("utf-8", errors="strict")
            reader = csv.DictReader(text.splitlines())
            for row in reader:
                yield reader.line_num, {k: v for k, v in row.items() if k is not None}
            return
        number = 0
        while chunk := fh.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(chunk) > MAX_LINE_BYTES:
                raise TranscriptError(f"{path}:{number}: line longer than {MAX_LINE_BYTES} bytes")
            if not chunk.strip():
                continue
            try:
                data = json.loads(chunk)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise TranscriptError(f"{path}:{number}: invalid JSON ({exc})") from None
            if not isinstance(data, dict):
                raise TranscriptError(f"{path}:{number}: expected a JSON object")
            yield number, data


def read_labelled(path: Path, *, label_threshold: float = 0.5) -> LabelledSet:
    """Every item of a labelled file (see the module docstring for its shape)."""
    graded: list[GradedItem] = []
    pairs: list[PairedItem] = []
    seen: dict[str, int] = {}
    try:
        for number, row in _rows(path):
            shape = _PAIRWISE if "preferred" in row else _GRADED
            try:
                missing = [f for f in shape if f not in row or row[f] is None
                           or (row[f] == "" and f in ("id", "label", "preferred"))]
                if missing:
                    raise ValueError(f"{missing[0]}: missing")
                item_id = _text(row, "id")
                if item_id in seen:
                    raise ValueError(f"id: duplicate {item_id!r} (first on line {seen[item_id]})")
                if shape is _PAIRWISE:
                    preferred = str(row["preferred"]).strip().lower()
                    if preferred not in ("a", "b"):
                        raise ValueError(f"preferred: {row['preferred']!r} is not 'a' or 'b'")
                    pairs.append(PairedItem(id=item_id, input=_text(row, "input"),
                                            output_a=_text(row, "output_a"),
                                            output_b=_text(row, "output_b"),
                                            preferred="a" if preferred == "a" else "b"))
                else:
                    try:
                        passed, grade = parse_label(row["label"], label_threshold)
                    except ValueError as exc:
                        raise ValueError(f"label: {exc}") from None
                    graded.append(GradedItem(id=item_id, input=_text(row, "input"),
                                             output=_text(row, "output"), passed=passed,
                                             grade=grade))
            except ValueError as exc:
                raise TranscriptError(f"{path}:{number}: {exc}") from None
            seen[item_id] = number
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise TranscriptError(f"{path}: not valid CSV ({exc})") from None
    if graded and pairs:
        raise TranscriptError(f"{path}: mixes labelled outputs and preference pairs; "
                              "calibrate one kind at a time")
    if not graded and not pairs:
        raise TranscriptError(f"{path}: holds no labelled items")
    return LabelledSet(source=str(path), graded=tuple(graded), pairs=tuple(pairs))
