"""A session on the NATS bus records its own transcript locally, completely, across a
server restart in the middle of the run (critics served by a worker process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from critic import LLMGenerator, RemoteCritic, Session, Task, ThresholdJudge
from critic.bus.nats import open_bus
from critic.messages import Draft, DraftRequest
from critic.protocols import Recorder
from critic.testing import ScriptedModel
from critic.transcript import TranscriptHeader, TranscriptWriter, read_transcript
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


@dataclass
class RestartingGenerator:
    """Drafts like its inner generator, but restarts the server first: the session has
    started (its task and draft request are out), its reviews and verdict are to come."""

    inner: LLMGenerator
    server: NatsServer
    name: str = "generator"

    async def draft(self, request: DraftRequest, record: Recorder) -> Draft:
        if request.round == 1:
            await anyio.to_thread.run_sync(self.server.restart)  # same port and store
        return await self.inner.draft(request, record)


async def test_transcript_is_complete_across_a_server_restart(
    server: NatsServer, tmp_path: Path
) -> None:
    worker = await Worker.start(server, tmp_path / "w.log", delay=0.01, ack_wait=5.0)
    try:
        model = ScriptedModel(scripts={"generator": ["first draft"]})
        generator = RestartingGenerator(LLMGenerator(model.backend("generator")), server)
        path = tmp_path / "t.jsonl"
        async with open_bus(server.url) as bus:
            with TranscriptWriter(path, TranscriptHeader(session="s")) as writer:
                session = Session(
                    Task(prompt="Say something."), generator,
                    ThresholdJudge(accept_at=1.0, max_rounds=2),  # the worker's critic gives 1.0
                    remote=[RemoteCritic("slow", timeout=30)], bus=bus, transcript=writer,
                )
                outcome = await session.run()
    finally:
        worker.stop()
    envelopes = read_transcript(path).envelopes
    ids = [e.id for e in envelopes]
    assert len(ids) == len(set(ids)), "an envelope was recorded twice"
    kinds = [e.payload.kind for e in envelopes]
    assert kinds[0] == "task" and kinds[-1] == "outcome"
    assert outcome.rounds == 1 and outcome.decision == "accept"  # score 1.0 >= accept_at
    # Every step of the round is there, each request with its reply.
    for kind in ("draft_request", "draft", "review_request", "critique", "judge_request",
                 "verdict", "model_call"):
        assert kind in kinds, (kind, kinds)
    assert json.loads(path.read_text().splitlines()[-1])["payload"] == json.loads(
        outcome.model_dump_json())
