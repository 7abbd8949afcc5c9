"""``critic score`` over NATS: 200 records, critics in two worker processes, one killed mid-job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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


def slow_role(tmp_path: Path, timeout: float = 20) -> Path:
    """The coordinator only needs the role's name, weight and timeout: the worker reviews."""
    folder = tmp_path / "roles"
    folder.mkdir()
    (folder / "slow.toml").write_text(
        'name = "slow"\ndescription = "Served by tests/bus/nats_worker.py."\n'
        f'prompt = "slow.j2"\nscale = [0, 4]\ntimeout = {timeout}\n')
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


def score_args(tmp_path: Path, server: NatsServer, n: int, timeout: float = 20) -> list[str]:
    out = tmp_path / "scores.jsonl"
    return ["score", str(records(tmp_path, n)), "-o", str(out), "--role", "slow",
            "--roles-dir", str(slow_role(tmp_path, timeout)), "--bus", server.url,
            "--concurrency", "4"]


def failed_with(result: subprocess.CompletedProcess[str] | tuple[int, str], message: str) -> None:
    """Exit 2 and the last stderr line is the one-line error (progress lines may precede it)."""
    code, stderr = result if isinstance(result, tuple) else (result.returncode, result.stderr)
    assert code == 2, stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, stderr


def each_once_and_ok(out: Path, n: int) -> None:
    results = read_results(out)
    assert sorted(r.id for r in results) == sorted(f"r{i}" for i in range(n))
    assert all(r.critiques["slow"].status == "ok" for r in results)


def test_score_with_no_worker_for_the_role_stops_and_resume_scores_every_record(
    server: NatsServer, tmp_path: Path
) -> None:
    args = score_args(tmp_path, server, 6)
    first = critic(*args, timeout=120)
    failed_with(first, "no worker serves role 'slow'")
    out = tmp_path / "scores.jsonl"
    assert read_results(out) == [], "an infrastructure failure is not a result"
    worker = Worker(server, tmp_path / "w.log", delay=0, ack_wait=30)
    try:
        second = critic(*args, "--resume", timeout=120)
    finally:
        worker.stop()
    assert second.returncode == 0, second.stderr
    each_once_and_ok(out, 6)


def test_score_when_the_roles_workers_are_gone_stops_instead_of_timing_out(
    server: NatsServer, tmp_path: Path
) -> None:
    # The worker leaves its durable consumer behind: work published now would sit there.
    worker = Worker(server, tmp_path / "w.log", delay=0, ack_wait=30)
    os.kill(worker.process.pid, signal.SIGTERM)
    assert worker.process.wait() == 0
    result = critic(*score_args(tmp_path, server, 6), timeout=120)
    failed_with(result, "no worker serves role 'slow'")
    assert read_results(tmp_path / "scores.jsonl") == []


def start_score(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as err:
        return subprocess.Popen([sys.executable, "-m", "critic.cli.main", *args],
                                stdout=subprocess.DEVNULL, stderr=err)


def test_score_stops_when_its_last_worker_dies_mid_run_and_resume_finishes(
    server: NatsServer, tmp_path: Path
) -> None:
    args = score_args(tmp_path, server, 12)
    # Gated and never opened: the run is mid-way for sure when the worker dies.
    stuck = Worker(server, tmp_path / "stuck.log", delay=0, ack_wait=30, gated=True)
    try:
        job = start_score(args, tmp_path / "job.err")
        stuck.wait_for("got")
        os.kill(stuck.process.pid, signal.SIGKILL)
        stuck.process.wait()
        code = job.wait()
    finally:
        stuck.stop()
    failed_with((code, (tmp_path / "job.err").read_text()), "no worker serves role 'slow'")
    out = tmp_path / "scores.jsonl"
    assert read_results(out) == []
    worker = Worker(server, tmp_path / "w.log", delay=0, ack_wait=30)
    try:
        again = critic(*args, "--resume", timeout=120)
    finally:
        worker.stop()
    assert again.returncode == 0, again.stderr
    each_once_and_ok(out, 12)


def test_score_stops_when_the_server_is_gone_for_good_and_resume_finishes(
    server: NatsServer, tmp_path: Path
) -> None:
    args = score_args(tmp_path, server, 12)
    stuck = Worker(server, tmp_path / "stuck.log", delay=0, ack_wait=30, gated=True)
    try:
        job = start_score(args, tmp_path / "job.err")
        stuck.wait_for("got")
        server.stop()  # and it stays down: the job must give up after its reconnect window
        code = job.wait()
    finally:
        stuck.stop()
    failed_with((code, (tmp_path / "job.err").read_text()),
                f"the NATS server at {server.url} is unreachable")
    out = tmp_path / "scores.jsonl"
    assert read_results(out) == []
    server.start()  # same port, same JetStream store: the old job's work is still there
    worker = Worker(server, tmp_path / "w.log", delay=0, ack_wait=30)
    try:
        again = critic(*args, "--resume", timeout=120)
    finally:
        worker.stop()
    assert again.returncode == 0, again.stderr
    each_once_and_ok(out, 12)
    # The dead job's reviews were not run for nobody: the new worker dropped them.
    assert worker.dropped(), worker.lines()


def test_score_stops_when_a_live_worker_never_replies(server: NatsServer, tmp_path: Path) -> None:
    # The worker is connected (presence says so) but never finishes: after the role's
    # timeout (1 s) plus the 10 s grace that is a failure of the infrastructure, not a
    # `timeout` critique to write down.
    stuck = Worker(server, tmp_path / "stuck.log", delay=0, ack_wait=30, gated=True)
    try:
        result = critic(*score_args(tmp_path, server, 3, timeout=1), timeout=120)
    finally:
        stuck.stop()
    failed_with(result, "role 'slow': no reply from a worker within 11 s")
    assert read_results(tmp_path / "scores.jsonl") == []
