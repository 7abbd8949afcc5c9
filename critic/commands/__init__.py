"""The ``critic`` command's sub-commands, one module each; :data:`app` collects them.

A command module does ``from critic.commands import app`` and decorates its
function with ``@app.command()``; :mod:`critic.cli` imports every module.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Multi-agent self-critique: a generator drafts, critics review, a judge decides.",
)
