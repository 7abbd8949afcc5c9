"""Parallel critics: k critics against an HTTP model server that admits k requests at once.

For k = 1, 2, 4, 8 a local OpenAI-compatible server (benchmarks/_latency_server.py,
127.0.0.1, free port) answers every chat completion after a fixed latency and
serves k requests at a time. A one-round session (an instant scripted
generator, k LLM critics on critic's HTTP backend, a fixed-rounds judge) is
timed against a single critic call made directly on the same backend,
interleaved rep by rep. ``ratio`` = round wall time / single-call latency:
1.0 means the k critics ran fully in parallel (goal: <= 1.2 for every k up to
the backend's connection limit). The server's peak in-flight count confirms
the parallelism from the other side.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
from _common import arguments, emit, log, median, rounded
from _sessions import FixedRoundsJudge, roles

from critic.backends.base import GenerationParams
from critic.backends.openai import HttpOptions
from critic.backends.pool import open_model
from critic.bus.memory import MemoryBus
from critic.critics.critic import LLMCritic, critique_schema
from critic.critics.generator import LLMGenerator
from critic.messages import ChatMessage, Task
from critic.protocols import Model
from critic.session.session import Session
from critic.testing import ScriptedModel

SERVER = Path(__file__).resolve().parent / "_latency_server.py"
TASK = Task(prompt="Write a Python function that returns the n-th Fibonacci number.")
DRAFT = "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a"
KS = (1, 2, 4, 8)
#: The backend's connection limit for the run: every k is within it.
CONNECTIONS = max(KS)


@contextmanager
def latency_server(latency: float, concurrency: int) -> Iterator[str]:
    """Start the stub server; yield its base URL; stop it by PID."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--latency", str(latency), "--concurrency",
         str(concurrency)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip())
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/v1/models", timeout=1.0).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("latency server did not come up") from None
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def critic_roles(k: int) -> list[Any]:
    """k distinct critic names (topics are per critic) sharing the correctness prompt."""
    base = roles(("correctness",))[0]
    return [dataclasses.replace(base, spec=base.spec.model_copy(update={"name": f"critic{i}"}))
            for i in range(1, k + 1)]


async def one_round(model: Model, k: int) -> float:
    scripted = ScriptedModel(scripts={"generator": [DRAFT]})
    critics = [LLMCritic(role, model.backend(role.name), seed=0) for role in critic_roles(k)]
    session = Session(TASK, LLMGenerator(scripted.backend("generator")), FixedRoundsJudge(1),
                      critics, bus=MemoryBus())
    start = time.perf_counter()
    outcome = await session.run()
    elapsed = time.perf_counter() - start
    scored = outcome.verdicts[0].critiques_used
    assert scored == k, f"only {scored} of {k} critiques scored: {outcome.verdicts[0].reason}"
    return elapsed


async def single_call(model: Model) -> float:
    backend = model.backend("probe")
    schema = critique_schema(1, 10).model_json_schema()
    messages = [ChatMessage(role="user", content=f"Review this draft:\n{DRAFT}")]
    start = time.perf_counter()
    await backend.complete(messages, GenerationParams(max_tokens=200, seed=0), schema)
    return time.perf_counter() - start


async def measure_k(base: str, k: int, reps: int) -> dict[str, Any]:
    model = open_model(f"{base}/v1", http=HttpOptions(max_connections=CONNECTIONS))
    try:
        singles: list[float] = []
        rounds: list[float] = []
        await single_call(model)  # warm the connection pool
        for rep in range(reps):
            if rep % 2 == 0:
                singles.append(await single_call(model))
                rounds.append(await one_round(model, k))
            else:
                rounds.append(await one_round(model, k))
                singles.append(await single_call(model))
        async with httpx.AsyncClient() as client:
            stats = (await client.get(f"{base}/stats")).json()
    finally:
        await model.aclose()
    ratios = [r / s for r, s in zip(rounds, singles, strict=True)]
    return {
        "k": k,
        "single_call_ms": round(median(singles) * 1e3, 1),
        "round_ms": round(median(rounds) * 1e3, 1),
        "ratio": rounded(median(ratios), 3),
        "server_max_in_flight": stats["max_in_flight"],
    }


def main() -> None:
    started = time.perf_counter()
    args = arguments(__doc__.splitlines()[0])
    # Two server latencies: the fixed per-request cost of HTTP on a loaded 2-core
    # machine (server and client compete for CPU) weighs more on the shorter one.
    latencies, reps = ((0.1,), 2) if args.quick else ((0.25, 1.0), 7)
    runs: list[dict[str, Any]] = []
    headline: list[dict[str, Any]] = []
    for latency in latencies:
        per_k: list[dict[str, Any]] = []
        for k in KS:
            with latency_server(latency, k) as base:
                result = anyio.run(measure_k, base, k, reps)
            log(json.dumps({"latency_s": latency, **result}))
            per_k.append(result)
        runs.append({"server_latency_s": latency, "per_k": per_k,
                     "worst_ratio": max(r["ratio"] for r in per_k)})
        headline += [{"metric": f"k={r['k']} critics, {latency:g} s server latency: "
                                "round wall / single-critic latency",
                      "value": r["ratio"], "goal": "≤ 1.2", "met": r["ratio"] <= 1.2}
                     for r in per_k]
    emit("parallel_critics", args, {
        "headline": headline, "reps": reps, "connection_limit": CONNECTIONS,
        "goal_met": all(row["met"] for row in headline), "runs": runs,
    }, packages=("httpx", "uvicorn", "starlette"), started=started)


if __name__ == "__main__":
    main()
