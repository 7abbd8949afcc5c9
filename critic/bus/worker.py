"""A long-running worker: hosts critic roles and serves them to every session on a bus.

Workers serving the same role share its requests as one queue group (over
NATS: one durable JetStream consumer), so adding a worker adds capacity and a
worker that dies leaves its unacked work to the others.
"""

from __future__ import annotations

import math
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from critic.bus.agents import serve_critic
from critic.bus.coordinator import TIMEOUT_GRACE
from critic.bus.topics import review_topic
from critic.config import WorkerConfig
from critic.errors import BusError, BusUnavailable, NobodyServes
from critic.launch import build_critics, launch
from critic.messages import Critique, Envelope, ReviewRequest
from critic.protocols import Bus, Critic, Recorder
from critic.roles.spec import Role

#: Queue group of every worker: members split the requests of a role.
WORKER_GROUP = "critic-workers"


@dataclass(frozen=True)
class BusCritic:
    """A :class:`Critic` whose reviews are done by a worker: each review is a bus request.

    For code that calls critics directly (``critic score``). ``reply_timeout``
    covers the role's own timeout plus :data:`TIMEOUT_GRACE`, so a live worker
    reports its own timeouts as critiques. Whatever keeps the review from being
    done at all (no worker for the role, the server unreachable, no reply in
    time) raises :class:`~critic.errors.BusUnavailable`: there is no critique,
    so nothing may be recorded as scored.
    """

    bus: Bus
    session: str
    name: str
    weight: float = 1.0
    reply_timeout: float = 120.0 + TIMEOUT_GRACE
    #: :func:`~critic.bus.agents.review`'s cut-off: none, the reply timeout is ours to report.
    timeout: float = math.inf

    @classmethod
    def of(cls, bus: Bus, session: str, role: Role) -> BusCritic:
        return cls(bus, session, role.name, role.spec.weight, role.spec.timeout + TIMEOUT_GRACE)

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        try:
            reply = await self.bus.request(Envelope(
                session=self.session, topic=review_topic(self.session, self.name),
                sender="scorer", payload=request,
            ), timeout=self.reply_timeout)
        except NobodyServes as exc:
            raise NobodyServes(
                f"no worker serves role {self.name!r}: {exc}; "
                f"start one with: critic worker --bus URL --role {self.name}"
            ) from exc
        except BusUnavailable as exc:
            raise BusUnavailable(f"role {self.name!r}: {exc}") from exc
        except TimeoutError as exc:
            raise BusUnavailable(
                f"role {self.name!r}: no reply from a worker within {self.reply_timeout:g} s "
                "(its workers are overloaded or stalled)"
            ) from exc
        if not isinstance(reply.payload, Critique):
            raise BusError(f"{self.name!r} replied with {reply.payload.kind}, not a critique")
        return reply.payload


@asynccontextmanager
async def hosted_critics(bus: Bus, critics: Sequence[Critic], *,
                         group: str = WORKER_GROUP) -> AsyncIterator[None]:
    """Serve ``critics`` for every session on ``bus`` while the block runs."""
    async with anyio.create_task_group() as tg:
        for critic in critics:
            await tg.start(lambda task_status, c=critic: serve_critic(
                bus, "*", c, group=group, task_status=task_status))
        try:
            yield
        finally:
            tg.cancel_scope.cancel()


async def serve_critics(
    bus: Bus, critics: Sequence[Critic], *, group: str = WORKER_GROUP,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve ``critics`` for every session until SIGTERM/SIGINT or cancellation.

    On a signal the serving tasks are cancelled: a review in progress is
    abandoned and its message released (nak'ed) for another worker at once.
    Messages that are not valid work, or whose requester gave up, are logged
    (logger ``critic.bus.nats``) and dropped; the worker carries on.
    """
    async with hosted_critics(bus, critics, group=group):
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            if ready is not None:
                ready()
            async for _ in signals:
                break


async def run_worker(config: WorkerConfig, *, ready: Callable[[], None] | None = None) -> None:
    """Build a critic per role (own backends), connect, serve until told to stop."""
    async with launch(config) as run:
        roles = run.roles(config.roles)
        critics, _ = build_critics(roles, run.pool, seed=config.seed, kinds=run.kinds)
        # A worker is a service: it waits out any outage of the server.
        bus = await run.open_bus(ack_wait=config.ack_wait, reconnect_window=None)
        assert bus is not None  # a WorkerConfig always names its bus
        await serve_critics(bus, critics, ready=ready)
