"""Append-only JSONL transcripts: a header line, then one envelope per line.

Each line is flushed as it is written, so a crash loses at most the line being
written; the reader reports a malformed line by number (a torn last line can be
skipped with ``tolerate_torn_tail``). A transcript can be replayed, re-scored
and reported on without any model.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from critic.backends.base import GenerationParams
from critic.config import DebateConfig, RunConfig
from critic.errors import TranscriptError
from critic.judges.rules import ThresholdJudge
from critic.messages import ENVELOPE_ADAPTER, Envelope
from critic.roles.spec import RoleSpec

#: 2: typed header (``format`` first; config, judge and roles as models).
FORMAT_VERSION = 2


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
        if not isinstance(data, dict) or data.get("format", 1) != 1:
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


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines of a text file, with a clear error if it cannot be read."""
    try:
        with Path(path).open(encoding="utf-8") as fh:
            yield from enumerate(fh, start=1)
    except OSError as exc:
        raise TranscriptError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"{path}: not UTF-8 text ({exc.reason})") from exc


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
            if tolerate_torn_tail and number == lines[-1][0] and not line.endswith("\n"):
                break
            raise TranscriptError(f"{path}:{number}: invalid envelope ({_first(exc)})") from exc
    return Transcript(Path(path), header, tuple(envelopes))


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]
