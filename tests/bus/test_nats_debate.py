"""A debate whose critic is served by a separate worker process over a real nats-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from critic import Debate, LLMDebater, RemoteCritic
from critic.bus.nats import open_bus
from critic.testing import ScriptedModel
from tests.bus.test_nats import Worker
from tests.nats_server import NatsServer, nats_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nats-py is asyncio-only


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    with nats_server(tmp_path) as s:
        yield s


async def test_debate_critics_served_by_a_worker(server: NatsServer, tmp_path: Path) -> None:
    worker = Worker(server, tmp_path / "w.log", delay=0.01, ack_wait=5.0)
    try:
        model = ScriptedModel(scripts={
            "debater-1": ["Answer: 156", "Answer: 156"],
            "debater-2": ["Answer: 144", "Answer: 156"],
        })
        debaters = [LLMDebater(n, model.backend(n)) for n in ("debater-1", "debater-2")]
        async with open_bus(server.url) as bus:
            debate = Debate("What is 12 * 13?", debaters, rounds=2, bus=bus,
                            remote=[RemoteCritic("slow", timeout=10)])
            outcome = await debate.run()
    finally:
        worker.stop()
    reviews = outcome.rounds[0].critiques
    assert {c.debater for c in reviews} == {"debater-1", "debater-2"}
    assert all(c.critique.role == "slow" and c.critique.status == "ok" for c in reviews)
    assert {c.critique.suggestion for c in reviews} == {f"pid {worker.process.pid}"}
    assert sorted(worker.got()) == ["Answer: 144", "Answer: 156"]
    assert outcome.answer == "156"
