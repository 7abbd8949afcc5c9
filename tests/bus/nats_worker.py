"""A worker process for the NATS tests: serves a model-free critic that takes ``delay`` seconds.

    python -m tests.bus.nats_worker URL NAME DELAY ACK_WAIT [gated] [ask]

Prints ``ready`` once serving and ``got <draft text>`` when it takes a review,
so a test knows which process holds which work (and can SIGKILL it). The
critique's suggestion names this process, so a test sees who finished what.
``gated``: every review waits, after printing ``got``, until the process gets
SIGUSR1, so a test decides when work may finish. ``ask``: the worker asks
whether a requester still waits before every review, however fresh the work
(``fresh_work=0``). The bus's log (dropped messages) goes to stdout too.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass

import anyio
from anyio.abc import TaskStatus

from critic.bus.nats import NatsBus
from critic.bus.worker import serve_critics
from critic.messages import Critique, ReviewRequest
from critic.protocols import Recorder


@dataclass
class SlowCritic:
    name: str
    delay: float
    gate: anyio.Event | None = None
    weight: float = 1.0
    timeout: float = 3600.0

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        print(f"got {request.draft.text}", flush=True)
        if self.gate is not None:
            await self.gate.wait()
        await anyio.sleep(self.delay)
        return Critique(role=self.name, round=request.draft.round, score=1.0,
                        suggestion=f"pid {os.getpid()}")


async def open_gate(gate: anyio.Event, *, task_status: TaskStatus[None]) -> None:
    with anyio.open_signal_receiver(signal.SIGUSR1) as signals:
        task_status.started()
        async for _ in signals:
            gate.set()


async def main(url: str, name: str, delay: float, ack_wait: float, flags: list[str]) -> None:
    logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(name)s: %(message)s")
    gated = "gated" in flags
    bus = await NatsBus.connect(url, ack_wait=ack_wait, reconnect_window=None,
                                fresh_work=0.0 if "ask" in flags else 1.0)
    async with (
        bus,
        anyio.create_task_group() as tg,
    ):
        gate = anyio.Event() if gated else None
        if gate is not None:
            await tg.start(open_gate, gate)
        await serve_critics(bus, [SlowCritic(name, delay, gate)],
                            ready=lambda: print("ready", flush=True))
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    url, name, delay, ack_wait = sys.argv[1:5]
    anyio.run(main, url, name, float(delay), float(ack_wait), sys.argv[5:], backend="asyncio")
