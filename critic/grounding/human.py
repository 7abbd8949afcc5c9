"""The ``human`` critic: the person at the terminal reads the draft and scores it.

They type a score on the role's scale, or ``a``/``accept`` (top of the scale) or
``r``/``reject`` (bottom), then one line of feedback. Terminal I/O runs in a
worker thread so the event loop (and the other critics) keep going. Without a
terminal the critic cannot be built: a :class:`ConfigError` before the session.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
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


@dataclass
class HumanCritic(RoleCritic):
    """Asks the person at ``stdin``/``console`` for a score and feedback."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    console: Console = field(default_factory=lambda: Console(highlight=False))
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

    def _interview(self, request: ReviewRequest) -> tuple[float, str]:
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
        return score, feedback

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        async with self._lock:
            raw, feedback = await anyio.to_thread.run_sync(
                self._interview, request, abandon_on_cancel=True
            )
        spec = self.role.spec
        return Critique(
            role=self.name, round=request.draft.round, score=spec.normalize(raw), raw_score=raw,
            problems=(feedback,) if feedback else (), weight=self.weight,
        )


def human_critic(role: Role, ctx: CriticContext) -> HumanCritic:
    if not sys.stdin.isatty():
        raise ConfigError(
            f"role {role.name!r}: the human critic needs a terminal, but stdin is not a TTY"
        )
    return HumanCritic(role)
