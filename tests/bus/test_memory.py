"""Memory-bus specifics: bounded buffers give back-pressure."""

from __future__ import annotations

import anyio
import pytest

from critic.bus.memory import MemoryBus
from critic.bus.topics import topic_matches
from critic.errors import ConfigError
from critic.messages import Draft, Envelope

pytestmark = pytest.mark.anyio


def env(i: int) -> Envelope:
    return Envelope(session="s", topic="t", sender="x", payload=Draft(round=1, text=str(i)))


async def test_full_subscriber_blocks_publisher() -> None:
    bus = MemoryBus(buffer=2)
    async with bus.subscribe("t") as sub:
        await bus.publish(env(0))
        await bus.publish(env(1))
        with anyio.move_on_after(0.2) as scope:
            await bus.publish(env(2))
        assert scope.cancelled_caught, "a third publish must wait for the consumer"
        assert (await sub.receive()).payload == Draft(round=1, text="0")
        with anyio.fail_after(1):
            await bus.publish(env(3))
    await bus.aclose()


async def test_unsubscribed_topic_drops_messages() -> None:
    bus = MemoryBus(buffer=1)
    for i in range(10):  # must not block: nobody listens
        await bus.publish(env(i))
    await bus.aclose()


def test_buffer_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        MemoryBus(buffer=0)


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("a.b", "a.b", True), ("a.*", "a.b", True), ("a.*", "a.b.c", False),
        ("a.>", "a.b.c", True), ("a.>", "a", False), ("*.b", "a.b", True),
        ("a.b", "a.c", False), ("a.*.c", "a.b.c", True),
    ],
)
def test_topic_matching(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected
