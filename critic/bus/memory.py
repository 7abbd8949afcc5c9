"""The in-process bus (the default): a bounded queue per subscriber, replies in one-shot slots."""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio

from critic.bus.envelopes import evolve
from critic.bus.topics import inbox, topic_matches
from critic.errors import BusError, ConfigError, NobodyServes
from critic.messages import ENVELOPE_ADAPTER, Envelope
from critic.protocols import Reply


@dataclass(eq=False)
class _Channel:
    """A subscriber's bounded queue of envelopes.

    anyio's memory object stream did this at twice the cost per message (a
    checkpoint and a generic class instantiated on every receive; a third of a
    request's bus time). Same contract: a sender waits while the queue is full,
    sends to a subscriber that left are dropped, and once the bus closes the
    receiver drains what is queued, then ends.
    """

    capacity: int
    items: deque[Envelope] = field(default_factory=deque)
    receivers: deque[anyio.Event] = field(default_factory=deque)
    senders: deque[anyio.Event] = field(default_factory=deque)
    ended: bool = False
    """No more envelopes will come (the bus closed)."""
    left: bool = False
    """The subscriber is gone: envelopes for it are dropped."""

    def put_nowait(self, item: Envelope) -> bool:
        """Queue ``item`` (or drop it, if the subscriber left); False when the queue is full."""
        if self.left:
            return True
        if len(self.items) >= self.capacity:
            return False
        self.items.append(item)
        if self.receivers:
            self.receivers.popleft().set()
        return True

    async def put(self, item: Envelope) -> None:
        while not self.put_nowait(item):
            await self._wait(self.senders)

    async def get(self) -> Envelope:
        while not self.items:
            if self.ended or self.left:
                raise anyio.EndOfStream
            await self._wait(self.receivers)
        item = self.items.popleft()
        if self.senders:
            self.senders.popleft().set()
        return item

    async def _wait(self, queue: deque[anyio.Event]) -> None:
        turn = anyio.Event()
        queue.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn in queue:
                queue.remove(turn)
            elif queue:  # woken, yet cancelled (anyio avoids it; cheap insurance): pass it on
                queue.popleft().set()
            raise

    def close(self, *, left: bool) -> None:
        """The bus closed (receivers drain, then end), or the subscriber ``left``."""
        self.ended = True
        self.left = self.left or left
        for turn in (*self.receivers, *self.senders):
            turn.set()
        self.receivers.clear()
        self.senders.clear()


@dataclass(eq=False)
class _Subscriber:
    pattern: str
    group: str | None
    channel: _Channel


@dataclass
class _MemorySubscription:
    _channel: _Channel

    async def receive(self) -> Envelope:
        return await self._channel.get()

    # Its own iterator (not an async generator, which costs a frame switch per envelope).
    def __aiter__(self) -> _MemorySubscription:
        return self

    async def __anext__(self) -> Envelope:
        try:
            return await self._channel.get()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


@dataclass(eq=False)
class _Awaited:
    """Replies one task waits for (one request, or a fan-out): set when the last lands."""

    expected: int
    done: anyio.Event = field(default_factory=anyio.Event)

    def settle(self) -> None:
        """One reply fewer to wait for (it came, or its request gave up)."""
        self.expected -= 1
        if self.expected <= 0:
            self.done.set()


class _FanOut:
    """The state of one :meth:`MemoryBus.request_many`: what is sent, answered, given up."""

    def __init__(self, count: int, timeouts: Sequence[float | None], now: float) -> None:
        self.count = count
        self.timeouts = timeouts
        self.deadlines = [math.inf if t is None else now + t for t in timeouts]
        self.outcomes: list[Reply | None] = [None] * count
        self.slots: list[tuple[str, _ReplySlot] | None] = [None] * count
        self.awaited = _Awaited(count)
        self.unsent = 0
        """Requests before this index were sent (or given up)."""
        self.sending: int | None = None

    def waiting(self, i: int) -> bool:
        """Whether request ``i`` has neither a reply nor an outcome yet."""
        entry = self.slots[i]
        return self.outcomes[i] is None and (entry is None or entry[1].reply is None)

    def earliest(self) -> float:
        return min((self.deadlines[i] for i in range(self.count) if self.waiting(i)),
                   default=math.inf)

    def results(self) -> list[Reply]:
        results: list[Reply] = []
        for outcome, entry in zip(self.outcomes, self.slots, strict=True):
            if outcome is None:
                reply = entry[1].reply if entry is not None else None
                outcome = reply if reply is not None else BusError(
                    "the bus closed before the reply arrived")
            results.append(outcome)
        return results


@dataclass(eq=False)
class _ReplySlot:
    """Where the one reply to a pending request lands: an event, not a subscription."""

    awaited: _Awaited
    reply: Envelope | None = None


@dataclass(frozen=True)
class _Route:
    """Who receives a topic: every plain subscriber, and one member of each queue group."""

    plain: tuple[_Subscriber, ...]
    groups: tuple[tuple[str, tuple[_Subscriber, ...]], ...]


#: Routes remembered at most (the cache is bounded whatever the topics).
_ROUTES_KEPT = 512


@dataclass
class _State:
    subscribers: list[_Subscriber] = field(default_factory=list)
    turns: dict[str, itertools.count[int]] = field(default_factory=dict)
    # Matching every pattern against a topic cost a fifth of a session's bus time; the
    # routes only change when someone (un)subscribes, which clears them.
    routes: dict[str, _Route] = field(default_factory=dict)
    replies: dict[str, _ReplySlot] = field(default_factory=dict)
    # Subscribers whose pattern names one inbox (``critic.s.inbox.<id>``): while there are
    # none, every inbox of a session has the same route, so replies share one entry.
    single_inbox: int = 0
    closed: bool = False


def _names_one_inbox(pattern: str) -> bool:
    """Whether ``pattern`` can match some inbox subjects (``critic.s.inbox.<id>``) but not
    others: only by naming the id (a literal last token where ``inbox`` may stand before)."""
    tokens = pattern.split(".")
    return len(tokens) == 4 and tokens[2] in ("inbox", "*") and tokens[3] not in ("*", ">")


def _route_key(topic: str) -> str:
    """Inbox subjects share a key (see ``_State.single_inbox``); others are their own."""
    if ".inbox." not in topic:
        return topic
    tokens = topic.split(".")
    if len(tokens) == 4 and tokens[2] == "inbox":
        return f"{tokens[0]}.{tokens[1]}.inbox.*"
    return topic


class MemoryBus:
    """A bus inside one process.

    Each subscription has a bounded buffer (``buffer`` envelopes): a publisher
    waits while a subscriber's buffer is full, so a slow consumer slows its
    producers down instead of growing a queue without limit.

    With ``serialize=True`` every delivery goes through JSON, which proves that
    nothing depends on object identity (tests use it; it costs speed).
    """

    def __init__(self, *, buffer: int = 64, serialize: bool = False) -> None:
        if buffer < 1:
            raise ConfigError(f"bus buffer must be at least 1, got {buffer}")
        self._buffer = buffer
        self._serialize = serialize
        self._state = _State()

    async def publish(self, envelope: Envelope) -> None:
        if self._state.closed:
            raise BusError("publish on a closed bus")
        for sub in self._targets(envelope.topic):
            item = (
                ENVELOPE_ADAPTER.validate_json(ENVELOPE_ADAPTER.dump_json(envelope))
                if self._serialize
                else envelope
            )
            if not sub.channel.put_nowait(item):
                await sub.channel.put(item)
        # A pending request's reply also reaches any subscriber matching its inbox
        # (a recorder on ``critic.<session>.>``) above; the first one fills the slot.
        slot = self._state.replies.pop(envelope.topic, None)
        if slot is not None:
            slot.reply = (ENVELOPE_ADAPTER.validate_json(ENVELOPE_ADAPTER.dump_json(envelope))
                          if self._serialize else envelope)
            slot.awaited.settle()

    def _route(self, topic: str) -> _Route:
        key = topic if self._state.single_inbox else _route_key(topic)
        route = self._state.routes.get(key)
        if route is None:
            plain: list[_Subscriber] = []
            groups: dict[str, list[_Subscriber]] = {}
            for sub in self._state.subscribers:
                if topic_matches(sub.pattern, topic):
                    if sub.group is None:
                        plain.append(sub)
                    else:
                        groups.setdefault(f"{sub.pattern}|{sub.group}", []).append(sub)
            route = _Route(tuple(plain),
                           tuple((key, tuple(members)) for key, members in groups.items()))
            if len(self._state.routes) >= _ROUTES_KEPT:
                self._state.routes.clear()
            self._state.routes[key] = route
        return route

    def _served(self, topic: str) -> bool:
        """Whether anyone subscribes to ``topic`` (without taking a group member's turn)."""
        route = self._route(topic)
        return bool(route.plain or route.groups)

    def _targets(self, topic: str) -> list[_Subscriber] | tuple[_Subscriber, ...]:
        route = self._route(topic)
        if not route.groups:
            return route.plain
        targets = list(route.plain)
        for key, members in route.groups:
            turn = self._state.turns.setdefault(key, itertools.count())
            targets.append(members[next(turn) % len(members)])
        return targets

    @asynccontextmanager
    async def subscribe(
        self, pattern: str, *, group: str | None = None
    ) -> AsyncIterator[_MemorySubscription]:
        if self._state.closed:
            raise BusError("subscribe on a closed bus")
        sub = _Subscriber(pattern, group, _Channel(self._buffer))
        one_inbox = _names_one_inbox(pattern)
        self._state.subscribers.append(sub)
        self._state.single_inbox += one_inbox
        self._state.routes.clear()
        try:
            yield _MemorySubscription(sub.channel)
        finally:
            sub.channel.close(left=True)
            self._state.subscribers.remove(sub)
            self._state.single_inbox -= one_inbox
            self._state.routes.clear()

    def _slot(self, envelope: Envelope, awaited: _Awaited) -> tuple[Envelope, str, _ReplySlot]:
        """The request as sent (with its ``reply_to``), its reply topic and its reply slot."""
        if not self._served(envelope.topic):
            raise NobodyServes(f"nobody serves topic {envelope.topic!r}")
        reply_to = inbox(envelope)
        # A one-shot slot, not a subscription: it lives until the first reply (later
        # ones find no slot and are dropped), and costs no stream pair nor route change.
        slot = self._state.replies[reply_to] = _ReplySlot(awaited)
        return evolve(envelope, reply_to=reply_to), reply_to, slot

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Envelope:
        awaited = _Awaited(1)
        envelope, reply_to, slot = self._slot(envelope, awaited)
        try:
            await self.publish(envelope)
            if timeout is None:  # a cancel scope costs ~15% of a round trip: only when needed
                await awaited.done.wait()
            else:
                with anyio.fail_after(timeout):
                    await awaited.done.wait()
        finally:
            self._state.replies.pop(reply_to, None)
        if slot.reply is None:  # the bus closed under the request
            raise BusError("the bus closed before the reply arrived")
        return slot.reply

    async def request_many(self, envelopes: Sequence[Envelope],
                           timeouts: Sequence[float | None]) -> list[Reply]:
        """Every request sent, then every reply awaited, all in this task.

        The same outcomes as a :meth:`request` per envelope in its own task (each
        request gives up at its own timeout, counted from now), without a task, a
        cancel scope and a wake-up per request: one scope covers the whole fan-out
        and is renewed only when a request times out. One difference: sending waits
        while a subscriber's buffer is full, and a request still being sent when the
        earliest open timeout passes times out with it.
        """
        if not envelopes:  # nothing would ever settle the wait below (a critic-less round)
            return []
        fan = _FanOut(len(envelopes), timeouts, anyio.current_time())
        try:
            while True:
                with anyio.CancelScope(deadline=fan.earliest()) as scope:
                    while fan.unsent < fan.count:
                        i = fan.sending = fan.unsent
                        fan.unsent += 1
                        if fan.outcomes[i] is not None:  # timed out before it could be sent
                            continue
                        try:
                            sent, reply_to, slot = self._slot(envelopes[i], fan.awaited)
                            fan.slots[i] = (reply_to, slot)
                            await self.publish(sent)
                        except BusError as exc:
                            self._give_up(fan, i, exc)
                    fan.sending = None
                    await fan.awaited.done.wait()
                if not scope.cancelled_caught:
                    break
                now = anyio.current_time()
                for i in range(fan.count):
                    if fan.waiting(i) and (fan.deadlines[i] <= now or i == fan.sending):
                        limit = fan.timeouts[i]
                        self._give_up(fan, i, TimeoutError(
                            f"no reply within {limit:g} s" if limit is not None
                            else "not sent before an earlier request's timeout"))
        finally:
            for entry in fan.slots:
                if entry is not None:
                    self._state.replies.pop(entry[0], None)
        return fan.results()

    def _give_up(self, fan: _FanOut, i: int, outcome: Reply) -> None:
        fan.outcomes[i] = outcome
        entry = fan.slots[i]
        if entry is not None:
            self._state.replies.pop(entry[0], None)
            fan.slots[i] = None
        fan.awaited.settle()

    async def aclose(self) -> None:
        self._state.closed = True
        for slot in self._state.replies.values():
            slot.awaited.done.set()
        self._state.replies.clear()
        for sub in list(self._state.subscribers):
            sub.channel.close(left=False)

    async def __aenter__(self) -> MemoryBus:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
