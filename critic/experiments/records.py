"""``results.jsonl`` of an experiment: one :class:`EvalRecord` per condition x item x seed.

Each line carries every round's draft, the judge's verdict on it and the
hidden oracle's result, so every figure of the summary can be recomputed
from this file alone. The file is written like ``critic score``'s output
(:class:`~critic.scoring.results.ResultFile`: locked, one flushed line per
record, a torn last line cut off on ``--resume``, ids done are skipped), so a
resumed run records each unit exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from critic.errors import TranscriptError
from critic.scoring.results import ResultFile, ScoreResult
from critic.transcript import open_regular

#: Format version, the first field of every line.
EVAL_FORMAT: Literal[1] = 1


class RoundRecord(BaseModel):
    """One round of a unit: the draft, what the judge made of it, what the oracle says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round: int = Field(ge=1)
    draft: str
    decision: str | None = None
    aggregate: float | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    passed: bool
    """The hidden oracle's verdict on this draft (applied after the session ended)."""
    oracle: str | None = None
    """Why the oracle failed it."""


class EvalRecord(BaseModel):
    """One condition x item x seed: its rounds, the answer selected and whether it passed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal[1] = EVAL_FORMAT
    id: str
    condition: str
    item: str
    seed: int
    rounds: tuple[RoundRecord, ...]
    final_round: int | None
    """The round whose draft is the answer (None: no draft at all)."""
    passed: bool
    stop: str
    tokens: int = Field(ge=0)
    seconds: float = Field(ge=0.0)
    transcript: str | None = None
    """Relative to the output directory."""

    @staticmethod
    def key(condition: str, item: str, seed: int) -> str:
        return f"{condition}|{item}|{seed}"


def _records(data: bytes, path: Path) -> list[EvalRecord]:
    records = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(EvalRecord.model_validate_json(line))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "line"
            raise TranscriptError(f"{path}:{number}: not an experiment result "
                                  f"({where}: {err['msg']})") from exc
    return records


def read_records(path: Path) -> list[EvalRecord]:
    """Every complete line of a ``results.jsonl``; a torn last line is ignored."""
    with open_regular(path) as fh:
        data = fh.read()
    return _records(data[: data.rfind(b"\n") + 1], Path(path))


class ExperimentResults(ResultFile):
    """:class:`ResultFile` (lock, resume, exactly once) holding :class:`EvalRecord` lines."""

    def _ids(self, data: bytes) -> set[str]:
        return {r.id for r in _records(data, self.path)}

    def add(self, record: EvalRecord) -> None:
        """Append one record (one write call; see :meth:`ResultFile.write`)."""
        # ResultFile.write needs only ``id`` and ``model_dump_json`` of its argument.
        self.write(cast(ScoreResult, record))
