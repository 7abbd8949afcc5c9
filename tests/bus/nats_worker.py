"""A worker process for the NATS tests: serves a model-free critic that takes ``delay`` seconds.

    python -m tests.bus.nats_worker URL NAME DELAY ACK_WAIT

Prints ``ready`` once serving and ``got <draft text>`` when it takes a review,
so a test knows which process holds which work (and can SIGKILL it). The
critique's suggestion names this process, so a test sees who finished what.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import anyio

from critic.bus.nats import open_bus
from critic.bus.worker import serve_critics
from critic.messages import Critique, ReviewRequest
from critic.protocols import Recorder


@dataclass
class SlowCritic:
    name: str
    delay: float
    weight: float = 1.0
    timeout: float = 60.0

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        print(f"got {request.draft.text}", flush=True)
        await anyio.sleep(self.delay)
        return Critique(role=self.name, round=request.draft.round, score=1.0,
                        suggestion=f"pid {os.getpid()}")


async def main(url: str, name: str, delay: float, ack_wait: float) -> None:
    async with open_bus(url, ack_wait=ack_wait) as bus:
        await serve_critics(bus, [SlowCritic(name, delay)],
                            ready=lambda: print("ready", flush=True))


if __name__ == "__main__":
    url, name, delay, ack_wait = sys.argv[1:5]
    anyio.run(main, url, name, float(delay), float(ack_wait), backend="asyncio")
