"""The NATS bus with a real nats-server and real worker processes: durability, redelivery, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from critic.bus.nats import NatsBus, open_bus
from critic.bus.nats_subjects import (
    LIVE_PREFIX,
    STREAM,
    check_bus_url,
    durable_name,
    is_work,
    may_hold_work,
)
from critic.bus.nats_work import DEADLINE_HEADER, GONE
from critic.bus.topics import inbox
from critic.bus.worker import WORKER_GROUP
from critic.errors import BusError, ConfigError
from critic.messages import ENVELOPE_ADAPTER, Critique, Draft, Envelope, ReviewRequest, Task
from tests.nats_server import NatsServer, free_port, nats_server

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py is asyncio-only; trio is checked in test_trio_is_refused


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    with nats_server(tmp_path) as s:
        yield s


class Worker:
    """A worker process (tests/bus/nats_worker.py) whose output is a file we poll.

    ``gated``: its reviews wait for :meth:`open_gate`; ``ask``: it asks whether the
    requester still waits before every review (see nats_worker.py).
    """

    def __init__(
        self, server: NatsServer, log: Path, *, delay: float, ack_wait: float,
        gated: bool = False, ask: bool = False,
    ) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.bus.nats_worker", server.url, "slow",
                 str(delay), str(ack_wait), *(["gated"] if gated else []),
                 *(["ask"] if ask else [])],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )
        self.wait_for("ready")

    @classmethod
    async def start(
        cls, server: NatsServer, log: Path, *, delay: float, ack_wait: float,
        gated: bool = False, ask: bool = False,
    ) -> Worker:
        """From async code: waiting for "ready" in a thread keeps the event loop (and so this
        process's own NATS traffic, unsubscribes included) running meanwhile."""
        return await anyio.to_thread.run_sync(
            lambda: cls(server, log, delay=delay, ack_wait=ack_wait, gated=gated, ask=ask))

    def open_gate(self) -> None:
        os.kill(self.process.pid, signal.SIGUSR1)

    def dropped(self) -> list[str]:
        return [line for line in self.lines() if "dropped work" in line]

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def got(self) -> list[str]:
        return [line.removeprefix("got ") for line in self.lines() if line.startswith("got ")]

    def wait_for(self, text: str, timeout: float = 120) -> None:
        # The timeout only bounds a failure: a working process prints within a second or two.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines()):
                return
            assert self.process.poll() is None, f"worker exited: {self.log.read_text()}"
            time.sleep(0.05)
        raise AssertionError(f"worker never printed {text!r}: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def workers(server: NatsServer, tmp_path: Path) -> Iterator[list[Worker]]:
    made: list[Worker] = []
    yield made
    for w in made:
        w.stop()


def review(session: str, n: int) -> Envelope:
    task = Task(prompt="p")
    return Envelope(session=session, topic=f"critic.{session}.review.slow", sender="test",
                    payload=ReviewRequest(task=task, draft=Draft(round=1, text=str(n)), role="slow"))


async def ask_all(bus: NatsBus, count: int, timeout: float | None) -> list[Envelope]:
    replies: list[Envelope] = []

    async def ask(n: int) -> None:
        replies.append(await bus.request(review(f"s{n}", n), timeout=timeout))

    async with anyio.create_task_group() as tg:
        for n in range(count):
            tg.start_soon(ask, n)
    return replies


def answered(replies: list[Envelope]) -> list[str]:
    return sorted((r.session for r in replies), key=lambda s: int(s[1:]))


async def test_sigkill_of_a_worker_holding_work_redelivers_it_to_the_other(
    server: NatsServer, workers: list[Worker], tmp_path: Path
) -> None:
    # The victim never finishes a review, so what it took it still holds when killed;
    # requests wait without a timeout: only redelivery can finish the job.
    victim = await Worker.start(server, tmp_path / "victim.log", delay=3600, ack_wait=2.0)
    workers.append(victim)
    async with open_bus(server.url) as bus, anyio.create_task_group() as tg:
        result: list[Envelope] = []

        async def job() -> None:
            result.extend(await ask_all(bus, 8, timeout=None))

        tg.start_soon(job)
        await anyio.to_thread.run_sync(victim.wait_for, "got")
        survivor = await Worker.start(server, tmp_path / "survivor.log", delay=0.01, ack_wait=2.0)
        workers.append(survivor)
        os.kill(victim.process.pid, signal.SIGKILL)
        await anyio.to_thread.run_sync(victim.process.wait)
    held = victim.got()
    assert len(held) == 1, "a worker holds one review at a time"
    assert answered(result) == [f"s{n}" for n in range(8)]  # nothing lost, nothing twice
    assert all(r.payload.suggestion == f"pid {survivor.process.pid}"  # type: ignore[union-attr]
               for r in result)
    assert held[0] in survivor.got(), "the killed worker's unacked review was redelivered"


async def test_sigterm_releases_in_flight_work_at_once(
    server: NatsServer, workers: list[Worker], tmp_path: Path
) -> None:
    # ack_wait is an hour and the request has no timeout: only the nak on SIGTERM
    # can hand the review over before the test's own timeout fails it.
    slow = await Worker.start(server, tmp_path / "slow.log", delay=3600, ack_wait=3600)
    workers.append(slow)
    async with open_bus(server.url) as bus, anyio.create_task_group() as tg:
        result: list[Envelope] = []

        async def job() -> None:
            result.extend(await ask_all(bus, 1, timeout=None))

        tg.start_soon(job)
        await anyio.to_thread.run_sync(slow.wait_for, "got")
        fast = await Worker.start(server, tmp_path / "fast.log", delay=0, ack_wait=3600)
        workers.append(fast)
        os.kill(slow.process.pid, signal.SIGTERM)
        assert await anyio.to_thread.run_sync(slow.process.wait) == 0
    assert answered(result) == ["s0"]
    assert result[0].payload.suggestion == f"pid {fast.process.pid}"  # type: ignore[union-attr]
    assert fast.got() == ["0"]


async def test_job_completes_across_a_server_restart(
    server: NatsServer, workers: list[Worker], tmp_path: Path
) -> None:
    workers.append(await Worker.start(server, tmp_path / "w.log", delay=0.5, ack_wait=3.0))
    async with open_bus(server.url) as bus, anyio.create_task_group() as tg:
        result: list[Envelope] = []

        async def job() -> None:
            result.extend(await ask_all(bus, 6, timeout=60))

        tg.start_soon(job)
        await anyio.to_thread.run_sync(workers[0].wait_for, "got")
        await anyio.to_thread.run_sync(server.restart)  # same port, same JetStream store
    assert answered(result) == [f"s{n}" for n in range(6)]
    assert all(isinstance(r.payload, Critique) and r.payload.score == 1.0 for r in result)


async def test_redelivered_duplicate_is_skipped_by_envelope_id(server: NatsServer) -> None:
    async with (
        open_bus(server.url, ack_wait=1.0) as bus,
        bus.subscribe("critic.*.review.dup", group="g") as sub,
    ):
        e = Envelope(session="s", topic="critic.s.review.dup", sender="t",
                     payload=Draft(round=1, text="x"))
        await bus.publish(e)
        await bus.publish(e)  # the same envelope again: the stream drops it (Nats-Msg-Id)
        assert await sub.receive() == e
        second = e.model_copy(update={"payload": Draft(round=1, text="y")})
        await bus.publish(second)  # same id, new content: still one piece of work
        with anyio.move_on_after(2.5) as scope:  # longer than ack_wait
            extra = await sub.receive()
            pytest.fail(f"duplicate delivered: {extra}")
        assert scope.cancelled_caught


async def test_unreachable_server_is_a_bus_error_naming_the_url() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(BusError, match=f"cannot reach the NATS server at {url}"):
        await NatsBus.connect(url, connect_timeout=1)


def test_trio_is_refused() -> None:
    async def main() -> None:
        await NatsBus.connect("nats://127.0.0.1:4222")

    with pytest.raises(BusError, match="asyncio"):
        anyio.run(main, backend="trio")


def test_work_topics_and_names() -> None:
    assert is_work("critic.s.review.correctness") and is_work("critic.*.score.x")
    for pattern in ("critic.s.>", "critic.>", ">", "*.s.*.x", "critic.*.review.*", "critic.s.score.a.b"):
        assert may_hold_work(pattern), pattern
    for pattern in ("critic.s.judge", "critic.s.review", "critic.s.inbox.*", "other.>", "critic.s.*"):
        assert not may_hold_work(pattern), pattern
    assert not is_work("critic.s.inbox.1") and not is_work("critic.s.review")
    name = durable_name("critic.*.review.a", "critic-workers")
    assert "." not in name and "*" not in name and name != durable_name("critic.*.review.b", "critic-workers")
    assert check_bus_url("nats://h:4222") == "nats://h:4222"
    with pytest.raises(ConfigError, match="--bus: expected nats://HOST:PORT"):
        check_bus_url("http://h:4222")


async def test_two_workers_share_200_requests_each_answered_once(
    server: NatsServer, workers: list[Worker], tmp_path: Path
) -> None:
    # Gated: each worker holds its first review until both hold one, so both take
    # work whatever the scheduling; ack_wait is an hour, so nothing is redelivered.
    workers += [await Worker.start(server, tmp_path / f"w{i}.log", delay=0, ack_wait=3600, gated=True)
                for i in range(2)]
    async with open_bus(server.url) as bus, anyio.create_task_group() as tg:
        result: list[Envelope] = []

        async def job() -> None:
            result.extend(await ask_all(bus, 200, timeout=None))

        tg.start_soon(job)
        for w in workers:
            await anyio.to_thread.run_sync(w.wait_for, "got")
        for w in workers:
            w.open_gate()
    assert answered(result) == [f"s{n}" for n in range(200)]
    taken = [w.got() for w in workers]
    assert all(taken), "both workers took work"
    assert sorted(taken[0] + taken[1], key=int) == [str(n) for n in range(200)]  # none twice


async def consumer_when(server: NatsServer, pattern: str, ready: Callable[[Any], bool],
                        group: str = WORKER_GROUP) -> Any:
    """The consumer's info once ``ready(info)`` holds (observed state, not timed)."""
    import nats

    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        while True:
            info = await js.consumer_info(STREAM, durable_name(pattern, group))
            if ready(info):
                return info
            await anyio.sleep(0.05)
    finally:
        await nc.close()


async def consumer_settled(server: NatsServer, pattern: str) -> Any:
    """The consumer's info once nothing is waiting to be delivered or acked."""
    return await consumer_when(
        server, pattern, lambda info: info.num_ack_pending == 0 and info.num_pending == 0)


async def publish_raw(server: NatsServer, subject: str, data: bytes,
                      headers: dict[str, str] | None = None) -> None:
    """What a buggy or foreign client might put on a work subject."""
    import nats

    nc = await nats.connect(server.url)
    try:
        await nc.jetstream().publish(subject, data, headers=headers)
    finally:
        await nc.close()


async def test_malformed_work_is_terminated_and_the_worker_carries_on(
    server: NatsServer, workers: list[Worker], tmp_path: Path
) -> None:
    worker = await Worker.start(server, tmp_path / "w.log", delay=0, ack_wait=3600)
    workers.append(worker)
    subject = "work.critic.bad.review.slow"
    good = review("s1", 1)
    extra = ENVELOPE_ADAPTER.dump_python(good, mode="json") | {"priority": "high"}
    await publish_raw(server, subject, b"{not json")
    await publish_raw(server, subject, json.dumps(extra).encode())  # a valid envelope + a field
    await publish_raw(server, subject, ENVELOPE_ADAPTER.dump_json(good),
                      headers={DEADLINE_HEADER: "soon"})
    async with open_bus(server.url) as bus:  # the consumer delivers in order: the bad ones first
        reply = await bus.request(review("s2", 2), timeout=None)
    assert reply.payload.suggestion == f"pid {worker.process.pid}"  # type: ignore[union-attr]
    assert worker.process.poll() is None, "the worker survived"
    assert worker.got() == ["2"], "nothing malformed was reviewed"
    dropped = worker.dropped()
    assert len(dropped) == 3, worker.lines()
    assert "Invalid JSON" in dropped[0]
    assert "priority: Extra inputs are not permitted" in dropped[1]
    assert "Critic-Deadline" in dropped[2]
    # Terminated, not left for redelivery to the next worker: nothing pending, nothing redelivered.
    info = await consumer_settled(server, "critic.*.review.slow")
    assert info.num_redelivered == 0 and info.delivered.consumer_seq == 4


async def test_work_past_its_deadline_is_dropped_not_run(
    server: NatsServer, workers: list[Worker], tmp_path: Path
) -> None:
    busy = await Worker.start(server, tmp_path / "busy.log", delay=0, ack_wait=3600, gated=True)
    workers.append(busy)
    late = review("s1", 1)
    async with open_bus(server.url) as bus, anyio.create_task_group() as tg:
        tg.start_soon(bus.request, review("s0", 0))  # the only worker is busy with it
        await anyio.to_thread.run_sync(busy.wait_for, "got 0")
        with pytest.raises(TimeoutError):  # queued behind s0: the requester gives up
            await bus.request(late, timeout=0.5)
        fresh = await Worker.start(server, tmp_path / "fresh.log", delay=0, ack_wait=3600)
        workers.append(fresh)
        await anyio.to_thread.run_sync(fresh.wait_for, "dropped work")
        tg.cancel_scope.cancel()
    assert fresh.dropped() == [line for line in fresh.lines() if f"envelope {late.id} expired" in line]
    assert "1" not in fresh.got() + busy.got(), "nobody ran the expired review"


async def test_work_whose_requester_is_gone_is_dropped_not_run(
    server: NatsServer, workers: list[Worker], tmp_path: Path
) -> None:
    busy = await Worker.start(server, tmp_path / "busy.log", delay=0, ack_wait=3600, gated=True)
    workers.append(busy)
    orphan = review("s1", 1)
    async with open_bus(server.url) as bus, anyio.create_task_group() as tg:
        tg.start_soon(bus.request, review("s0", 0))
        await anyio.to_thread.run_sync(busy.wait_for, "got 0")
        async with anyio.create_task_group() as asking:  # no timeout, so no deadline either
            asking.start_soon(bus.request, orphan)
            # Stored and waiting behind s0 (which the busy worker holds unacked):
            await consumer_when(server, "critic.*.review.slow", lambda info: info.num_pending == 1)
            asking.cancel_scope.cancel()  # the requester gives up (as a killed job would)
        await until_nobody_waits(server, LIVE_PREFIX + inbox(orphan))
        # `ask`: however soon it gets there, the orphan counts as having waited (a worker
        # trusts work stored under a second ago; see test_fresh_work_is_run_without_asking).
        fresh = await Worker.start(server, tmp_path / "fresh.log", delay=0, ack_wait=3600, ask=True)
        workers.append(fresh)
        await anyio.to_thread.run_sync(fresh.wait_for, "dropped work")
        tg.cancel_scope.cancel()
    assert any(f"nobody waits for the reply to envelope {orphan.id}" in line
               for line in fresh.dropped())
    assert "1" not in fresh.got() + busy.got(), "nobody ran the orphaned review"


async def until_nobody_waits(server: NatsServer, subject: str) -> None:
    """Wait until a ping on ``subject`` says nobody waits (no responders, or the requester's
    session answers GONE): observed state."""
    import nats
    import nats.errors

    nc = await nats.connect(server.url)
    try:
        while True:
            try:
                if (await nc.request(subject, b"", timeout=5)).data == GONE:
                    return
            except nats.errors.NoRespondersError:
                return
            except nats.errors.TimeoutError:
                pass  # a subscription the server still has but its client already dropped
            await anyio.sleep(0.05)
    finally:
        await nc.close()


@asynccontextmanager
async def echoed(server: NatsServer) -> AsyncIterator[NatsBus]:
    """A bus whose requests on ``critic.s.echo`` another connection answers with their payload."""
    async with (
        open_bus(server.url) as serving,
        open_bus(server.url) as asking,
        serving.subscribe("critic.s.echo") as requests,
        anyio.create_task_group() as tg,
    ):
        async def echo() -> None:
            async for request in requests:
                await serving.publish(request.reply(request.payload, sender="echo"))

        tg.start_soon(echo)
        yield asking
        tg.cancel_scope.cancel()


async def test_requests_of_a_session_share_one_reply_subscription(server: NatsServer) -> None:
    async with echoed(server) as asking:
        before = len(asking._nc._subs)
        for i in range(5):
            e = Envelope(session="s", topic="critic.s.echo", sender="t",
                         payload=Draft(round=1, text=str(i)))
            with anyio.fail_after(10):
                reply = await asking.request(e)
            assert reply.parent == e.id and reply.payload == Draft(round=1, text=str(i))
        # Two lasting subscriptions for session s (its inboxes, the pings asking whether a
        # request still waits), none per request.
        assert len(asking._nc._subs) == before + 2
        assert list(asking._inboxes) == ["s"] and asking._pending == {}


async def test_a_consumer_once_found_is_not_looked_up_again(server: NatsServer) -> None:
    async with open_bus(server.url) as bus, bus.subscribe("critic.*.review.c", group="g"):
        calls = 0
        real = bus._js.consumers_info

        async def counted(*args: Any) -> Any:
            nonlocal calls
            calls += 1
            return await real(*args)

        bus._js.consumers_info = counted
        for _ in range(3):
            assert await bus._has_consumer("critic.s.review.c")
        assert calls == 1
        assert not await bus._has_consumer("critic.s.review.other")
        assert not await bus._has_consumer("critic.s.review.other")
        assert calls == 3  # absence is never cached: a worker may come


async def test_a_worker_seen_within_poll_is_not_pinged_again(server: NatsServer) -> None:
    async with open_bus(server.url) as bus, bus.subscribe("critic.*.review.p", group="g"):
        pings = 0
        real = bus._worker_present

        async def counted(topic: str) -> bool | None:
            nonlocal pings
            pings += 1
            return await real(topic)

        bus._worker_present = counted  # type: ignore[method-assign]
        topic = "critic.s.review.p"
        assert await bus._served_durably(topic) and pings == 1
        assert await bus._served_durably(topic) and pings == 1  # seen just now
        bus._present_at[topic] -= bus.poll  # as if `poll` seconds had passed
        assert await bus._served_durably(topic) and pings == 2


async def test_work_is_published_once_and_plain_subscribers_see_it_once(server: NatsServer) -> None:
    import nats

    # A raw client counts what reaches the server's subjects: the work copy only, and a
    # re-send (after a reconnect) reaches JetStream but no recorder.
    raw = await nats.connect(server.url)
    subjects: list[str] = []
    markers = anyio.Event()

    async def count(msg: Any) -> None:
        subjects.append(msg.subject)
        if {"critic.s.end", "work.critic.s.review.end"} <= set(subjects):
            markers.set()

    await raw.subscribe("critic.s.>", cb=count)
    await raw.subscribe("work.critic.s.>", cb=count)
    await raw.flush()
    try:
        async with (
            open_bus(server.url) as bus,
            bus.subscribe("critic.s.>") as recorder,
            bus.subscribe("critic.*.review.once", group="g") as work,
        ):
            e = Envelope(session="s", topic="critic.s.review.once", sender="t",
                         payload=Draft(round=1, text="x"))
            await bus.publish(e)
            assert await work.receive() == e
            await bus._resend(e, True, inbox(e), 1, None)
            # Markers on both kinds of subject: each arrives after what was sent before it
            # on its own subscription, so nothing of `e` can still be on its way.
            ends = [Envelope(session="s", topic=t, sender="t", payload=Draft(round=1, text="end"))
                    for t in ("critic.s.review.end", "critic.s.end")]
            for end in ends:
                await bus.publish(end)
            with anyio.fail_after(30):
                await markers.wait()
                seen = [await recorder.receive() for _ in range(3)]
            assert subjects.count("work.critic.s.review.once") == 2  # the publish and the re-send
            assert "critic.s.review.once" not in subjects, "work also went out on core NATS"
            assert sorted(x.id for x in seen) == sorted([e.id, *(end.id for end in ends)])
            with anyio.move_on_after(0.5):
                extra = await recorder.receive()
                pytest.fail(f"the recorder got a message twice: {extra}")
    finally:
        await raw.close()


@pytest.mark.parametrize("fresh_work", [3600.0, 0.0])
async def test_fresh_work_is_run_without_asking_whether_its_requester_waits(
    server: NatsServer, fresh_work: float
) -> None:
    # 3600: every request counts as fresh, so no worker ping reaches the requester's session;
    # 0: each one has waited, so each is preceded by one.
    async with (
        await NatsBus.connect(server.url, fresh_work=fresh_work) as serving,
        open_bus(server.url) as asking,
        serving.subscribe("critic.*.review.f", group="g") as requests,
        anyio.create_task_group() as tg,
    ):
        pings: list[str] = []
        real = serving._answered

        async def counted(subject: str) -> bool | None:
            pings.append(subject)
            return await real(subject)

        serving._answered = counted  # type: ignore[method-assign]

        async def echo() -> None:
            async for request in requests:
                await serving.publish(request.reply(request.payload, sender="echo"))

        tg.start_soon(echo)
        sent = [review("s", n) for n in range(3)]
        sent = [e.model_copy(update={"topic": "critic.s.review.f"}) for e in sent]
        for e in sent:
            with anyio.fail_after(30):
                assert (await asking.request(e)).parent == e.id
        asked = [LIVE_PREFIX + inbox(e) for e in sent]
        assert pings == ([] if fresh_work else asked)
        tg.cancel_scope.cancel()


async def test_work_in_hand_is_kept_alive_then_acked_once_answered(server: NatsServer) -> None:
    import nats

    # The worker's acks are NATS messages on $JS.ACK.<stream>...: a raw client watches them.
    raw = await nats.connect(server.url)
    acks: list[bytes] = []
    kept, acked = anyio.Event(), anyio.Event()

    async def watch(msg: Any) -> None:
        acks.append(msg.data)
        if acks.count(b"+WPI") >= 4:
            kept.set()
        if msg.data == b"":  # nats-py's ack (+ACK) has an empty body
            acked.set()

    await raw.subscribe(f"$JS.ACK.{STREAM}.>", cb=watch)
    await raw.flush()
    try:
        async with (
            open_bus(server.url, ack_wait=3.0) as bus,
            bus.subscribe("critic.*.review.k", group="g") as work,
        ):
            first, second = (Envelope(session="s", topic="critic.s.review.k", sender="t",
                                      payload=Draft(round=1, text=str(n))) for n in range(2))
            await bus.publish(first)
            with anyio.fail_after(60):
                assert await work.receive() == first
                # Held: "still working" every ack_wait / 3 s, so four of them span more than
                # ack_wait, and the server must not hand the message out again meanwhile.
                await kept.wait()
                assert set(acks) == {b"+WPI"}, acks
                await bus.publish(second)
                assert await work.receive() == second  # asking for more settles the first
                await acked.wait()
                assert set(acks) == {b"+WPI", b""}, acks
            info = await consumer_when(server, "critic.*.review.k",
                                       lambda info: info.num_ack_pending == 1, group="g")
            assert info.num_redelivered == 0 and info.delivered.consumer_seq == 2
    finally:
        await raw.close()


async def test_a_flush_cancelled_before_its_pong_leaves_the_connection_reading(
    server: NatsServer,
) -> None:
    """A Ctrl-C during a subscribe cancelled a flush waiting for its PONG; nats-py then
    raised InvalidStateError in its read loop, printed a traceback and read no more."""
    async with echoed(server) as asking:
        nc = asking._nc
        assert await cancelled_once_pinged(asking, asking._registered())
        e = Envelope(session="s", topic="critic.s.echo", sender="t", payload=Draft(round=1, text="x"))
        with anyio.fail_after(10):  # a guard against a dead read loop, not a timing
            reply = await asking.request(e)
        assert reply.payload == Draft(round=1, text="x")
        assert not nc._reading_task.done()


async def cancelled_once_pinged(bus: NatsBus, waiting: Awaitable[object]) -> bool:
    """Await ``waiting``, cancelled as soon as the bus has sent a PING (a flush waits for its
    PONG); whether the cancellation landed there."""
    nc = bus._nc
    pinged = anyio.Event()
    send_ping = nc._send_ping

    async def observed_ping(future: Any = None) -> None:
        await send_ping(future)
        pinged.set()

    nc._send_ping = observed_ping
    try:
        with anyio.CancelScope() as scope:
            async def cancel_once_pinged() -> None:
                await pinged.wait()  # the PING is out, its PONG not yet read
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(cancel_once_pinged)
                await waiting
        return scope.cancelled_caught
    finally:
        nc._send_ping = send_ping


@pytest.mark.parametrize(("pattern", "group"), [("critic.s.echo", None),
                                                ("critic.*.review.tidy", "workers")])
async def test_a_subscribe_cancelled_while_registering_leaves_no_subscription(
    server: NatsServer, pattern: str, group: str | None,
) -> None:
    async with open_bus(server.url) as bus:
        before = set(bus._nc._subs)

        async def subscribe() -> None:
            async with bus.subscribe(pattern, group=group):
                raise AssertionError("the subscribe was to be cancelled before it was made")

        assert await cancelled_once_pinged(bus, subscribe())
        assert set(bus._nc._subs) == before
