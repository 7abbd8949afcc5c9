"""A tiny OpenAI-compatible server with a fixed latency that admits k requests at once.

Used by benchmarks/parallel_critics.py; it stands in for a model server whose
batch size is k. ``POST /v1/chat/completions`` waits ``--latency`` seconds
(holding one of ``--concurrency`` slots; later requests queue) and answers a
valid critique JSON; ``GET /v1/models`` answers at once (health check).

    python benchmarks/_latency_server.py --latency 0.2 --concurrency 4

It binds 127.0.0.1 on a free port and prints that port as its first stdout
line, so the caller never races for a port. It also reports the highest number
of requests it ever had in flight at ``GET /stats``, and what each chat request
carried (its ``model``, headers, whether it asked for structured output) at
``GET /requests``, so a test can assert on what the client sent.

For tests, ``--hold N`` makes structured requests (those with a
``response_format``: the critiques) wait until N of them are in flight at once;
then every request goes through. A test then sees the client's concurrency
however slow the machine is, instead of hoping requests overlap in time.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

CRITIQUE = json.dumps({"problems": ["No check for negative n."],
                       "suggestion": "Raise ValueError when n < 0.", "score": 7})


def app(latency: float, concurrency: int, hold: int = 0) -> Starlette:
    slots = anyio.Semaphore(concurrency)
    stats = {"in_flight": 0, "max_in_flight": 0, "requests": 0}
    seen: list[dict[str, object]] = []
    held = {"now": 0}
    gathered = anyio.Event()

    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append({"model": body.get("model"), "headers": dict(request.headers),
                     "structured": "response_format" in body})
        async with slots:
            stats["in_flight"] += 1
            stats["requests"] += 1
            stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
            try:
                if hold and "response_format" in body:
                    held["now"] += 1
                    if held["now"] >= hold:
                        gathered.set()
                    await gathered.wait()
                await anyio.sleep(latency)
            finally:
                stats["in_flight"] -= 1
        return JSONResponse({
            "id": f"chatcmpl-{stats['requests']}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model") or "latency-stub",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": CRITIQUE}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        })

    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "latency-stub", "object": "model"}]})

    async def show_stats(request: Request) -> JSONResponse:
        return JSONResponse(stats)

    async def show_requests(request: Request) -> JSONResponse:
        return JSONResponse(seen)

    return Starlette(routes=[
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/v1/models", models),
        Route("/stats", show_stats),
        Route("/requests", show_requests),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--hold", type=int, default=0,
                        help="answer no structured request until this many are in flight")
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without it, Nagle plus the client's delayed ACK can stall a small response ~40 ms,
    # inflating the single-call baseline (a k=1 ratio below 1 was the symptom). Linux
    # copies the option from the listening socket to every accepted one.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app(args.latency, args.concurrency, args.hold), log_level="warning",
                            access_log=False, backlog=256)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
