"""Rich rendering of session envelopes, shared by the live view and ``critic replay``."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from critic.cli.calls import call_panel
from critic.cli.live import LiveView
from critic.grounding.human import TerminalFloor
from critic.messages import Critique, Draft, Envelope, ModelCall, Outcome, Task, Verdict

_COLOURS = {"accept": "green", "revise": "yellow", "discard": "red"}


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


class SessionView(LiveView):
    """Prints tasks, drafts, critiques, verdicts and the outcome as they arrive.

    Inside ``with view:`` (``critic run``) a status line per agent at work stays
    below them on a terminal (:class:`~critic.cli.live.LiveView`).
    """

    def __init__(self, console: Console | None = None, *, show_calls: bool = False,
                 live: bool | None = None, clock: Callable[[], float] = time.monotonic,
                 floor: TerminalFloor | None = None) -> None:
        super().__init__(console, live=live, clock=clock, floor=floor)
        self.show_calls = show_calls

    def __call__(self, envelope: Envelope) -> None:
        self.see(envelope)
        payload = envelope.payload
        out = self
        if isinstance(payload, Task):
            out.show(Panel(escape(payload.prompt), title="task", border_style="cyan"))
        elif isinstance(payload, Draft):
            if payload.error:
                out.show(f"[red]generator failed:[/red] {escape(payload.error)}")
            else:
                out.show(Panel(escape(payload.text), title=f"draft · round {payload.round}",
                                border_style="blue"))
        elif isinstance(payload, Critique):
            if payload.scored:
                head = f"[bold]{escape(payload.role)}[/bold] score {_score(payload.score)}"
                if payload.weight == 0:  # shown so a reader sees it, never counted
                    head += " [dim](advisory: weight 0, not counted)[/dim]"
                lines = [head, *(f"  • {escape(p)}" for p in payload.problems)]
                if payload.suggestion:
                    lines.append(f"  → {escape(payload.suggestion)}")
                out.show("\n".join(lines))
            else:
                out.show(f"[bold]{escape(payload.role)}[/bold] [red]{payload.status}[/red]: "
                          f"{escape(payload.error or '')}")
        elif isinstance(payload, Verdict):
            colour = _COLOURS[payload.decision]
            out.show(Text.assemble(
                ("verdict ", "bold"), (payload.decision.upper(), f"bold {colour}"),
                f" (round {payload.round}, aggregate {_score(payload.aggregate)}, "
                f"{payload.critiques_used} scored / {payload.critiques_failed} failed): ",
                payload.reason,
            ))
        elif isinstance(payload, Outcome):
            colour = _COLOURS[payload.decision]
            out.show(Panel(
                Text.assemble(
                    (payload.decision.upper(), f"bold {colour}"),
                    f" after {payload.rounds} round(s), score {_score(payload.score)}, "
                    f"stop: {payload.stop}\n{payload.reason}\n"
                    f"tokens: {payload.usage.prompt_tokens} prompt + "
                    f"{payload.usage.completion_tokens} completion, {payload.elapsed:.1f} s",
                    *_returned(payload),
                ),
                title="outcome", border_style=colour,
            ))
        elif self.show_calls and isinstance(payload, ModelCall):
            out.show(call_panel(payload, envelope.sender))


def _returned(outcome: Outcome) -> tuple[tuple[str, str] | str, ...]:
    """The draft the session returns and the round it came from (on discard: the best seen)."""
    draft = outcome.draft
    if draft is None or draft.error:
        return ("\nno draft returned",)
    which = "accepted" if outcome.decision == "accept" else "best"
    return (("\nreturned draft", "bold"), f" ({which}, from round {draft.round}):\n", draft.text)
