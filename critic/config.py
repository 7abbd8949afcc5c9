"""Configurations: what defines a session, a debate, or any run; validated once, here.

Each is a frozen pydantic model; the CLI builds one from its flags with
``parse`` (the first problem becomes a one-line :class:`ConfigError` naming
its flag) and the library takes the same model, so the two cannot disagree.
A transcript's header records the config that made it, and reads back into it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from critic.backends.options import ModelOptions
from critic.bus.nats_subjects import check_bus_url
from critic.debate.answers import extractors
from critic.errors import ConfigError
from critic.judges.majority import MAJORITY
from critic.judges.rules import ThresholdJudge
from critic.messages import RevisionStrategy


def cli_message(exc: ValidationError) -> str:
    """The first problem of a config as one line, naming its flag (``--max-rounds: ...``).

    A check across fields that names one field first (``errors: only with ...``)
    is shown as that field's flag too.
    """
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not field:
        named = re.match(r"^([a-z_]+): (.*)$", msg, re.S)
        if named is None:
            return msg
        field, msg = named.groups()
    return f"--{field.replace('_', '-')}: {msg}"


def needs_roles(value: tuple[str, ...]) -> tuple[str, ...]:
    """A validator for runs that cannot go without a critic role."""
    if not value:
        raise ValueError("at least one critic role is needed")
    return value


class Settings(BaseModel):
    """What every run shares: its roles, where they come from, its models, seed and bus.

    ``critic run``, ``debate``, ``score`` and ``worker`` all take these, with
    the same flags and the same validation (see :mod:`critic.launch`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    roles: tuple[str, ...] = ()
    roles_dirs: tuple[Path, ...] = ()
    model: str | None = None
    """GGUF path or http(s) URL of the default model; None: the embedded SmolLM2."""
    models: ModelOptions = ModelOptions()
    """HTTP limits and the response cache for every model the run opens."""
    seed: int = 0
    bus: str | None = None
    """``nats://HOST:PORT``: critic roles are served there by workers; None: in-process."""

    @field_validator("roles")
    @classmethod
    def _roles_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"a role is named twice: {', '.join(value)}")
        return value

    @field_validator("bus")
    @classmethod
    def _bus_url(cls, value: str | None) -> str | None:
        return None if value is None else check_bus_url(value)

    @classmethod
    def parse(cls, **values: object) -> Self:
        """Validate, turning the first problem into a one-line :class:`ConfigError`."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(cli_message(exc)) from exc


class RunConfig(Settings):
    """Everything that defines a critique session; recorded in the transcript header.

    The judge's rules are validated once, by :class:`ThresholdJudge` itself
    (see :meth:`rules`), so the CLI and the library cannot disagree on them.
    """

    task: str
    roles: tuple[str, ...] = ("correctness", "clarity")
    max_rounds: int = Field(default=3, ge=1)
    accept_at: float = Field(default=0.8, ge=0.0, le=1.0)
    discard_below: float = Field(default=0.0, ge=0.0, le=1.0)
    patience: int | None = Field(default=None, ge=1)
    max_total_tokens: int | None = Field(default=None, ge=1)
    """Discard once the session has used this many tokens (all agents, prompt + completion)."""
    max_seconds: float | None = Field(default=None, gt=0.0)
    """Discard once a round ends this many seconds after the session started."""
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=320, ge=1)
    judge: str = "threshold"
    """``threshold`` (the rules alone) or a judge role deciding within those rules."""
    forbid_self_judging: bool = False
    """Refuse a judge role on the generator's model (by default: a warning)."""
    tests: str | None = None
    """Tests for grounded critics (doctest examples, asserts or HumanEval's ``check``)."""
    reference: str | None = None
    revision: RevisionStrategy = "fresh"
    """How the generator revises: a ``fresh`` context per revision, or ``continue``."""
    revision_temperature: float | None = Field(default=None, ge=0.0)
    """Pins the revisions' temperature (None: the generator's, at least 0.7)."""
    revise_unscored: bool = False
    """Revise without feedback when no critique is scored (default: stop, ``no_scores``)."""

    @field_validator("task")
    @classmethod
    def _task_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the task is empty")
        return value.strip()

    _some_roles = field_validator("roles")(needs_roles)

    @model_validator(mode="after")
    def _rules_valid(self) -> RunConfig:
        try:
            self.rules()
        except ValidationError as exc:
            raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None
        return self

    def rules(self) -> ThresholdJudge:
        """The judge's stop rules this config asks for."""
        return ThresholdJudge(
            accept_at=self.accept_at, discard_below=self.discard_below,
            patience=self.patience, max_rounds=self.max_rounds,
            max_tokens=self.max_total_tokens, max_seconds=self.max_seconds,
        )


class DebateRules(BaseModel):
    """How long a debate runs and when it stops early; checked here for the CLI and the library."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    rounds: int = Field(default=2, ge=1)
    converge_at: float = Field(default=1.0, gt=0.5, le=1.0)
    """Share of the answering debaters that must agree to stop (above 0.5: a majority)."""
    max_total_tokens: int | None = Field(default=None, ge=1)
    """Stop after a round once every call so far has used this many tokens (``stop="budget"``)."""
    max_seconds: float | None = Field(default=None, gt=0.0)
    """Stop after a round that ends this many seconds after the start (``stop="budget"``)."""


class DebateConfig(Settings):
    """Everything that defines a debate; recorded in the transcript header.

    ``roles`` may name debater roles (kind ``debater``) and critic roles.
    """

    question: str
    debaters: int = Field(default=3, ge=1, le=32)
    rounds: int = 2
    judge: str = MAJORITY
    extract: str = "number"
    converge_at: float = 1.0
    max_total_tokens: int | None = None
    max_seconds: float | None = None
    temperature: float = Field(default=0.7, ge=0.0)
    max_tokens: int = Field(default=160, ge=1)
    forbid_self_judging: bool = False
    """Refuse a judge role on a debater's model (by default: a warning)."""

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the question is empty")
        return value.strip()

    @field_validator("extract")
    @classmethod
    def _known_extractor(cls, value: str) -> str:
        if value not in extractors:
            known = ", ".join(extractors.names())
            raise ValueError(f"unknown answer extractor {value!r} (known: {known})")
        return value

    @model_validator(mode="after")
    def _rules_valid(self) -> DebateConfig:
        self.rules()
        return self

    def rules(self) -> DebateRules:
        """The debate's stop rules (validated by :class:`DebateRules`, as ``Debate`` does)."""
        try:
            return DebateRules(rounds=self.rounds, converge_at=self.converge_at,
                               max_total_tokens=self.max_total_tokens,
                               max_seconds=self.max_seconds)
        except ValidationError as exc:
            raise ValueError(cli_message(exc)) from None


class WorkerConfig(Settings):
    """A ``critic worker``: the roles it hosts for every session on its bus."""

    bus: str
    ack_wait: float = Field(default=30.0, gt=0.0)
    """Seconds before work held by a dead worker is redelivered."""

    @field_validator("roles")
    @classmethod
    def _some_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a worker needs at least one critic role")
        return value
