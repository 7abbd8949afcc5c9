"""``critic config``: every project setting, its value and where it came from."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from critic.backends.options import ModelEndpoint
from critic.cli.app import app
from critic.cli.options import BusUrl, LogDir, ModelSpec, RolesDirs
from critic.workspace.project import find_project_file, resolve


def shown(value: object) -> str:
    """A setting's value on one line; a named model without its headers' values."""
    if isinstance(value, ModelEndpoint):
        parts = [value.base_url + (f"#{value.model}" if value.model else "")]
        if value.api_key_env:
            parts.append(f"key from ${value.api_key_env}")
        if value.headers:
            parts.append(f"headers {', '.join(value.headers)}")
        parts += [f"{k} {getattr(value, k)}" for k in ("max_connections", "max_attempts", "timeout")
                  if getattr(value, k) is not None]
        return "; ".join(parts)
    return ("" if value is None else
            ", ".join(str(p) for p in value) if isinstance(value, tuple) else
            str(value) if isinstance(value, (str, Path)) else repr(value))


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
        # One line per setting, never cut to the terminal's width: paths are long.
        console.print(f"{setting.name} = {shown(setting.value) or '-'}    ({setting.source})",
                      markup=False)
