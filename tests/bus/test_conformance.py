"""Behaviour every Bus must have (run for each implementation in conftest.BUS_KINDS)."""

from __future__ import annotations

import anyio
import pytest

from critic.errors import BusError
from critic.messages import Draft, Envelope, Task
from critic.protocols import Bus

pytestmark = pytest.mark.anyio


def env(topic: str, n: int = 0, session: str = "s1") -> Envelope:
    return Envelope(session=session, topic=topic, sender="test", payload=Draft(round=1, text=str(n)))


async def test_publish_reaches_every_subscriber_in_order(bus: Bus) -> None:
    async with bus.subscribe("critic.s1.a") as one, bus.subscribe("critic.s1.a") as two:
        sent = [env("critic.s1.a", i) for i in range(5)]
        for e in sent:
            await bus.publish(e)
        for sub in (one, two):
            got = [await sub.receive() for _ in sent]
            assert got == sent


async def test_topics_are_separate_and_wildcards_match(bus: Bus) -> None:
    async with (
        bus.subscribe("critic.s1.a") as exact,
        bus.subscribe("critic.s1.*") as star,
        bus.subscribe("critic.>") as tail,
    ):
        await bus.publish(env("critic.s1.b", 1))
        await bus.publish(env("critic.s1.a", 2))
        await bus.publish(env("critic.s1.a.deep", 3))
        assert (await exact.receive()).payload == Draft(round=1, text="2")
        assert [(await star.receive()).payload.text for _ in range(2)] == ["1", "2"]  # type: ignore[union-attr]
        assert [(await tail.receive()).payload.text for _ in range(3)] == ["1", "2", "3"]  # type: ignore[union-attr]
        with anyio.move_on_after(0.2):
            extra = await exact.receive()
            pytest.fail(f"exact subscriber got a message for another topic: {extra}")


async def test_queue_group_delivers_each_message_once(bus: Bus) -> None:
    got: list[str] = []
    all_in = anyio.Event()

    async def member(name: str, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with bus.subscribe("critic.s1.work", group="workers") as sub:
            task_status.started()
            async for e in sub:
                assert isinstance(e.payload, Draft)
                got.append(e.payload.text)
                if len(got) == 20:
                    all_in.set()

    async with anyio.create_task_group() as tg:
        await tg.start(member, "a")
        await tg.start(member, "b")
        for i in range(20):
            await bus.publish(env("critic.s1.work", i))
        with anyio.fail_after(60):  # a hang guard, generous for NATS on a loaded machine
            await all_in.wait()
        await anyio.sleep(0.1)
        tg.cancel_scope.cancel()
    assert sorted(got, key=int) == [str(i) for i in range(20)]


async def test_request_gets_the_reply(bus: Bus) -> None:
    async def echo(task_status: anyio.abc.TaskStatus[None]) -> None:
        async with bus.subscribe("critic.s1.echo") as sub:
            task_status.started()
            async for request in sub:
                assert isinstance(request.payload, Draft)
                text = request.payload.text
                await bus.publish(request.reply(Draft(round=1, text=text + "!"), sender="echo"))

    async with anyio.create_task_group() as tg:
        await tg.start(echo)
        for i in range(3):
            request = env("critic.s1.echo", i)
            reply = await bus.request(request, timeout=5)
            assert reply.parent == request.id
            assert reply.payload == Draft(round=1, text=f"{i}!")
        tg.cancel_scope.cancel()


async def test_request_without_responder_fails_clearly(bus: Bus) -> None:
    with pytest.raises(BusError, match="nobody serves"):
        await bus.request(env("critic.s1.nobody"), timeout=2)


async def test_request_times_out(bus: Bus) -> None:
    async with bus.subscribe("critic.s1.silent"):
        with pytest.raises(TimeoutError):
            await bus.request(env("critic.s1.silent"), timeout=0.2)


async def test_envelope_with_every_field_arrives_equal(bus: Bus) -> None:
    e = Envelope(session="s1", topic="critic.s1.t", sender="x", parent="p", reply_to="r",
                 payload=Task(prompt="p", reference="ref", tests="assert f()"))
    async with bus.subscribe("critic.s1.t") as sub:
        await bus.publish(e)
        assert await sub.receive() == e


async def test_subscription_ends_when_bus_closes(bus: Bus) -> None:
    async with bus.subscribe("critic.s1.x") as sub:
        await bus.aclose()
        with anyio.fail_after(2):
            async for _ in sub:
                pytest.fail("no message was published")
    with pytest.raises(BusError):
        await bus.publish(env("critic.s1.x"))


async def test_requests_to_a_group_are_shared_between_its_members(bus: Bus) -> None:
    # Each member holds its first request until the other member has one too: a bus
    # that sends every request to one member never gets there (the guard fails it).
    first = {"a": anyio.Event(), "b": anyio.Event()}
    served: dict[str, int] = {"a": 0, "b": 0}

    async def member(name: str, task_status: anyio.abc.TaskStatus[None]) -> None:
        other = "b" if name == "a" else "a"
        async with bus.subscribe("critic.s1.ask", group="pool") as sub:
            task_status.started()
            async for request in sub:
                served[name] += 1
                first[name].set()
                await first[other].wait()
                await bus.publish(request.reply(Draft(round=1, text=name), sender=name))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            await tg.start(member, "a")
            await tg.start(member, "b")
            replies: list[str] = []

            async def ask(i: int) -> None:
                reply = await bus.request(env("critic.s1.ask", i), timeout=50)
                assert isinstance(reply.payload, Draft)
                replies.append(reply.payload.text)

            async with anyio.create_task_group() as asks:
                for i in range(20):
                    asks.start_soon(ask, i)
            tg.cancel_scope.cancel()
    assert len(replies) == 20
    assert served["a"] >= 1 and served["b"] >= 1 and served["a"] + served["b"] == 20
