"""The ``critic`` command's sub-commands, one module each; :data:`app` collects them.

A command module does ``from critic.cli.app import app`` and decorates its
function with ``@app.command()``; :mod:`critic.cli.main` imports every module.
"""

from __future__ import annotations

from importlib import metadata
from typing import Annotated

import typer

app = typer.Typer(
    no_args_is_help=True, pretty_exceptions_enable=False,
    help="Multi-agent self-critique: a generator drafts, critics review, a judge decides.\n\n"
    "Exit codes: 0 done; 1 no result (e.g. the generator never produced a draft); "
    "2 a user error (one line on stderr); 130 interrupted.",
)


def _version() -> str:
    try:
        return metadata.version("critic")
    except metadata.PackageNotFoundError:  # a source checkout that was never installed
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"critic {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", help="Print critic's version and exit.", callback=_show_version,
        is_eager=True)] = False,
) -> None:
    """Multi-agent self-critique: a generator drafts, critics review, a judge decides."""
