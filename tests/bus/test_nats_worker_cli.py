"""``critic worker`` (the real command) on a real nats-server: a malformed message on its
work subject is logged and terminated, and the worker goes on serving."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from critic.bus.nats import open_bus
from critic.bus.nats_work import DEADLINE_HEADER
from critic.messages import ENVELOPE_ADAPTER, Critique, Draft, Envelope, ReviewRequest, Task
from tests.bus.test_nats import consumer_settled, publish_raw
from tests.nats_server import NatsServer, nats_server
from tests.test_worker_cli import start_worker

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py is asyncio-only


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    store = tmp_path / "nats"
    store.mkdir()
    with nats_server(store) as s:
        yield s


def review(session: str) -> Envelope:
    # `runs` executes the draft in the sandbox: no model needed, a critique either way.
    request = ReviewRequest(task=Task(prompt="Print one."), draft=Draft(round=1, text="print(1)"),
                            role="runs")
    return Envelope(session=session, topic=f"critic.{session}.review.runs", sender="test",
                    payload=request)


async def test_worker_command_survives_malformed_work(server: NatsServer, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    process = await anyio.to_thread.run_sync(lambda: start_worker(server, "runs", log))
    try:
        subject = "work.critic.bad.review.runs"
        extra = ENVELOPE_ADAPTER.dump_python(review("bad"), mode="json") | {"priority": 1}
        await publish_raw(server, subject, b"\xff\xfe not json")
        await publish_raw(server, subject, json.dumps(extra).encode())
        await publish_raw(server, subject, ENVELOPE_ADAPTER.dump_json(review("bad")),
                          headers={DEADLINE_HEADER: "inf"})
        async with open_bus(server.url) as bus:
            reply = await bus.request(review("good"), timeout=None)
        assert isinstance(reply.payload, Critique) and reply.payload.role == "runs"
        assert process.poll() is None, log.read_text()
        dropped = [line for line in log.read_text().splitlines() if "dropped work" in line]
        assert len(dropped) == 3, log.read_text()
        assert all("critic.bad.review.runs" in line and "not valid work" in line for line in dropped)
        info = await consumer_settled(server, "critic.*.review.runs")
        assert info.num_redelivered == 0
        os.kill(process.pid, signal.SIGTERM)
        assert await anyio.to_thread.run_sync(process.wait) == 0
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
