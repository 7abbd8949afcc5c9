"""Append-only JSONL transcripts: a header line, then one envelope per line.

Each line is flushed as it is written, so a crash loses at most the line being
written; the reader reports a malformed line by number (a torn last line can be
skipped with ``tolerate_torn_tail``). A transcript can be replayed, re-scored
and reported on without any model.

The reader opens regular files only and bounds each line
(:data:`MAX_TRANSCRIPT_LINE_BYTES`), so ``/dev/zero``, a FIFO or a huge file
with no newline is one clear error instead of a hang or unbounded memory.
"""

from __future__ import annotations

import os
import platform
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from critic.backends.base import GenerationParams
from critic.config import DebateConfig, RunConfig
from critic.errors import TranscriptError
from critic.judges.rules import ThresholdJudge
from critic.messages import ENVELOPE_ADAPTER, Envelope
from critic.roles.spec import RoleSpec

#: 2: typed header (``format`` first; config, judge and roles as models).
FORMAT_VERSION = 2

#: Longest transcript line read (an envelope carries at most a long conversation).
MAX_TRANSCRIPT_LINE_BYTES = 64 << 20


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


class JudgeSpec(BaseModel):
    """The judge of a run: its name, and for sessions the stop rules it decided within."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    rules: ThresholdJudge | None = None


class TranscriptHeader(BaseModel):
    """First line of every transcript: what produced it, with which models and config.

    ``format`` comes first and field order is stable, so old transcripts stay
    readable; :meth:`_migrate` lifts older formats to this one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = FORMAT_VERSION
    kind: Literal["header"] = "header"
    session: str
    mode: Literal["run", "debate"] = "run"
    created: float = Field(default_factory=time.time)
    critic_version: str | None = Field(default_factory=lambda: _version("critic"))
    python: str = Field(default_factory=lambda: sys.version.split()[0])
    platform: str = Field(default_factory=platform.platform)
    llama_cpp_version: str | None = Field(default_factory=lambda: _version("llama-cpp-python"))
    models: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per agent: the backend description (kind, file and sha256, or URL)."""
    seeds: dict[str, int | None] = Field(default_factory=dict)
    config: RunConfig | DebateConfig | None = None
    """The config that made this run; ``run_critique(header.config)`` runs it again."""
    judge: JudgeSpec | None = None
    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    """Every role the run used (critics, judge, debater personas), as loaded."""
    debaters: dict[str, GenerationParams] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: object) -> object:
        # Every file written carries its format; a header built in Python is current.
        if not isinstance(data, dict) or data.get("format") != 1:
            return data
        # Format 1 kept judge, roles and debater settings inside an untyped config.
        data = dict(data)
        config = dict(data.pop("config", None) or {})
        judge = config.pop("judge", None)
        roles = config.pop("roles_spec", None) or {}
        debaters = config.pop("debaters_spec", None) or {}
        if isinstance(judge, dict):
            name = judge.pop("name", "threshold")
            data["judge"] = {"name": name, "rules": judge or None}
            config["judge"] = name
        elif isinstance(judge, str):
            data["judge"] = {"name": judge}
            config["judge"] = judge
        return {**data, "format": FORMAT_VERSION, "config": config or None, "roles": roles,
                "debaters": debaters}

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: int) -> int:
        # A newer writer's file may mean something else field by field: refuse, do not guess.
        if value != FORMAT_VERSION:
            raise ValueError(
                f"transcript format {value} is not supported (this critic reads format "
                f"{FORMAT_VERSION})"
            )
        return value


class TranscriptWriter:
    """Writes a transcript; fails at once if the path is not writable or holds one already."""

    def __init__(self, path: Path, header: TranscriptHeader, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        if not overwrite and self.path.is_file() and self.path.stat().st_size > 0:
            raise TranscriptError(
                f"transcript {self.path} already exists; choose another path or overwrite it"
            )
        try:
            self._file: IO[str] = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            raise TranscriptError(f"cannot write transcript {self.path}: {exc.strerror}") from exc
        self._write(header.model_dump_json())

    def _write(self, line: str) -> None:
        # A plain write+flush (microseconds) rather than a thread hop per line.
        try:
            self._file.write(line + "\n")
            self._file.flush()
        except OSError as exc:  # a full disk, a lost mount: the user's to fix, not a crash
            raise TranscriptError(f"cannot write transcript {self.path}: {exc.strerror}") from exc

    def write(self, envelope: Envelope) -> None:
        self._write(ENVELOPE_ADAPTER.dump_json(envelope).decode())

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as exc:
            raise TranscriptError(f"cannot write transcript {self.path}: {exc.strerror}") from exc

    def __enter__(self) -> TranscriptWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True)
class Transcript:
    """A transcript read back: its header and every envelope, in order."""

    path: Path
    header: TranscriptHeader
    envelopes: tuple[Envelope, ...]

    def payloads(self, kind: str) -> list[BaseModel]:
        return [e.payload for e in self.envelopes if e.payload.kind == kind]


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file; else a :class:`TranscriptError`.

    Opened non-blocking so a FIFO with no writer is refused instead of waiting.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise TranscriptError(f"cannot read {path}: not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def iter_lines(path: Path, max_bytes: int = MAX_TRANSCRIPT_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """Numbered lines of a regular file, each at most ``max_bytes`` long (newline included).

    Raises :class:`TranscriptError` naming the file (and the line, if one is too long).
    """
    with open_regular(path) as fh:
        number = 0
        while True:
            try:
                line = fh.readline(max_bytes + 1)
            except OSError as exc:
                raise TranscriptError(f"cannot read {path}: {exc.strerror}") from exc
            if not line:
                return
            number += 1
            if len(line) > max_bytes:
                raise TranscriptError(f"{path}:{number}: line longer than {max_bytes} bytes")
            yield number, line


def read_transcript(path: Path, *, tolerate_torn_tail: bool = False) -> Transcript:
    """Load and validate a transcript.

    Raises :class:`TranscriptError` naming the line at fault. With
    ``tolerate_torn_tail`` a last line with no newline that does not parse
    (the writer was killed mid-line) is dropped instead.
    """
    lines = list(iter_lines(path))
    if not lines:
        raise TranscriptError(f"{path}: empty file, not a transcript")
    number, first = lines[0]
    try:
        header = TranscriptHeader.model_validate_json(first)
    except ValidationError as exc:
        raise TranscriptError(f"{path}:{number}: not a transcript header ({_first(exc)})") from exc
    envelopes: list[Envelope] = []
    for number, line in lines[1:]:
        if not line.strip():
            continue
        try:
            envelopes.append(ENVELOPE_ADAPTER.validate_json(line))
        except ValidationError as exc:
            if tolerate_torn_tail and number == lines[-1][0] and not line.endswith(b"\n"):
                break
            raise TranscriptError(f"{path}:{number}: invalid envelope ({_first(exc)})") from exc
    return Transcript(Path(path), header, tuple(envelopes))


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
