"""The ``critic`` command: parse, call the library, print. No logic lives here.

Each sub-command lives in its own module under :mod:`critic.commands`;
importing the module registers it on :data:`critic.commands.app`.
"""

from __future__ import annotations

import click
import typer
from rich.console import Console

import critic.commands.debate
import critic.commands.replay
import critic.commands.roles
import critic.commands.run
import critic.commands.score
import critic.commands.summarize
import critic.commands.worker  # noqa: F401  (each import registers its commands)
from critic.commands import app
from critic.errors import CriticError

err = Console(stderr=True, highlight=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes become one line on stderr and exit code 2."""
    try:
        # Without standalone mode click returns a command's typer.Exit code instead of raising.
        code = app(args=argv, standalone_mode=False)
    except CriticError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", soft_wrap=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        return 130
    except click.ClickException as exc:
        err.print(f"[bold red]error:[/bold red] {exc.format_message()}", soft_wrap=True)
        return exc.exit_code
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
