"""Choosing a judge by name (``--judge NAME``): the rules, or a judge role on its model."""

from __future__ import annotations

from critic.backends.pool import ModelPool
from critic.errors import ConfigError
from critic.judges.llm import LLMDebateJudge, LLMJudge
from critic.judges.majority import MAJORITY, MajorityJudge
from critic.judges.rules import ThresholdJudge
from critic.protocols import AnswerExtractor, DebateJudge, Judge
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role

#: The name ``--judge`` uses for the rule-based default policy of a session.
THRESHOLD = "threshold"


def _judge_roles(registry: RoleRegistry) -> list[str]:
    return sorted(n for n, r in registry.load().items() if r.spec.kind == "judge")


def judge_names(registry: RoleRegistry) -> list[str]:
    """Every name ``critic run --judge`` accepts: ``threshold`` and the judge roles."""
    return [THRESHOLD, *_judge_roles(registry)]


def debate_judge_names(registry: RoleRegistry) -> list[str]:
    """Every name ``critic debate --judge`` accepts: ``majority`` and the judge roles."""
    return [MAJORITY, *_judge_roles(registry)]


def judge_role(name: str, registry: RoleRegistry, names: list[str]) -> Role:
    """The judge role ``--judge NAME`` names; a clear error listing ``names`` otherwise."""
    role = registry.load().get(name)
    if role is None:
        raise ConfigError(f"--judge: unknown judge {name!r} (judges: {', '.join(names)})")
    if role.spec.kind != "judge":
        what = "a debater" if role.spec.kind == "debater" else "a critic"
        raise ConfigError(
            f"--judge: role {name!r} is {what} (kind {role.spec.kind!r}), not a judge "
            f"(judges: {', '.join(names)})"
        )
    return role


def build_judge(
    name: str, registry: RoleRegistry, pool: ModelPool, rules: ThresholdJudge, *,
    seed: int | None = None,
) -> Judge:
    """A session's judge: the threshold rules, or a judge role deciding within them."""
    if name == THRESHOLD:
        return rules
    role = judge_role(name, registry, judge_names(registry))
    return LLMJudge(role, pool.get(role.spec.model).backend(role.name), rules, seed=seed)


def build_debate_judge(
    name: str, registry: RoleRegistry, pool: ModelPool, extractor: AnswerExtractor, *,
    seed: int | None = None,
) -> DebateJudge:
    """A debate's judge: the majority vote, or a judge role on its model."""
    if name == MAJORITY:
        return MajorityJudge()
    role = judge_role(name, registry, debate_judge_names(registry))
    return LLMDebateJudge(role, pool.get(role.spec.model).backend(role.name), extractor, seed=seed)
