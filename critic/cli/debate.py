"""``critic debate``: N debaters, R rounds, a verdict; shown live or as JSON."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.console import Console

from critic.cli.app import app
from critic.cli.debate_views import DebateView
from critic.cli.options import (
    BusUrl,
    CacheFile,
    LogDir,
    MaxAttempts,
    MaxConnections,
    MaxSeconds,
    MaxTotalTokens,
    ModelSpec,
    NoLog,
    Offline,
    RolesDirs,
    model_options,
)
from critic.config import DebateConfig
from critic.debate.run import run_debate
from critic.workspace.logs import run_log
from critic.workspace.project import judge_settings, project_settings


@app.command()
def debate(
    question: Annotated[str, typer.Argument(help="The question the debaters answer.")],
    debaters: Annotated[int, typer.Option(help="How many debaters.")] = 3,
    rounds: Annotated[int, typer.Option(help="Most rounds before the judge decides.")] = 2,
    role: Annotated[list[str] | None, typer.Option(
        "--role", "-r",
        help="Debater role (kind 'debater', given to the debaters in turn) or critic role "
        "reviewing each round's answers (repeatable).")] = None,
    judge: Annotated[str, typer.Option(
        help="'majority' (the vote), a judge role (e.g. debate-judge) or a "
        "critic.debate_judges plugin.")] = "majority",
    extract: Annotated[str, typer.Option(
        help="How answers are compared: number, option (A-J), text, or a "
        "critic.extractors plugin.")] = "number",
    converge_at: Annotated[float, typer.Option(
        help="Share of debaters that must agree to stop early (above 0.5; 1 = all).")] = 1.0,
    max_total_tokens: MaxTotalTokens = None,
    max_seconds: MaxSeconds = None,
    model: ModelSpec = None,
    seed: Annotated[int, typer.Option(help="Base seed; debater i uses seed + i.")] = 0,
    temperature: Annotated[float, typer.Option(
        help="Debater temperature (0 makes debaters on one model identical).")] = 0.7,
    max_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 160,
    roles_dir: RolesDirs = None,
    transcript: Annotated[Path | None, typer.Option(help="Write the JSONL transcript here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing transcript.")] = False,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print only the DebateOutcome as one JSON object.")] = False,
    bus: BusUrl = None,
    max_connections: MaxConnections = None,
    max_attempts: MaxAttempts = None,
    cache: CacheFile = None,
    offline: Offline = False,
    forbid_self_judging: Annotated[bool, typer.Option(
        help="Refuse a judge role on a debater's model (default: a warning).")] = False,
    log_dir: LogDir = None,
    no_log: NoLog = False,
) -> None:
    """Run a debate and show each round live (or print the outcome with --json)."""
    project = project_settings(model=model, roles_dirs=tuple(roles_dir or ()),
                               log_dir=log_dir, bus=bus)
    config = DebateConfig.parse(
        question=question, debaters=debaters, rounds=rounds, roles=tuple(role or ()),
        judge=judge, extract=extract, converge_at=converge_at, model=project.model, seed=seed,
        **judge_settings(max_total_tokens=max_total_tokens, max_seconds=max_seconds),
        temperature=temperature, max_tokens=max_tokens, roles_dirs=project.roles_dirs,
        bus=project.bus, models=model_options(max_connections, max_attempts, cache, offline),
        forbid_self_judging=forbid_self_judging,
    )
    with run_log(project.log_dir, "debate", transcript, record=not no_log) as path:
        view = None if json_out else DebateView(Console(highlight=False))
        with view or nullcontext():  # the live status lines, on a terminal
            outcome = anyio.run(lambda: run_debate(
                config, transcript=path, overwrite=overwrite, observer=view
            ))
    if json_out:
        sys.stdout.write(outcome.model_dump_json() + "\n")
