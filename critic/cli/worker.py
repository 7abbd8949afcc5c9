"""``critic worker``: host critic roles and serve them to every session on a NATS bus."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import anyio
import typer

from critic.bus.worker import run_worker
from critic.cli.app import app
from critic.cli.options import (
    CacheFile,
    MaxAttempts,
    MaxConnections,
    ModelSpec,
    Offline,
    RolesDirs,
    Seed,
    model_options,
)
from critic.config import WorkerConfig


@app.command()
def worker(
    bus: Annotated[str, typer.Option(help="The bus to serve on: nats://HOST:PORT.")],
    role: Annotated[list[str], typer.Option(
        "--role", "-r", help="Critic role to host (repeatable).")],
    model: ModelSpec = None,
    seed: Seed = 0,
    roles_dir: RolesDirs = None,
    ack_wait: Annotated[float, typer.Option(
        help="Seconds before work held by a dead worker is redelivered.")] = 30.0,
    max_connections: MaxConnections = None,
    max_attempts: MaxAttempts = None,
    cache: CacheFile = None,
    offline: Offline = False,
) -> None:
    """Serve critic roles to every session on the bus until SIGTERM (Ctrl-C)."""
    # Dropped messages (malformed, expired, nobody waiting) are logged: an operator sees them.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = WorkerConfig.parse(
        bus=bus, roles=tuple(role), model=model, seed=seed, roles_dirs=tuple(roles_dir or ()),
        ack_wait=ack_wait, models=model_options(max_connections, max_attempts, cache, offline),
    )

    def ready() -> None:
        print(f"worker ready: {', '.join(role)} on {bus}", file=sys.stderr, flush=True)

    anyio.run(lambda: run_worker(config, ready=ready), backend="asyncio")
