"""Memory-bus specifics: bounded buffers give back-pressure."""

from __future__ import annotations

import anyio
import pytest

from critic.bus.memory import MemoryBus
from critic.bus.topics import topic_matches
from critic.errors import BusError, ConfigError
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
        with anyio.fail_after(30):  # a hang guard: the publish has room at once
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


async def test_routes_follow_subscriptions_made_after_a_topic_was_routed() -> None:
    # Routes are cached per topic: a later subscriber (and a departed one) must count.
    bus = MemoryBus()
    await bus.publish(env(0))  # routed to nobody, and that route remembered
    async with bus.subscribe("t") as first:
        await bus.publish(env(1))
        async with bus.subscribe("*") as second:
            await bus.publish(env(2))
            assert (await second.receive()).payload == Draft(round=1, text="2")
        await bus.publish(env(3))
        assert [(await first.receive()).payload for _ in range(3)] == [
            Draft(round=1, text=t) for t in "123"]
    await bus.aclose()


async def test_a_reply_reaches_its_request_once_and_a_recorder_of_the_session() -> None:
    bus = MemoryBus(serialize=True)
    request = Envelope(session="s", topic="critic.s.ask", sender="x",
                       payload=Draft(round=1, text="q"))

    async def answer_twice(task_status: anyio.abc.TaskStatus[None]) -> None:
        async with bus.subscribe("critic.s.ask") as asks:
            task_status.started()
            asked = await asks.receive()
            for text in ("first", "second"):  # the second finds no pending request
                await bus.publish(asked.reply(Draft(round=1, text=text), sender="y"))

    async with bus.subscribe("critic.s.>") as recorder, anyio.create_task_group() as tg:
        await tg.start(answer_twice)
        with anyio.fail_after(60):  # a hang guard only: the reply takes microseconds
            reply = await bus.request(request)
        assert reply.payload == Draft(round=1, text="first")
        seen = [(await recorder.receive()).payload for _ in range(3)]
        assert [p.text for p in seen if isinstance(p, Draft)] == ["q", "first", "second"]
    assert bus._state.replies == {}
    await bus.aclose()


async def test_closing_the_bus_ends_a_pending_request() -> None:
    bus = MemoryBus()
    request = Envelope(session="s", topic="critic.s.ask", sender="x",
                       payload=Draft(round=1, text="q"))
    async with bus.subscribe("critic.s.ask") as asks, anyio.create_task_group() as tg:
        async def close_when_asked() -> None:
            await asks.receive()
            await bus.aclose()
        tg.start_soon(close_when_asked)
        with pytest.raises(BusError), anyio.fail_after(5):
            await bus.request(request)


def ask(topic: str, text: str = "q") -> Envelope:
    return Envelope(session="s", topic=topic, sender="x", payload=Draft(round=1, text=text))


async def test_request_many_with_no_requests_returns_at_once() -> None:
    # A round with no critics (an eval control condition) fans out to nobody.
    with anyio.fail_after(60):  # a hang guard only
        assert await MemoryBus().request_many([], []) == []


async def test_request_many_gives_each_request_its_own_outcome_in_order() -> None:
    # One service answers, one never does (its request times out on its own timeout,
    # the others are not cut short by it), one topic nobody serves.
    bus = MemoryBus()

    async def echo(task_status: anyio.abc.TaskStatus[None]) -> None:
        async with bus.subscribe("critic.s.echo") as asks:
            task_status.started()
            async for asked in asks:
                assert isinstance(asked.payload, Draft)
                await bus.publish(asked.reply(Draft(round=1, text=asked.payload.text + "!"),
                                              sender="echo"))

    async with bus.subscribe("critic.s.silent") as silent, anyio.create_task_group() as tg:
        await tg.start(echo)
        with anyio.fail_after(60):  # a hang guard only
            outcomes = await bus.request_many(
                [ask("critic.s.echo", "a"), ask("critic.s.silent"), ask("critic.s.nobody"),
                 ask("critic.s.echo", "b")],
                [60.0, 0.2, 60.0, None])
        assert [type(o).__name__ for o in outcomes] == [
            "Envelope", "TimeoutError", "NobodyServes", "Envelope"]
        assert [o.payload.text for o in outcomes if isinstance(o, Envelope)
                and isinstance(o.payload, Draft)] == ["a!", "b!"]
        assert str(outcomes[1]) == "no reply within 0.2 s"
        assert (await silent.receive()).reply_to is not None  # it was sent, just not answered
        tg.cancel_scope.cancel()
    assert bus._state.replies == {}
    await bus.aclose()


async def test_a_late_reply_to_a_timed_out_request_is_dropped() -> None:
    bus = MemoryBus()
    async with bus.subscribe("critic.s.slow") as slow:
        outcomes = await bus.request_many([ask("critic.s.slow")], [0.1])
        assert isinstance(outcomes[0], TimeoutError)
        asked = await slow.receive()
        await bus.publish(asked.reply(Draft(round=1, text="late"), sender="slow"))  # no slot
    assert bus._state.replies == {}
    await bus.aclose()


async def test_closing_the_bus_ends_a_pending_fan_out() -> None:
    bus = MemoryBus()
    async with bus.subscribe("critic.s.ask") as asks, anyio.create_task_group() as tg:
        async def close_when_asked() -> None:
            await asks.receive()
            await asks.receive()
            await bus.aclose()
        tg.start_soon(close_when_asked)
        with anyio.fail_after(5):
            outcomes = await bus.request_many([ask("critic.s.ask"), ask("critic.s.ask")],
                                              [None, 30.0])
        assert all(isinstance(o, BusError) and "closed" in str(o) for o in outcomes)


async def test_inbox_routes_are_shared_unless_someone_subscribes_to_one_inbox() -> None:
    # Replies to different requests share a route; a subscriber naming one inbox must
    # still get exactly that inbox's messages.
    bus = MemoryBus()
    async with bus.subscribe("critic.s.>") as everything:
        for i in range(3):
            await bus.publish(ask(f"critic.s.inbox.id{i}", str(i)))
        assert [(await everything.receive()).payload for _ in range(3)] == [
            Draft(round=1, text=str(i)) for i in range(3)]
        assert len(bus._state.routes) == 1
        async with bus.subscribe("critic.s.inbox.id7") as one:
            for i in (6, 7, 8):
                await bus.publish(ask(f"critic.s.inbox.id{i}", str(i)))
            assert (await one.receive()).payload == Draft(round=1, text="7")
            assert not one._channel.items  # delivery is immediate: nothing else came
        await bus.publish(ask("critic.s.inbox.id7", "again"))  # its route was dropped with it
        texts = [(await everything.receive()).payload for _ in range(4)]
        assert texts[-1] == Draft(round=1, text="again")
    await bus.aclose()


async def test_a_publisher_waiting_on_a_full_subscriber_goes_on_when_it_leaves() -> None:
    bus = MemoryBus(buffer=1)
    async with anyio.create_task_group() as tg, bus.subscribe("t"):
        await bus.publish(env(0))  # fills it
        tg.start_soon(bus.publish, env(1))  # waits for room
        await anyio.wait_all_tasks_blocked()
    # Leaving the block, the subscriber left first: the waiting publish dropped its
    # envelope and returned (the task group would otherwise hang until the test times out).
    await bus.aclose()


async def test_closing_the_bus_lets_a_subscriber_drain_then_end() -> None:
    bus = MemoryBus()
    async with bus.subscribe("t") as sub:
        for i in range(3):
            await bus.publish(env(i))
        await bus.aclose()
        assert [e.payload for e in [e async for e in sub]] == [
            Draft(round=1, text=str(i)) for i in range(3)]
        with pytest.raises(anyio.EndOfStream):
            await sub.receive()

