"""Output of offline scoring: one :class:`ScoreResult` per line, appended as records finish.

Lines are in **completion order**, not input order: with ``--concurrency`` > 1
a quick record overtakes a slow one. Each line is written with one call and
flushed at once, so a killed run leaves complete lines plus at most one torn
last line; :class:`ResultFile` cuts that torn tail off before appending, so it
is never parsed as a result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from critic.errors import TranscriptError
from critic.messages import CritiqueStatus, Decision, Usage
from critic.scoring.records import Label

#: Output format version (first field of every line), so old files stay readable.
RESULT_FORMAT: Literal[1] = 1


class RoleScore(BaseModel):
    """One role's critique of one record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: CritiqueStatus
    score: float | None = None
    raw_score: float | None = None
    problems: tuple[str, ...] = ()
    suggestion: str = ""
    error: str | None = None
    usage: Usage = Usage()
    latency: float = 0.0


class ResultVerdict(BaseModel):
    """The judge's decision on one record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    judge: str
    decision: Decision
    reason: str
    aggregate: float | None = None


class ScoreResult(BaseModel):
    """One output line: the record's id, every role's critique, the verdict, cost, metadata."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal[1] = RESULT_FORMAT
    id: str
    critiques: dict[str, RoleScore]
    verdict: ResultVerdict
    usage: Usage = Usage()
    latency: float = 0.0
    """Wall-clock seconds from the record's start to its verdict."""
    target: Label | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Whether any role could not score this record."""
        return any(c.status != "ok" for c in self.critiques.values())


def _results(data: bytes, path: Path) -> list[ScoreResult]:
    results = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            results.append(ScoreResult.model_validate_json(line))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "line"
            raise TranscriptError(
                f"{path}:{number}: not a score result ({where}: {err['msg']})"
            ) from exc
    return results


def read_results(path: Path) -> list[ScoreResult]:
    """Every complete result line of an output file; a torn last line is ignored."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror}") from exc
    complete = data[: data.rfind(b"\n") + 1]
    return _results(complete, Path(path))


class ResultFile:
    """The output file, opened for appending one result per line.

    A new run refuses an existing non-empty file unless ``resume`` (keep its
    results and skip their ids) or ``overwrite``. On resume a torn last line
    (no newline: the writer was killed mid-line) is truncated away first.
    """

    def __init__(self, path: Path, *, resume: bool = False, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.done: set[str] = set()
        self.torn_bytes = 0
        exists = self.path.is_file() and self.path.stat().st_size > 0
        if exists and not (resume or overwrite):
            raise TranscriptError(
                f"{self.path} already exists; use --resume to finish it or --overwrite to replace it"
            )
        if exists and resume:
            self._recover()
        try:
            self._file: IO[bytes] = self.path.open("ab" if resume else "wb", buffering=0)
        except OSError as exc:
            raise TranscriptError(f"cannot write {self.path}: {exc.strerror}") from exc

    def _recover(self) -> None:
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        # Parse before truncating: a file that is not ours must stay untouched.
        self.done = {r.id for r in _results(data[:keep], self.path)}
        if keep < len(data):
            self.torn_bytes = len(data) - keep
            with self.path.open("r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())

    def write(self, result: ScoreResult) -> None:
        # The whole line in one system call (looping only on a short write), with
        # no await in between: a cancelled run never leaves half a line behind.
        line = memoryview(result.model_dump_json().encode() + b"\n")
        try:
            while line:  # unbuffered: nothing is left behind for close() to fail on
                count = self._file.write(line)
                if not count:
                    raise OSError(0, "the file accepted no bytes")
                line = line[count:]
        except OSError as exc:
            raise TranscriptError(f"cannot write {self.path}: {exc.strerror}") from exc
        self.done.add(result.id)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ResultFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
