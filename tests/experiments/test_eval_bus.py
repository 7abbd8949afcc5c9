"""``critic eval --bus``: critics asked over a bus give the results of the in-process run.

``memory``: the critics are hosted in this process the way a worker hosts them;
NATS: a real ``nats-server`` on 127.0.0.1 and a real ``critic worker`` process.
The generator is scripted and the critics deterministic (the ``doctests`` role
runs the visible tests in the sandbox), so the two runs must agree on every
unit: every round's draft, scores, oracle verdict, selection and tokens.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from critic.errors import BusUnavailable, ConfigError
from critic.experiments.conditions import load_experiment
from critic.experiments.records import read_records
from critic.experiments.runner import run_experiment
from critic.protocols import CriticContext
from critic.roles.kinds import CriticKinds
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role
from tests.experiments.scripted_eval import (
    NoopCritic,
    ScriptedPool,
    code_items,
    eval_parts,
    repairing_generator,
    scripted,
)
from tests.nats_server import NatsServer, nats_server
from tests.servers import stop_process

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]

EXPERIMENT = """
name = "bus"
dataset = "items.jsonl"
seeds = [0, 1]
baseline = "single"

[conditions.single]
rounds = 1

[conditions.tests-only]
rounds = 3
roles = {roles}
feedback = "none"

[conditions.grounded]
rounds = 3
roles = {roles}
"""


def _unit_results(out: Path) -> dict[str, dict[str, object]]:
    """Every unit's record without its wall time (the one field that may differ)."""
    return {r.id: r.model_dump(exclude={"seconds"}) for r in read_records(out / "results.jsonl")}


async def _run(tmp_path: Path, name: str, roles: str, registry: RoleRegistry,
               kinds: CriticKinds, bus: str | None, concurrency: int = 2
               ) -> dict[str, object]:
    path = tmp_path / "experiment.toml"
    path.write_text(EXPERIMENT.format(roles=roles))
    return await run_experiment(load_experiment(path), tmp_path / name, base=tmp_path,
                                pool=ScriptedPool(scripted(repairing_generator)),
                                registry=registry, kinds=kinds, concurrency=concurrency,
                                bus=bus)


@pytest.mark.timeout(300)
async def test_memory_bus_gives_the_in_process_results(tmp_path: Path) -> None:
    code_items(tmp_path / "items.jsonl", 6, buggy={1, 4})
    registry, kinds = eval_parts(tmp_path)
    built: list[int | None] = []  # the seed of each noop critic built

    def counted(role: Role, ctx: CriticContext) -> NoopCritic:
        built.append(ctx.seed)
        return NoopCritic(role)

    kinds.register("noop", counted)
    roles = '["doctests", "noop"]'
    local = await _run(tmp_path, "local", roles, registry, kinds, bus=None)
    assert (built.count(0), built.count(1), len(built)) == (12, 12, 24)  # one per unit
    built.clear()
    served = await _run(tmp_path, "memory", roles, registry, kinds, bus="memory")
    # Over the bus: one critic per role served every unit (as a worker does), so the
    # units' reviews went over the bus, not to critics of their own.
    assert built == [0]
    expected = _unit_results(tmp_path / "local")
    assert len(expected) == 3 * 6 * 2
    assert _unit_results(tmp_path / "memory") == expected
    # The run did what it should: grounded repaired the two buggy items under both seeds.
    assert served["comparisons"] == local["comparisons"]
    grounded = next(c for c in served["comparisons"]  # type: ignore[attr-defined]
                    if c["condition"] == "grounded")
    assert (grounded["fixed"], grounded["broken"]) == (4, 0)


def test_a_bad_bus_is_a_one_line_config_error(tmp_path: Path) -> None:
    import anyio

    code_items(tmp_path / "items.jsonl", 2, buggy=set())
    registry, kinds = eval_parts(tmp_path)
    with pytest.raises(ConfigError, match=r"^--bus: expected memory or nats://HOST:PORT"):
        anyio.run(lambda: _run(tmp_path, "x", '["doctests"]', registry, kinds,
                               bus="redis://127.0.0.1:1"))
    assert not (tmp_path / "x").exists()


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    store = tmp_path / "nats-store"
    store.mkdir()
    with nats_server(store) as server:
        yield server


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    """A real ``critic worker`` serving ``doctests``; returns once it says it is ready."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "critic.cli", "worker", "--bus", url, "--role", "doctests"],
            stdout=out, stderr=subprocess.PIPE, env=env)
    assert process.stderr is not None
    line = process.stderr.readline().decode()  # blocks until it prints (or exits)
    if "worker ready" not in line:
        process.kill()
        process.wait()
        raise AssertionError(f"critic worker did not start: {line!r}")
    return process


@pytest.mark.timeout(600)
async def test_nats_workers_give_the_in_process_results(
        tmp_path: Path, nats: NatsServer, anyio_backend: str) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("the NATS bus runs on asyncio only (nats-py)")
    code_items(tmp_path / "items.jsonl", 6, buggy={1, 4})
    registry, kinds = eval_parts(tmp_path)
    roles = '["doctests"]'
    await _run(tmp_path, "local", roles, registry, kinds, bus=None)
    worker = start_worker(nats.url, tmp_path / "worker.log")
    try:
        await _run(tmp_path, "nats", roles, registry, kinds, bus=nats.url)
    finally:
        stop_process(worker)
    expected = _unit_results(tmp_path / "local")
    assert len(expected) == 3 * 6 * 2
    assert _unit_results(tmp_path / "nats") == expected
    # With its worker gone, the role is served by nobody: the experiment stops with that
    # error instead of recording units whose critic never answered. Units without a
    # critic (the `single` condition, run first) are real results and stay.
    with pytest.raises(BusUnavailable, match="doctests"):
        await _run(tmp_path, "orphan", roles, registry, kinds, bus=nats.url, concurrency=1)
    left = read_records(tmp_path / "orphan" / "results.jsonl")
    assert {r.condition for r in left} == {"single"} and len(left) == 12
