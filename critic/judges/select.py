"""Choosing a judge by name (``--judge NAME``): a registered judge, or a judge role on its model.

Registered judges come from :data:`judges` (``critic run``: ``threshold``, the
rules themselves) and :data:`debate_judges` (``critic debate``: ``majority``),
plus the plugins of the entry-point groups ``critic.judges`` and
``critic.debate_judges``. A role of kind ``judge`` is a judge under its own name.
"""

from __future__ import annotations

from typing import cast

from critic.backends.pool import ModelPool
from critic.errors import ConfigError
from critic.judges.llm import LLMDebateJudge, LLMJudge
from critic.judges.majority import MAJORITY, MajorityJudge
from critic.judges.rules import ThresholdJudge
from critic.protocols import (
    AnswerExtractor,
    DebateJudge,
    DebateJudgeContext,
    DebateJudgeFactory,
    Judge,
    JudgeContext,
    JudgeFactory,
)
from critic.roles.extensions import Extensions
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role

#: The name ``--judge`` uses for the rule-based default policy of a session.
THRESHOLD = "threshold"


def _callable(obj: object, what: str) -> object:
    if not callable(obj):
        raise TypeError(f"{type(obj).__qualname__} is not callable, so not a {what} factory")
    return obj


def accept_judge(obj: object) -> JudgeFactory:
    """A ``critic.judges`` entry point: a callable ``(JudgeContext) -> Judge`` (often a class)."""
    # Only callability can be checked here; what it builds is checked when it is built.
    return cast("JudgeFactory", _callable(obj, "judge"))


def accept_debate_judge(obj: object) -> DebateJudgeFactory:
    """A ``critic.debate_judges`` entry point: a callable ``(DebateJudgeContext) -> DebateJudge``."""
    return cast("DebateJudgeFactory", _callable(obj, "debate judge"))


def _rules(ctx: JudgeContext) -> Judge:
    return ctx.rules


def _majority(ctx: DebateJudgeContext) -> DebateJudge:
    return MajorityJudge()


#: ``critic run --judge`` parts: built as ``factory(JudgeContext)``.
judges: Extensions[JudgeFactory] = Extensions(
    "judge", "critic.judges", accept_judge, {THRESHOLD: _rules})

#: ``critic debate --judge`` parts: built as ``factory(DebateJudgeContext)``.
debate_judges: Extensions[DebateJudgeFactory] = Extensions(
    "debate judge", "critic.debate_judges",
    accept_debate_judge, {MAJORITY: _majority})


def _judge_roles(registry: RoleRegistry) -> list[str]:
    return sorted(n for n, r in registry.load().items() if r.spec.kind == "judge")


def judge_names(registry: RoleRegistry, parts: Extensions[JudgeFactory] | None = None) -> list[str]:
    """Every name ``critic run --judge`` accepts: ``threshold``, judge plugins, judge roles."""
    return [*(parts or judges).names(), *_judge_roles(registry)]


def debate_judge_names(
    registry: RoleRegistry, parts: Extensions[DebateJudgeFactory] | None = None,
) -> list[str]:
    """Every name ``critic debate --judge`` accepts: ``majority``, plugins, judge roles."""
    return [*(parts or debate_judges).names(), *_judge_roles(registry)]


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


def _built(name: str, part: object, protocol: type, what: str, origin: str) -> None:
    if not isinstance(part, protocol):
        raise ConfigError(f"--judge: {what} {name!r} ({origin}) built a "
                          f"{type(part).__qualname__}, which is not a {protocol.__name__}")


def build_judge(
    name: str, registry: RoleRegistry, pool: ModelPool, rules: ThresholdJudge, *,
    seed: int | None = None, parts: Extensions[JudgeFactory] | None = None,
) -> Judge:
    """A session's judge: a registered one (the threshold rules, a plugin), or a judge role."""
    parts = parts or judges
    factories = parts.load()
    if name in factories:
        judge = factories[name](JudgeContext(pool, seed, rules))
        _built(name, judge, Judge, "judge", parts.origin(name))
        return judge
    role = judge_role(name, registry, judge_names(registry, parts))
    return LLMJudge(role, pool.get(role.spec.model).backend(role.name), rules, seed=seed)


def build_debate_judge(
    name: str, registry: RoleRegistry, pool: ModelPool, extractor: AnswerExtractor, *,
    seed: int | None = None, parts: Extensions[DebateJudgeFactory] | None = None,
) -> DebateJudge:
    """A debate's judge: a registered one (the majority vote, a plugin), or a judge role."""
    parts = parts or debate_judges
    factories = parts.load()
    if name in factories:
        judge = factories[name](DebateJudgeContext(pool, seed, extractor))
        _built(name, judge, DebateJudge, "debate judge", parts.origin(name))
        return judge
    role = judge_role(name, registry, debate_judge_names(registry, parts))
    return LLMDebateJudge(role, pool.get(role.spec.model).backend(role.name), extractor, seed=seed)
