"""Rich rendering of a debate, shared by ``critic debate``'s live view and ``critic replay``.

One table per round (a row per debater), with changes of mind marked; then the
verdict and the outcome with its metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from critic.cli.calls import call_panel
from critic.cli.live import LiveView
from critic.grounding.human import TerminalFloor
from critic.messages import DebateOutcome, DebateRound, DebateVerdict, Envelope, ModelCall, Task

_COLOURS = {"accept": "green", "discard": "red"}


def _snippet(text: str, limit: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def round_table(done: DebateRound) -> Table:
    """The answers of one round; a changed answer is marked ``changed``."""
    majority = done.majority if done.majority is not None else "none"
    table = Table(
        "debater", "answer", "", "text",
        title=f"round {done.round} · agreement {done.agreement:.2f} · majority {majority}"
        + (" · converged" if done.converged else ""),
        title_justify="left",
    )
    for answer in done.answers:
        if answer.status != "ok":
            table.add_row(answer.debater, Text(answer.status, style="red"), "",
                          escape(answer.error or ""))
            continue
        mark = Text("changed", style="bold yellow") if answer.debater in done.changed else ""
        shown = answer.answer if answer.answer is not None else "?"
        table.add_row(answer.debater, Text(shown, style="bold"), mark,
                      escape(_snippet(answer.text)))
    return table


class DebateView(LiveView):
    """Prints the question, each round's table, the verdict and the outcome as they arrive.

    Inside ``with view:`` (``critic debate``) a status line per debater at work
    stays below them on a terminal (:class:`~critic.cli.live.LiveView`).
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
            out.show(Panel(escape(payload.prompt), title="question", border_style="cyan"))
        elif isinstance(payload, DebateRound):
            out.show(round_table(payload))
            for item in payload.critiques:
                c = item.critique
                score = f"{c.score:.2f}" if c.score is not None else c.status
                problems = "; ".join(c.problems) or c.error or ""
                out.show(f"  [bold]{escape(c.role)}[/bold] on {escape(item.debater)}: "
                          f"{score} {escape(problems)}")
        elif isinstance(payload, DebateVerdict):
            out.show(Text.assemble(
                ("verdict ", "bold"),
                (payload.decision.upper(), f"bold {_COLOURS[payload.decision]}"),
                f" by {payload.judge}: ", payload.reason,
            ))
            if payload.shown:
                seen = ", ".join(f"Answer {i} = {name}" for i, name in enumerate(payload.shown, 1))
                out.show(f"  [dim]the judge saw: {escape(seen)}[/dim]")
        elif isinstance(payload, DebateOutcome):
            self._outcome(payload)
        elif self.show_calls and isinstance(payload, ModelCall):
            out.show(call_panel(payload, envelope.sender))

    def _outcome(self, outcome: DebateOutcome) -> None:
        colour = _COLOURS[outcome.decision]
        metrics = outcome.metrics
        agreement = ", ".join(f"{a:.2f}" for a in metrics.agreement)
        converged = (f"converged in round {outcome.convergence_round}"
                     if outcome.convergence_round is not None else "did not converge")
        lines = [
            (f" answer {outcome.answer!r}" if outcome.answer is not None else " no answer")
            + f" after {outcome.rounds_used} round(s), {converged}, "
            f"stop: {outcome.stop}",
            outcome.reason,
            f"agreement per round: {agreement}; changes of mind: {metrics.answer_changes}; "
            f"majority flipped: {'yes' if metrics.majority_flipped else 'no'}",
        ]
        lines.extend(f"excluded {name}: {why}" for name, why in outcome.failed.items())
        lines.append(f"tokens: {outcome.usage.prompt_tokens} prompt + "
                     f"{outcome.usage.completion_tokens} completion, {outcome.elapsed:.1f} s")
        if outcome.text:  # what the caller gets back: the chosen debater's text or the judge's
            lines.append(f"returned text (judged after round {outcome.rounds_used}):\n{outcome.text}")
        self.show(Panel(
            Text.assemble((outcome.decision.upper(), f"bold {colour}"), "\n".join(lines)),
            title="debate outcome", border_style=colour,
        ))
