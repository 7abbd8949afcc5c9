"""Typer options for how models are opened, shared by ``critic run`` and ``critic score``.

    def score(..., max_connections: MaxConnections = 4, cache: CacheFile = None,
              offline: Offline = False, max_attempts: MaxAttempts = 5): ...
        options = ModelOptions.parse(max_connections=max_connections, ...)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

MaxConnections = Annotated[int, typer.Option(
    "--max-connections", help="Requests in flight at once to an HTTP model (all agents).")]
MaxAttempts = Annotated[int, typer.Option(
    "--max-attempts", help="Tries per HTTP call (429, 5xx, timeouts are retried).")]
CacheFile = Annotated[Path | None, typer.Option(
    "--cache", help="SQLite response cache: identical calls are answered from it.")]
Offline = Annotated[bool, typer.Option(
    "--offline", help="Answer from --cache only; a call not in it fails.")]
