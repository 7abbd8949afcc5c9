"""The bus over NATS: core NATS for chatter, JetStream for work that must not be lost.

Mapping (topics already are NATS subjects, ``critic.<session>.<...>``):

* Every publish is a NATS publish, so plain subscribers (the session's
  recorder on ``critic.<session>.>``) see every envelope.
* Work topics (``critic.<session>.review.<critic>`` and ``.score.<...>``) are
  also published to JetStream as ``work.<topic>`` (one stream, file storage,
  interest retention; a separate prefix because a stream answers a publish's
  reply subject with its ack, which would break request/reply on the topic).
  A *group* subscription to a work pattern is a durable pull consumer shared
  by the group's members (one per pattern and group), with explicit acks and
  ``ack_wait`` redelivery: a worker that dies holding a message never acks
  it, so another member gets it again.
* Acks need no protocol change: a subscription acks a message when its
  consumer asks for the next one (the consumer loops back only after it has
  replied); a message still held when the subscription ends (cancelled,
  SIGTERM) is nak'ed, i.e. released at once to another member. While held,
  the message is kept alive with ``in_progress`` so long reviews are not
  redelivered; a killed worker stops those, so redelivery follows ``ack_wait``.
* Duplicates are idempotent by envelope id: publishes carry ``Nats-Msg-Id``
  (the stream drops a re-sent envelope), a bus acks and skips redeliveries of
  an envelope it has already handled, and a requester keeps only the first
  reply (its inbox closes with it).
* Request/reply keeps the inbox ``critic.<session>.inbox.<id>``. A request
  goes to JetStream only when a consumer serves it; the core publish carries
  the inbox as its NATS reply subject, so the server's no-responders status
  tells "nobody serves" (as in memory, any matching subscriber counts).

nats-py is asyncio-only: this bus refuses to start under trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from critic.bus.topics import inbox, topic_matches
from critic.errors import BusError, ConfigError
from critic.messages import ENVELOPE_ADAPTER, Envelope

#: JetStream stream holding work messages until a consumer acks them.
STREAM = "CRITIC_WORK"
#: Prefix of the JetStream copy of a work topic.
WORK_PREFIX = "work."
#: Subjects the stream captures (work topics under the prefix).
WORK_SUBJECTS = ("work.critic.*.review.>", "work.critic.*.score.>")
#: How many handled envelope ids a bus remembers to skip redeliveries.
_SEEN = 10_000


def is_work(pattern: str) -> bool:
    """Whether ``pattern`` lies inside the durable work subjects."""
    parts = pattern.split(".")
    return len(parts) >= 4 and parts[0] == "critic" and parts[2] in ("review", "score")


def durable_name(pattern: str, group: str) -> str:
    """A consumer name for (pattern, group): NATS names may not hold ``.``, ``*``, ``>``."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in group)[:40]
    digest = hashlib.sha1(pattern.encode()).hexdigest()[:12]
    return f"{safe}-{digest}"


class _CoreSubscription:
    def __init__(self, receive: MemoryObjectReceiveStream[Envelope]) -> None:
        self._receive = receive

    async def receive(self) -> Envelope:
        return await self._receive.receive()

    async def __aiter__(self) -> AsyncIterator[Envelope]:
        async for envelope in self._receive:
            yield envelope


class _WorkSubscription:
    """One member of a durable pull consumer; holds at most one unacked message."""

    def __init__(self, bus: NatsBus, pull: Any, tg: TaskGroup) -> None:
        self._bus = bus
        self._pull = pull
        self._tg = tg
        self._held: Any = None
        self._held_id: str | None = None
        self._keepalive: anyio.CancelScope | None = None
        self.closed = anyio.Event()

    async def _settle(self, ack: bool) -> None:
        msg, self._held = self._held, None
        if ack and self._held_id is not None and self._held_id not in self._bus._replies:
            self._bus._remember(self._held_id, None)
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if msg is None:
            return
        with contextlib.suppress(Exception):  # a lost ack only means a redelivery
            if ack:
                await msg.ack()
            else:
                await msg.nak()

    async def _keep_alive(self, msg: Any, scope: anyio.CancelScope) -> None:
        with scope:
            while True:
                await anyio.sleep(self._bus.ack_wait / 3)
                with contextlib.suppress(Exception):
                    await msg.in_progress()

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
                envelope = ENVELOPE_ADAPTER.validate_json(msg.data)
                if envelope.id in self._bus._replies:  # answered already: answer again
                    reply = self._bus._replies[envelope.id]
                    with contextlib.suppress(Exception):
                        if reply is not None:
                            await self._bus._nc.publish(
                                reply.topic, ENVELOPE_ADAPTER.dump_json(reply))
                        await msg.ack()
                    continue
                self._bus._taken[envelope.id] = None
                self._held, self._held_id = msg, envelope.id
                self._keepalive = anyio.CancelScope()
                self._tg.start_soon(self._keep_alive, msg, self._keepalive)
                return envelope
        raise anyio.EndOfStream

    async def __aiter__(self) -> AsyncIterator[Envelope]:
        while True:
            try:
                yield await self.receive()
            except anyio.EndOfStream:
                return

    async def release(self) -> None:
        await self._settle(ack=False)


class NatsBus:
    """A :class:`~critic.bus.base.Bus` on a NATS server with JetStream.

    Create with :meth:`connect` (an ``async with`` works too). ``ack_wait`` is
    the redelivery timeout of unacked work; ``poll`` how often a waiting work
    subscription asks again (and notices the bus closing).
    """

    def __init__(self, nc: Any, js: Any, url: str, *, ack_wait: float, poll: float) -> None:
        self._nc = nc
        self._js = js
        self.url = url
        self.ack_wait = ack_wait
        self.poll = poll
        self._closed = False
        self._sends: set[MemoryObjectSendStream[Envelope]] = set()
        self._work: set[_WorkSubscription] = set()
        # Work taken by this bus's subscriptions, and the reply (None: none) to each
        # finished one, so a redelivery is answered again instead of done again.
        self._taken: dict[str, None] = {}
        self._replies: OrderedDict[str, Envelope | None] = OrderedDict()
        self.reconnects = 0

    @classmethod
    async def connect(
        cls, url: str, *, ack_wait: float = 30.0, poll: float = 1.0,
        connect_timeout: float = 5.0, reconnect_wait: float = 0.5,
    ) -> NatsBus:
        """Connect to ``url`` (``nats://host:port``) and make sure the work stream exists."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # trio (or no loop at all)
            raise BusError(
                f"the NATS bus ({url}) needs anyio's asyncio backend (nats-py is asyncio-only)"
            ) from None
        if ack_wait <= 0 or poll <= 0:
            raise ConfigError(f"ack_wait and poll must be positive, got {ack_wait} and {poll}")
        try:
            from nats.aio.client import Client
            from nats.js.api import RetentionPolicy, StorageType, StreamConfig
        except ImportError as exc:  # pragma: no cover - the nats extra is missing
            raise BusError("the NATS bus needs nats-py: pip install 'critic[nats]'") from exc

        async def quiet(*_: object) -> None:  # nats-py logs and re-raises otherwise
            return None

        made: list[NatsBus] = []

        async def reconnected() -> None:
            for bus in made:
                bus.reconnects += 1

        nc = Client()
        try:
            # Reconnects never give up once connected (outages are waited out);
            # nats-py would retry the first connect forever too, hence the deadline.
            with anyio.fail_after(connect_timeout):
                await nc.connect(  # nats-py takes float seconds despite its int hints
                    url, connect_timeout=connect_timeout,  # type: ignore[arg-type]
                    allow_reconnect=True, max_reconnect_attempts=-1,
                    reconnect_time_wait=reconnect_wait,  # type: ignore[arg-type]
                    error_cb=quiet, reconnected_cb=reconnected, name="critic",
                )
        except Exception as exc:
            with contextlib.suppress(Exception):
                await nc.close()
            reason = "no answer" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            raise BusError(
                f"cannot reach the NATS server at {url} within {connect_timeout:g} s ({reason})"
            ) from exc
        js = nc.jetstream(timeout=connect_timeout)
        config = StreamConfig(
            name=STREAM, subjects=list(WORK_SUBJECTS), retention=RetentionPolicy.INTEREST,
            storage=StorageType.FILE, max_age=24 * 3600, duplicate_window=120,
        )
        try:
            try:
                await js.add_stream(config)
            except Exception:
                await js.update_stream(config)
        except Exception as exc:
            await nc.close()
            raise BusError(
                f"JetStream is not available at {url} (start nats-server with -js): {exc}"
            ) from exc
        made.append(cls(nc, js, url, ack_wait=ack_wait, poll=poll))
        return made[0]

    def _remember(self, envelope_id: str, reply: Envelope | None) -> None:
        self._taken.pop(envelope_id, None)
        self._replies[envelope_id] = reply
        if len(self._replies) > _SEEN:
            self._replies.popitem(last=False)

    async def _retry(self, what: str, call: Any) -> Any:
        """Retry through a transient outage (the client is reconnecting meanwhile)."""
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_delay(max(30.0, 2 * self.ack_wait)), wait=wait_fixed(0.5),
                retry=retry_if_exception_type(Exception), reraise=True,
            ):
                with attempt:
                    return await call()
        except Exception as exc:
            raise BusError(f"{what} on {self.url} failed: {type(exc).__name__}: {exc}") from exc

    async def _has_consumer(self, subject: str) -> bool:
        infos = await self._retry("listing consumers", lambda: self._js.consumers_info(STREAM))
        return any(
            i.config.filter_subject
            and topic_matches(i.config.filter_subject, WORK_PREFIX + subject)
            for i in infos
        )

    async def publish(self, envelope: Envelope) -> None:
        await self._publish(envelope, durable=is_work(envelope.topic))

    async def _publish(self, envelope: Envelope, *, durable: bool, reply: str = "") -> None:
        if self._closed:
            raise BusError("publish on a closed bus")
        data = ENVELOPE_ADAPTER.dump_json(envelope)
        parent = envelope.parent
        if parent in self._taken and envelope.topic == f"critic.{envelope.session}.inbox.{parent}":
            self._remember(parent, envelope)
        if durable:  # stored before anyone is told, so a crash cannot lose it
            headers = {"Nats-Msg-Id": envelope.id}
            await self._retry(
                f"publishing {envelope.topic}",
                lambda: self._js.publish(WORK_PREFIX + envelope.topic, data, headers=headers),
            )
        # Core publishes are buffered by the client while it reconnects.
        await self._nc.publish(envelope.topic, data, reply=reply)

    @asynccontextmanager
    async def subscribe(self, pattern: str, *, group: str | None = None) -> AsyncIterator[Any]:
        if self._closed:
            raise BusError("subscribe on a closed bus")
        if group is not None and is_work(pattern):
            async with self._subscribe_work(pattern, group) as sub:
                yield sub
            return
        send, receive = anyio.create_memory_object_stream[Envelope](1024)

        async def deliver(msg: Any) -> None:
            if msg.headers and msg.headers.get("Status") == "503":
                return  # no-responders status; only request() cares (see there)
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await send.send(ENVELOPE_ADAPTER.validate_json(msg.data))

        sub = await self._nc.subscribe(pattern, queue=group or "", cb=deliver)
        await self._nc.flush()
        self._sends.add(send)
        try:
            with send, receive:
                yield _CoreSubscription(receive)
        finally:
            self._sends.discard(send)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    @asynccontextmanager
    async def _subscribe_work(self, pattern: str, group: str) -> AsyncIterator[_WorkSubscription]:
        from nats.js.api import AckPolicy, ConsumerConfig

        name = durable_name(pattern, group)
        subject = WORK_PREFIX + pattern
        config = ConsumerConfig(
            durable_name=name, filter_subject=subject, ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait, max_ack_pending=-1,
        )
        pull = await self._retry(
            f"subscribing {pattern!r} as {group!r}",
            lambda: self._js.pull_subscribe(subject, durable=name, stream=STREAM, config=config),
        )
        async with anyio.create_task_group() as tg:
            sub = _WorkSubscription(self, pull, tg)
            self._work.add(sub)
            try:
                yield sub
            finally:
                self._work.discard(sub)
                with anyio.CancelScope(shield=True):
                    await sub.release()
                    with contextlib.suppress(Exception):
                        await pull.unsubscribe()
                tg.cancel_scope.cancel()

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Envelope:
        reply_to = inbox(envelope)
        envelope = envelope.model_copy(update={"reply_to": reply_to})
        replies: list[Envelope] = []
        got = anyio.Event()
        nobody = False

        async def deliver(msg: Any) -> None:
            nonlocal nobody
            if msg.headers and msg.headers.get("Status") == "503":
                nobody = True
            elif not replies:
                replies.append(ENVELOPE_ADAPTER.validate_json(msg.data))
            got.set()

        # A raw subscription (not subscribe()): it must also see the no-responders status.
        sub = await self._nc.subscribe(reply_to, cb=deliver)
        try:
            await self._nc.flush()
            durable = is_work(envelope.topic) and await self._has_consumer(envelope.topic)
            reconnects = self.reconnects
            await self._publish(envelope, durable=durable, reply="" if durable else reply_to)
            with anyio.fail_after(timeout):
                while not got.is_set():
                    with anyio.move_on_after(self.poll):
                        await got.wait()
                    if self.reconnects != reconnects:
                        # A reply sent while we were away is lost (core NATS): ask
                        # again; a worker that already answered answers from its cache.
                        reconnects = self.reconnects
                        await self._resend(envelope, durable, reply_to, reconnects)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if nobody:
            raise BusError(f"nobody serves topic {envelope.topic!r}")
        return replies[0]

    async def _resend(self, envelope: Envelope, durable: bool, reply_to: str, n: int) -> None:
        if not durable:
            await self._nc.publish(envelope.topic, ENVELOPE_ADAPTER.dump_json(envelope),
                                   reply=reply_to)
            return
        headers = {"Nats-Msg-Id": f"{envelope.id}.{n}"}  # past the stream's dedup window
        await self._retry(
            f"publishing {envelope.topic}",
            lambda: self._js.publish(WORK_PREFIX + envelope.topic,
                                     ENVELOPE_ADAPTER.dump_json(envelope), headers=headers),
        )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sub in list(self._work):
            sub.closed.set()
        for send in list(self._sends):
            await send.aclose()
        with contextlib.suppress(Exception):
            await self._nc.drain()

    async def __aenter__(self) -> NatsBus:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def check_bus_url(url: str) -> str:
    """``nats://host:port`` (or ``tls://``); anything else is a one-line ConfigError."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("nats", "tls") or not sep or not rest:
        raise ConfigError(f"--bus: expected nats://HOST:PORT, got {url!r}")
    return url


@asynccontextmanager
async def open_bus(url: str, *, ack_wait: float = 30.0) -> AsyncIterator[NatsBus]:
    """Connect to the NATS bus at ``url`` for the duration of the block."""
    bus = await NatsBus.connect(check_bus_url(url), ack_wait=ack_wait)
    try:
        yield bus
    finally:
        await bus.aclose()
