"""From a validated :class:`~critic.config.RunConfig` to a finished session (``critic run``)."""

from __future__ import annotations

from pathlib import Path

from critic.backends.base import GenerationParams
from critic.bus.coordinator import Observer
from critic.config import RunConfig
from critic.critics.generator import LLMGenerator, RevisionPolicy
from critic.judges.llm import LLMJudge
from critic.judges.select import build_judge
from critic.judges.self_judging import check_self_judging
from critic.launch import launch
from critic.messages import Outcome, Task
from critic.roles.kinds import CriticKinds
from critic.roles.registry import RoleRegistry
from critic.session.session import Session
from critic.transcript import JudgeSpec, TranscriptHeader


async def run_critique(
    config: RunConfig,
    *,
    transcript: Path | None = None,
    overwrite: bool = False,
    observer: Observer | None = None,
    registry: RoleRegistry | None = None,
    kinds: CriticKinds | None = None,
) -> Outcome:
    """Run one session as configured; every input is checked before any model runs."""
    async with launch(config, registry=registry, kinds=kinds) as run:
        roles = run.roles(config.roles)
        model = run.pool.get()
        generator = LLMGenerator(
            model.backend("generator"),
            params=GenerationParams(
                max_tokens=config.max_tokens, temperature=config.temperature, seed=config.seed
            ),
            revision=RevisionPolicy(strategy=config.revision,
                                    temperature=config.revision_temperature),
        )
        critics = run.critics(roles)
        rules = config.rules()
        judge = build_judge(config.judge, run.registry, run.pool, rules, seed=config.seed)
        judged = [*roles, judge.role] if isinstance(judge, LLMJudge) else roles
        models = {"generator": model.describe(), **critics.models}
        if isinstance(judge, LLMJudge):
            models[judge.name] = run.pool.get(judge.role.spec.model).describe()
            check_self_judging(judge.name, models[judge.name], {"generator": models["generator"]},
                               forbid=config.forbid_self_judging)
        session = Session(
            Task(prompt=config.task, tests=config.tests, reference=config.reference),
            generator, judge, critics.local, remote=critics.remote, observer=observer,
        )
        session.transcript = run.write_transcript(transcript, TranscriptHeader(
            session=session.id, mode="run", config=config, models=models,
            seeds={"generator": config.seed,
                   **{r.name: r.spec.seed if r.spec.seed is not None else config.seed
                      for r in judged}},
            judge=JudgeSpec(name=judge.name, rules=rules),
            roles={r.name: r.spec for r in judged},
        ), overwrite=overwrite)
        session.bus = await run.open_bus()
        return await session.run()
