"""The bus benchmark's workloads on autogen-core's SingleThreadedAgentRuntime (asyncio only).

No ``from __future__ import annotations`` here: autogen-core routes messages by
the evaluated type hints of each handler, which must resolve at class creation.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from autogen_core import (
    AgentId,
    MessageContext,
    RoutedAgent,
    SingleThreadedAgentRuntime,
    TopicId,
    TypeSubscription,
    message_handler,
)

from critic.messages import Envelope, Payload

Publish = Callable[[int, int], Awaitable[float]]
Request = Callable[[int], Awaitable[list[float]]]


def workloads(
    envelope: Callable[..., Envelope], rpc_topic: str, payload: Payload
) -> tuple[Publish, Request]:
    class Counter(RoutedAgent):
        def __init__(self, n: int, done: asyncio.Event) -> None:
            super().__init__("counts envelopes")
            self._n, self._seen, self._done = n, 0, done

        @message_handler
        async def on_envelope(self, message: Envelope, ctx: MessageContext) -> None:
            self._seen += 1
            if self._seen == self._n:
                self._done.set()

    class Echo(RoutedAgent):
        def __init__(self) -> None:
            super().__init__("answers requests")

        @message_handler
        async def on_envelope(self, message: Envelope, ctx: MessageContext) -> Envelope:
            return message.reply(payload, sender="server")

    async def publish(n: int, subscribers: int) -> float:
        runtime = SingleThreadedAgentRuntime()
        dones = [asyncio.Event() for _ in range(subscribers)]
        for i, done in enumerate(dones):
            await Counter.register(runtime, f"counter{i}", lambda done=done: Counter(n, done))
            await runtime.add_subscription(TypeSubscription("bench", f"counter{i}"))
        runtime.start()
        item = envelope()
        topic = TopicId("bench", "default")
        start = time.perf_counter()
        for _ in range(n):
            await runtime.publish_message(item, topic)
        for done in dones:
            await done.wait()
        elapsed = time.perf_counter() - start
        await runtime.stop_when_idle()
        return elapsed

    async def request(n: int) -> list[float]:
        runtime = SingleThreadedAgentRuntime()
        await Echo.register(runtime, "echo", Echo)
        runtime.start()
        recipient = AgentId("echo", "default")
        latencies: list[float] = []
        for _ in range(n):
            start = time.perf_counter()
            await runtime.send_message(envelope(rpc_topic, reply_to="autogen"), recipient)
            latencies.append(time.perf_counter() - start)
        await runtime.stop_when_idle()
        return latencies

    return publish, request
