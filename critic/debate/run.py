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

from pathlib import Path

from critic.backends.base import GenerationParams
from critic.bus.coordinator import Observer
from critic.config import DebateConfig
from critic.debate.answers import extractor
from critic.debate.debate import Debate
from critic.debate.debaters import LLMDebater
from critic.errors import ConfigError
from critic.judges.llm import LLMDebateJudge
from critic.judges.select import build_debate_judge
from critic.judges.self_judging import check_self_judging
from critic.launch import launch
from critic.messages import DebateOutcome
from critic.roles.kinds import CriticKinds
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role
from critic.transcript import JudgeSpec, TranscriptHeader

#: The kind of a role that shapes a debater instead of reviewing.
DEBATER_KIND = "debater"


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
    kinds: CriticKinds | None = None,
) -> DebateOutcome:
    """Run one debate as configured; every input is checked before any model runs."""
    async with launch(config, registry=registry, kinds=kinds) as run:
        roles = run.roles(config.roles)
        for role in roles:
            if role.spec.kind == "judge":
                raise ConfigError(f"--role: {role.name!r} is a judge: use --judge {role.name}")
        personas = [r for r in roles if r.spec.kind == DEBATER_KIND]
        critic_roles = [r for r in roles if r.spec.kind != DEBATER_KIND]
        debaters: list[LLMDebater] = []
        models: dict[str, dict[str, str]] = {}
        seeds: dict[str, int | None] = {}
        for i in range(config.debaters):
            persona = personas[i % len(personas)] if personas else None
            name = f"debater-{i + 1}"
            model = run.pool.get(persona.spec.model if persona else None)
            params = debater_params(config, persona, i)
            debaters.append(LLMDebater(
                name, model.backend(name), params,
                persona=persona.system if persona else None,
                question=persona.prompt if persona else None,
            ))
            models[name] = model.describe()
            seeds[name] = params.seed
        critics = run.critics(critic_roles)
        models.update(critics.models)
        answers = extractor(config.extract)
        judge = build_debate_judge(config.judge, run.registry, run.pool, answers,
                                   seed=config.seed)
        if isinstance(judge, LLMDebateJudge):
            models[judge.name] = run.pool.get(judge.role.spec.model).describe()
            check_self_judging(judge.name, models[judge.name],
                               {d.name: models[d.name] for d in debaters},
                               forbid=config.forbid_self_judging)
        debate = Debate(
            config.question, debaters, judge, critics.local, answers, rounds=config.rounds,
            converge_at=config.converge_at, observer=observer, remote=critics.remote,
            max_total_tokens=config.max_total_tokens, max_seconds=config.max_seconds,
        )
        debate.transcript = run.write_transcript(transcript, TranscriptHeader(
            session=debate.id, mode="debate", config=config, models=models,
            seeds={**seeds, **{r.name: config.seed for r in critic_roles}},
            judge=JudgeSpec(name=judge.name),
            roles={r.name: r.spec for r in roles},
            debaters={d.name: d.params for d in debaters},
        ), overwrite=overwrite)
        debate.bus = await run.open_bus()
        return await debate.run()
