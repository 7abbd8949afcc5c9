"""The one wiring from a config to running parts: roles, models, critics, bus, transcript.

``critic run``, ``debate``, ``score`` and ``worker`` (and the library calls
behind them) all start here, so a model option or a bus works the same in
each:

    async with launch(config) as run:
        roles = run.roles(config.roles)          # checked before any model opens
        critics = run.critics(roles)             # local, or served by workers on the bus
        ...

Every input is checked before anything expensive happens: role names and
files first, then models (opened lazily, verified when opened), then the bus.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from critic.backends.pool import ModelPool
from critic.bus.coordinator import RemoteCritic
from critic.bus.nats import RECONNECT_WINDOW, open_bus
from critic.config import Settings
from critic.protocols import Bus, Critic, CriticContext
from critic.roles.kinds import MODEL_KINDS, CriticKinds, default_kinds
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role
from critic.transcript import TranscriptHeader, TranscriptWriter


def build_critics(
    roles: Sequence[Role], pool: ModelPool, *, seed: int | None, kinds: CriticKinds | None = None
) -> tuple[list[Critic], dict[str, dict[str, str]]]:
    """A critic per role (each on its own backend instance) and the models they use."""
    kinds = kinds or default_kinds()
    critics: list[Critic] = []
    models: dict[str, dict[str, str]] = {}
    for role in roles:
        critics.append(kinds.build(role, CriticContext(pool, seed)))
        if role.spec.kind in MODEL_KINDS:
            models[role.name] = pool.get(role.spec.model).describe()
    return critics, models


@dataclass
class Critics:
    """The critics of a run: hosted here, or asked of workers on the bus."""

    local: list[Critic] = field(default_factory=list)
    remote: list[RemoteCritic] = field(default_factory=list)
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per local critic that calls a model: that model's description (transcript header)."""


@dataclass
class Launch:
    """A run's opened parts; closed together when the ``launch`` block ends."""

    settings: Settings
    registry: RoleRegistry
    pool: ModelPool
    kinds: CriticKinds
    stack: AsyncExitStack
    bus: Bus | None = None
    transcript: TranscriptWriter | None = None

    def roles(self, names: Sequence[str]) -> list[Role]:
        """The roles named, each checked (unknown names are a one-line error)."""
        return [self.registry.get(name) for name in names]

    def critics(self, roles: Sequence[Role]) -> Critics:
        """Each role's critic: built here, or (with a bus) served by ``critic worker``s,
        whose models are theirs to record."""
        if self.settings.bus is not None:
            return Critics(remote=[RemoteCritic(r.name, r.spec.weight, r.spec.timeout)
                                   for r in roles])
        local, models = build_critics(roles, self.pool, seed=self.settings.seed, kinds=self.kinds)
        return Critics(local, [], models)

    async def open_bus(self, *, ack_wait: float = 30.0,
                       reconnect_window: float | None = RECONNECT_WINDOW) -> Bus | None:
        """The run's network bus (None: in-process), open until the block ends.

        ``reconnect_window``: how long requests wait out a lost server before
        failing (None: forever, as a worker does).
        """
        if self.settings.bus is not None and self.bus is None:
            self.bus = await self.stack.enter_async_context(open_bus(
                self.settings.bus, ack_wait=ack_wait, reconnect_window=reconnect_window))
        return self.bus

    def write_transcript(self, path: Path | None, header: TranscriptHeader, *,
                         overwrite: bool = False) -> TranscriptWriter | None:
        """A transcript writer at ``path`` (None: none), closed when the block ends."""
        if path is None:
            return None
        self.transcript = self.stack.enter_context(TranscriptWriter(path, header,
                                                                    overwrite=overwrite))
        return self.transcript


@asynccontextmanager
async def launch(
    settings: Settings, *, registry: RoleRegistry | None = None, kinds: CriticKinds | None = None,
) -> AsyncIterator[Launch]:
    """Open what ``settings`` asks for; everything is closed when the block ends."""
    registry = registry or RoleRegistry(extra_dirs=settings.roles_dirs)
    async with AsyncExitStack() as stack:
        pool = ModelPool(settings.model, settings.models)
        stack.push_async_callback(pool.aclose)
        yield Launch(settings, registry, pool, kinds or default_kinds(), stack)
