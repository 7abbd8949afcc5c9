"""``critic replay``: show a recorded transcript again, no model needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from critic.cli.app import app
from critic.cli.debate_views import DebateView
from critic.cli.views import SessionView
from critic.messages import ENVELOPE_ADAPTER
from critic.transcript import read_transcript


@app.command()
def replay(
    path: Annotated[Path, typer.Argument(help="A transcript written by --transcript.")],
    calls: Annotated[bool, typer.Option(
        help="Also show every model call in full: the messages sent, the completion, usage.")
    ] = False,
) -> None:
    """Print a transcript the way the live view showed it; no model needed."""
    transcript = read_transcript(path, tolerate_torn_tail=True)
    console = Console(highlight=False)
    header = transcript.header
    console.print(f"[dim]session {header.session} · critic {header.critic_version} · "
                  f"{len(transcript.envelopes)} envelopes[/dim]")
    view: SessionView | DebateView = (
        DebateView(console, show_calls=calls) if header.mode == "debate"
        else SessionView(console, show_calls=calls)
    )
    for envelope in transcript.envelopes:
        view(envelope)


@app.command("schema", hidden=True)
def schema() -> None:
    """Print the JSON schema of an envelope (for tools that read transcripts)."""
    sys.stdout.write(json.dumps(ENVELOPE_ADAPTER.json_schema(), indent=2) + "\n")
