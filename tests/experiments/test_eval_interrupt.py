"""Ctrl-C on a real ``critic eval`` process: it stops at once, keeps what it recorded,
and ``--resume`` finishes with every unit exactly once.

No model: the generator is the stub OpenAI-compatible server (tests/servers.py)
and the critic a plugin role, ``held-length``, installed the ordinary way (a
distribution with a ``critic.roles`` entry point on PYTHONPATH): its reviews
after the N-th of the process never end. The run therefore records exactly N
units and then waits, however fast or slow the machine: the test waits for
those lines in results.jsonl, never for a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from critic.experiments.records import read_records
from tests.nats_server import nats_server
from tests.servers import StubServer, stop_process

ROOT = Path(__file__).resolve().parents[2]
ITEMS, HELD = 8, 3
HOLD_AFTER = "HELD_LENGTH_AFTER"

#: Every unit builds its own critic, so the count of reviews is the process's (a module global).
PLUGIN = """
import os

import anyio
from critic import Critique

STARTED = [0]


class HeldLength:
    description = "Scores the output's length; reviews after $HELD_LENGTH_AFTER never end."
    weight = 1.0
    timeout = 3600.0

    def __init__(self, role, ctx):
        self.name = role.name

    async def review(self, request, record):
        STARTED[0] += 1
        hold = os.environ.get("HELD_LENGTH_AFTER")
        if hold and STARTED[0] > int(hold):
            await anyio.sleep_forever()
        return Critique(role=self.name, round=request.draft.round,
                        score=min(1.0, len(request.draft.text) / 10))
"""


def write_plugin_dist(site: Path) -> Path:
    (site / "critic_held_length").mkdir(parents=True)
    (site / "critic_held_length" / "__init__.py").write_text(PLUGIN)
    info = site / "critic_held_length-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: critic-held-length\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[critic.roles]\nheld-length = critic_held_length:HeldLength\n")
    return site


def _setup(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    with (tmp_path / "numbers.jsonl").open("w") as out:
        for k in range(ITEMS):
            out.write(json.dumps({"id": f"q{k}", "input": f"What is {k} plus 1000?",
                                  "target": str(k + 1000)}) + "\n")
    path = tmp_path / "experiment.toml"
    path.write_text('name = "held"\ndataset = "numbers.jsonl"\nbaseline = "scored"\n'
                    '[conditions.scored]\nrounds = 1\nroles = ["held-length"]\n')
    site = write_plugin_dist(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)])}
    env.pop("CRITIC_ROLES_PATH", None)
    return path, env


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


def interrupt_then_resume(tmp_path: Path, env: dict[str, str], experiment: Path,
                          extra: list[str], *, held: dict[str, str],
                          between: Callable[[], None] = lambda: None) -> None:
    """Run ``critic eval`` with ``held`` in its environment until HELD units are recorded,
    SIGINT it, check what it left, call ``between``, then ``--resume`` without ``held``."""
    out = tmp_path / "out"
    results = out / "results.jsonl"
    args = [sys.executable, "-m", "critic.cli", "eval", str(experiment), "-o", str(out),
            "--concurrency", "2", *extra]
    process = subprocess.Popen(args, env={**env, **held}, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120  # a guard against a hang, not a timing
        while len(_lines(results)) < HELD:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no units recorded in 120 s"
            time.sleep(0.05)
        # HELD units are recorded; two more are in flight and will never finish alone.
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert (f"interrupted: the {HELD} units in {results} are complete; "
            f"finish with: critic eval {experiment} -o {out} --resume") in " ".join(stderr.split())
    kept = results.read_bytes()
    assert kept.endswith(b"\n")
    assert [json.loads(line)["condition"] for line in kept.splitlines()] == ["scored"] * HELD
    assert len(read_records(results)) == HELD
    assert not (out / "summary.json").exists()  # no summary of a partial run

    between()
    resumed = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True,
                             timeout=240, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert results.read_bytes().startswith(kept)  # what was recorded stays as it was
    ids = [json.loads(line)["id"] for line in _lines(results)]
    assert sorted(ids) == sorted(f"scored|q{k}|0" for k in range(ITEMS))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conditions"]["scored"]["n"] == ITEMS


@pytest.mark.timeout(300)
def test_ctrl_c_keeps_the_units_recorded_and_resume_finishes(tmp_path: Path) -> None:
    experiment, env = _setup(tmp_path)
    with StubServer.running(latency=0.0) as stub:
        interrupt_then_resume(tmp_path, env, experiment, ["--model", stub.url],
                              held={HOLD_AFTER: str(HELD)})


def start_worker(url: str, env: dict[str, str]) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [sys.executable, "-m", "critic.cli", "worker", "--bus", url, "--role", "held-length"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert worker.stderr is not None
    line = worker.stderr.readline()  # blocks until it prints (or exits)
    assert "worker ready" in line, line
    return worker


@pytest.mark.timeout(300)
def test_ctrl_c_with_critics_on_nats_workers(tmp_path: Path) -> None:
    """The same over a real nats-server: the critic's reviews are held in a real
    ``critic worker``; after Ctrl-C a worker without the hold lets ``--resume`` finish."""
    experiment, env = _setup(tmp_path)
    store = tmp_path / "nats-store"
    store.mkdir()
    with nats_server(store) as nats, StubServer.running(latency=0.0) as stub:
        workers = [start_worker(nats.url, {**env, HOLD_AFTER: str(HELD)})]

        def replace_worker() -> None:
            stop_process(workers[0])
            workers.append(start_worker(nats.url, env))

        try:
            interrupt_then_resume(tmp_path, env, experiment,
                                  ["--model", stub.url, "--bus", nats.url], held={},
                                  between=replace_worker)
        finally:
            for worker in workers:
                stop_process(worker)
