"""`agents.review_each` and `serve_critic`: many reviews in one task give what `review`
gives, each under the critic's timeout, with one watchdog instead of a timer per review.

Run on trio with a mock clock that jumps whenever every task waits, so the
deadlines here are virtual: which review ends first is decided by the numbers
in the test, never by how busy the machine is. (The scoring tests run
``review_each`` on asyncio.)
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.lowlevel
import pytest
from trio.testing import MockClock

from critic.bus.agents import review, review_each, serve_critic
from critic.bus.deadlines import each_within
from critic.bus.envelopes import sealed
from critic.bus.memory import MemoryBus
from critic.bus.topics import review_topic
from critic.errors import BusUnavailable
from critic.messages import Critique, Draft, ModelCall, ReviewRequest, Task, Usage
from critic.protocols import Recorder

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> MockClock:
    return MockClock(autojump_threshold=0)


@pytest.fixture
def anyio_backend(clock: MockClock) -> tuple[str, dict[str, object]]:
    return "trio", {"clock": clock}

Work = Callable[[], Awaitable[Critique]]


async def no_record(call: ModelCall) -> None:
    raise AssertionError("no model is called here")


def request(round: int) -> ReviewRequest:
    return ReviewRequest(task=Task(prompt="p"), draft=Draft(round=round, text="d"), role="c")


def critique(text: str = "ok", **values: object) -> Critique:
    return Critique.model_validate({"role": "c", "round": 1, "score": 1.0, "suggestion": text,
                                    **values})


@dataclass
class Scripted:
    """A critic whose n-th review (rounds count from 1) is ``works[n - 1]``."""

    works: Sequence[Work]
    name: str = "c"
    weight: float = 0.5
    timeout: float = 0.2
    cleaned: list[int] = field(default_factory=list)

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        try:
            return await self.works[request.draft.round - 1]()
        finally:
            self.cleaned.append(request.draft.round)


def numbered(n: int) -> Iterator[tuple[ReviewRequest, Recorder, int]]:
    return ((request(i), no_record, i) for i in range(1, n + 1))


async def each(critic: Scripted) -> list[tuple[int, Critique]]:
    got: list[tuple[int, Critique]] = []

    async def then(key: int, reply: Critique) -> None:
        got.append((key, reply))

    with anyio.fail_after(30):  # a hang guard only
        await review_each(critic, numbered(len(critic.works)), then)
    return got


async def at_once() -> Critique:
    return critique("at once")


async def after_a_checkpoint() -> Critique:
    await anyio.lowlevel.checkpoint()
    return critique("after a checkpoint")


async def after_a_sleep() -> Critique:
    await anyio.sleep(0.01)
    return critique("after a sleep", weight=2.0)


async def forever() -> Critique:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


async def fails() -> Critique:
    await anyio.lowlevel.checkpoint()
    raise ValueError("broken critic")


async def fails_at_once() -> Critique:
    raise RuntimeError("no")


async def swallows_its_cut() -> Critique:
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        pass  # a badly behaved critic: answers anyway
    return critique("answered anyway")


MIXED: list[Work] = [at_once, forever, after_a_checkpoint, fails, after_a_sleep, forever,
                     fails_at_once, at_once, swallows_its_cut, after_a_sleep]


async def test_each_critique_is_what_review_gives() -> None:
    alone = Scripted(MIXED)
    expected = [(i, await review(alone, request(i), no_record)) for i in range(1, len(MIXED) + 1)]
    critic = Scripted(MIXED)
    got = await each(critic)
    assert got == expected
    assert [c.status for _, c in got] == ["ok", "timeout", "ok", "error", "ok", "timeout",
                                          "error", "ok", "ok", "ok"]
    assert got[1][1].error == "no critique within 0.2 s" and got[1][1].round == 2
    assert got[3][1].error == "ValueError: broken critic"
    assert (got[0][1].weight, got[4][1].weight) == (0.5, 2.0)  # filled in unless given
    assert got[8][1].suggestion == "answered anyway"
    assert critic.cleaned == list(range(1, len(MIXED) + 1))  # cut reviews cleaned up too


async def test_a_cut_does_not_shorten_the_next_review() -> None:
    async def just_in_time() -> Critique:
        await anyio.sleep(0.1)
        return critique("in time")

    got = await each(Scripted([forever, just_in_time, forever, just_in_time], timeout=0.15))
    assert [c.status for _, c in got] == ["timeout", "ok", "timeout", "ok"]


async def test_then_runs_outside_the_time_limit() -> None:
    slow_then: list[int] = []

    async def then(key: int, reply: Critique) -> None:
        await anyio.sleep(0.1)  # longer than the critic's timeout
        slow_then.append(key)

    critic = Scripted([after_a_sleep, forever, after_a_sleep], timeout=0.05)
    with anyio.fail_after(30):
        await review_each(critic, numbered(3), then)
    assert slow_then == [1, 2, 3]


async def test_a_late_review_is_cut_on_its_next_wait(clock: MockClock) -> None:
    async def busy_then_waits() -> Critique:
        # Past the deadline without waiting once, then waits: cut there, as review() does.
        clock.jump(0.1)
        await anyio.sleep(0.5)
        return critique("too late")

    got = await each(Scripted([busy_then_waits, at_once], timeout=0.05))
    assert [c.status for _, c in got] == ["timeout", "ok"]


@pytest.mark.parametrize("timeout", [math.inf, 0.0, -1.0, math.nan])
async def test_timeouts_that_need_no_watchdog_are_as_review(timeout: float) -> None:
    works: list[Work] = [at_once, after_a_checkpoint, fails, after_a_sleep]
    alone = Scripted(works, timeout=timeout)
    expected = [(i, await review(alone, request(i), no_record)) for i in range(1, 5)]
    assert await each(Scripted(works, timeout=timeout)) == expected


async def test_bus_unavailable_is_raised_as_itself_and_stops() -> None:
    async def unreachable() -> Critique:
        await anyio.lowlevel.checkpoint()
        raise BusUnavailable("no worker")

    critic = Scripted([at_once, unreachable, at_once])
    got: list[int] = []

    async def then(key: int, reply: Critique) -> None:
        got.append(key)

    with pytest.raises(BusUnavailable, match="no worker"):
        await review_each(critic, numbered(3), then)
    assert got == [1]


async def test_an_error_in_then_is_raised_as_itself() -> None:
    async def then(key: int, reply: Critique) -> None:
        await anyio.lowlevel.checkpoint()
        raise KeyError("output gone")

    with pytest.raises(KeyError, match="output gone"):
        await review_each(Scripted([after_a_sleep, at_once]), numbered(2), then)


async def test_cancelling_the_caller_reaches_the_suspended_review() -> None:
    started = anyio.Event()

    async def waits() -> Critique:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    critic = Scripted([at_once, waits, at_once], timeout=60)
    got: list[int] = []

    async def then(key: int, reply: Critique) -> None:
        got.append(key)

    async with anyio.create_task_group() as tg:
        tg.start_soon(review_each, critic, numbered(3), then)
        await started.wait()
        tg.cancel_scope.cancel()
    assert got == [1] and critic.cleaned == [1, 2]  # cancelled where it waited, no more


async def test_work_after_an_idle_spell_is_cut_at_its_own_deadline(clock: MockClock) -> None:
    # The watchdog looks at most every `timeout` seconds while idle: work that starts after
    # a long idle spell must still be cut exactly `timeout` after it started, not later.
    starts: list[float] = []
    cuts: list[float] = []

    async def items() -> AsyncIterator[int]:
        for i, idle in enumerate([0.0, 7.3, 0.05, 31.0]):
            await anyio.sleep(idle)
            yield i

    async def work(i: int) -> str:
        starts.append(anyio.current_time())
        if i % 2 == 0:
            await anyio.sleep_forever()
        await anyio.sleep(0.5)
        return f"done {i}"

    def late(i: int) -> str:
        cuts.append(anyio.current_time())
        return f"cut {i}"

    got: list[str] = []

    async def then(i: int, result: str) -> None:
        got.append(result)

    with anyio.fail_after(300):
        await each_within(1.0, items(), work, late, then)
    assert got == ["cut 0", "done 1", "cut 2", "done 3"]
    assert [c - s for c, s in zip(cuts, starts[::2], strict=True)] == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("timeout", [0.0, math.nan])
async def test_each_within_needs_a_positive_timeout(timeout: float) -> None:
    async def nothing(item: int) -> int:
        raise AssertionError("not run")

    with pytest.raises(ValueError, match="positive timeout"):
        await each_within(timeout, items_of([1]), nothing, lambda i: i, _ignore)


async def _ignore(item: int, result: int) -> None:
    raise AssertionError("not run")


async def items_of(values: Sequence[int]) -> AsyncIterator[int]:
    for value in values:
        yield value


async def test_a_served_critic_answers_each_request_within_its_timeout() -> None:
    calls = Usage(prompt_tokens=3, completion_tokens=2)

    async def calls_then_hangs(record: Recorder) -> Critique:
        await record(ModelCall(agent="c", backend="b", model="b", messages=(),
                               completion="{", usage=calls, latency=0.25))
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    class Served(Scripted):
        async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
            if request.draft.round == 2:
                return await calls_then_hangs(record)
            return await super().review(request, record)

    critic = Served([forever, forever, after_a_sleep, fails], timeout=0.2)
    with anyio.fail_after(300):  # a hang guard only (virtual time)
        replies = await served_replies(critic)
    assert [c.status for c in replies] == ["timeout", "timeout", "ok", "error"]
    assert replies[0].error == "no critique within 0.2 s" and replies[1].round == 2
    assert replies[1].usage == calls and replies[1].latency == 0.25  # the cut call's cost
    assert replies[2].weight == 2.0 and replies[3].error == "ValueError: broken critic"
    assert critic.cleaned == [1, 3, 4]


async def served_replies(critic: Scripted) -> list[Critique]:
    """``critic`` served on a memory bus, asked to review rounds 1 to 4 in turn."""
    async with MemoryBus() as bus, anyio.create_task_group() as tg:
        await tg.start(lambda task_status: serve_critic(bus, "s1", critic,
                                                        task_status=task_status))
        replies: list[Critique] = []
        for round in range(1, 5):
            if round == 3:
                await anyio.sleep(5.0)  # idle for many timeouts between two requests
            reply = await bus.request(sealed("s1", review_topic("s1", "c"), "session",
                                             request(round)))
            assert isinstance(reply.payload, Critique)
            replies.append(reply.payload)
        tg.cancel_scope.cancel()
    return replies
