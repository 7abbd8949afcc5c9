"""``critic view``: write the self-contained HTML page of a transcript, score file or report."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from critic.cli.app import app
from critic.cli.options import LogDir
from critic.viewer import write_html
from critic.workspace.logs import latest_run, resolve_log_dir, viewable


@app.command()
def view(
    path: Annotated[Path | None, typer.Argument(
        help="Transcript, score file, experiment summary or calibration report. "
        "Default: the latest recorded run in the log directory.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the page here. Default: beside the input, ending in .html.")
    ] = None,
    open_page: Annotated[bool, typer.Option(
        "--open", help="Open the page in the default browser.")] = False,
    log_dir: LogDir = None,
) -> None:
    """Write one HTML page (no network needed to open it) and print its path."""
    source = path if path is not None else viewable(latest_run(resolve_log_dir(log_dir)).path)
    page = write_html(source, out)
    typer.echo(str(page))
    if open_page:
        webbrowser.open(page.resolve().as_uri())
