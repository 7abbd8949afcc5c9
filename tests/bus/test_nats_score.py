"""``critic score`` over NATS: 200 records, critics in two worker processes, one killed mid-job."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from critic.roles.registry import RoleRegistry
from critic.scoring.job import ScoreConfig, score_file
from critic.scoring.results import read_results
from tests.bus.test_nats import Worker
from tests.nats_server import NatsServer, nats_server
from tests.test_cli import critic

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


def slow_role(tmp_path: Path) -> Path:
    """The coordinator only needs the role's name, weight and timeout: the worker reviews."""
    folder = tmp_path / "roles"
    folder.mkdir()
    (folder / "slow.toml").write_text(
        'name = "slow"\ndescription = "Served by tests/bus/nats_worker.py."\n'
        'prompt = "slow.j2"\nscale = [0, 4]\ntimeout = 20\n')
    (folder / "slow.j2").write_text("Task: {{ task }}\nAnswer: {{ draft }}\n")
    return folder


def records(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "records.jsonl"
    path.write_text("".join(
        json.dumps({"id": f"r{i}", "input": "Add.", "output": f"out {i}"}) + "\n"
        for i in range(n)))
    return path


def busy(worker: Worker, reviews: int) -> None:
    deadline = time.monotonic() + 30
    while len(worker.got()) < reviews:
        assert time.monotonic() < deadline, "the worker took no work"
        time.sleep(0.02)


async def test_200_records_over_two_workers_one_killed_each_id_once(
    server: NatsServer, tmp_path: Path
) -> None:
    roles = slow_role(tmp_path)
    workers = [Worker(server, tmp_path / f"w{i}.log", delay=0.02, ack_wait=2.0)
               for i in range(2)]
    out = tmp_path / "scores.jsonl"
    try:
        config = ScoreConfig(input=records(tmp_path, 200), output=out, roles=("slow",),
                             concurrency=8, bus=server.url, roles_dirs=(roles,))
        async with anyio.create_task_group() as tg:
            done: list[int] = []

            async def job() -> None:
                report = await score_file(config, registry=RoleRegistry(extra_dirs=(roles,)))
                done.append(report.written)

            tg.start_soon(job)
            # The victim is busy (it holds work) when it is killed.
            await anyio.to_thread.run_sync(lambda: busy(workers[0], 20))
            os.kill(workers[0].process.pid, signal.SIGKILL)
            workers[0].process.wait()
    finally:
        for w in workers:
            w.stop()
    assert done == [200]
    results = read_results(out)
    assert sorted(r.id for r in results) == sorted(f"r{i}" for i in range(200))  # each once
    assert all(r.critiques["slow"].status == "ok" for r in results)
    survivor = f"pid {workers[1].process.pid}"
    by_survivor = {r.id for r in results if r.critiques["slow"].suggestion == survivor}
    assert len(by_survivor) >= 180 - len(workers[0].got())  # the rest went to the survivor
    assert workers[1].got(), "the load was shared"


def test_score_rejects_a_bad_bus_url(tmp_path: Path) -> None:
    result = critic("score", str(records(tmp_path, 1)), "-o", str(tmp_path / "o.jsonl"),
                    "--role", "clarity", "--bus", "http://x", timeout=60)
    assert result.returncode == 2
    assert "--bus: expected nats://HOST:PORT" in result.stderr
