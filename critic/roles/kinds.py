"""Critic kinds: how a role's ``kind`` becomes a :class:`~critic.protocols.Critic`.

``llm`` is built in. Code registers more kinds (the grounded critics register
``python-exec``, ``doctest`` and ``human``); a role file then just names the kind.

    kinds = default_kinds()
    kinds.register("my-kind", lambda role, ctx: MyCritic(role))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from critic.critics.critic import LLMCritic
from critic.errors import ConfigError
from critic.grounding.execution import python_exec_critic
from critic.grounding.human import human_critic
from critic.grounding.testing import unit_test_critic
from critic.protocols import Critic, CriticContext, CriticFactory
from critic.roles.spec import PLUGIN_KIND, Role

#: Kinds whose critics call a model (a transcript header records their model).
MODEL_KINDS = frozenset({"llm", "judge"})


def _llm(role: Role, ctx: CriticContext) -> Critic:
    return LLMCritic(role, ctx.models.get(role.spec.model).backend(role.name), seed=ctx.seed)


def _plugin(role: Role, ctx: CriticContext) -> Critic:
    """A class-based role from an entry point: built as ``cls(role, ctx)``."""
    if role.plugin is None:
        raise ConfigError(f"role {role.name!r} ({role.source}): kind 'plugin' needs a class")
    critic = role.plugin(role, ctx)
    if not isinstance(critic, Critic):
        raise ConfigError(
            f"role {role.name!r} ({role.source}): {type(critic).__qualname__} does not implement "
            "the Critic protocol (name, weight, timeout, review)"
        )
    return critic


@dataclass
class CriticKinds:
    """A registry of critic kinds; inject your own instead of mutating a global."""

    factories: dict[str, CriticFactory] = field(default_factory=dict)

    def register(self, kind: str, factory: CriticFactory) -> None:
        self.factories[kind] = factory

    def build(self, role: Role, ctx: CriticContext) -> Critic:
        factory = self.factories.get(role.spec.kind)
        if factory is None:
            known = ", ".join(sorted(self.factories))
            where = f" ({role.path})" if role.path else ""
            if role.spec.kind == "judge":
                raise ConfigError(f"role {role.name!r}{where} is a judge: use --judge {role.name}")
            raise ConfigError(
                f"role {role.name!r}{where}: kind {role.spec.kind!r} is not a critic kind "
                f"(known: {known})"
            )
        return factory(role, ctx)


def default_kinds() -> CriticKinds:
    """The built-in kinds: ``llm``, ``plugin`` (entry-point classes) and the grounded ones."""
    return CriticKinds({
        "llm": _llm, PLUGIN_KIND: _plugin, "python-exec": python_exec_critic,
        "doctest": unit_test_critic, "unit-tests": unit_test_critic, "human": human_critic,
    })
