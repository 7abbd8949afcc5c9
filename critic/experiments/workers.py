"""An experiment's critics served over a bus (``critic eval --bus``), as ``critic run --bus`` does.

With a bus, a unit builds no critic of its own: its session (or debate) asks
each role over the bus, as a :class:`~critic.bus.coordinator.RemoteCritic`, and
whoever serves the role answers:

- ``nats://HOST:PORT``: ``critic worker`` processes (any number, on any machine
  reaching the server) with their own models and seeds; the experiment scales
  with them;
- ``memory``: an in-process bus whose critics this process hosts the way a worker
  does (one critic per role for every unit, built with the experiment's first
  seed). Every message is serialized, so it runs the same path as NATS with
  nothing to start; for a test, or to check an experiment before scaling it.

A critic that cannot be reached at all (no worker for its role, the server
gone for longer than the reconnect window) stops the experiment with that
error: a unit whose critics never answered is not a result, so it is not
recorded, and ``--resume`` runs it again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from critic.backends.pool import ModelPool
from critic.bus.memory import MemoryBus
from critic.bus.nats import open_bus
from critic.bus.nats_subjects import check_bus_url
from critic.bus.worker import hosted_critics
from critic.errors import BusUnavailable, ConfigError
from critic.launch import build_critics
from critic.messages import Envelope
from critic.protocols import Bus, Subscription
from critic.roles.kinds import CriticKinds
from critic.roles.spec import Role

#: ``--bus`` value for the in-process bus.
MEMORY = "memory"


def check_bus(url: str) -> str:
    """``memory`` or a NATS URL; anything else is a one-line ConfigError."""
    if url == MEMORY:
        return url
    try:
        return check_bus_url(url)
    except ConfigError:
        raise ConfigError(f"--bus: expected memory or nats://HOST:PORT, got {url!r}") from None


class ExperimentBus:
    """The bus every unit shares; it remembers the first request that could not be
    delivered at all (:class:`~critic.errors.BusUnavailable`), which a session would
    otherwise record as an unscored critique and carry on."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self.failure: BusUnavailable | None = None

    async def publish(self, envelope: Envelope) -> None:
        await self.inner.publish(envelope)

    def subscribe(self, pattern: str, *, group: str | None = None
                  ) -> AbstractAsyncContextManager[Subscription]:
        return self.inner.subscribe(pattern, group=group)

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Envelope:
        try:
            return await self.inner.request(envelope, timeout=timeout)
        except BusUnavailable as exc:
            if self.failure is None:
                self.failure = exc
            raise

    def check(self) -> None:
        """Raise the first undeliverable request's error, if any (before a unit is recorded)."""
        if self.failure is not None:
            raise BusUnavailable(f"{self.failure}; start a worker for the role with: "
                                 "critic worker --bus URL --role ROLE") from self.failure

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def experiment_bus(url: str, roles: Sequence[Role], pool: ModelPool, *,
                         kinds: CriticKinds, seed: int) -> AsyncIterator[ExperimentBus]:
    """The bus ``url`` names, open (and, for ``memory``, serving ``roles``) for the block."""
    if check_bus(url) == MEMORY:
        bus = MemoryBus(serialize=True)
        try:
            critics, _ = build_critics(roles, pool, seed=seed, kinds=kinds)
            async with hosted_critics(bus, critics):
                yield ExperimentBus(bus)
        finally:
            await bus.aclose()
        return
    async with open_bus(url) as nats:
        yield ExperimentBus(nats)
