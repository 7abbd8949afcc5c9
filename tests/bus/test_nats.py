"""The NATS bus with a real nats-server and real worker processes: durability, redelivery, errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from critic.bus.nats import NatsBus, check_bus_url, durable_name, is_work, open_bus
from critic.errors import BusError, ConfigError
from critic.messages import Critique, Draft, Envelope, ReviewRequest, Task
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
    """A worker process (tests/bus/nats_worker.py) whose output is a file we poll."""

    def __init__(self, server: NatsServer, log: Path, *, delay: float, ack_wait: float) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.bus.nats_worker", server.url, "slow",
                 str(delay), str(ack_wait)],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )
        self.wait_for("ready")

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines()

    def got(self) -> list[str]:
        return [line.removeprefix("got ") for line in self.lines() if line.startswith("got ")]

    def wait_for(self, text: str, timeout: float = 20) -> None:
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


async def ask_all(bus: NatsBus, count: int, timeout: float) -> list[Envelope]:
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
    workers += [Worker(server, tmp_path / f"w{i}.log", delay=1.0, ack_wait=2.0) for i in range(2)]
    async with open_bus(server.url) as bus, anyio.create_task_group() as tg:
        result: list[Envelope] = []

        async def job() -> None:
            result.extend(await ask_all(bus, 8, timeout=30))

        tg.start_soon(job)
        await anyio.to_thread.run_sync(workers[0].wait_for, "got")
        victim, survivor = workers
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
        held = victim.got()
    assert answered(result) == [f"s{n}" for n in range(8)]  # nothing lost, nothing twice
    survivor_pid = f"pid {survivor.process.pid}"
    assert held and all(
        r.payload.suggestion == survivor_pid  # type: ignore[union-attr]
        for r in result if r.session == f"s{held[-1]}"
    )
    assert held[-1] in survivor.got(), "the killed worker's unacked review was redelivered"


async def test_sigterm_releases_in_flight_work_at_once(
    server: NatsServer, workers: list[Worker], tmp_path: Path
) -> None:
    # ack_wait is long: only the nak on SIGTERM can hand the work over this fast.
    slow = Worker(server, tmp_path / "slow.log", delay=30.0, ack_wait=60.0)
    workers.append(slow)
    async with open_bus(server.url) as bus, anyio.create_task_group() as tg:
        result: list[Envelope] = []

        async def job() -> None:
            result.extend(await ask_all(bus, 1, timeout=15))

        tg.start_soon(job)
        await anyio.to_thread.run_sync(slow.wait_for, "got")
        fast = Worker(server, tmp_path / "fast.log", delay=0.2, ack_wait=60.0)
        workers.append(fast)
        started = time.monotonic()
        os.kill(slow.process.pid, signal.SIGTERM)
        assert await anyio.to_thread.run_sync(lambda: slow.process.wait(10)) == 0
    assert answered(result) == ["s0"]
    assert result[0].payload.suggestion == f"pid {fast.process.pid}"  # type: ignore[union-attr]
    assert time.monotonic() - started < 10


async def test_job_completes_across_a_server_restart(
    server: NatsServer, workers: list[Worker], tmp_path: Path
) -> None:
    workers.append(Worker(server, tmp_path / "w.log", delay=0.5, ack_wait=3.0))
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
    assert not is_work("critic.s.inbox.1") and not is_work("critic.s.review")
    name = durable_name("critic.*.review.a", "critic-workers")
    assert "." not in name and "*" not in name and name != durable_name("critic.*.review.b", "critic-workers")
    assert check_bus_url("nats://h:4222") == "nats://h:4222"
    with pytest.raises(ConfigError, match="--bus: expected nats://HOST:PORT"):
        check_bus_url("http://h:4222")


async def test_two_workers_share_200_requests_each_answered_once(
    server: NatsServer, workers: list[Worker], tmp_path: Path
) -> None:
    workers += [Worker(server, tmp_path / f"w{i}.log", delay=0.01, ack_wait=5.0) for i in range(2)]
    async with open_bus(server.url) as bus:
        result = await ask_all(bus, 200, timeout=60)
    assert answered(result) == [f"s{n}" for n in range(200)]
    taken = [w.got() for w in workers]
    assert all(taken), "both workers took work"
    assert sorted(taken[0] + taken[1], key=int) == [str(n) for n in range(200)]  # none twice
