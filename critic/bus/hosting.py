"""Hosting agents on a bus: the one place where an agent's call becomes a reply.

Sessions, debates, scoring and workers all go through here:

- :func:`serve` answers the requests on a topic with a handler; the model calls
  the handler makes are published (so they are recorded) before the reply, and
  the reply carries their cost (:func:`with_cost`);
- the ``*_handler`` functions wrap each kind of agent so that it never raises:
  an exception or a timeout becomes a failure payload (an unscored critique, a
  failed answer, an error draft, a discard verdict) and the run goes on;
  :func:`review` is a critic's, :func:`review_each` many reviews by one critic
  in one task (offline scoring's workers); a served critic's reviews, like
  :func:`review_each`'s, share one time-limit scope (:func:`each_within`);
- :func:`ask_all` is a coordinator's fan-out: many requests at once, each with
  its timeout, a failure recorded in place of a reply that never came;
- :class:`RecordedBus` records what this process sends and receives, so a
  transcript never depends on a network subscription.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar, cast

import anyio
from anyio.abc import TaskStatus

from critic.backends.meter import serving
from critic.bus import envelopes
from critic.bus.envelopes import evolve, sealed
from critic.bus.memory import MemoryBus
from critic.bus.topics import Topic, review_topic, topic
from critic.errors import BusError, BusUnavailable
from critic.messages import (
    Answer,
    Critique,
    DebateJudgeRequest,
    DebateRequest,
    DebateVerdict,
    Draft,
    DraftRequest,
    Envelope,
    JudgeRequest,
    ModelCall,
    Payload,
    ReviewRequest,
    Usage,
    Verdict,
)
from critic.protocols import (
    Bus,
    Critic,
    DebateJudge,
    Debater,
    FanOut,
    Generator,
    Judge,
    Recorder,
    Reply,
    Subscription,
)
from critic.transcript import TranscriptWriter

#: Grace on top of an agent's own timeout before the coordinator gives up on it
#: (the agent normally reports its own timeout; this catches a dead worker).
TIMEOUT_GRACE = 10.0

Handler = Callable[[Envelope, Recorder], Awaitable[Payload]]
Failure = Literal["timeout", "error"]


_COSTED: frozenset[type] = frozenset({Draft, Critique, Verdict, Answer, DebateVerdict})
_TIMED: frozenset[type] = frozenset({Critique, Answer})


def with_cost(reply: Payload, calls: Sequence[ModelCall]) -> Payload:
    """``reply`` carrying the usage (and, for critiques and answers, latency) of ``calls``.

    Whoever collects replies can then account for cost without seeing the calls.
    """
    # By exact type first: a miss in ``isinstance`` on a pydantic class costs a Python-level
    # ABC check, and the union tries the classes in turn.
    if not calls or not (type(reply) in _COSTED
                         or isinstance(reply, Draft | Critique | Verdict | Answer | DebateVerdict)):
        return reply
    # One call is the common case: its usage as it is, no sum to build.
    update: dict[str, object] = {
        "usage": calls[0].usage if len(calls) == 1 else Usage.total(c.usage for c in calls)}
    if type(reply) in _TIMED or isinstance(reply, Critique | Answer):
        update["latency"] = calls[0].latency if len(calls) == 1 else sum(c.latency for c in calls)
    return evolve(reply, **update)


async def serve(
    bus: Bus,
    pattern: str,
    handler: Handler,
    *,
    name: str,
    group: str | None = None,
    timeout: float | None = None,
    late: Callable[[Envelope], Payload] | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Answer every request on ``pattern`` with ``handler`` until cancelled.

    Model calls the handler makes are published as ``model_call`` envelopes
    (children of the request) before the reply, so they are recorded too.
    With a ``timeout``, each request's handling ends after that many seconds
    and ``late(request)`` is the reply (see :func:`each_within`).
    """
    # The calls made for the request in hand (one at a time), for a reply cut short.
    calls: list[list[ModelCall]] = [[]]

    async def work(request: Envelope) -> Payload:
        made = calls[0] = []

        async def record(call: ModelCall) -> None:
            made.append(call)
            await bus.publish(sealed(request.session, topic(request.session, "model_call"),
                                     name, call, parent=request.id))

        with serving(request.id):  # a live view counts the tokens of the call in flight
            return with_cost(await handler(request, record), made)

    async def then(request: Envelope, reply: Payload) -> None:
        if request.reply_to is not None:
            await bus.publish(envelopes.reply(request, reply, sender=name))

    async with bus.subscribe(pattern, group=group) as requests:
        task_status.started()
        if timeout is None:
            async for request in requests:
                await then(request, await work(request))
            return
        assert late is not None, "a time limit needs the reply that stands in for a late one"

        def cut(request: Envelope) -> Payload:
            return with_cost(late(request), calls[0])

        await each_within(timeout, aiter(requests), work, cut, then)


# --- agents that never raise -----------------------------------------------------


def failed_critique(critic: str, round: int, status: Failure, error: str, weight: float) -> Critique:
    """The unscored critique recorded for a critic that raised or timed out."""
    return Critique(role=critic, round=round, status=status, error=error, weight=weight)


def _weighted(critic: Critic, critique: Critique) -> Critique:
    # The critic's weight counts even when its critique leaves the field out
    # (plugin critics need not repeat it in every Critique).
    if "weight" not in critique.model_fields_set:
        return evolve(critique, weight=critic.weight)
    return critique


def _errored(critic: Critic, round: int, exc: Exception) -> Critique:
    return failed_critique(critic.name, round, "error", f"{type(exc).__name__}: {exc}",
                           critic.weight)


def _timed_out(critic: Critic, round: int) -> Critique:
    return failed_critique(critic.name, round, "timeout",
                           f"no critique within {critic.timeout:g} s", critic.weight)


async def _reviewed(critic: Critic, request: ReviewRequest, record: Recorder) -> Critique:
    """``critic``'s review of ``request`` with no time limit; an exception becomes an
    unscored critique, except :class:`~critic.errors.BusUnavailable` (see :func:`review`)."""
    try:
        return _weighted(critic, await critic.review(request, record))
    except BusUnavailable:  # the work was not done at all: not the critic's verdict
        raise
    except Exception as exc:  # a critic must never take the session down
        return _errored(critic, request.draft.round, exc)


async def review(critic: Critic, request: ReviewRequest, record: Recorder) -> Critique:
    """``critic``'s review of ``request``, ended at the critic's timeout.

    It raises only :class:`~critic.errors.BusUnavailable` (a critic served
    elsewhere that could not be reached): no review happened, so there is no
    critique to record, and the caller decides (``critic score`` stops).
    """
    try:
        with anyio.move_on_after(critic.timeout) as scope:
            return await _reviewed(critic, request, record)
    except Exception as exc:  # the time limit itself refused (a NaN timeout under trio)
        return _errored(critic, request.draft.round, exc)
    assert scope.cancelled_caught
    return _timed_out(critic, request.draft.round)


K = TypeVar("K")
Item = TypeVar("Item")
R = TypeVar("R")


class _Watchdog:
    """Cancels :attr:`scope` once the work in hand passes its :attr:`deadline`."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = math.inf
        """Of the work in hand; infinite between items."""
        self.scope = anyio.CancelScope()

    async def run(self) -> None:
        # It looks at least every ``timeout`` seconds, so it is never asleep past the
        # deadline of work started since it last looked (that deadline is ``timeout`` after
        # the start); work that ends before then costs it no wake-up at all.
        while True:
            now = anyio.current_time()
            if self.deadline <= now:
                self.deadline = math.inf
                self.scope.cancel()
            else:
                await anyio.sleep_until(min(self.deadline, now + self.timeout))


async def each_within(
    timeout: float,
    items: AsyncIterator[Item],
    work: Callable[[Item], Awaitable[R]],
    late: Callable[[Item], R],
    then: Callable[[Item, R], Awaitable[None]],
) -> None:
    """``work`` on each of ``items`` in turn, each ended at ``timeout`` seconds (``late(item)``
    stands in for the result of work cut short), each result handed to ``then``, which runs
    outside the limit. What ``work`` raises ends the loop.

    The items share one cancel scope, which a watchdog task cancels when an item overruns
    (then a new scope takes over), instead of a scope and a timer armed and cancelled per
    item: a third of the cost of a critic's hop in a session round, a tenth of a model-free
    scoring record's. The watchdog runs when the work waits, so an overrun is cut at the
    work's first wait after its deadline, as a scope of its own would cut it, give or take
    one turn of the event loop.
    """
    if not timeout > 0:
        raise ValueError(f"each_within needs a positive timeout, got {timeout!r}")
    watchdog = _Watchdog(timeout)
    failure: Exception | None = None
    async with anyio.create_task_group() as tg:
        if timeout < math.inf:
            tg.start_soon(watchdog.run)
        try:
            await _each_within(watchdog, items, work, late, then)
        except Exception as exc:  # raised as itself below, not inside an exception group
            failure = exc
        tg.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def _each_within(
    watchdog: _Watchdog, items: AsyncIterator[Item], work: Callable[[Item], Awaitable[R]],
    late: Callable[[Item], R], then: Callable[[Item, R], Awaitable[None]],
) -> None:
    timeout = watchdog.timeout
    while True:
        cut: tuple[Item, R] | None = None
        with anyio.CancelScope() as scope:
            watchdog.scope = scope
            async for item in items:
                watchdog.deadline = anyio.current_time() + timeout
                try:
                    result = await work(item)
                finally:
                    watchdog.deadline = math.inf
                if scope.cancel_called:  # cut as it ended: the scope is spent, finish outside
                    cut = (item, result)
                    break
                await then(item, result)
            else:
                return
        if scope.cancelled_caught:  # the work in hand ran past its deadline
            cut = (item, late(item))
        assert cut is not None
        await then(*cut)


class _Each(Generic[Item]):
    """A plain iterator as an asynchronous one (its own class: an async generator costs a
    frame switch per item)."""

    def __init__(self, items: Iterator[Item]) -> None:
        self._items = items

    def __aiter__(self) -> _Each[Item]:
        return self

    async def __anext__(self) -> Item:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None


async def review_each(
    critic: Critic,
    reviews: Iterator[tuple[ReviewRequest, Recorder, K]],
    then: Callable[[K, Critique], Awaitable[None]],
) -> None:
    """``critic``'s review of each request in turn, handed to ``then`` with its key.

    Each critique is what :func:`review` would return: the review ended at the
    critic's timeout (read once), an exception or a timeout an unscored critique,
    only :class:`~critic.errors.BusUnavailable` raised; ``then`` runs outside
    any review's time limit. One cancel scope serves them all (see :func:`each_within`).
    """
    if not critic.timeout > 0:  # cut at once, or NaN: review() says what that means
        for request, record, key in reviews:
            await then(key, await review(critic, request, record))
        return

    async def work(item: tuple[ReviewRequest, Recorder, K]) -> Critique:
        return await _reviewed(critic, item[0], item[1])

    def late(item: tuple[ReviewRequest, Recorder, K]) -> Critique:
        return _timed_out(critic, item[0].draft.round)

    async def handed(item: tuple[ReviewRequest, Recorder, K], critique: Critique) -> None:
        await then(item[2], critique)

    await each_within(critic.timeout, _Each(reviews), work, late, handed)


def critic_handler(critic: Critic, *, limited: bool = True) -> Handler:
    """Bus handler of a critic: never raises; a failure becomes an unscored critique. Each
    review ends at the critic's timeout unless ``limited`` is False (the caller limits it)."""
    reviewing = review if limited else _reviewed

    async def handle(request: Envelope, record: Recorder) -> Payload:
        payload = request.payload
        if not isinstance(payload, ReviewRequest):
            return failed_critique(critic.name, 1, "error", f"unexpected {payload.kind}", 0.0)
        return await reviewing(critic, payload, record)

    return handle


def generator_handler(generator: Generator) -> Handler:
    """Bus handler of a generator: a failure becomes a draft with ``error`` set."""

    async def handle(request: Envelope, record: Recorder) -> Payload:
        payload = request.payload
        assert isinstance(payload, DraftRequest)
        try:
            return await generator.draft(payload, record)
        except Exception as exc:  # reported in the outcome, never a crash
            return Draft(round=payload.round, text="", author=generator.name,
                         error=f"{type(exc).__name__}: {exc}")

    return handle


def judge_handler(judge: Judge) -> Handler:
    """Bus handler of a judge: a failure becomes a discard with ``stop="error"``."""

    async def handle(request: Envelope, record: Recorder) -> Payload:
        payload = request.payload
        assert isinstance(payload, JudgeRequest)
        try:
            return await judge.judge(payload, record)
        except Exception as exc:
            return Verdict(round=payload.draft.round, decision="discard", stop="error",
                           reason=f"judge {judge.name!r} failed: {type(exc).__name__}: {exc}")

    return handle


def debater_handler(debater: Debater, timeout: float) -> Handler:
    """Bus handler of a debater: a failure or a timeout becomes a failed answer."""

    async def handle(request: Envelope, record: Recorder) -> Payload:
        payload = request.payload
        assert isinstance(payload, DebateRequest)
        try:
            # The debater times itself out, so its call is cancelled here
            # rather than left running when the coordinator stops waiting.
            with anyio.move_on_after(timeout):
                return await debater.answer(payload, record)
        except Exception as exc:
            return Answer(debater=debater.name, round=payload.round, status="error",
                          error=f"{type(exc).__name__}: {exc}")
        return Answer(debater=debater.name, round=payload.round, status="timeout",
                      error=f"no answer within {timeout:g} s")

    return handle


def debate_judge_handler(judge: DebateJudge) -> Handler:
    """Bus handler of a debate judge: a failure becomes a discard."""

    async def handle(request: Envelope, record: Recorder) -> Payload:
        payload = request.payload
        assert isinstance(payload, DebateJudgeRequest)
        try:
            return await judge.decide(payload, record)
        except Exception as exc:
            return DebateVerdict(judge=judge.name, decision="discard",
                                 reason=f"judge {judge.name!r} failed: {type(exc).__name__}: {exc}")

    return handle


async def serve_critic(
    bus: Bus, session: str, critic: Critic, *, group: str | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``critic``'s reviews for one session (``session="*"``: for every session), each
    ended at the critic's timeout (read once)."""

    def timed_out(request: Envelope) -> Payload:
        payload = request.payload
        return _timed_out(critic, payload.draft.round if isinstance(payload, ReviewRequest) else 1)

    pattern = review_topic(session, critic.name)
    if not critic.timeout > 0:  # cut at once, or NaN: review() says what that means
        await serve(bus, pattern, critic_handler(critic), name=critic.name, group=group,
                    task_status=task_status)
        return
    await serve(bus, pattern, critic_handler(critic, limited=False), name=critic.name,
                group=group, timeout=critic.timeout, late=timed_out, task_status=task_status)


@dataclass(frozen=True)
class RemoteCritic:
    """A critic served elsewhere on the bus (e.g. by ``critic worker``): what a coordinator
    needs to ask it and to account for its answer."""

    name: str
    weight: float = 1.0
    timeout: float = 120.0


# --- the coordinator's side --------------------------------------------------------


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
