"""Flags every command shares, declared once: models, roles, seed, bus.

``critic run``, ``debate``, ``score`` and ``worker`` take the same model
options and build one :class:`~critic.backends.options.ModelOptions` with
:func:`model_options`, so a flag means the same everywhere:

    def debate(..., model: ModelSpec = None, max_connections: MaxConnections = None,
               max_attempts: MaxAttempts = None, cache: CacheFile = None, offline: Offline = False):
        models = model_options(max_connections, max_attempts, cache, offline)

A flag left out (None) is taken from ``CRITIC_*`` or ``critic.toml``
(:mod:`critic.workspace.project`), else its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from critic.backends.options import ModelOptions
from critic.workspace import project

ModelSpec = Annotated[str | None, typer.Option(
    "--model", help="GGUF path, http(s) URL of an OpenAI-compatible server, or a [models.NAME] "
    "of critic.toml. Default: SmolLM2.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed for every model call.")]
RolesDirs = Annotated[list[Path] | None, typer.Option(
    "--roles-dir", help="Extra folder of TOML roles (repeatable).")]
BusUrl = Annotated[str | None, typer.Option(
    "--bus", help="nats://HOST:PORT: critic roles are served by `critic worker`s there.")]
MaxConnections = Annotated[int | None, typer.Option(
    "--max-connections", show_default=False,
    help="Requests in flight at once to an HTTP model (all agents). Default: "
    "$CRITIC_MAX_CONNECTIONS, [http] in critic.toml, else 4.")]
MaxAttempts = Annotated[int | None, typer.Option(
    "--max-attempts", show_default=False,
    help="Tries per HTTP call (429, 5xx, timeouts are retried). Default: "
    "$CRITIC_MAX_ATTEMPTS, [http] in critic.toml, else 5.")]
CacheFile = Annotated[Path | None, typer.Option(
    "--cache", help="SQLite response cache: identical calls are answered from it.")]
Offline = Annotated[bool, typer.Option(
    "--offline", help="Answer from --cache only; a call not in it fails.")]
MaxTotalTokens = Annotated[int | None, typer.Option(
    "--max-total-tokens",
    help="Stop once the run has used this many tokens (all agents, prompt + completion): "
    "stop=budget.")]
MaxSeconds = Annotated[float | None, typer.Option(
    "--max-seconds", help="Stop once a round ends this many seconds after the start: stop=budget.")]
LogDir = Annotated[Path | None, typer.Option(
    "--log-dir", help="Where runs are recorded. Default: $CRITIC_LOG_DIR, else ./critic-logs.")]
NoLog = Annotated[bool, typer.Option(
    "--no-log", help="Do not record this run in the log directory.")]


def model_options(max_connections: int | None, max_attempts: int | None, cache: Path | None,
                  offline: bool) -> ModelOptions:
    """The model options of the shared flags, completed from ``CRITIC_*`` and ``critic.toml``
    (HTTP numbers, named models); a bad value is a one-line error."""
    return project.model_options(max_connections=max_connections, max_attempts=max_attempts,
                                 cache=cache, offline=offline)
