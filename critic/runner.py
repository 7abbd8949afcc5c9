"""From a validated :class:`RunConfig` to a finished session (what ``critic run`` does)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from critic.agents import Critic, LLMGenerator, RevisionPolicy
from critic.backends import ModelPool
from critic.backends.base import GenerationParams
from critic.backends.options import ModelOptions
from critic.bus.nats import check_bus_url, open_bus
from critic.errors import ConfigError
from critic.judge import ThresholdJudge
from critic.kinds import MODEL_KINDS, CriticContext, CriticKinds, default_kinds
from critic.llm_judge import LLMJudge, build_judge
from critic.messages import Outcome, RevisionStrategy, Task
from critic.roles import Role, RoleRegistry
from critic.session import Observer, RemoteCritic, Session
from critic.transcript import TranscriptHeader, TranscriptWriter


class RunConfig(BaseModel):
    """Everything that defines a critique session; recorded in the transcript header.

    The judge's rules are validated once, by :class:`ThresholdJudge` itself
    (see :meth:`rules`), so the CLI and the library cannot disagree on them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    task: str
    roles: tuple[str, ...] = ("correctness", "clarity")
    max_rounds: int = Field(default=3, ge=1)
    accept_at: float = Field(default=0.8, ge=0.0, le=1.0)
    discard_below: float = Field(default=0.0, ge=0.0, le=1.0)
    patience: int | None = Field(default=None, ge=1)
    model: str | None = None
    seed: int = 0
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=320, ge=1)
    roles_dirs: tuple[Path, ...] = ()
    judge: str = "threshold"
    """``threshold`` (the rules alone) or a judge role deciding within those rules."""
    bus: str | None = None
    """``nats://HOST:PORT``: critics are served there by workers; None: in-process."""
    tests: str | None = None
    """Tests for grounded critics (doctest examples, asserts or HumanEval's ``check``)."""
    reference: str | None = None
    models: ModelOptions = ModelOptions()
    """HTTP limits and the response cache for every model the session opens."""
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

    @field_validator("roles")
    @classmethod
    def _some_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one critic role is needed")
        if len(set(value)) != len(value):
            raise ValueError(f"a role is named twice: {', '.join(value)}")
        return value

    @field_validator("bus")
    @classmethod
    def _bus_url(cls, value: str | None) -> str | None:
        return None if value is None else check_bus_url(value)

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
            revise_unscored=self.revise_unscored,
        )

    @classmethod
    def parse(cls, **values: object) -> RunConfig:
        """Validate, turning the first problem into a one-line :class:`ConfigError`."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(cli_message(exc)) from exc


def cli_message(exc: ValidationError) -> str:
    """The first problem of a config as one line, naming its flag (``--max-rounds: ...``)."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"--{field.replace('_', '-')}: {msg}" if field else msg


def build_critics(
    roles: Sequence[Role], pool: ModelPool, *, seed: int | None, kinds: CriticKinds | None = None
) -> tuple[list[Critic], dict[str, dict[str, str]]]:
    """A critic per role (each on its own backend instance) and the models they use."""
    kinds = kinds or default_kinds()
    critics: list[Critic] = []
    models: dict[str, dict[str, str]] = {}
    for role in roles:
        critic = kinds.build(role, CriticContext(pool, seed))
        critics.append(critic)
        if role.spec.kind in MODEL_KINDS:
            models[role.name] = pool.get(role.spec.model).describe()
    return critics, models


async def run_critique(
    config: RunConfig,
    *,
    transcript: Path | None = None,
    overwrite: bool = False,
    observer: Observer | None = None,
    registry: RoleRegistry | None = None,
) -> Outcome:
    """Run one session as configured; every input is checked before any model runs."""
    registry = registry or RoleRegistry(extra_dirs=config.roles_dirs)
    roles = [registry.get(name) for name in config.roles]
    pool = ModelPool(config.model, config.models)
    try:
        model = pool.get()
        generator = LLMGenerator(
            model.backend("generator"),
            params=GenerationParams(
                max_tokens=config.max_tokens, temperature=config.temperature, seed=config.seed
            ),
            revision=RevisionPolicy(strategy=config.revision,
                                    temperature=config.revision_temperature),
        )
        if config.bus is None:
            critics, models = build_critics(roles, pool, seed=config.seed)
            remote: list[RemoteCritic] = []
        else:  # served by `critic worker`s; their models are theirs to record
            critics, models = [], {}
            remote = [RemoteCritic(r.name, r.spec.weight, r.spec.timeout) for r in roles]
        rules = config.rules()
        judge = build_judge(config.judge, registry, pool, rules, seed=config.seed)
        if isinstance(judge, LLMJudge):
            roles_spec = [*roles, judge.role]
            models[judge.name] = pool.get(judge.role.spec.model).describe()
        else:
            roles_spec = roles
        writer = None
        task = Task(prompt=config.task, tests=config.tests, reference=config.reference)
        session = Session(task, generator, judge, critics, remote=remote,
                          observer=observer)
        if transcript is not None:
            header = TranscriptHeader(
                session=session.id,
                models={"generator": model.describe(), **models},
                seeds={"generator": config.seed,
                       **{r.name: r.spec.seed if r.spec.seed is not None else config.seed
                          for r in roles_spec}},
                config={**config.model_dump(mode="json"),
                        "judge": {**rules.model_dump(mode="json"), "name": judge.name},
                        "roles_spec": {r.name: r.spec.model_dump(mode="json") for r in roles_spec}},
            )
            writer = TranscriptWriter(transcript, header, overwrite=overwrite)
            session.transcript = writer
        try:
            async with AsyncExitStack() as stack:
                if config.bus is not None:
                    session.bus = await stack.enter_async_context(open_bus(config.bus))
                return await session.run()
        finally:
            if writer is not None:
                writer.close()
    finally:
        await pool.aclose()
