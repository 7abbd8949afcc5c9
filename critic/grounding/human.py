"""The ``human`` critic: the person at the terminal reads the draft and scores it.

They type a score on the role's scale, or ``a``/``accept`` (top of the scale) or
``r``/``reject``, then one line of feedback. A rejection scores the bottom of
the scale and is a veto (:attr:`~critic.messages.Critique.rejected`): the judge
discards the draft and the transcript says a person rejected it. Terminal I/O
runs in a worker thread so the event loop (and the other critics) keep going;
meanwhile the person has the terminal to themselves (:class:`TerminalFloor`):
the live view is taken down and the other critics' results wait. Without a
terminal the critic cannot be built: a :class:`ConfigError` before the session.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

import anyio
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from critic.errors import ConfigError
from critic.messages import Critique, ReviewRequest
from critic.protocols import CriticContext, Recorder
from critic.roles.spec import Role, RoleCritic

_ACCEPT = {"a", "accept", "y", "yes"}
_REJECT = {"r", "reject", "n", "no"}


class TerminalFloor:
    """Who may write to the terminal: whatever displays the run, or a person being asked.

    A display (the CLI's live view) registers how to step aside (``pause``) and
    come back (``resume``); :meth:`held` calls them around a person's prompt
    and answer. One per process (:func:`terminal_floor`), as there is one
    terminal; thread-safe, since prompts run in worker threads.
    """

    def __init__(self) -> None:
        self._turn = threading.Lock()  # one person's prompt at a time
        self._lock = threading.Lock()
        self._displays: list[tuple[Callable[[], None], Callable[[], None]]] = []

    @contextmanager
    def yielding(self, pause: Callable[[], None], resume: Callable[[], None]) -> Iterator[None]:
        """Register a display for the duration of the block."""
        entry = (pause, resume)
        with self._lock:
            self._displays.append(entry)
        try:
            yield
        finally:
            with self._lock:
                self._displays.remove(entry)

    @contextmanager
    def held(self) -> Iterator[None]:
        """The terminal to oneself: every display steps aside until the block ends."""
        with self._turn:
            with self._lock:
                displays = list(self._displays)
            for pause, _ in displays:
                pause()
            try:
                yield
            finally:
                for _, resume in reversed(displays):
                    resume()


_FLOOR = TerminalFloor()


def terminal_floor() -> TerminalFloor:
    """The process's terminal (human critics ask on it; the live view yields it)."""
    return _FLOOR


@dataclass
class HumanCritic(RoleCritic):
    """Asks the person at ``stdin``/``console`` for a score and feedback."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    console: Console = field(default_factory=lambda: Console(highlight=False))
    floor: TerminalFloor = field(default_factory=terminal_floor)
    # One person, one prompt at a time, even with several human roles.
    _lock: anyio.Lock = field(default_factory=anyio.Lock)

    def _ask(self, prompt: str) -> str:
        self.console.print(prompt, end="")
        line = self.stdin.readline()
        if not line:
            raise ConfigError(f"role {self.name!r}: the terminal closed (end of input)")
        return line.strip()

    def _score(self, answer: str) -> float | None:
        low, high = self.role.spec.scale
        word = answer.lower()
        if word in _ACCEPT:
            return high
        if word in _REJECT:
            return low
        try:
            value = float(answer)
        except ValueError:
            return None
        return value if low <= value <= high else None

    def _interview(self, request: ReviewRequest) -> tuple[float, bool, str]:
        with self.floor.held():
            return self._ask_all(request)

    def _ask_all(self, request: ReviewRequest) -> tuple[float, bool, str]:
        low, high = self.role.spec.scale
        self.console.print(Panel(escape(request.draft.text),
                                 title=f"{self.name}: review draft · round {request.draft.round}",
                                 border_style="magenta"))
        ask: Callable[[str], str] = self._ask
        while True:
            answer = ask(f"score {low:g}-{high:g}, or a(ccept) / r(eject): ")
            score = self._score(answer)
            if score is not None:
                break
            self.console.print(f"[red]not a score in {low:g}-{high:g}, nor accept/reject[/red]")
        feedback = ask("feedback (one line, empty for none): ")
        return score, answer.lower() in _REJECT, feedback

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        async with self._lock:
            raw, rejected, feedback = await anyio.to_thread.run_sync(
                self._interview, request, abandon_on_cancel=True
            )
        spec = self.role.spec
        problems = (feedback,) if feedback else ()
        if rejected:
            problems = ("a person rejected the draft", *problems)
        return Critique(
            role=self.name, round=request.draft.round, score=spec.normalize(raw), raw_score=raw,
            problems=problems, weight=self.weight, rejected=rejected,
        )


def human_critic(role: Role, ctx: CriticContext) -> HumanCritic:
    if not sys.stdin.isatty():
        raise ConfigError(
            f"role {role.name!r}: the human critic needs a terminal, but stdin is not a TTY"
        )
    return HumanCritic(role)
