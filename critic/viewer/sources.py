"""Which kind of file the viewer was given, and its contents, read and validated.

The kind is read from the content, never from the file name:

* a first line that is a transcript header (``"kind": "header"``): a session
  transcript, or a debate when its ``mode`` is ``"debate"`` or it holds debate
  rounds;
* a first line that is a score result (``format``, ``id``, ``critiques``,
  ``verdict``): a ``critic score`` output file;
* a whole file that is one JSON object with ``"kind": "experiment"`` or
  ``"kind": "calibration"`` (see :mod:`critic.viewer.reports`).

Anything else is a :class:`TranscriptError` naming the file and the line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from critic.errors import TranscriptError
from critic.scoring.results import ScoreResult, read_results
from critic.transcript import Transcript, read_transcript
from critic.viewer.reports import CalibrationReport, ExperimentSummary

ViewKind = Literal["session", "debate", "scores", "experiment", "calibration"]
_REPORTS: dict[str, type[ExperimentSummary] | type[CalibrationReport]] = {
    "experiment": ExperimentSummary, "calibration": CalibrationReport,
}
_RESULT_KEYS = {"id", "critiques", "verdict"}
_TORN = ("the last line has no newline (the writer was still running or was stopped mid-line); "
         "it is not shown")


@dataclass(frozen=True)
class Source:
    """A file to view: its kind and its validated contents."""

    path: Path
    kind: ViewKind
    content: Transcript | list[ScoreResult] | ExperimentSummary | CalibrationReport
    notes: tuple[str, ...] = ()
    """What the page must say it left out (a torn last line)."""


def _first_line(text: str) -> tuple[int, str] | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            return number, line
    return None


def _field_error(path: Path, exc: ValidationError) -> TranscriptError:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return TranscriptError(f"{path}: {where}: {err['msg']}" if where else f"{path}: {err['msg']}")


def _report(path: Path, text: str) -> Source:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise TranscriptError(f"{path}:1: expected a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in _REPORTS:
        shown = "no \"kind\"" if kind is None else f"\"kind\" {json.dumps(kind)[:40]}"
        raise TranscriptError(
            f"{path}: not a transcript, score file, experiment summary or calibration report "
            f"(a JSON object with {shown}; a report needs \"kind\": \"experiment\" or \"calibration\")"
        )
    try:
        report = _REPORTS[kind].model_validate(data)
    except ValidationError as exc:
        raise _field_error(path, exc) from exc
    return Source(path, "experiment" if isinstance(report, ExperimentSummary) else "calibration",
                  report)


def load(path: Path) -> Source:
    """Read ``path``, decide what it is and validate it (see the module docstring)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = data.count(b"\n", 0, exc.start) + 1
        raise TranscriptError(f"{path}:{where}: not UTF-8 text ({exc.reason})") from exc
    first = _first_line(text)
    if first is None:
        raise TranscriptError(f"{path}: empty file, nothing to view")
    number, line = first
    try:
        head = json.loads(line)
    except json.JSONDecodeError:
        head = None  # perhaps a pretty-printed report spread over many lines
    if isinstance(head, dict) and head.get("kind") == "header":
        transcript = read_transcript(path, tolerate_torn_tail=True)
        debate = transcript.header.mode == "debate" or any(
            e.payload.kind in ("debate_round", "debate_outcome") for e in transcript.envelopes
        )
        lines = sum(1 for ln in text.splitlines() if ln.strip())
        notes = (_TORN,) if lines - 1 > len(transcript.envelopes) else ()
        return Source(path, "debate" if debate else "session", transcript, notes)
    if isinstance(head, dict) and head.keys() >= _RESULT_KEYS:
        torn = not text.endswith("\n") and bool(text.rsplit("\n", 1)[-1].strip())
        return Source(path, "scores", read_results(path), (_TORN,) if torn else ())
    if head is not None and text.strip() != line.strip():
        raise TranscriptError(
            f"{path}:{number}: not a transcript header, a score result, "
            "an experiment summary or a calibration report"
        )
    return _report(path, text)
