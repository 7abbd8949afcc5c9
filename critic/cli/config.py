"""``critic config``: every project setting, its value and where it came from."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from critic.cli.app import app
from critic.cli.options import BusUrl, LogDir, ModelSpec, RolesDirs
from critic.workspace.project import find_project_file, resolve


@app.command("config")
def show_config(model: ModelSpec = None, roles_dir: RolesDirs = None, log_dir: LogDir = None,
                bus: BusUrl = None) -> None:
    """Show the settings a command here would use: flag > CRITIC_* env > critic.toml > default."""
    found = resolve({"model": model, "roles_dirs": tuple(roles_dir or ()), "log_dir": log_dir,
                     "bus": bus})
    console = Console(highlight=False, soft_wrap=True)
    path = find_project_file()
    console.print(f"project file: {path if path is not None else 'none (no critic.toml here or above)'}",
                  markup=False)
    for setting in found.values():
        value = setting.value
        shown = ("" if value is None else
                 ", ".join(str(p) for p in value) if isinstance(value, tuple) else
                 str(value) if isinstance(value, (str, Path)) else repr(value))
        # One line per setting, never cut to the terminal's width: paths are long.
        console.print(f"{setting.name} = {shown or '-'}    ({setting.source})", markup=False)



