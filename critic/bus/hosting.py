"""Hosting an agent on a bus: the one place where an agent's call becomes a reply.

:func:`serve` answers the requests on a topic with a handler; the model calls
the handler makes are published (so they are recorded) before the reply, and
the reply carries their cost (:func:`with_cost`). Around it:

- :mod:`critic.bus.agents`: each kind of agent wrapped so that it never raises
  (an exception or a timeout becomes a failure payload and the run goes on);
- :mod:`critic.bus.deadlines`: many items' work under one time-limit scope;
- :mod:`critic.bus.coordinator`: a session's side (hosting its agents, asking
  them at once, recording what it sends and receives).

Sessions, debates, scoring and workers all go through these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import anyio
from anyio.abc import TaskStatus

from critic.backends.meter import serving
from critic.bus import envelopes
from critic.bus.deadlines import each_within
from critic.bus.envelopes import evolve, sealed
from critic.bus.topics import topic
from critic.messages import (
    Answer,
    Critique,
    DebateVerdict,
    Draft,
    Envelope,
    ModelCall,
    Payload,
    Usage,
    Verdict,
)
from critic.protocols import Bus, Recorder

Handler = Callable[[Envelope, Recorder], Awaitable[Payload]]
"""What :func:`serve` calls with each request and a recorder of the model calls it makes."""

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

