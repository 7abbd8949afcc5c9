"""Agents that never raise: what each kind of agent's failure or timeout becomes.

A critic's failure is an unscored critique, a generator's an error draft, a
judge's a discard verdict, a debater's a failed answer; the run goes on.
:func:`review` is one critic's review under its timeout, :func:`review_each`
many reviews by one critic in one task (offline scoring's workers), and
:func:`serve_critic` a critic served on the bus; the last two share one
time-limit scope across reviews (:func:`~critic.bus.deadlines.each_within`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, Literal, TypeVar

import anyio
from anyio.abc import TaskStatus

from critic.bus.deadlines import each_within
from critic.bus.envelopes import evolve
from critic.bus.hosting import Handler, serve
from critic.bus.topics import review_topic
from critic.errors import BusUnavailable
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
    Payload,
    ReviewRequest,
    Verdict,
)
from critic.protocols import (
    Bus,
    Critic,
    DebateJudge,
    Debater,
    Generator,
    Judge,
    Recorder,
)

Failure = Literal["timeout", "error"]


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

