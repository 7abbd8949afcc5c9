"""The bus protocol: publish, subscribe, request/reply, close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from critic.messages import Envelope


class Subscription(Protocol):
    """Envelopes on the subscribed topic, in the order they were published."""

    def __aiter__(self) -> AsyncIterator[Envelope]: ...

    async def receive(self) -> Envelope: ...


@runtime_checkable
class Bus(Protocol):
    """How agents talk: the only channel between them.

    Topics are dot-separated; a subscription pattern may use ``*`` for one
    token and a final ``>`` for the rest (NATS semantics). Subscribers that
    share a ``group`` split the messages between them (one each) instead of
    each getting a copy.
    """

    async def publish(self, envelope: Envelope) -> None:
        """Deliver ``envelope`` to every subscriber of its topic (waits if they are full)."""
        ...

    def subscribe(
        self, pattern: str, *, group: str | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe for the duration of an ``async with`` block."""
        ...

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Envelope:
        """Publish ``envelope`` and wait for the first reply to it.

        Raises :class:`~critic.errors.BusError` when nobody serves the topic and
        :class:`TimeoutError` when no reply arrives within ``timeout`` seconds.
        """
        ...

    async def aclose(self) -> None:
        """Release the bus; subscriptions end."""
        ...


def topic_matches(pattern: str, topic: str) -> bool:
    """NATS-style subject matching: ``*`` is one token, a final ``>`` one or more."""
    if pattern == topic:
        return True
    pat = pattern.split(".")
    tok = topic.split(".")
    for i, part in enumerate(pat):
        if part == ">":
            return i == len(pat) - 1 and len(tok) > i
        if i >= len(tok) or (part != "*" and part != tok[i]):
            return False
    return len(pat) == len(tok)


def inbox(envelope: Envelope) -> str:
    """The reply topic of a request: inside the session's namespace, so it is recorded."""
    return f"critic.{envelope.session}.inbox.{envelope.id}"
