"""The bus over NATS: core NATS for chatter, JetStream for work that must not be lost.

Mapping (topics already are NATS subjects, ``critic.<session>.<...>``):

* Work topics (``critic.<session>.review.<critic>`` and ``.score.<...>``) are
  published once, to JetStream, as ``work.<topic>`` (one stream, file storage,
  interest retention; a separate prefix because a stream answers a publish's
  reply subject with its ack, which would break request/reply on the topic).
  Everything else is a core NATS publish on the topic itself.
  A *group* subscription to a work pattern is a durable pull consumer shared
  by the group's members (one per pattern and group), with explicit acks and
  ``ack_wait`` redelivery: a worker that dies holding a message never acks
  it, so another member gets it again.
* A JetStream publish is a NATS message on its subject too, so a plain
  subscriber whose pattern can match work (a recorder on
  ``critic.<session>.>``) also subscribes to ``work.<pattern>`` and sees every
  envelope once (work used to be published a second time on core NATS for it;
  that was a third of a durable request's time). Order is kept per subject.
  Its envelopes and each request's reply travel through asyncio queues and
  futures (:mod:`critic.bus.nats_core`).
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
  A bus subscribes once per session to ``critic.<session>.inbox.*`` (and to
  ``live.`` of it, below) and hands each reply to the request waiting for it:
  no subscription per request.

Hardening (each point answers a failure seen in use):

* **A worker never dies of a message.** Work that is not a valid envelope
  (bad JSON, an unknown field, a bad deadline header) is logged and
  *terminated* (``AckTerm``: never redelivered), so it cannot take down this
  worker nor, redelivered, every worker started after it.
* **Work expires with the request that asked for it.** A request's JetStream
  copy carries ``Critic-Deadline`` (Unix time at which the requester gives
  up); a worker terminates work past it without running it (this assumes the
  machines' clocks agree to within a second or so). A requester that is gone
  before its deadline (cancelled, killed) is caught too: its bus answers
  pings on ``live.<inbox>`` (one subscription per session, like the inboxes:
  "" while the request waits, ``gone`` after), and a worker pings that subject
  before it runs a request that has waited in the stream; ``gone`` or the
  server's no-responders status (the requester's process is gone) means
  nobody waits any more, and the work is terminated. Work stored less than
  ``fresh_work`` seconds ago (1 s; by the server's stamp and the worker's
  clock) is run without the ping, which was a third of a durable request's
  time: its requester was there a moment ago, and one that gives up just
  after a ping costs a wasted run all the same. (A requester that lost
  its connection re-sends its request once reconnected, so dropping work for
  a requester that is merely reconnecting loses nothing.)
* **A missing worker fails fast.** A durable consumer outlives its workers,
  so "a consumer exists" says nothing about anybody taking the work. Every
  work subscription also answers pings on ``live.<pattern>`` (core NATS, in
  its queue group: one answer). A requester pings ``live.<topic>`` before it
  publishes work and every ``poll`` seconds while it waits; no responders
  means no live worker, and the request fails at once with
  :class:`~critic.errors.NobodyServes` instead of waiting out its timeout.
  (JetStream's ``num_waiting`` was rejected: a busy worker has no pull
  waiting, so it would look dead. Heartbeats were rejected: they need timers
  and clocks where a ping gets a definite answer from the server.) For
  ``presence_grace`` seconds after this client reconnects a missing answer is
  not trusted: the workers are reconnecting too.
* **An outage has a limit.** After ``reconnect_window`` seconds without a
  connection, waiting requests and new ones fail with
  :class:`~critic.errors.BusUnavailable` (``None``: wait forever, as a
  long-running worker does).

The taking side of a work subscription lives in :mod:`critic.bus.nats_work`; subjects,
the stream and consumer names in :mod:`critic.bus.nats_subjects`.
nats-py is asyncio-only: this bus refuses to start under trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from critic.bus.nats_core import CoreSubscription, PendingReply
from critic.bus.nats_subjects import (
    LIVE_PREFIX,
    STREAM,
    WORK_PREFIX,
    WORK_SUBJECTS,
    check_bus_url,
    durable_name,
    is_work,
    may_hold_work,
)
from critic.bus.nats_work import DEADLINE_HEADER, GONE, WorkSubscription
from critic.bus.topics import Topic, inbox, topic_matches
from critic.errors import BusError, BusUnavailable, ConfigError, NobodyServes
from critic.messages import ENVELOPE_ADAPTER, Envelope

log = logging.getLogger(__name__)

#: Sessions whose reply subscription a bus keeps (see ``NatsBus._session_inbox``).
_INBOXES = 64
#: How many handled envelope ids a bus remembers to skip redeliveries.
_SEEN = 10_000


async def _unsubscribe(subs: list[Any]) -> None:
    """Unsubscribe each of ``subs``, shielded (it runs while leaving, maybe cancelled) and
    quietly (a closed connection has nothing left to unsubscribe)."""
    with anyio.CancelScope(shield=True):
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


class NatsBus:
    """A :class:`~critic.bus.base.Bus` on a NATS server with JetStream.

    Create with :meth:`connect` (an ``async with`` works too). ``ack_wait`` is
    the redelivery timeout of unacked work; ``poll`` how often a waiting work
    subscription asks again (and notices the bus closing) and how often a
    waiting request checks that a worker is still there; ``reconnect_window``
    how long an outage may last before requests fail (None: forever);
    ``fresh_work`` how long after it was stored work is run without asking
    whether its requester still waits (0: always ask).
    """

    def __init__(
        self, nc: Any, js: Any, url: str, *, ack_wait: float, poll: float,
        reconnect_window: float | None = None, presence_grace: float = 10.0,
        fresh_work: float = 1.0,
    ) -> None:
        self._nc = nc
        self._js = js
        self.url = url
        self.ack_wait = ack_wait
        self.poll = poll
        self.reconnect_window = reconnect_window
        self.presence_grace = presence_grace
        self.fresh_work = fresh_work
        self._closed = False
        self._plain: set[CoreSubscription] = set()
        self._work: set[WorkSubscription] = set()
        # Work taken by this bus's subscriptions, and the reply (None: none) to each
        # finished one, so a redelivery is answered again instead of done again.
        self._taken: dict[str, None] = {}
        self._replies: OrderedDict[str, Envelope | None] = OrderedDict()
        self.reconnects = 0
        self._down_since: float | None = None  # monotonic time the connection was lost
        self._reconnected_at = -math.inf
        # One wildcard reply subscription per session (``critic.<s>.inbox.*``), not one
        # subscribe (and flush) per request; replies go to the pending request's callback.
        self._inboxes: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._pending: dict[str, PendingReply] = {}
        # Work topics a JetStream consumer was seen for: durable consumers outlive their
        # workers, so a topic once served stays so (a `consumers_info` call per request was
        # a third of a durable request's time).
        self._consumed: set[str] = set()
        self._present_at: dict[str, float] = {}  # topic -> when a live worker last answered

    @classmethod
    async def connect(
        cls, url: str, *, ack_wait: float = 30.0, poll: float = 1.0,
        connect_timeout: float = 5.0, reconnect_wait: float = 0.5,
        reconnect_window: float | None = 20.0, presence_grace: float = 10.0,
        fresh_work: float = 1.0,
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
        if fresh_work < 0:
            raise ConfigError(f"fresh_work must not be negative, got {fresh_work}")
        if reconnect_window is not None and reconnect_window <= 0:
            raise ConfigError(f"reconnect_window must be positive or None, got {reconnect_window}")
        try:
            from nats.aio.client import Client
            from nats.js.api import RetentionPolicy, StorageType, StreamConfig
        except ImportError as exc:  # pragma: no cover - the nats extra is missing
            raise BusError("the NATS bus needs nats-py: pip install 'critic[nats]'") from exc

        async def quiet(*_: object) -> None:  # nats-py logs and re-raises otherwise
            return None

        made: list[NatsBus] = []

        async def disconnected() -> None:
            for bus in made:
                if bus._down_since is None:
                    bus._down_since = time.monotonic()

        async def reconnected() -> None:
            for bus in made:
                bus.reconnects += 1
                bus._down_since = None
                bus._reconnected_at = time.monotonic()

        nc = Client()
        try:
            # The client itself never gives up reconnecting (a worker waits outages
            # out); requests enforce reconnect_window. nats-py would retry the first
            # connect forever too, hence the deadline.
            with anyio.fail_after(connect_timeout):
                await nc.connect(  # nats-py takes float seconds despite its int hints
                    url, connect_timeout=connect_timeout,  # type: ignore[arg-type]
                    allow_reconnect=True, max_reconnect_attempts=-1,
                    reconnect_time_wait=reconnect_wait,  # type: ignore[arg-type]
                    error_cb=quiet, disconnected_cb=disconnected, reconnected_cb=reconnected,
                    name="critic",
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
        made.append(cls(nc, js, url, ack_wait=ack_wait, poll=poll,
                        reconnect_window=reconnect_window, presence_grace=presence_grace,
                        fresh_work=fresh_work))
        return made[0]

    def _remember(self, envelope_id: str, reply: Envelope | None) -> None:
        self._taken.pop(envelope_id, None)
        self._replies[envelope_id] = reply
        if len(self._replies) > _SEEN:
            self._replies.popitem(last=False)

    def _check_outage(self) -> None:
        """Raise :class:`BusUnavailable` once the connection is lost for longer than allowed."""
        if self._down_since is None or self.reconnect_window is None:
            return
        down = time.monotonic() - self._down_since
        if down > self.reconnect_window:
            raise BusUnavailable(
                f"the NATS server at {self.url} is unreachable: no connection for {down:.0f} s "
                f"(reconnect window {self.reconnect_window:g} s)"
            )

    async def _retry(self, what: str, call: Any) -> Any:
        """Retry through a transient outage (the client is reconnecting meanwhile)."""
        try:  # the usual case, without building a retry loop each time
            return await call()
        except Exception:
            pass
        limit = self.reconnect_window or max(30.0, 2 * self.ack_wait)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_delay(limit), wait=wait_fixed(0.5),
                retry=retry_if_exception_type(Exception), reraise=True,
            ):
                with attempt:
                    return await call()
        except Exception as exc:
            if not self._nc.is_connected:
                raise BusUnavailable(
                    f"the NATS server at {self.url} is unreachable: {what} failed for {limit:g} s"
                ) from exc
            raise BusUnavailable(
                f"{what} on {self.url} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _answered(self, subject: str) -> bool | None:
        """Does anybody answer a ping on ``subject`` as present? None: cannot tell (no
        connection, no answer). A session's inbox answers :data:`GONE` for a request that
        no longer waits (its subscription covers every request of the session)."""
        import nats.errors

        if not self._nc.is_connected:
            return None
        try:
            answer = await self._nc.request(subject, b"", timeout=self.poll)
        except nats.errors.NoRespondersError:
            return False
        except Exception:
            return None
        return bool(answer.data != GONE)

    async def _worker_present(self, topic: str) -> bool | None:
        """Is a worker serving ``topic`` connected now? (See the module docstring.)"""
        present = await self._answered(LIVE_PREFIX + topic)
        if present is False and time.monotonic() - self._reconnected_at < self.presence_grace:
            return None  # we have just reconnected: the workers may still be reconnecting
        return present

    async def _has_consumer(self, subject: str) -> bool:
        if subject in self._consumed:
            return True
        infos = await self._retry("listing consumers", lambda: self._js.consumers_info(STREAM))
        found = any(
            i.config.filter_subject
            and topic_matches(i.config.filter_subject, WORK_PREFIX + subject)
            for i in infos
        )
        if found:
            self._consumed.add(subject)
        return found

    async def _session_inbox(self, session: str) -> None:
        """Subscribe once to every reply inbox of ``session`` and to the pings asking
        whether a request of it still waits; each reply finds its request."""
        if session in self._inboxes:
            self._inboxes.move_to_end(session)
            return

        async def deliver(msg: Any) -> None:
            pending = self._pending.get(msg.subject)
            if pending is not None:
                pending.deliver(msg)

        async def waiting(msg: Any) -> None:  # a worker asks before it runs the request
            if msg.reply:
                still = msg.subject[len(LIVE_PREFIX):] in self._pending
                with contextlib.suppress(Exception):
                    await self._nc.publish(msg.reply, b"" if still else GONE)

        replies = Topic.of(session, "inbox", "*").subject
        self._inboxes[session] = (await self._nc.subscribe(replies, cb=deliver),
                                  await self._nc.subscribe(LIVE_PREFIX + replies, cb=waiting))
        # A coordinator running many sessions keeps the latest ones' subscriptions only.
        while len(self._inboxes) > _INBOXES:
            old_session, old = self._inboxes.popitem(last=False)
            if any(s.startswith(f"critic.{old_session}.inbox.") for s in self._pending):
                self._inboxes[old_session] = old  # still awaited: keep it
                self._inboxes.move_to_end(old_session, last=False)
                break
            for sub in old:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def publish(self, envelope: Envelope) -> None:
        await self._publish(envelope, durable=is_work(envelope.topic))

    async def _publish(
        self, envelope: Envelope, *, durable: bool, reply: str = "",
        deadline: float | None = None,
    ) -> None:
        if self._closed:
            raise BusError("publish on a closed bus")
        data = ENVELOPE_ADAPTER.dump_json(envelope)
        parent = envelope.parent
        if parent is not None and parent in self._taken \
                and envelope.topic == f"critic.{envelope.session}.inbox.{parent}":
            self._remember(parent, envelope)
        if not durable:  # buffered by the client while it reconnects
            await self._nc.publish(envelope.topic, data, reply=reply)
            return
        # Once, to JetStream: stored before anyone is told, so a crash cannot lose it;
        # plain subscribers see it there too (see `subscribe`).
        headers = {"Nats-Msg-Id": envelope.id}
        if deadline is not None:
            headers[DEADLINE_HEADER] = f"{deadline:.3f}"
        await self._retry(
            f"publishing {envelope.topic}",
            lambda: self._js.publish(WORK_PREFIX + envelope.topic, data, headers=headers),
        )

    async def _registered(self) -> None:
        """Return once the server has our subscriptions, so another connection's
        request finds them.

        One ``flush`` is not enough: nats-py writes its PING straight to the socket
        while a SUB may still wait in its buffer for the flusher task, so the PONG can
        come back before the server has the SUB (a request from another connection
        then got "no responders"; 2 in 12 runs with two busy loops beside). By the
        time the first PONG is back the flusher has written the SUB, and the second
        PING follows it on the wire.
        """
        await self._flush()
        await self._flush()

    async def _flush(self) -> None:
        """``nc.flush()`` that a cancelled caller leaves to finish on its own.

        nats-py cancels the PONG future of a cancelled flush but keeps it in its queue;
        the PONG then raises InvalidStateError inside its read loop, which logs a
        traceback and stops reading for good (a Ctrl-C during a subscribe did that).
        Shielded, the flush task takes its PONG and ends.
        """
        await asyncio.shield(self._nc.flush())

    @asynccontextmanager
    async def subscribe(self, pattern: str, *, group: str | None = None) -> AsyncIterator[Any]:
        if self._closed:
            raise BusError("subscribe on a closed bus")
        if group is not None and is_work(pattern):
            async with self._subscribe_work(pattern, group) as sub:
                yield sub
            return
        plain = CoreSubscription()
        queue = group or ""
        subs: list[Any] = []
        # Setting up is inside the try: a subscribe cancelled half-way leaves no
        # subscription behind on the connection.
        try:
            subs.append(await self._nc.subscribe(pattern, queue=queue, cb=plain.deliver))
            if may_hold_work(pattern):  # work is published to JetStream only, under its prefix
                subs.append(await self._nc.subscribe(WORK_PREFIX + pattern, queue=queue,
                                                     cb=plain.deliver))
            await self._registered()
            self._plain.add(plain)
            yield plain
        finally:
            self._plain.discard(plain)
            plain.close()
            await _unsubscribe(subs)

    @asynccontextmanager
    async def _subscribe_work(self, pattern: str, group: str) -> AsyncIterator[WorkSubscription]:
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

        async def present(msg: Any) -> None:
            if msg.reply:
                with contextlib.suppress(Exception):
                    await self._nc.publish(msg.reply, b"")

        made = [pull]
        try:
            # Answered only once the consumer exists, so "present" means work reaches it.
            live = await self._nc.subscribe(LIVE_PREFIX + pattern, queue=group, cb=present)
            made.insert(0, live)
            await self._registered()
        except BaseException:  # cancelled half-way: no subscription left behind
            await _unsubscribe(made)
            raise
        async with anyio.create_task_group() as tg:
            sub = WorkSubscription(self, pull, tg)
            self._work.add(sub)
            try:
                yield sub
            finally:
                self._work.discard(sub)
                await _unsubscribe([live])  # leaving: stop saying "present" first
                with anyio.CancelScope(shield=True):
                    await sub.release()
                await _unsubscribe([pull])
                tg.cancel_scope.cancel()

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Envelope:
        if self._closed:
            raise BusError("request on a closed bus")
        reply_to = inbox(envelope)
        envelope = envelope.model_copy(update={"reply_to": reply_to})
        # Fixed before anything is sent, so it is never later than our own giving up.
        deadline = None if timeout is None else time.time() + timeout
        # The session's subscriptions (its inboxes, and the pings asking whether a request
        # still waits) see this request's reply once it is pending: no subscribe per request.
        pending = self._pending[reply_to] = PendingReply(reply_to)
        try:
            await self._session_inbox(envelope.session)
            durable = is_work(envelope.topic) and await self._served_durably(envelope.topic)
            reconnects = self.reconnects
            await self._publish(envelope, durable=durable, reply="" if durable else reply_to,
                                deadline=deadline)
            clock = asyncio.get_running_loop().time
            end = math.inf if timeout is None else clock() + timeout
            while not await pending.wait(min(self.poll, end - clock())):
                if clock() >= end:
                    raise TimeoutError(f"no reply on {envelope.topic!r} within {timeout:g} s")
                with anyio.fail_after(None if timeout is None else end - clock()):
                    reconnects = await self._check_on(envelope, durable, reconnects, deadline)
        finally:
            self._pending.pop(reply_to, None)
        if pending.reply is None:
            raise NobodyServes(f"nobody serves topic {envelope.topic!r}")
        return pending.reply

    async def _check_on(
        self, envelope: Envelope, durable: bool, reconnects: int, deadline: float | None
    ) -> int:
        """Every ``poll`` seconds of a request's wait: is it still worth waiting?"""
        self._check_outage()
        if self.reconnects != reconnects:
            # A reply sent while we were away is lost (core NATS): ask again; a worker
            # that already answered answers from its cache.
            await self._resend(envelope, durable, inbox(envelope), self.reconnects, deadline)
        elif durable and await self._worker_present(envelope.topic) is False:
            raise NobodyServes(f"nobody serves topic {envelope.topic!r} any more "
                               "(every worker that did is gone)")
        return self.reconnects

    async def _served_durably(self, topic: str) -> bool:
        """Whether work on ``topic`` goes to JetStream: a live worker serves it.

        A worker seen within the last ``poll`` seconds counts without a new ping: a
        waiting request pings every ``poll`` seconds anyway, so a worker gone since is
        noticed as fast as before, and back-to-back requests save a round trip each.
        """
        seen = self._present_at.get(topic)
        if seen is not None and time.monotonic() - seen < self.poll:
            return True
        present = await self._worker_present(topic)
        if present:
            self._present_at[topic] = time.monotonic()
            if len(self._present_at) > _INBOXES * 8:
                self._present_at.clear()
        if present is None:  # cannot tell now: a consumer is the best evidence there is
            self._check_outage()
            return await self._has_consumer(topic)
        return present

    async def _resend(
        self, envelope: Envelope, durable: bool, reply_to: str, n: int, deadline: float | None
    ) -> None:
        if not durable:
            await self._nc.publish(envelope.topic, ENVELOPE_ADAPTER.dump_json(envelope),
                                   reply=reply_to)
            return
        # A new message id, or the stream's dedup window drops it; plain subscribers skip
        # it for that id (it is not the envelope's), so recorders see the request once.
        headers = {"Nats-Msg-Id": f"{envelope.id}.{n}"}
        if deadline is not None:
            headers[DEADLINE_HEADER] = f"{deadline:.3f}"
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
        for plain in list(self._plain):
            plain.close()
        try:
            await self._nc.drain()
        except Exception:  # e.g. still reconnecting: drain refuses, close does not
            with contextlib.suppress(Exception):
                await self._nc.close()

    async def __aenter__(self) -> NatsBus:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


#: How long a client (``critic run``/``score``/``debate``) rides out a lost server.
RECONNECT_WINDOW = 20.0


@asynccontextmanager
async def open_bus(
    url: str, *, ack_wait: float = 30.0, reconnect_window: float | None = RECONNECT_WINDOW,
) -> AsyncIterator[NatsBus]:
    """Connect to the NATS bus at ``url`` for the duration of the block."""
    bus = await NatsBus.connect(check_bus_url(url), ack_wait=ack_wait,
                                reconnect_window=reconnect_window)
    try:
        yield bus
    finally:
        # Shielded: a block left by cancellation (Ctrl-C) must still drain and close the
        # connection; a drain cut short leaves nats-py to log errors on a dead future.
        with anyio.move_on_after(10, shield=True):
            await bus.aclose()
