"""The coordinator's side: hosting a session's agents, asking them, recording it all.

:func:`coordinate` hosts a session's services and critics and runs its loop;
:func:`ask_all` is its fan-out (many requests at once, each with its timeout,
a failure recorded in place of a reply that never came); :class:`RecordedBus`
records what this process sends and receives, so a transcript never depends on
a network subscription.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TypeVar, cast

import anyio
from anyio.abc import TaskStatus

from critic.bus.agents import Failure, serve_critic
from critic.bus.envelopes import sealed
from critic.bus.hosting import Handler, serve
from critic.bus.memory import MemoryBus
from critic.bus.topics import Topic, topic
from critic.errors import BusError
from critic.messages import (
    Envelope,
    Payload,
)
from critic.protocols import (
    Bus,
    Critic,
    FanOut,
    Reply,
    Subscription,
)
from critic.transcript import TranscriptWriter

#: Grace on top of an agent's own timeout before the coordinator gives up on it
#: (the agent normally reports its own timeout; this catches a dead worker).
TIMEOUT_GRACE = 10.0


@dataclass(frozen=True)
class RemoteCritic:
    """A critic served elsewhere on the bus (e.g. by ``critic worker``): what a coordinator
    needs to ask it and to account for its answer."""

    name: str
    weight: float = 1.0
    timeout: float = 120.0


@dataclass(frozen=True)
class Ask:
    """One request of a fan-out, with what to record if no reply comes."""

    request: Envelope
    timeout: float | None
    failure: Callable[[Failure, str], Payload]
    """The payload that stands in for a reply that never came (timeout or bus error)."""
    record_as: str
    """Topic part under which that stand-in is recorded (``critique``, ``answer``)."""


def _fan_out(bus: Bus) -> FanOut | None:
    """``bus`` if it is a :class:`~critic.protocols.FanOut` (an attribute lookup: an
    ``isinstance`` on a runtime protocol cost a tenth of a round trip)."""
    return cast(FanOut, bus) if callable(getattr(bus, "request_many", None)) else None


async def request_each(bus: Bus, envelopes: Sequence[Envelope],
                       timeouts: Sequence[float | None]) -> list[Reply]:
    """Every request at once, each in its own task; the outcomes in order (a fan-out on a
    bus that is not a :class:`~critic.protocols.FanOut`)."""
    outcomes: list[Reply | None] = [None] * len(envelopes)

    async def one(i: int) -> None:
        try:
            outcomes[i] = await bus.request(envelopes[i], timeout=timeouts[i])
        except TimeoutError:
            outcomes[i] = TimeoutError(f"no reply within {timeouts[i]:g} s")
        except BusError as exc:
            outcomes[i] = exc

    if len(envelopes) == 1:  # no task group to pay for
        await one(0)
    else:
        async with anyio.create_task_group() as tg:
            for i in range(len(envelopes)):
                tg.start_soon(one, i)
    return [o for o in outcomes if o is not None]


async def ask_all(bus: Bus, asks: Sequence[Ask], *, sender: str) -> list[Payload]:
    """Every request at once; the replies (or their stand-ins) in the order asked."""
    envelopes = [ask.request for ask in asks]
    timeouts = [ask.timeout for ask in asks]
    many = _fan_out(bus)
    outcomes = await (many.request_many(envelopes, timeouts) if many is not None
                      else request_each(bus, envelopes, timeouts))
    results: list[Payload] = []
    for ask, outcome in zip(asks, outcomes, strict=True):
        if isinstance(outcome, Envelope):
            results.append(outcome.payload)
            continue
        stand_in = ask.failure("timeout" if isinstance(outcome, TimeoutError) else "error",
                               str(outcome))
        results.append(stand_in)
        session = ask.request.session
        await bus.publish(sealed(session, topic(session, ask.record_as), sender, stand_in,
                                 parent=ask.request.id))
    return results


Observer = Callable[[Envelope], Awaitable[None] | None]


class RecordedBus:
    """A session's view of a bus: everything it publishes or receives as a reply is
    handed to ``record`` once, in order, before anything else happens to it.

    The transcript is thereby local: it does not depend on a subscription to
    the session's own messages, which a network bus delivers at most once.
    Model calls of critics hosted elsewhere reach it only through
    :meth:`record_remote` (best effort: a network bus may drop them).
    """

    def __init__(self, bus: Bus, record: Observer) -> None:
        self.inner = bus
        self._record = record
        self._seen: set[str] = set()

    def _once(self, envelope: Envelope) -> Awaitable[None] | None:
        """Record ``envelope`` unless it already was; what to await, if anything (a plain
        call while the recording is synchronous: no coroutine per envelope)."""
        if envelope.id in self._seen:
            return None
        self._seen.add(envelope.id)
        return self._record(envelope)

    async def publish(self, envelope: Envelope) -> None:
        shown = self._once(envelope)
        if shown is not None:
            await shown
        await self.inner.publish(envelope)

    def subscribe(self, pattern: str, *, group: str | None = None
                  ) -> AbstractAsyncContextManager[Subscription]:
        return self.inner.subscribe(pattern, group=group)

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Envelope:
        shown = self._once(envelope)
        if shown is not None:
            await shown
        reply = await self.inner.request(envelope, timeout=timeout)
        shown = self._once(reply)
        if shown is not None:
            await shown
        return reply

    async def request_many(self, envelopes: Sequence[Envelope],
                           timeouts: Sequence[float | None]) -> list[Reply]:
        inner = _fan_out(self.inner)
        if inner is None:  # each reply recorded the moment it comes
            return await request_each(self, envelopes, timeouts)
        for envelope in envelopes:
            shown = self._once(envelope)
            if shown is not None:
                await shown
        outcomes = await inner.request_many(envelopes, timeouts)
        for outcome in outcomes:
            if isinstance(outcome, Envelope):
                shown = self._once(outcome)
                if shown is not None:
                    await shown
        return outcomes

    async def record_remote(self, session: str, *, task_status: TaskStatus[None]) -> None:
        """Record the model calls made for ``session`` by agents in other processes."""
        async with self.inner.subscribe(Topic.of(session, "model_call").subject) as calls:
            task_status.started()
            async for envelope in calls:
                shown = self._once(envelope)
                if shown is not None:
                    await shown

    async def aclose(self) -> None:
        await self.inner.aclose()



@dataclass(frozen=True)
class Service:
    """An agent a coordinator hosts for its session: where it listens, and how it answers."""

    topic: str
    handler: Handler
    name: str


T = TypeVar("T", bound=Payload)


def recorder(transcript: TranscriptWriter | None, observer: Observer | None) -> Observer:
    """What a coordinator does with each envelope: write it, then show it."""

    # A plain function (an Observer may return None): recording is synchronous unless
    # the observer is not, so most envelopes cost no coroutine here.
    def record(envelope: Envelope) -> Awaitable[None] | None:
        if transcript is not None:
            transcript.write(envelope)
        return observer(envelope) if observer is not None else None

    return record


async def coordinate(
    session: str, bus: Bus | None, record: Observer, services: Sequence[Service],
    critics: Sequence[Critic], loop: Callable[[Bus], Awaitable[T]], *, remote: bool = False,
    sender: str,
) -> T:
    """Host ``services`` and ``critics`` for ``session``, run ``loop``, publish its outcome.

    Everything the session sends or receives goes through a :class:`RecordedBus`
    (so through ``record``); with ``remote`` critics, their model calls are
    recorded as they arrive. ``bus`` None: a private in-memory bus, closed after.
    """
    inner = bus if bus is not None else MemoryBus()
    recorded = RecordedBus(inner, record)
    try:
        async with anyio.create_task_group() as tg:
            if remote:
                await tg.start(recorded.record_remote, session)
            for service in services:
                await tg.start(lambda task_status, s=service: serve(
                    recorded, s.topic, s.handler, name=s.name, task_status=task_status))
            for critic in critics:
                await tg.start(serve_critic, recorded, session, critic)
            outcome = await loop(recorded)
            await recorded.publish(sealed(session, topic(session, "outcome"), sender, outcome))
            tg.cancel_scope.cancel()
    finally:
        if bus is None:
            await inner.aclose()
    return outcome
