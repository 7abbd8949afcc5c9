"""The NATS bus's delivery ends on their own: a plain subscription's queue, a request's reply."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
import pytest

from critic.bus.nats_core import BUFFER, CoreSubscription, PendingReply
from critic.messages import ENVELOPE_ADAPTER, Draft, Envelope

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # like the NATS bus they serve


@dataclass
class Msg:
    """What nats-py hands a callback (the fields these classes read)."""

    data: bytes
    subject: str = "critic.s.t"
    headers: dict[str, str] | None = field(default=None)


def env(n: int) -> Envelope:
    return Envelope(session="s", topic="critic.s.t", sender="t", payload=Draft(round=1, text=str(n)))


def msg(e: Envelope, **kw: object) -> Msg:
    return Msg(ENVELOPE_ADAPTER.dump_json(e), **kw)  # type: ignore[arg-type]


async def test_a_closed_subscription_yields_what_came_before_then_ends() -> None:
    sub = CoreSubscription()
    sent = [env(i) for i in range(3)]
    for e in sent:
        await sub.deliver(msg(e))
    await sub.deliver(Msg(b"{not json"))  # dropped (logged), not fatal
    await sub.deliver(Msg(b"", headers={"Status": "503"}))  # a request's status: not ours
    sub.close()
    await sub.deliver(msg(env(9)))  # after close: dropped
    with anyio.fail_after(5):
        assert [e async for e in sub] == sent
        with pytest.raises(anyio.EndOfStream):
            await sub.receive()


async def test_a_waiting_reader_is_woken_by_a_delivery_and_by_close() -> None:
    sub = CoreSubscription()
    got: list[Envelope] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            async def read() -> None:
                async for e in sub:
                    got.append(e)

            tg.start_soon(read)
            await anyio.wait_all_tasks_blocked()
            await sub.deliver(msg(env(1)))
            await anyio.wait_all_tasks_blocked()
            assert [e.payload for e in got] == [Draft(round=1, text="1")]
            sub.close()
    assert len(got) == 1


async def test_a_full_buffer_makes_deliveries_wait_for_the_reader() -> None:
    sub = CoreSubscription()
    for i in range(BUFFER):
        await sub.deliver(msg(env(i)))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sub.deliver, msg(env(BUFFER)))
            await anyio.wait_all_tasks_blocked()  # the delivery waits: nothing dropped
            assert (await sub.receive()).payload == Draft(round=1, text="0")
        sub.close()
        texts = [e.payload.text async for e in sub]  # type: ignore[union-attr]
    assert texts == [str(i) for i in range(1, BUFFER + 1)]


async def test_a_work_copy_counts_once_a_re_send_is_skipped() -> None:
    sub = CoreSubscription()
    e = env(1)
    await sub.deliver(msg(e, subject="work.critic.s.review.r", headers={"Nats-Msg-Id": e.id}))
    await sub.deliver(msg(e, subject="work.critic.s.review.r", headers={"Nats-Msg-Id": f"{e.id}.1"}))
    sub.close()
    assert [x async for x in sub] == [e]


async def test_the_first_valid_reply_counts() -> None:
    pending = PendingReply("critic.s.inbox.x")
    assert not await pending.wait(0.0)  # nothing yet: the wait ends empty-handed
    first, second = env(1), env(2)
    pending.deliver(Msg(b"{broken"))  # ignored (logged)
    pending.deliver(msg(first))
    pending.deliver(msg(second))
    assert await pending.wait(3600) and pending.reply == first and not pending.nobody


async def test_a_reply_wakes_the_wait_and_no_responders_is_told_apart() -> None:
    pending = PendingReply("critic.s.inbox.x")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(pending.wait, 3600)
            await anyio.wait_all_tasks_blocked()
            pending.deliver(msg(env(1)))
    nobody = PendingReply("critic.s.inbox.y")
    nobody.deliver(Msg(b"", headers={"Status": "503"}))
    assert await nobody.wait(3600) and nobody.nobody and nobody.reply is None
