"""NATS bus vs raw nats-py on one local nats-server: request/reply and durable requests.

A real ``nats-server -js`` on 127.0.0.1 (the venv's binary, a temporary store),
started and stopped by this script by PID. Two comparisons, interleaved in
batches, p50 of each side's round trips:

1. Request/reply: ``NatsBus.request`` to a plain subscriber that replies, vs
   nats-py's ``request`` to a subscription that ``respond``s with the same bytes
   (an envelope of the same size). ``request_ratio`` = raw p50 / bus p50
   (goal >= 0.85).
2. Durable request: ``NatsBus.request`` on a work topic served by a queue-group
   (JetStream pull consumer) subscriber, vs raw JetStream: publish to a stream,
   a pull consumer fetches, acks and replies on core NATS to the requester's
   inbox. The raw stream keeps a message until it is acked, as the bus's does
   (interest retention, file storage): an ack then deletes it, which costs the
   server 100-200 µs per request on these machines. ``durable_request_ratio``
   = raw p50 / bus p50 (goal >= 0.6). For reference, ``raw_durable_kept`` is
   the same on a stream that keeps acked messages (limits retention, the
   JetStream default, which the baseline used before 2026-11-24).

A reference, not a goal: ``raw_envelope`` is raw nats-py request/reply doing the
least a bus of validated envelopes must do (the requester builds, dumps and
validates; the responder validates, builds the reply and dumps it).
``envelope_floor_ratio`` = raw p50 / raw_envelope p50 is the request_ratio of such
a bus with no overhead of its own; ``bus_vs_envelope_floor`` = raw_envelope p50 /
bus p50 is how close the bus comes to it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from _common import arguments, emit, log, percentile

from critic.bus.nats import NatsBus
from critic.messages import ENVELOPE_ADAPTER, Draft, Envelope

BINARY = Path(sys.executable).parent / "nats-server"
SESSION = "bench"


@contextmanager
def nats_server() -> Iterator[str]:
    binary = BINARY if BINARY.exists() else shutil.which("nats-server")
    if binary is None:
        raise SystemExit("nats_bus: no nats-server binary (make install puts one in the venv)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as store:
        proc = subprocess.Popen([str(binary), "-a", "127.0.0.1", "-p", str(port), "-js",
                                 "-sd", store], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("nats_bus: nats-server did not start")
                time.sleep(0.05)
            yield f"nats://127.0.0.1:{port}"
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(10)


def envelope(topic: str, i: int) -> Envelope:
    return Envelope(session=SESSION, topic=topic, sender="bench",
                    payload=Draft(round=1, text=f"draft {i}"))


async def measure(url: str, n: int, batches: int) -> dict[str, Any]:
    import nats
    import nats.errors
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

    plain_topic = f"critic.{SESSION}.echo"
    work_topic = f"critic.{SESSION}.review.echo"
    times: dict[str, list[float]] = {"raw": [], "raw_envelope": [], "bus": [], "raw_durable": [],
                                     "raw_durable_kept": [], "bus_durable": []}
    async with await NatsBus.connect(url) as server_bus, \
            await NatsBus.connect(url) as client_bus, anyio.create_task_group() as tg:

        async def serve(pattern: str, group: str | None,
                        task_status: anyio.abc.TaskStatus[None]) -> None:
            async with server_bus.subscribe(pattern, group=group) as sub:
                task_status.started()
                async for request in sub:
                    await server_bus.publish(request.reply(request.payload, sender="echo"))

        await tg.start(serve, plain_topic, None)
        await tg.start(serve, work_topic, "echo")

        raw_server = await nats.connect(url)
        raw_client = await nats.connect(url)
        body = envelope(plain_topic, 0).model_dump_json().encode()

        async def respond(msg: Any) -> None:
            await msg.respond(msg.data)

        async def respond_envelope(msg: Any) -> None:
            request = ENVELOPE_ADAPTER.validate_json(msg.data)
            reply = request.reply(request.payload, sender="echo")
            await msg.respond(ENVELOPE_ADAPTER.dump_json(reply))

        async def raw_envelope(i: int) -> None:
            request = envelope(plain_topic, i)
            request = request.model_copy(update={"reply_to": f"critic.{SESSION}.inbox.{request.id}"})
            msg = await raw_client.request("rawenv.echo", ENVELOPE_ADAPTER.dump_json(request),
                                           timeout=30)
            ENVELOPE_ADAPTER.validate_json(msg.data)

        await raw_server.subscribe("raw.echo", cb=respond)
        await raw_server.subscribe("rawenv.echo", cb=respond_envelope)
        js = raw_server.jetstream()
        await js.add_stream(StreamConfig(name="RAWBENCH", subjects=["rawwork.>"],
                                         retention=RetentionPolicy.INTEREST,
                                         storage=StorageType.FILE))
        await js.add_stream(StreamConfig(name="RAWKEPT", subjects=["rawkept.>"],
                                         retention=RetentionPolicy.LIMITS,
                                         storage=StorageType.FILE))

        async def raw_worker(subject: str) -> None:
            pull = await js.pull_subscribe(subject, durable=subject.replace(".", "-"),
                                           config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT))
            while not raw_server.is_closed:
                try:
                    msgs = await pull.fetch(1, timeout=5)
                except nats.errors.TimeoutError:  # idle: ask again
                    continue
                for msg in msgs:
                    await msg.ack()
                    assert msg.headers is not None  # the benchmark sends every request with one
                    await raw_server.publish(msg.headers["Reply"], msg.data)

        tg.start_soon(raw_worker, "rawwork.echo")
        tg.start_soon(raw_worker, "rawkept.echo")
        raw_js = raw_client.jetstream()
        replies: dict[str, anyio.Event] = {}

        async def raw_reply(msg: Any) -> None:
            replies[msg.subject].set()

        await raw_client.subscribe("rawinbox.>", cb=raw_reply)
        await raw_client.flush()

        async def raw_durable(i: int, subject: str) -> None:
            inbox = f"rawinbox.{i}"
            got = replies[inbox] = anyio.Event()
            await raw_js.publish(subject, body, headers={"Reply": inbox})
            await got.wait()
            del replies[inbox]

        counter = 0

        async def one(kind: str) -> float:
            nonlocal counter
            counter += 1
            start = time.perf_counter()
            with anyio.fail_after(30):
                if kind == "raw":
                    await raw_client.request("raw.echo", body, timeout=30)
                elif kind == "raw_envelope":
                    await raw_envelope(counter)
                elif kind == "bus":
                    await client_bus.request(envelope(plain_topic, counter))
                elif kind == "raw_durable":
                    await raw_durable(counter, "rawwork.echo")
                elif kind == "raw_durable_kept":
                    await raw_durable(counter, "rawkept.echo")
                else:
                    await client_bus.request(envelope(work_topic, counter))
            return time.perf_counter() - start

        for kind in times:  # warm-up: connections, consumers, caches
            for _ in range(20):
                await one(kind)
        for batch in range(batches):
            order = list(times) if batch % 2 == 0 else list(times)[::-1]
            for kind in order:
                times[kind].extend([await one(kind) for _ in range(n)])
            log(f"batch {batch + 1}/{batches}: " + ", ".join(
                f"{k} p50 {percentile(v, 50) * 1e6:.0f} µs" for k, v in times.items()))
        tg.cancel_scope.cancel()  # the raw worker and both serving subscriptions
    await raw_server.close()
    await raw_client.close()
    p50 = {k: percentile(v, 50) * 1e6 for k, v in times.items()}
    return {
        "requests_per_side": n * batches, "batches": batches,
        "p50_us": {k: round(v, 1) for k, v in p50.items()},
        "p99_us": {k: round(percentile(v, 99) * 1e6, 1) for k, v in times.items()},
        "request_ratio": round(p50["raw"] / p50["bus"], 3),
        "durable_request_ratio": round(p50["raw_durable"] / p50["bus_durable"], 3),
        "durable_request_ratio_vs_kept": round(p50["raw_durable_kept"] / p50["bus_durable"], 3),
        "envelope_floor_ratio": round(p50["raw"] / p50["raw_envelope"], 3),
        "bus_vs_envelope_floor": round(p50["raw_envelope"] / p50["bus"], 3),
    }


def main() -> None:
    started = time.perf_counter()
    args = arguments(__doc__.splitlines()[0])
    with nats_server() as url:
        figures = anyio.run(measure, url, *((50, 4) if args.quick else (250, 8)))
    headline = [
        {"metric": "request/reply p50: raw nats-py / bus", "value": figures["request_ratio"],
         "goal": "≥ 0.85", "met": figures["request_ratio"] >= 0.85},
        {"metric": "durable request p50: raw JetStream / bus",
         "value": figures["durable_request_ratio"], "goal": "≥ 0.6",
         "met": figures["durable_request_ratio"] >= 0.6},
    ]
    emit("nats_bus", args, {"headline": headline, **figures}, packages=("nats-py",),
         started=started)


if __name__ == "__main__":
    main()
