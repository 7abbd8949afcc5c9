"""The taking side of a durable work subscription on the NATS bus.

A :class:`WorkSubscription` is one member of a JetStream pull consumer and
holds at most one unacked message; it is where a worker meets untrusted
input, so it settles every message it cannot or must not run (malformed,
expired, nobody waiting) itself and never raises over one. The design is
told in :mod:`critic.bus.nats`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup

from critic.bus.nats_subjects import LIVE_PREFIX, WORK_PREFIX
from critic.messages import ENVELOPE_ADAPTER, Envelope

log = logging.getLogger("critic.bus.nats")


async def iterate(subscription: Any) -> AsyncIterator[Envelope]:
    """``async for`` over a subscription's ``receive()`` until it ends (shared by both kinds)."""
    while True:
        try:
            yield await subscription.receive()
        except anyio.EndOfStream:
            return


class WorkHost(Protocol):
    """What a work subscription needs of its bus (:class:`~critic.bus.nats.NatsBus`):
    declared here so this module does not import the bus back."""

    ack_wait: float
    poll: float
    fresh_work: float
    _closed: bool
    _nc: Any
    _taken: dict[str, None]
    _replies: OrderedDict[str, Envelope | None]

    def _remember(self, envelope_id: str, reply: Envelope | None) -> None: ...

    async def _answered(self, subject: str) -> bool | None: ...

#: A session's answer to ``live.<inbox>`` for a request that no longer waits.
GONE = b"gone"
#: Header of a work message: the Unix time at which its requester gives up.
DEADLINE_HEADER = "Critic-Deadline"


def deadline_of(headers: dict[str, str] | None) -> float | None:
    """The ``Critic-Deadline`` of a work message (None: none); ValueError if it is garbage."""
    value = (headers or {}).get(DEADLINE_HEADER)
    if value is None:
        return None
    try:
        deadline = float(value)
    except ValueError:
        deadline = math.nan
    if not math.isfinite(deadline):
        raise ValueError(f"{DEADLINE_HEADER} is not a time: {value!r}")
    return deadline


def first_problem(exc: Exception) -> str:
    """One line for a log: the first problem of a validation error."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


class WorkSubscription:
    """One member of a durable pull consumer; holds at most one unacked message."""

    def __init__(self, bus: WorkHost, pull: Any, tg: TaskGroup) -> None:
        self._bus = bus
        self._pull = pull
        self._held: Any = None
        self._held_id: str | None = None
        self.closed = anyio.Event()
        # One task for the subscription's life, not one started and cancelled per message.
        tg.start_soon(self._keep_alive)

    async def _settle(self, ack: bool) -> None:
        msg, self._held = self._held, None
        if ack and self._held_id is not None and self._held_id not in self._bus._replies:
            self._bus._remember(self._held_id, None)
        if msg is None:
            return
        with contextlib.suppress(Exception):  # a lost ack only means a redelivery
            if ack:
                await msg.ack()
            else:
                await msg.nak()

    async def _keep_alive(self) -> None:
        """Tell the server every ``ack_wait / 3`` seconds that the held message is in hand.

        A message taken just before a tick is touched sooner than that: harmless,
        and no gap between touches is ever longer.
        """
        while True:
            await anyio.sleep(self._bus.ack_wait / 3)
            held = self._held
            if held is not None:
                with contextlib.suppress(Exception):
                    await held.in_progress()

    async def receive(self) -> Envelope:
        import nats.errors

        await self._settle(ack=True)  # the consumer is back: the previous one is done
        while not self.closed.is_set():
            try:
                msgs = await self._pull.fetch(1, timeout=self._bus.poll)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception:  # server away: the client reconnects, poll again
                if self.closed.is_set() or self._bus._closed:
                    break
                await anyio.sleep(self._bus.poll / 4)
                continue
            for msg in msgs:
                try:
                    envelope = await self._admit(msg)
                except Exception as exc:  # a worker must never die of a message
                    await self._drop(msg, first_problem(exc))
                    continue
                if envelope is not None:
                    return envelope
        raise anyio.EndOfStream

    async def _admit(self, msg: Any) -> Envelope | None:
        """The envelope of ``msg`` if it is work to do now; None when it was settled here."""
        try:
            envelope = ENVELOPE_ADAPTER.validate_json(msg.data)
            deadline = deadline_of(msg.headers)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            await self._drop(msg, f"not valid work ({first_problem(exc)})")
            return None
        if envelope.id in self._bus._replies:  # answered already: answer again
            reply = self._bus._replies[envelope.id]
            with contextlib.suppress(Exception):
                if reply is not None:
                    await self._bus._nc.publish(reply.topic, ENVELOPE_ADAPTER.dump_json(reply))
                await msg.ack()
            return None
        if deadline is not None and time.time() > deadline:
            late = time.time() - deadline
            await self._drop(msg, f"envelope {envelope.id} expired {late:.1f} s ago (its request gave up)")
            return None
        if envelope.reply_to and self._waited(msg) \
                and await self._bus._answered(LIVE_PREFIX + envelope.reply_to) is False:
            await self._drop(msg, f"nobody waits for the reply to envelope {envelope.id} any more")
            return None
        self._bus._taken[envelope.id] = None
        self._held, self._held_id = msg, envelope.id
        return envelope

    def _waited(self, msg: Any) -> bool:
        """Whether ``msg`` was stored ``fresh_work`` seconds ago or more (the server's
        stamp against our clock; True when the stamp cannot be read)."""
        try:
            stored = msg.metadata.timestamp.timestamp()
        except Exception:
            return True
        return bool(time.time() - stored >= self._bus.fresh_work)

    async def _drop(self, msg: Any, reason: str) -> None:
        subject = str(getattr(msg, "subject", "?")).removeprefix(WORK_PREFIX)
        log.warning("dropped work on %s: %s; terminated, not redelivered", subject, reason)
        with contextlib.suppress(Exception):  # a lost term only means one more drop later
            await msg.term()

    __aiter__ = iterate

    async def release(self) -> None:
        await self._settle(ack=False)
