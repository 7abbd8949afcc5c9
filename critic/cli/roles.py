"""``critic roles``: list the available roles, show one, check a folder of roles.

    critic roles                 # table: name, kind, source, description
    critic roles --json          # the same, one JSON array
    critic roles show NAME       # the spec and its prompt rendered with placeholders
    critic roles check DIR       # every problem, file and field; exit 2 on any
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from critic.cli.app import app
from critic.errors import ConfigError
from critic.prompts import TEMPLATE_VARIABLES
from critic.roles.kinds import default_kinds
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role, check_role_dir

roles_app = typer.Typer(
    invoke_without_command=True, no_args_is_help=False,
    help="List the available critic and judge roles; show or check them.",
)
app.add_typer(roles_app, name="roles")

RolesDirs = Annotated[list[Path] | None, typer.Option(
    "--roles-dir", help="Extra folder of TOML roles (repeatable), as for `critic run`.")]


def _registry(roles_dir: list[Path] | None) -> RoleRegistry:
    return RoleRegistry(extra_dirs=tuple(roles_dir or ()))


def _summary(role: Role) -> dict[str, str | None]:
    return {
        "name": role.name, "kind": role.spec.kind, "source": role.source,
        "description": role.spec.description, "path": str(role.path) if role.path else None,
    }


@roles_app.callback()
def roles(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
    roles_dir: RolesDirs = None,
) -> None:
    """List every role: built-in, $CRITIC_ROLES_PATH, --roles-dir, then entry points."""
    if ctx.invoked_subcommand is not None:
        return
    found = sorted(_registry(roles_dir).load().values(), key=lambda r: r.name)
    if json_out:
        sys.stdout.write(json.dumps([_summary(r) for r in found], indent=2) + "\n")
        return
    table = Table("name", "kind", "source", "description")
    for role in found:
        table.add_row(role.name, role.spec.kind, role.source, role.spec.description)
    Console(highlight=False).print(table)


@roles_app.command()
def show(
    name: Annotated[str, typer.Argument(help="A role name, as listed by `critic roles`.")],
    roles_dir: RolesDirs = None,
) -> None:
    """Print a role's spec and its prompt rendered with placeholder values."""
    role = _registry(roles_dir).get(name)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"[bold]{role.name}[/bold] ({role.spec.kind}) from {role.source}")
    if role.path is not None:
        console.print(f"file: {role.path}")
    if role.plugin is not None:
        plugin = role.plugin
        console.print(f"class: {getattr(plugin, '__module__', '?')}.{getattr(plugin, '__qualname__', '?')}")
    console.print(json.dumps(role.spec.model_dump(mode="json", exclude_none=True), indent=2),
                  markup=False)
    placeholders = ", ".join(f"{k}={v!r}" for k, v in TEMPLATE_VARIABLES.items())
    for label, template in (("system", role.system), ("prompt", role.prompt)):
        if template is not None:
            console.print(f"\n[bold]{label}[/bold] ({template.path}; placeholders: {placeholders})")
            console.print(template.render(**TEMPLATE_VARIABLES), markup=False)


@roles_app.command()
def check(
    directory: Annotated[Path, typer.Argument(help="A folder of *.toml roles.")],
) -> None:
    """Validate a folder of roles; print every problem (file: field: message), exit 2 on any."""
    known = {*default_kinds().factories, "judge", "debater"}  # debater: critic debate --role
    problems = check_role_dir(directory, known_kinds=known)
    if problems:
        for problem in problems:
            sys.stdout.write(problem + "\n")
        # The CLI turns this into a one-line error and exit code 2.
        raise ConfigError(f"{len(problems)} problem(s) in {directory}")
    count = len(list(directory.glob("*.toml")))
    sys.stdout.write(f"{directory}: {count} role(s), no problems\n")
