"""The in-process bus on anyio memory object streams (the default)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from critic.bus.topics import inbox, topic_matches
from critic.errors import BusError, ConfigError, NobodyServes
from critic.messages import ENVELOPE_ADAPTER, Envelope


@dataclass(eq=False)
class _Subscriber:
    pattern: str
    group: str | None
    send: MemoryObjectSendStream[Envelope]
    receive: MemoryObjectReceiveStream[Envelope]


@dataclass
class _MemorySubscription:
    _receive: MemoryObjectReceiveStream[Envelope]

    async def receive(self) -> Envelope:
        return await self._receive.receive()

    async def __aiter__(self) -> AsyncIterator[Envelope]:
        async for envelope in self._receive:
            yield envelope


@dataclass
class _State:
    subscribers: list[_Subscriber] = field(default_factory=list)
    turns: dict[str, itertools.count[int]] = field(default_factory=dict)
    closed: bool = False


class MemoryBus:
    """A bus inside one process.

    Each subscription has a bounded buffer (``buffer`` envelopes): a publisher
    waits while a subscriber's buffer is full, so a slow consumer slows its
    producers down instead of growing a queue without limit.

    With ``serialize=True`` every delivery goes through JSON, which proves that
    nothing depends on object identity (tests use it; it costs speed).
    """

    def __init__(self, *, buffer: int = 64, serialize: bool = False) -> None:
        if buffer < 1:
            raise ConfigError(f"bus buffer must be at least 1, got {buffer}")
        self._buffer = buffer
        self._serialize = serialize
        self._state = _State()

    async def publish(self, envelope: Envelope) -> None:
        if self._state.closed:
            raise BusError("publish on a closed bus")
        for sub in self._targets(envelope.topic):
            item = (
                ENVELOPE_ADAPTER.validate_json(ENVELOPE_ADAPTER.dump_json(envelope))
                if self._serialize
                else envelope
            )
            try:
                sub.send.send_nowait(item)
            except anyio.WouldBlock:
                try:
                    await sub.send.send(item)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    continue
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                continue

    def _served(self, topic: str) -> bool:
        """Whether anyone subscribes to ``topic`` (without taking a group member's turn)."""
        return any(topic_matches(sub.pattern, topic) for sub in self._state.subscribers)

    def _targets(self, topic: str) -> list[_Subscriber]:
        targets: list[_Subscriber] = []
        groups: dict[str, list[_Subscriber]] = {}
        for sub in self._state.subscribers:
            if topic_matches(sub.pattern, topic):
                if sub.group is None:
                    targets.append(sub)
                else:
                    groups.setdefault(f"{sub.pattern}|{sub.group}", []).append(sub)
        for key, members in groups.items():
            turn = self._state.turns.setdefault(key, itertools.count())
            targets.append(members[next(turn) % len(members)])
        return targets

    @asynccontextmanager
    async def subscribe(
        self, pattern: str, *, group: str | None = None
    ) -> AsyncIterator[_MemorySubscription]:
        if self._state.closed:
            raise BusError("subscribe on a closed bus")
        send, receive = anyio.create_memory_object_stream[Envelope](self._buffer)
        sub = _Subscriber(pattern, group, send, receive)
        self._state.subscribers.append(sub)
        try:
            with send, receive:
                yield _MemorySubscription(receive)
        finally:
            self._state.subscribers.remove(sub)

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Envelope:
        if not self._served(envelope.topic):
            raise NobodyServes(f"nobody serves topic {envelope.topic!r}")
        reply_to = inbox(envelope)
        envelope = envelope.model_copy(update={"reply_to": reply_to})
        # The inbox lives only until the first reply; later replies are discarded with it.
        async with self.subscribe(reply_to) as replies:
            await self.publish(envelope)
            if timeout is None:  # a cancel scope costs ~15% of a round trip: only when needed
                return await replies.receive()
            with anyio.fail_after(timeout):
                return await replies.receive()

    async def aclose(self) -> None:
        self._state.closed = True
        for sub in list(self._state.subscribers):
            await sub.send.aclose()

    async def __aenter__(self) -> MemoryBus:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
