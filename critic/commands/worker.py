"""``critic worker``: host critic roles and serve them to every session on a NATS bus."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import anyio
import typer

from critic.commands import app
from critic.worker import run_worker


@app.command()
def worker(
    bus: Annotated[str, typer.Option(help="The bus to serve on: nats://HOST:PORT.")],
    role: Annotated[list[str], typer.Option(
        "--role", "-r", help="Critic role to host (repeatable).")],
    model: Annotated[str | None, typer.Option(
        help="GGUF path or http(s) URL of an OpenAI-compatible server. Default: SmolLM2.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for every model call.")] = 0,
    roles_dir: Annotated[list[Path] | None, typer.Option(
        "--roles-dir", help="Extra folder of TOML roles (repeatable).")] = None,
    ack_wait: Annotated[float, typer.Option(
        help="Seconds before work held by a dead worker is redelivered.")] = 30.0,
) -> None:
    """Serve critic roles to every session on the bus until SIGTERM (Ctrl-C)."""

    # Dropped messages (malformed, expired, nobody waiting) are logged: an operator sees them.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def ready() -> None:
        print(f"worker ready: {', '.join(role)} on {bus}", file=sys.stderr, flush=True)

    anyio.run(lambda: run_worker(
        bus, role, model=model, seed=seed, roles_dirs=tuple(roles_dir or ()),
        ack_wait=ack_wait, ready=ready,
    ), backend="asyncio")
