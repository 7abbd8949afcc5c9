"""From a validated :class:`DebateConfig` to a finished debate (what ``critic debate`` does).

Debaters that share a model and a temperature of 0 give identical answers, so
by default every debater gets its own seed (``seed + i``) and the temperature
is 0.7: a debate between copies that cannot disagree measures nothing.

``roles`` may name debater roles (``kind = "debater"``: a persona in
``system``, optionally a round-1 ``prompt``, and its own model, temperature,
seed or max_tokens), assigned to the debaters in turn, and critic roles,
which review each round's answers.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from critic.backends.base import GenerationParams
from critic.backends.pool import ModelPool
from critic.bus.nats import check_bus_url, open_bus
from critic.debate.answers import EXTRACTORS, extractor
from critic.debate.debate import Debate
from critic.debate.debaters import LLMDebater
from critic.errors import ConfigError
from critic.judges.debate import MAJORITY, LLMDebateJudge, build_debate_judge
from critic.messages import DebateOutcome
from critic.roles.spec import Role, RoleRegistry
from critic.session.run import build_critics
from critic.session.session import Observer, RemoteCritic
from critic.transcript import TranscriptHeader, TranscriptWriter

#: The kind of a role that shapes a debater instead of reviewing.
DEBATER_KIND = "debater"


class DebateConfig(BaseModel):
    """Everything that defines a debate; recorded in the transcript header."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    question: str
    debaters: int = Field(default=3, ge=1, le=32)
    rounds: int = Field(default=2, ge=1)
    roles: tuple[str, ...] = ()
    judge: str = MAJORITY
    extract: str = "number"
    converge_at: float = Field(default=1.0, gt=0.5, le=1.0)
    model: str | None = None
    seed: int = 0
    temperature: float = Field(default=0.7, ge=0.0)
    max_tokens: int = Field(default=160, ge=1)
    roles_dirs: tuple[Path, ...] = ()
    bus: str | None = None
    """``nats://HOST:PORT``: critic roles are served there by workers; None: in-process."""

    @field_validator("bus")
    @classmethod
    def _bus_url(cls, value: str | None) -> str | None:
        return None if value is None else check_bus_url(value)

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the question is empty")
        return value.strip()

    @field_validator("extract")
    @classmethod
    def _known_extractor(cls, value: str) -> str:
        if value not in EXTRACTORS:
            raise ValueError(f"unknown answer extractor {value!r} (known: {', '.join(EXTRACTORS)})")
        return value

    @classmethod
    def parse(cls, **values: object) -> DebateConfig:
        """Validate, turning the first problem into a one-line :class:`ConfigError`."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "config"
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"--{field.replace('_', '-')}: {msg}") from exc


def debater_params(config: DebateConfig, role: Role | None, index: int) -> GenerationParams:
    """Debater ``index``'s sampling: its role's explicit settings, else the debate's, seed + i."""
    spec = role.spec if role is not None else None
    chosen = spec.model_fields_set if spec is not None else set()
    return GenerationParams(
        max_tokens=spec.max_tokens if spec and "max_tokens" in chosen else config.max_tokens,
        temperature=spec.temperature if spec and "temperature" in chosen else config.temperature,
        seed=spec.seed if spec and spec.seed is not None else config.seed + index,
    )


async def run_debate(
    config: DebateConfig,
    *,
    transcript: Path | None = None,
    overwrite: bool = False,
    observer: Observer | None = None,
    registry: RoleRegistry | None = None,
) -> DebateOutcome:
    """Run one debate as configured; every input is checked before any model runs."""
    registry = registry or RoleRegistry(extra_dirs=config.roles_dirs)
    roles = [registry.get(name) for name in config.roles]
    for role in roles:
        if role.spec.kind == "judge":
            raise ConfigError(f"--role: {role.name!r} is a judge: use --judge {role.name}")
    personas = [r for r in roles if r.spec.kind == DEBATER_KIND]
    critic_roles = [r for r in roles if r.spec.kind != DEBATER_KIND]
    pool = ModelPool(config.model)
    try:
        debaters: list[LLMDebater] = []
        models: dict[str, dict[str, str]] = {}
        seeds: dict[str, int | None] = {}
        for i in range(config.debaters):
            persona = personas[i % len(personas)] if personas else None
            name = f"debater-{i + 1}"
            model = pool.get(persona.spec.model if persona else None)
            params = debater_params(config, persona, i)
            debaters.append(LLMDebater(
                name, model.backend(name), params,
                persona=persona.system if persona else None,
                question=persona.prompt if persona else None,
            ))
            models[name] = model.describe()
            seeds[name] = params.seed
        if config.bus is None:
            critics, critic_models = build_critics(critic_roles, pool, seed=config.seed)
            remote: list[RemoteCritic] = []
        else:  # served by `critic worker`s
            critics, critic_models = [], {}
            remote = [RemoteCritic(r.name, r.spec.weight, r.spec.timeout) for r in critic_roles]
        answers = extractor(config.extract)
        judge = build_debate_judge(config.judge, registry, pool, answers, seed=config.seed)
        if isinstance(judge, LLMDebateJudge):
            critic_models[judge.name] = pool.get(judge.role.spec.model).describe()
        debate = Debate(
            config.question, debaters, judge, critics, answers, rounds=config.rounds,
            converge_at=config.converge_at, observer=observer, remote=remote,
        )
        writer = None
        if transcript is not None:
            header = TranscriptHeader(
                session=debate.id, mode="debate", models={**models, **critic_models},
                seeds={**seeds, **{r.name: config.seed for r in critic_roles}},
                config={
                    **config.model_dump(mode="json"),
                    "debaters_spec": {d.name: d.params.model_dump(mode="json") for d in debaters},
                    "roles_spec": {r.name: r.spec.model_dump(mode="json") for r in roles},
                },
            )
            writer = TranscriptWriter(transcript, header, overwrite=overwrite)
            debate.transcript = writer
        try:
            async with AsyncExitStack() as stack:
                if config.bus is not None:
                    debate.bus = await stack.enter_async_context(open_bus(config.bus))
                return await debate.run()
        finally:
            if writer is not None:
                writer.close()
    finally:
        await pool.aclose()
