"""Critic kinds: how a role's ``kind`` becomes a :class:`~critic.agents.Critic`.

``llm`` is built in. Code registers more kinds (the grounded critics register
``python-exec``, ``doctest`` and ``human``); a role file then just names the kind.

    kinds = default_kinds()
    kinds.register("my-kind", lambda role, ctx: MyCritic(role))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from critic.backends.pool import ModelPool
from critic.critics.critic import Critic, LLMCritic
from critic.errors import ConfigError
from critic.roles.spec import PLUGIN_KIND, Role

#: Kinds whose critics call a model (a transcript header records their model).
MODEL_KINDS = frozenset({"llm", "judge"})


@dataclass(frozen=True)
class CriticContext:
    """What a kind's factory may use: models (opened lazily) and the session seed."""

    models: ModelPool
    seed: int | None = None


CriticFactory = Callable[[Role, CriticContext], Critic]


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
    # Imported here: the grounded critics' modules refer back to CriticContext.
    from critic.grounding import human_critic, python_exec_critic, unit_test_critic

    return CriticKinds({
        "llm": _llm, PLUGIN_KIND: _plugin, "python-exec": python_exec_critic,
        "doctest": unit_test_critic, "unit-tests": unit_test_critic, "human": human_critic,
    })
