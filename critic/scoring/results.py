"""Output of offline scoring: one :class:`ScoreResult` per line, appended as records finish.

Lines are in **completion order**, not input order: with ``--concurrency`` > 1
a quick record overtakes a slow one. Each line is written with one call and
flushed at once, so a killed run leaves complete lines plus at most one torn
last line; :class:`ResultFile` cuts that torn tail off before appending, so it
is never parsed as a result.

One run at a time: :class:`ResultFile` holds an exclusive ``flock`` on the
output from before it reads or truncates anything until it is closed. Two
``--resume`` runs on one file would otherwise both skip the same ids and
score the rest twice. The kernel drops the lock when the process ends, however
it ends, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path
from typing import BinaryIO, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from critic.errors import TranscriptError
from critic.messages import CritiqueStatus, Decision, Usage
from critic.scoring.records import Label
from critic.transcript import open_regular

#: Output format version (first field of every line), so old files stay readable.
RESULT_FORMAT: Literal[1] = 1


class RoleScore(BaseModel):
    """One role's critique of one record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: CritiqueStatus
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    """Normalized to [0, 1]; set exactly when ``status`` is ``ok``."""
    raw_score: float | None = None
    problems: tuple[str, ...] = ()
    suggestion: str = ""
    error: str | None = None
    usage: Usage = Usage()
    latency: float = Field(default=0.0, ge=0.0)
    """Seconds in model calls if the critic called a model, else the review's wall-clock time
    (e.g. running the code)."""

    @model_validator(mode="after")
    def _scored_when_ok(self) -> Self:
        if self.status == "ok" and self.score is None:
            raise ValueError("status 'ok' needs a score (an unscored critique is an error)")
        return self


class ResultVerdict(BaseModel):
    """The judge's decision on one record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    judge: str
    decision: Decision
    reason: str
    aggregate: float | None = Field(default=None, ge=0.0, le=1.0)


class ScoreResult(BaseModel):
    """One output line: the record's id, every role's critique, the verdict, cost, metadata."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal[1] = RESULT_FORMAT
    id: str
    critiques: dict[str, RoleScore]
    verdict: ResultVerdict
    usage: Usage = Usage()
    latency: float = Field(default=0.0, ge=0.0)
    """Wall-clock seconds from the record's start to its verdict."""
    target: Label | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Whether any role could not score this record."""
        return any([c.status != "ok" for c in self.critiques.values()])  # list: cheaper for few


def _line(result: ScoreResult) -> bytes:
    """``result`` as one line of JSON, UTF-8."""
    # The serializer's own bytes: model_dump_json() decodes them to a str that would
    # only be encoded again (a sixth of the cost of writing a result).
    return result.__pydantic_serializer__.to_json(result) + b"\n"


def _write_rest(fd: int, line: memoryview, count: int) -> None:
    """The rest of ``line`` after a short write of ``count`` bytes."""
    while True:
        if not count:
            raise OSError(0, "the file accepted no bytes")
        line = line[count:]
        if not line:
            return
        count = os.write(fd, line)


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
            message = str(err["msg"]).removeprefix("Value error, ")
            raise TranscriptError(f"{path}:{number}: not a score result ({where}: {message})") from exc
    return results


def read_results(path: Path) -> list[ScoreResult]:
    """Every complete result line of an output file; a torn last line is ignored."""
    with open_regular(path) as fh:
        try:
            data = fh.read()
        except OSError as exc:
            raise TranscriptError(f"cannot read {path}: {exc.strerror}") from exc
    complete = data[: data.rfind(b"\n") + 1]
    return _results(complete, Path(path))


class ResultFile:
    """The output file, locked for this run and opened for appending one result per line.

    A new run refuses an existing non-empty file unless ``resume`` (keep its
    results and skip their ids) or ``overwrite``; a file another run holds is
    refused at once, not waited for. Nothing is read, truncated or written
    before the lock is held. On resume a torn last line (no newline: the
    writer was killed mid-line) is truncated away first.
    """

    def __init__(self, path: Path, *, resume: bool = False, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.done: set[str] = set()
        self.torn_bytes = 0
        # No O_TRUNC: the file may belong to a run that holds the lock.
        flags = (os.O_RDWR if resume else os.O_WRONLY) | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        try:
            self._fd: int | None = os.open(self.path, flags, 0o666)
        except OSError as exc:
            raise TranscriptError(f"cannot write {self.path}: {exc.strerror}") from exc
        try:
            self._prepare(resume=resume, overwrite=overwrite)
        except BaseException:
            self.close()
            raise

    def _prepare(self, *, resume: bool, overwrite: bool) -> None:
        fd = self._require_open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise TranscriptError(
                f"{self.path}: another run is writing it (it holds the lock); "
                "wait for that run to end"
            ) from exc
        except OSError as exc:
            raise TranscriptError(f"cannot lock {self.path}: {exc.strerror}") from exc
        info = os.fstat(fd)
        regular = stat.S_ISREG(info.st_mode)
        exists = regular and info.st_size > 0
        if exists and not (resume or overwrite):
            raise TranscriptError(
                f"{self.path} already exists; use --resume to finish it or --overwrite to replace it"
            )
        if resume and not regular:
            raise TranscriptError(f"cannot resume {self.path}: not a regular file")
        try:
            if exists and resume:
                self._recover(fd)
            elif exists:
                os.ftruncate(fd, 0)
        except OSError as exc:
            raise TranscriptError(f"cannot write {self.path}: {exc.strerror}") from exc

    def _require_open(self) -> int:
        if self._fd is None:
            raise TranscriptError(f"{self.path}: the result file is closed")
        return self._fd

    def _recover(self, fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        data = b"".join(chunks)
        keep = data.rfind(b"\n") + 1
        # Parse before truncating: a file that is not ours must stay untouched.
        self.done = self._ids(data[:keep])
        if keep < len(data):
            self.torn_bytes = len(data) - keep
            os.ftruncate(fd, keep)
            os.fsync(fd)

    def _ids(self, data: bytes) -> set[str]:
        """The ids of the whole lines ``data`` holds (a subclass reads its own records)."""
        return {r.id for r in _results(data, self.path)}

    def write(self, result: ScoreResult) -> None:
        # The whole line in one system call (looping only on a short write), with
        # no await in between: a cancelled run never leaves half a line behind.
        fd = self._require_open()
        line = _line(result)
        try:
            # Unbuffered: nothing is left behind for close() to fail on.
            count = os.write(fd, line)
            if count < len(line):
                _write_rest(fd, memoryview(line), count)
        except OSError as exc:
            raise TranscriptError(f"cannot write {self.path}: {exc.strerror}") from exc
        self.done.add(result.id)

    def close(self) -> None:
        """Close the file, which releases the lock (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> ResultFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ResultStream(ResultFile):
    """Results written to a stream instead of a file (``-o -``: standard output).

    Nothing to lock, resume or truncate: a pipe holds no earlier results. Each
    line is still written whole with one call and flushed at once.
    """

    def __init__(self, stream: BinaryIO, name: str = "stdout") -> None:
        self.path = Path(name)
        self.done = set()
        self.torn_bytes = 0
        self._fd = None
        self._stream: BinaryIO | None = stream

    def write(self, result: ScoreResult) -> None:
        if self._stream is None:
            raise TranscriptError(f"{self.path}: the result stream is closed")
        try:
            self._stream.write(_line(result))
            self._stream.flush()
        except OSError as exc:  # e.g. the reader of the pipe went away
            raise TranscriptError(f"cannot write {self.path}: {exc.strerror}") from exc
        self.done.add(result.id)

    def close(self) -> None:
        """Stop writing; the stream itself belongs to the caller and stays open."""
        self._stream = None
