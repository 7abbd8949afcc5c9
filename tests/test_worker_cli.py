"""``critic worker`` and ``critic run --bus``: critics in separate worker processes on a real
nats-server and the real SmolLM2 model; the transcript has the same shape as in memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nats_server import NatsServer, free_port, nats_server
from tests.test_cli import critic

TASK = "Write a Python function add(a, b) that returns a + b."


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    store = tmp_path / "nats"
    store.mkdir()
    with nats_server(store) as s:
        yield s


def start_worker(server: NatsServer, role: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "critic.cli.main", "worker", "--bus", server.url, "--role", role],
            stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while "worker ready" not in log.read_text():
        assert process.poll() is None, f"worker exited: {log.read_text()}"
        assert time.monotonic() < deadline, f"worker not ready: {log.read_text()}"
        time.sleep(0.1)
    return process


def shape(path: Path) -> Counter[tuple[str, str, str]]:
    """(topic after the session, sender, payload kind) of every envelope but model calls."""
    seen: Counter[tuple[str, str, str]] = Counter()
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("kind") == "header" or record["payload"]["kind"] == "model_call":
            continue
        name = record["topic"].split(".")[2:]
        where = "inbox" if name[0] == "inbox" else ".".join(name)
        seen[(where, record["sender"], record["payload"]["kind"])] += 1
    return seen


@pytest.mark.model
@pytest.mark.timeout(300)  # two SmolLM2 runs and two workers: 119 s measured on loaded 2 cores
def test_run_with_critics_in_two_workers_matches_the_in_memory_shape(
    server: NatsServer, model_path: Path, tmp_path: Path
) -> None:
    workers = [start_worker(server, role, tmp_path / f"{role}.log")
               for role in ("correctness", "clarity")]
    try:
        common = [TASK, "--max-tokens", "48", "--max-rounds", "1", "--json"]
        remote = critic("run", *common, "--bus", server.url, "--transcript",
                        str(tmp_path / "bus.jsonl"), timeout=300)
        assert remote.returncode == 0, remote.stderr
        for process in workers:  # SIGTERM: a clean stop, exit code 0
            os.kill(process.pid, signal.SIGTERM)
        assert [p.wait(30) for p in workers] == [0, 0]
    finally:
        for process in workers:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
    local = critic("run", *common, "--transcript", str(tmp_path / "memory.jsonl"), timeout=300)
    assert local.returncode == 0, local.stderr

    bus_shape, memory_shape = shape(tmp_path / "bus.jsonl"), shape(tmp_path / "memory.jsonl")
    assert bus_shape == memory_shape
    assert bus_shape[("inbox", "correctness", "critique")] == 1
    assert bus_shape[("inbox", "clarity", "critique")] == 1
    header = json.loads((tmp_path / "bus.jsonl").read_text().splitlines()[0])
    assert header["config"]["bus"] == server.url
    # The model calls of the critics were made in the workers and recorded here.
    senders = {json.loads(line).get("sender") for line in
               (tmp_path / "bus.jsonl").read_text().splitlines()[1:]
               if json.loads(line)["payload"]["kind"] == "model_call"}
    assert {"generator", "correctness", "clarity"} <= senders
    outcome = json.loads(remote.stdout)
    assert outcome["kind"] == "outcome" and outcome["rounds"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "x", "--bus", "http://127.0.0.1:1"], "--bus: expected nats://HOST:PORT"),
        (["worker", "--bus", "redis://h", "--role", "clarity"], "--bus: expected nats://HOST:PORT"),
        (["worker", "--bus", "nats://127.0.0.1:1", "--role", "nope"], "unknown role 'nope'"),
    ],
)
def test_bad_bus_options_are_one_line_errors(args: list[str], message: str) -> None:
    result = critic(*args, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_worker_without_a_server_names_the_url(model_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    result = critic("worker", "--bus", url, "--role", "clarity", timeout=60)
    assert result.returncode == 2
    assert f"cannot reach the NATS server at {url}" in result.stderr
