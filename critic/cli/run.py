"""``critic run``: one critique session, shown live or as JSON."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.console import Console

from critic.cli.app import app
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
    Seed,
    model_options,
)
from critic.cli.views import SessionView
from critic.config import RunConfig
from critic.errors import ConfigError, ModelError
from critic.session.run import run_critique
from critic.workspace.logs import run_log
from critic.workspace.project import judge_settings, project_settings


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="What the generator should do.")],
    role: Annotated[list[str] | None, typer.Option(
        "--role", "-r", help="Critic role (repeatable). Default: correctness, clarity.")] = None,
    max_rounds: Annotated[int | None, typer.Option(
        help="Rounds before the judge gives up. Default: 3.")] = None,
    accept_at: Annotated[float | None, typer.Option(
        help="Aggregate score that accepts a draft. Default: 0.8.")] = None,
    discard_below: Annotated[float | None, typer.Option(
        help="Aggregate score that discards. Default: 0.")] = None,
    patience: Annotated[int | None, typer.Option(
        help="Discard after this many rounds without improvement.")] = None,
    max_total_tokens: MaxTotalTokens = None,
    max_seconds: MaxSeconds = None,
    model: ModelSpec = None,
    seed: Seed = 0,
    temperature: Annotated[float, typer.Option(help="Generator temperature.")] = 0.0,
    max_tokens: Annotated[int, typer.Option(help="Longest draft, in tokens.")] = 320,
    roles_dir: RolesDirs = None,
    revision: Annotated[str, typer.Option(
        help="How drafts are revised: 'fresh' (a new context quoting the draft) or 'continue'."
    )] = "fresh",
    revision_temperature: Annotated[float | None, typer.Option(
        help="Temperature of revisions. Default: the generator's, at least 0.7.")] = None,
    revise_unscored: Annotated[bool, typer.Option(
        help="Revise even when no critic could score the draft (default: stop).")] = False,
    judge: Annotated[str, typer.Option(
        help="'threshold' (the score rules), a judge role (e.g. llm-judge) or a "
        "critic.judges plugin.")] = "threshold",
    transcript: Annotated[Path | None, typer.Option(help="Write the JSONL transcript here.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing transcript.")] = False,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print only the Outcome as one JSON object.")] = False,
    bus: BusUrl = None,
    tests: Annotated[Path | None, typer.Option(
        help="File of tests for the doctests role (>>> examples, asserts, HumanEval check)."
    )] = None,
    reference: Annotated[str | None, typer.Option(
        help="Reference answer or tests, given to critics with the task.")] = None,
    max_connections: MaxConnections = None,
    max_attempts: MaxAttempts = None,
    cache: CacheFile = None,
    offline: Offline = False,
    forbid_self_judging: Annotated[bool, typer.Option(
        help="Refuse a judge role on the generator's model (default: a warning).")] = False,
    log_dir: LogDir = None,
    no_log: NoLog = False,
) -> None:
    """Run one critique session and show it live (or print the Outcome with --json).

    Exit code 1 when the generator never produced a draft (e.g. its model is
    unreachable): that is a failed run, not a judge's discard.
    """
    project = project_settings(model=model, roles_dirs=tuple(roles_dir or ()),
                               log_dir=log_dir, bus=bus)
    # Rules not given as flags come from CRITIC_* or [judge] in critic.toml.
    rules = judge_settings(max_rounds=max_rounds, accept_at=accept_at,
                           discard_below=discard_below, patience=patience,
                           max_total_tokens=max_total_tokens, max_seconds=max_seconds)
    config = RunConfig.parse(
        task=task, roles=tuple(role) if role else ("correctness", "clarity"),
        **rules, model=project.model, seed=seed, temperature=temperature,
        max_tokens=max_tokens, roles_dirs=project.roles_dirs, judge=judge,
        bus=project.bus, tests=read_tests(tests), reference=reference,
        models=model_options(max_connections, max_attempts, cache, offline),
        forbid_self_judging=forbid_self_judging,
        revision=revision, revision_temperature=revision_temperature,
        revise_unscored=revise_unscored,
    )
    with run_log(project.log_dir, "run", transcript, record=not no_log) as path:
        view = None if json_out else SessionView(Console(highlight=False))
        with view or nullcontext():  # the live status lines, on a terminal
            outcome = anyio.run(lambda: run_critique(
                config, transcript=path, overwrite=overwrite, observer=view
            ), backend="asyncio")
    if json_out:
        sys.stdout.write(outcome.model_dump_json() + "\n")
    if offline and outcome.stop == "error":  # e.g. the generator's call was not cached
        raise ModelError(outcome.reason)
    if outcome.draft is None:
        Console(stderr=True, highlight=False).print(
            f"[bold red]error:[/bold red] no draft was produced: {outcome.reason}", soft_wrap=True)
        raise typer.Exit(1)


def read_tests(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--tests {path}: cannot read it ({exc})") from exc
