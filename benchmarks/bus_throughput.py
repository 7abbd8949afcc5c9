"""Bus throughput and request/reply latency: MemoryBus vs a bare anyio stream (vs autogen-core).

Workloads, all carrying the same pydantic ``Envelope`` (a realistic ``Critique``):

* ``publish``: one publisher, one subscriber whose handler counts; messages/s
  from the first publish until the handler has seen the last message;
* ``fanout4``: the same with four subscribers, publishes/s;
* ``request``: request/reply round trips one at a time, p50/p99 in µs.

Baselines in the same run, interleaved rep by rep (the order alternates): a bare
anyio memory object stream with the bus's buffer size (fan-out: one stream per
subscriber, ``send_nowait`` falling back to ``send``; request/reply: a request
stream plus a one-slot reply stream made per request), and, where
``autogen-core`` is installed (``pip install 'critic[bench]'``), the same
workloads on its ``SingleThreadedAgentRuntime`` (asyncio only). ``ratio_vs_raw``
and ``ratio_vs_autogen`` are medians of the per-rep ratios (>1: the bus is faster).
"""

from __future__ import annotations

import gc
import importlib.util
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from _common import arguments, emit, log, median, percentile, rounded

from critic.bus.memory import MemoryBus
from critic.messages import Critique, Envelope, Usage

TOPIC = "critic.bench.events"
RPC = "critic.bench.rpc"
BUFFER = 64  # MemoryBus's default buffer; the bare streams get the same

PAYLOAD = Critique(
    role="correctness", round=2, score=0.6, raw_score=6.0,
    problems=("The loop never handles an empty list.", "Off by one at the upper bound."),
    suggestion="Return early when the list is empty and use range(len(xs)).",
    usage=Usage(prompt_tokens=412, completion_tokens=58, prompt_evaluated=97), latency=0.81,
)


def envelope(topic: str = TOPIC, reply_to: str | None = None) -> Envelope:
    return Envelope(session="bench", topic=topic, sender="bench", reply_to=reply_to,
                    payload=PAYLOAD)


# -- bare anyio streams ---------------------------------------------------------------------


async def raw_publish(n: int, subscribers: int) -> float:
    """Seconds to push ``n`` envelopes to ``subscribers`` counting handlers."""
    streams = [anyio.create_memory_object_stream[Envelope](BUFFER) for _ in range(subscribers)]
    item = envelope()
    async with anyio.create_task_group() as tg:
        for _, receive in streams:
            tg.start_soon(_count, receive, n)
        start = time.perf_counter()
        for _ in range(n):
            for send, _ in streams:
                try:
                    send.send_nowait(item)
                except anyio.WouldBlock:
                    await send.send(item)
    elapsed = time.perf_counter() - start
    for send, receive in streams:
        send.close()
        receive.close()
    return elapsed


async def _count(receive: Any, n: int) -> None:
    seen = 0
    async for _ in receive:
        seen += 1
        if seen == n:
            return


async def raw_request(n: int) -> list[float]:
    """Round-trip latencies: a request stream, a fresh one-slot reply stream per request."""
    send, receive = anyio.create_memory_object_stream[tuple[Envelope, Any]](BUFFER)
    latencies: list[float] = []

    async def server() -> None:
        async for request, reply in receive:
            with reply:
                reply.send_nowait(request.reply(PAYLOAD, sender="server"))  # one free slot

    async with anyio.create_task_group() as tg:
        tg.start_soon(server)
        for _ in range(n):
            start = time.perf_counter()
            reply_send, reply_receive = anyio.create_memory_object_stream[Envelope](1)
            with reply_receive:
                item = (envelope(RPC, reply_to="raw"), reply_send)
                try:
                    send.send_nowait(item)
                except anyio.WouldBlock:
                    await send.send(item)
                await reply_receive.receive()
            latencies.append(time.perf_counter() - start)
        send.close()
    receive.close()
    return latencies


# -- critic's MemoryBus ---------------------------------------------------------------------


async def bus_publish(n: int, subscribers: int) -> float:
    bus = MemoryBus(buffer=BUFFER)
    item = envelope()

    async def handler(*, task_status: Any) -> None:
        async with bus.subscribe(TOPIC) as sub:
            task_status.started()
            seen = 0
            async for _ in sub:
                seen += 1
                if seen == n:
                    return

    async with anyio.create_task_group() as tg:
        for _ in range(subscribers):
            await tg.start(handler)
        start = time.perf_counter()
        for _ in range(n):
            await bus.publish(item)
    elapsed = time.perf_counter() - start
    await bus.aclose()
    return elapsed


async def bus_request(n: int) -> list[float]:
    bus = MemoryBus(buffer=BUFFER)
    latencies: list[float] = []

    async def server(*, task_status: Any) -> None:
        async with bus.subscribe(RPC) as sub:
            task_status.started()
            async for request in sub:
                await bus.publish(request.reply(PAYLOAD, sender="server"))

    async with anyio.create_task_group() as tg:
        await tg.start(server)
        for _ in range(n):
            start = time.perf_counter()
            await bus.request(envelope(RPC))
            latencies.append(time.perf_counter() - start)
        tg.cancel_scope.cancel()
    await bus.aclose()
    return latencies


# -- autogen-core's SingleThreadedAgentRuntime ------------------------------------------------


def _autogen_workloads() -> tuple[Callable[[int, int], Awaitable[float]],
                                  Callable[[int], Awaitable[list[float]]]]:
    import _autogen_runtime

    return _autogen_runtime.workloads(envelope, RPC, PAYLOAD)


# -- the run ----------------------------------------------------------------------------------


async def measure(reps: int, n: int, n_rpc: int, with_autogen: bool) -> dict[str, Any]:
    variants: dict[str, tuple[Callable[[int, int], Awaitable[float]],
                              Callable[[int], Awaitable[list[float]]]]] = {
        "raw": (raw_publish, raw_request),
        "bus": (bus_publish, bus_request),
    }
    if with_autogen:
        variants["autogen"] = _autogen_workloads()
    rates: dict[str, dict[str, list[float]]] = {
        w: {v: [] for v in variants} for w in ("publish", "fanout4")
    }
    latencies: dict[str, list[float]] = {v: [] for v in variants}
    p50s: dict[str, list[float]] = {v: [] for v in variants}
    order = list(variants)
    # Warm up every path once (imports, pydantic schemas, allocator).
    for name in order:
        await variants[name][0](200, 1)
        await variants[name][1](50)
    for rep in range(reps):
        for name in order if rep % 2 == 0 else order[::-1]:
            publish, request = variants[name]
            gc.collect()
            rates["publish"][name].append(n / await publish(n, 1))
            rates["fanout4"][name].append(n / await publish(n, 4))
            lat = await request(n_rpc)
            latencies[name].extend(lat)
            p50s[name].append(median(lat))
        log(f"rep {rep + 1}/{reps}: " + ", ".join(
            f"{v} publish {rates['publish'][v][-1]:,.0f}/s" for v in order))

    def ratios(workload: str, base: str) -> float:
        per_rep = [b / r for b, r in zip(rates[workload]["bus"], rates[workload][base],
                                         strict=True)]
        return round(median(per_rep), 3)

    def latency_ratio(base: str) -> float:
        # >1: the bus answers faster than the baseline.
        per_rep = [r / b for b, r in zip(p50s["bus"], p50s[base], strict=True)]
        return round(median(per_rep), 3)

    result: dict[str, Any] = {}
    for workload in ("publish", "fanout4"):
        result[workload] = {
            "msgs_per_s": {v: round(median(rates[workload][v])) for v in order},
            "ratio_vs_raw": ratios(workload, "raw"),
        }
        if with_autogen:
            result[workload]["ratio_vs_autogen"] = ratios(workload, "autogen")
    result["request"] = {
        "p50_us": {v: rounded(percentile(latencies[v], 50) * 1e6, 1) for v in order},
        "p99_us": {v: rounded(percentile(latencies[v], 99) * 1e6, 1) for v in order},
        "ratio_vs_raw": latency_ratio("raw"),
    }
    if with_autogen:
        result["request"]["ratio_vs_autogen"] = latency_ratio("autogen")
    return result


def main() -> None:
    started = time.perf_counter()
    args = arguments(__doc__.splitlines()[0])
    reps, n, n_rpc = (2, 2000, 300) if args.quick else (9, 20000, 4000)
    with_autogen = importlib.util.find_spec("autogen_core") is not None
    log(f"bus_throughput: {reps} reps x {n} messages, {n_rpc} requests; "
        f"autogen-core {'found' if with_autogen else 'not installed'}")
    asyncio_figures = anyio.run(measure, reps, n, n_rpc, with_autogen, backend="asyncio")
    # The bus must also be fast on trio (autogen-core is asyncio only).
    trio_figures = anyio.run(measure, max(2, reps // 3), n, n_rpc, False, backend="trio")
    workloads = ("publish", "fanout4", "request")
    ratio_vs_raw = min(asyncio_figures[w]["ratio_vs_raw"] for w in workloads)
    goals: dict[str, Any] = {
        "ratio_vs_raw_min": ratio_vs_raw,
        "raw_goal_met": ratio_vs_raw >= 0.5,
    }
    if with_autogen:
        vs_autogen = min(asyncio_figures[w]["ratio_vs_autogen"] for w in workloads)
        goals["ratio_vs_autogen_min"] = vs_autogen
        goals["autogen_goal_met"] = vs_autogen > 1.0
    headline: list[dict[str, Any]] = []
    for w in workloads:
        what = {"publish": "publish→handler", "fanout4": "fan-out to 4",
                "request": "request/reply p50"}[w]
        ratio = asyncio_figures[w]["ratio_vs_raw"]
        headline.append({"metric": f"{what}: bus / bare anyio stream", "value": ratio,
                         "goal": "≥ 0.5", "met": ratio >= 0.5})
        if with_autogen:
            ratio = asyncio_figures[w]["ratio_vs_autogen"]
            headline.append({"metric": f"{what}: bus / autogen-core", "value": ratio,
                             "goal": "> 1", "met": ratio > 1.0})
    emit("bus_throughput", args, {
        "headline": headline,
        "reps": reps, "messages": n, "requests": n_rpc,
        **goals,
        "asyncio": asyncio_figures,
        "trio": trio_figures,
        "autogen_core": with_autogen,
    }, packages=("autogen-core", "trio"), started=started)


if __name__ == "__main__":
    main()
