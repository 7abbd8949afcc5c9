"""`agents.review`: a review runs under its critic's timeout, never raises, and the
critic's code sees what the event loop sends it, cancellation included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import anyio.lowlevel
import pytest

from critic.bus.agents import review
from critic.messages import Critique, Draft, ModelCall, ReviewRequest, Task
from critic.protocols import Recorder

pytestmark = pytest.mark.anyio

REQUEST = ReviewRequest(task=Task(prompt="p"), draft=Draft(round=2, text="d"), role="c")


async def no_record(call: ModelCall) -> None:
    raise AssertionError("no model is called here")


@dataclass
class Scripted:
    """A critic whose review is the coroutine function ``work``."""

    work: Callable[[], Awaitable[Critique]]
    name: str = "c"
    weight: float = 0.5
    timeout: float = 60.0
    cleaned: list[str] = field(default_factory=list)

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        try:
            return await self.work()
        finally:
            self.cleaned.append("finally")


def critique(text: str = "ok") -> Critique:
    return Critique(role="c", round=2, score=1.0, suggestion=text)


async def test_a_review_that_never_suspends_gets_its_weight() -> None:
    async def at_once() -> Critique:
        return critique()

    critic = Scripted(at_once)
    got = await review(critic, REQUEST, no_record)
    assert got == critique().model_copy(update={"weight": 0.5})
    assert critic.cleaned == ["finally"]


async def test_values_sent_by_the_event_loop_reach_a_suspended_review() -> None:
    send, receive = anyio.create_memory_object_stream[str](1)

    async def waits_for_text() -> Critique:
        await anyio.lowlevel.checkpoint()
        return critique(await receive.receive())  # suspends until the sender runs

    async with anyio.create_task_group() as tg, send, receive:
        tg.start_soon(send.send, "from another task")
        with anyio.fail_after(30):  # a hang guard only
            got = await review(Scripted(waits_for_text), REQUEST, no_record)
    assert got.suggestion == "from another task"


async def test_a_suspended_review_past_its_timeout_is_cancelled_and_cleans_up() -> None:
    async def forever() -> Critique:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    critic = Scripted(forever, timeout=0.05)
    got = await review(critic, REQUEST, no_record)
    assert (got.status, got.round, got.weight) == ("timeout", 2, 0.5)
    assert got.error == "no critique within 0.05 s"
    assert critic.cleaned == ["finally"]


async def test_a_review_raising_after_it_suspended_is_an_error_critique() -> None:
    async def fails() -> Critique:
        await anyio.lowlevel.checkpoint()
        raise ValueError("broken critic")

    got = await review(Scripted(fails), REQUEST, no_record)
    assert (got.status, got.error) == ("error", "ValueError: broken critic")


async def test_cancelling_the_caller_reaches_the_suspended_review() -> None:
    started = anyio.Event()

    async def waits() -> Critique:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    critic = Scripted(waits)
    async with anyio.create_task_group() as tg:
        tg.start_soon(review, critic, REQUEST, no_record)
        await started.wait()
        tg.cancel_scope.cancel()
    assert critic.cleaned == ["finally"]  # cancelled where it waited, not left pending
