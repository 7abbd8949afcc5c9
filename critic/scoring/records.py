"""Input of offline scoring: a JSONL file of records, or a transcript's final draft.

One record per line::

    {"id": "q1", "input": "Reverse a string.", "output": "s[::-1]", "target": "pass",
     "metadata": {"model": "x"}}

``id`` (a string, or an integer taken as its decimal string) must be unique;
``input`` (the task, non-empty) and ``output`` (the text scored) are required;
``target`` (a reference answer or a label) and ``metadata`` (any JSON object,
copied to the result) are optional. Any other key is an error, so a typo in
a field name is caught instead of silently ignored.

Every problem names ``FILE:LINE``. A line longer than :data:`MAX_LINE_BYTES`
is rejected without being read into memory whole, and only a regular file is
read (``/dev/zero`` would never end). ``NaN`` and ``Infinity`` (or a number
too large for a float) are rejected: JSON has no such values, and they would
come out as ``null``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from critic.errors import TranscriptError
from critic.messages import Outcome, Task
from critic.transcript import open_regular, read_transcript

#: Longest accepted input line (a record is a prompt and an answer, not a corpus).
MAX_LINE_BYTES = 1 << 20

Label = str | int | float | bool


class ScoreRecord(BaseModel):
    """One output to score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    input: str = Field(min_length=1)
    output: str
    target: Label | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _int_ids(cls, value: object) -> object:
        # Datasets often number their items; 7 and "7" name the same record.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


@dataclass(frozen=True)
class InvalidLine:
    """A line that is not a valid record, and why (what ``--skip-invalid`` records)."""

    line: int
    error: str
    text: str
    """The start of the line, for finding it again."""

    def to_json(self) -> str:
        return json.dumps({"line": self.line, "error": self.error, "text": self.text})


def _raw_lines(fh: IO[bytes], path: Path) -> Iterator[tuple[int, bytes | None]]:
    """Numbered lines; ``None`` for a line over the limit (skipped, never held whole)."""
    number = 0
    try:
        while True:
            chunk = fh.readline(MAX_LINE_BYTES + 1)
            if not chunk:
                return
            number += 1
            if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                while chunk and not chunk.endswith(b"\n"):
                    chunk = fh.readline(MAX_LINE_BYTES)
                yield number, None
                continue
            yield number, chunk
    except OSError as exc:  # e.g. an I/O error part way through
        raise TranscriptError(f"cannot read {path}: {exc.strerror}") from exc


def _problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"])
    if err["type"] == "extra_forbidden":
        message = "unknown field (put extra data under metadata)"
    return f"{where}: {message}" if where else message


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number (it would be written back as null)")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is too large for a number (it would be written back as null)")
    return value


def _finite_values(value: object) -> bool:
    """Whether ``value`` (parsed JSON) holds no NaN or infinity at any depth."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return True
    # Strings, the usual leaves, without a call each (metadata is checked per record read).
    return all(isinstance(item, str) or _finite_values(item) for item in value)


def _lone_surrogate(value: object, where: str = "") -> str | None:
    """Where in ``value`` (parsed JSON) a string holds a lone surrogate, if anywhere."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "value"
        return None
    items: Iterable[tuple[str, object]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), item) for i, item in enumerate(value))
    else:
        return None
    for key, item in items:
        path = f"{where}.{key}" if where else key
        found = _lone_surrogate(key, path) if isinstance(value, dict) else None
        found = found or _lone_surrogate(item, path)
        if found is not None:
            return found
    return None


def parse_line(raw: bytes | None) -> ScoreRecord:
    """One record from one line; raises ``ValueError`` saying what is wrong."""
    if raw is not None:
        # Parsed and validated in one pass (pydantic's own JSON parser, no dict in
        # between): the common case, a third of the cost of the checks below. Whatever
        # it refuses, or any NaN/infinity it lets through, goes the careful way, which
        # names the problem.
        try:
            record = ScoreRecord.model_validate_json(raw)
        except ValidationError:
            pass
        else:
            if _finite_values(record.target) and _finite_values(record.metadata):
                return record
    if raw is None:
        raise ValueError(f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from exc
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg}, column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    if "\\ud" in text.lower():  # only a \uD800-\uDFFF escape can make a lone surrogate
        where = _lone_surrogate(data)
        if where is not None:
            raise ValueError(f"{where}: a lone surrogate escape (\\uD800-\\uDFFF without its "
                             "pair) is not text and could not be written back")
    for name in ("id", "input", "output"):
        if name not in data:
            raise ValueError(f"missing field {name!r}")
    try:
        return ScoreRecord.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_problem(exc)) from exc


@dataclass(frozen=True)
class RecordSet:
    """The valid records of a file, in file order, and the lines skipped."""

    records: tuple[ScoreRecord, ...]
    invalid: tuple[InvalidLine, ...] = ()


def _is_transcript(path: Path) -> bool:
    try:
        with open_regular(path) as fh:
            first = fh.readline(MAX_LINE_BYTES)
        data = json.loads(first)
    except (OSError, ValueError, TranscriptError):
        return False
    return isinstance(data, dict) and data.get("kind") == "header" and "session" in data


def read_records(path: Path, *, skip_invalid: bool = False) -> RecordSet:
    """Every record of a JSONL file (``-``: standard input), or the final draft of a transcript.

    Raises :class:`TranscriptError` naming ``FILE:LINE`` at the first invalid
    line (a duplicate id names the line that first used it), unless
    ``skip_invalid``: then bad lines are returned in :attr:`RecordSet.invalid`.
    Blank lines are ignored.
    """
    path = Path(path)
    if is_stdio(path):
        return _read_lines(sys.stdin.buffer, Path("stdin"), skip_invalid=skip_invalid)
    if _is_transcript(path):
        return RecordSet((transcript_record(path),))
    with open_regular(path) as fh:
        return _read_lines(fh, path, skip_invalid=skip_invalid)


def is_stdio(path: Path) -> bool:
    """Whether ``path`` is ``-``: standard input (as an input) or standard output (as an output)."""
    return str(path) == "-"


def _read_lines(fh: IO[bytes], path: Path, *, skip_invalid: bool) -> RecordSet:
    records: list[ScoreRecord] = []
    invalid: list[InvalidLine] = []
    first_seen: dict[str, int] = {}
    for number, raw in _raw_lines(fh, path):
        if raw is not None and raw.isspace():  # blank (readline never gives b"")
            continue
        try:
            record = parse_line(raw)
            if record.id in first_seen:
                raise ValueError(
                    f"duplicate id {record.id!r} (first on line {first_seen[record.id]})"
                )
        except ValueError as exc:
            if not skip_invalid:
                raise TranscriptError(f"{path}:{number}: {exc}") from exc
            shown = "" if raw is None else raw[:200].decode("utf-8", "replace")
            invalid.append(InvalidLine(number, str(exc), shown))
            continue
        first_seen[record.id] = number
        records.append(record)
    return RecordSet(tuple(records), tuple(invalid))


def transcript_record(path: Path) -> ScoreRecord:
    """The final draft of a recorded session as a record (id: the session id)."""
    transcript = read_transcript(path, tolerate_torn_tail=True)
    outcomes = [p for p in transcript.payloads("outcome") if isinstance(p, Outcome)]
    tasks = [p for p in transcript.payloads("task") if isinstance(p, Task)]
    if not outcomes or outcomes[-1].draft is None or not tasks:
        raise TranscriptError(f"{path}: the transcript has no final draft to score")
    outcome = outcomes[-1]
    assert outcome.draft is not None
    return ScoreRecord(
        id=outcome.session, input=tasks[0].prompt, output=outcome.draft.text,
        target=tasks[0].reference,
        metadata={"transcript": str(path), "decision": outcome.decision, "rounds": outcome.rounds,
                  "score": outcome.score},
    )
