"""Critic kinds: how a role's ``kind`` becomes a :class:`~critic.protocols.Critic`.

``llm`` and the grounded kinds (``python-exec``, ``doctest``, ``human`` ...) are
built in. Code registers more; installed packages publish theirs in the
entry-point group ``critic.kinds`` (a :class:`~critic.protocols.CriticFactory`,
often a class taking ``(role, ctx)``). A role file then just names the kind,
and its ``options`` (scalars, lists, tables) are the kind's settings.

    kinds = default_kinds()
    kinds.register("my-kind", lambda role, ctx: MyCritic(role))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import EntryPoint
from typing import cast

from critic.backends.llama_cpp import LlamaCppModel
from critic.critics.critic import LLMCritic
from critic.errors import ConfigError
from critic.grounding.execution import python_exec_critic
from critic.grounding.human import human_critic
from critic.grounding.testing import unit_test_critic
from critic.protocols import Critic, CriticContext, CriticFactory
from critic.roles.extensions import Extensions
from critic.roles.spec import PLUGIN_KIND, Role

#: Kinds whose critics call a model (a transcript header records their model).
MODEL_KINDS = frozenset({"llm", "judge"})


def _llm(role: Role, ctx: CriticContext) -> Critic:
    model = ctx.models.get(role.spec.model)
    # On llama.cpp with shared_sequences > 0 the critics of a round evaluate their common
    # prompt prefix once, as sequences of one context.
    backend = (model.shared_backend(role.name) if isinstance(model, LlamaCppModel)
               else model.backend(role.name))
    return LLMCritic(role, backend, seed=ctx.seed)


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


def accept_kind(obj: object) -> CriticFactory:
    """A ``critic.kinds`` entry point: a callable ``(role, ctx) -> Critic`` (often a class)."""
    if not callable(obj):
        raise TypeError(f"{type(obj).__qualname__} is not callable, so not a critic kind")
    # What it builds is checked against the Critic protocol when a role uses it.
    return cast("CriticFactory", obj)


class CriticKinds:
    """A registry of critic kinds; inject your own instead of mutating a global.

    ``factories`` are the built-ins; ``critic.kinds`` plugins join them when a
    kind is first asked for (``entry_points=`` replaces the installed ones).
    """

    def __init__(
        self,
        factories: Mapping[str, CriticFactory] | None = None,
        *,
        entry_points: Callable[[], Iterable[EntryPoint]] | None = None,
        include_plugins: bool = True,
    ) -> None:
        self.extensions: Extensions[CriticFactory] = Extensions(
            "critic kind", "critic.kinds", accept_kind, factories,
            entry_points=entry_points, include_plugins=include_plugins)

    @property
    def factories(self) -> dict[str, CriticFactory]:
        """Every kind by name: built-ins, registered, and installed plugins."""
        return self.extensions.load()

    def register(self, kind: str, factory: CriticFactory) -> None:
        self.extensions.register(kind, factory)

    def build(self, role: Role, ctx: CriticContext) -> Critic:
        factory = self.factories.get(role.spec.kind)
        if factory is None:
            known = ", ".join(self.extensions.names())
            where = f" ({role.path})" if role.path else ""
            if role.spec.kind == "judge":
                raise ConfigError(f"role {role.name!r}{where} is a judge: use --judge {role.name}")
            raise ConfigError(
                f"role {role.name!r}{where}: kind {role.spec.kind!r} is not a critic kind "
                f"(known: {known})"
            )
        critic = factory(role, ctx)
        if not isinstance(critic, Critic):
            raise ConfigError(
                f"role {role.name!r} ({role.source}): kind {role.spec.kind!r} "
                f"({self.extensions.origin(role.spec.kind)}) built a "
                f"{type(critic).__qualname__}, which does not implement the Critic protocol "
                "(name, weight, timeout, review)"
            )
        return critic


def default_kinds(
    *, entry_points: Callable[[], Iterable[EntryPoint]] | None = None,
) -> CriticKinds:
    """The built-in kinds (``llm``, ``plugin``, the grounded ones) and installed ``critic.kinds``."""
    return CriticKinds({
        "llm": _llm, PLUGIN_KIND: _plugin, "python-exec": python_exec_critic,
        "doctest": unit_test_critic, "unit-tests": unit_test_critic, "human": human_critic,
    }, entry_points=entry_points)
