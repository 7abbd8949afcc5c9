"""What core NATS hands a bus: a plain subscription's envelopes, and a request's reply.

Both sit on the hot path of every request (profiled in ``benchmarks/nats_bus.py``),
and the NATS bus runs on asyncio only, so they are asyncio queues and futures
rather than anyio streams, events and cancel scopes: those looked the backend
up on every call and took a third of the bus's CPU per request beyond raw
nats-py. Cancellation still comes from the caller's anyio scopes (anyio cancels
asyncio tasks natively). Both validate what arrives: a message from the
network is untrusted until it is an :class:`~critic.messages.Envelope`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import anyio

from critic.bus.nats_subjects import WORK_PREFIX
from critic.bus.nats_work import first_problem, iterate
from critic.messages import ENVELOPE_ADAPTER, Envelope

log = logging.getLogger("critic.bus.nats")

#: Envelopes a plain subscription buffers before its deliveries wait for the reader.
BUFFER = 1024


def no_responders(msg: Any) -> bool:
    """Whether ``msg`` is the server's no-responders status to a request."""
    headers = msg.headers
    return bool(headers) and headers.get("Status") == "503"


class CoreSubscription:
    """A plain (or queue-group) subscription: envelopes in arrival order per subject.

    :meth:`deliver` is the nats-py callback; it waits while :data:`BUFFER`
    envelopes are unread. :meth:`close` ends the subscription once what was
    delivered before has been read.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Envelope | None] = asyncio.Queue(BUFFER)
        self._closed = False

    async def deliver(self, msg: Any) -> None:
        if self._closed or no_responders(msg):
            return  # the no-responders status matters to request() only
        try:
            envelope = ENVELOPE_ADAPTER.validate_json(msg.data)
        except ValueError as exc:  # a subscriber must not die of a message either
            log.warning("dropped a message on %s: not a valid envelope (%s)",
                        msg.subject, first_problem(exc))
            return
        if msg.subject.startswith(WORK_PREFIX) and msg.headers \
                and msg.headers.get("Nats-Msg-Id") != envelope.id:
            return  # a requester's re-send after a reconnect: seen here once already
        await self._queue.put(envelope)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Wakes a reader waiting on an empty queue; a full one's reader finds `_closed`.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def receive(self) -> Envelope:
        queue = self._queue
        if queue.empty():
            if self._closed:
                raise anyio.EndOfStream
        else:  # a checkpoint, as every receive is: a reader never waiting starves nobody
            await asyncio.sleep(0)
        envelope = await queue.get()
        if envelope is None:
            queue.put_nowait(None)  # for any other reader
            raise anyio.EndOfStream
        return envelope

    __aiter__ = iterate


class PendingReply:
    """A request's wait for its first valid reply (or the no-responders status).

    A reply wakes the waiting request directly (one future per wait, woken by
    the reply or by a timer), not through an event and a cancel scope.
    """

    def __init__(self, inbox: str) -> None:
        self.inbox = inbox
        self.reply: Envelope | None = None
        self.nobody = False
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None

    @property
    def done(self) -> bool:
        return self.reply is not None or self.nobody

    def deliver(self, msg: Any) -> None:
        if self.done:
            return  # only the first reply counts
        if no_responders(msg):
            self.nobody = True
        else:
            try:
                self.reply = ENVELOPE_ADAPTER.validate_json(msg.data)
            except ValueError as exc:
                log.warning("ignored a reply on %s: not a valid envelope (%s)",
                            self.inbox, first_problem(exc))
                return
        _wake(self._waiter)

    async def wait(self, seconds: float) -> bool:
        """Wait at most ``seconds`` for the reply; whether it came."""
        if not self.done:
            waiter = self._waiter = self._loop.create_future()
            timer = self._loop.call_later(max(seconds, 0.0), _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        return self.done


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
