"""Critic kinds: how a role's ``kind`` becomes a :class:`~critic.agents.Critic`.

``llm`` is built in. Code registers more kinds (the grounded critics register
``python-exec``, ``doctest`` and ``human``); a role file then just names the kind.

    kinds = default_kinds()
    kinds.register("my-kind", lambda role, ctx: MyCritic(role))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from critic.agents import Critic, LLMCritic
from critic.backends import ModelPool
from critic.errors import ConfigError
from critic.roles import Role

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
            raise ConfigError(
                f"role {role.name!r}{where}: kind {role.spec.kind!r} is not a critic kind "
                f"(known: {known})"
            )
        return factory(role, ctx)


def default_kinds() -> CriticKinds:
    """The built-in kinds: ``llm``."""
    return CriticKinds({"llm": _llm})
