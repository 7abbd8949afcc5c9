"""``critic logs``: the runs recorded in the log directory, newest first."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from critic.cli.app import app
from critic.cli.options import LogDir
from critic.workspace.logs import list_runs, resolve_log_dir


@app.command()
def logs(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show this many runs.")] = 20,
    log_dir: LogDir = None,
) -> None:
    """List recent runs: time, command, the task's start, the decision and the file."""
    folder = resolve_log_dir(log_dir)
    runs = list_runs(folder, limit)
    console = Console(highlight=False, soft_wrap=True)
    if not runs:
        console.print(f"no recorded runs in {folder}")
        return
    table = Table("time (UTC)", "command", "task", "decision", box=None)
    table.add_column("path", overflow="fold")
    for run in runs:
        task = " ".join((run.task or "").split())
        table.add_row(run.time.strftime("%Y-%m-%d %H:%M:%S"), run.command,
                      task[:40] + ("…" if len(task) > 40 else ""), run.decision or "",
                      str(run.path))
    console.print(table, markup=False)
