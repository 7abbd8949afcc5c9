"""Flags every command shares, declared once: models, roles, seed, bus.

``critic run``, ``debate``, ``score`` and ``worker`` take the same model
options and build one :class:`~critic.backends.options.ModelOptions` with
:func:`model_options`, so a flag means the same everywhere:

    def debate(..., model: ModelSpec = None, max_connections: MaxConnections = 4,
               max_attempts: MaxAttempts = 5, cache: CacheFile = None, offline: Offline = False):
        models = model_options(max_connections, max_attempts, cache, offline)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from critic.backends.options import ModelOptions

ModelSpec = Annotated[str | None, typer.Option(
    "--model", help="GGUF path or http(s) URL of an OpenAI-compatible server. Default: SmolLM2.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed for every model call.")]
RolesDirs = Annotated[list[Path] | None, typer.Option(
    "--roles-dir", help="Extra folder of TOML roles (repeatable).")]
BusUrl = Annotated[str | None, typer.Option(
    "--bus", help="nats://HOST:PORT: critic roles are served by `critic worker`s there.")]
MaxConnections = Annotated[int, typer.Option(
    "--max-connections", help="Requests in flight at once to an HTTP model (all agents).")]
MaxAttempts = Annotated[int, typer.Option(
    "--max-attempts", help="Tries per HTTP call (429, 5xx, timeouts are retried).")]
CacheFile = Annotated[Path | None, typer.Option(
    "--cache", help="SQLite response cache: identical calls are answered from it.")]
Offline = Annotated[bool, typer.Option(
    "--offline", help="Answer from --cache only; a call not in it fails.")]
LogDir = Annotated[Path | None, typer.Option(
    "--log-dir", help="Where runs are recorded. Default: $CRITIC_LOG_DIR, else ./critic-logs.")]
NoLog = Annotated[bool, typer.Option(
    "--no-log", help="Do not record this run in the log directory.")]


def model_options(max_connections: int, max_attempts: int, cache: Path | None,
                  offline: bool) -> ModelOptions:
    """The model options of the shared flags (a bad value is a one-line error)."""
    return ModelOptions.parse(max_connections=max_connections, max_attempts=max_attempts,
                              cache=cache, offline=offline)
