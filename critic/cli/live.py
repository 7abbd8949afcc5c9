"""Live progress of ``run`` and ``debate``: a status line per agent at work, from the start.

The :class:`Board` follows the envelopes a session records: a request opens an
agent's line (the generator drafting, each critic reviewing, the judge
judging, each debater answering), its reply (or the stand-in for a reply that
never came) closes it, and the model calls it made add their tokens. A backend
that streams (llama.cpp) also reports the call in flight
(:mod:`critic.backends.meter`): waiting for the model, reading the prompt, or
tokens so far and tokens per second.

On a terminal, :class:`LiveView` shows the board as a rich ``Live`` display
under the results, which print above it as they arrive. Anywhere else (a
pipe, CI) there is no live display at all, only the results, so a log never
holds redraws. While a person answers the human critic, the display is taken
down and results are held back (:class:`~critic.grounding.human.TerminalFloor`),
so nothing interleaves with the prompt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from critic.backends.meter import watching
from critic.grounding.human import TerminalFloor, terminal_floor
from critic.messages import (
    DebateJudgeRequest,
    DebateRequest,
    DraftRequest,
    Envelope,
    JudgeRequest,
    ModelCall,
    Payload,
    ReviewRequest,
)

#: Redraws per second of the live display (the elapsed times tick with them).
REFRESHES_PER_S = 4


@dataclass
class Step:
    """One agent's work on one request, as far as the board knows."""

    agent: str
    activity: str
    started: float
    tokens: int = 0
    """Completion tokens of the model calls this step finished."""
    call_seconds: float = 0.0
    """Seconds those calls took."""
    streamed: int | None = None
    """Tokens the call in flight generated so far (None: not reported, or waiting)."""
    streaming_since: float | None = None
    waiting: bool = False
    """The backend said the call waits for the model (its lock or a CPU slot)."""


def _activity(payload: Payload) -> tuple[str, str] | None:
    """Who a request puts to work, and at what (None: not a request for an agent)."""
    if isinstance(payload, DraftRequest):
        return "generator", ("drafting" if payload.round == 1 else "revising") + \
            f" round {payload.round}"
    if isinstance(payload, ReviewRequest):
        draft = payload.draft
        whose = f" ({draft.author}'s answer)" if draft.author != "generator" else ""
        return payload.role, f"reviewing round {draft.round}{whose}"
    if isinstance(payload, JudgeRequest):
        return "judge", f"judging round {payload.draft.round}"
    if isinstance(payload, DebateRequest):
        return payload.debater, f"answering round {payload.round}"
    if isinstance(payload, DebateJudgeRequest):
        return "judge", f"judging the answers of round {payload.round}"
    return None


class Board:
    """Who is at work on what, right now; safe to update from backend threads.

    Tokens per second are the step's tokens over the model's time on its calls, prompt
    reading included (as a call's recorded latency counts it).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._steps: dict[str, Step] = {}  # by the request envelope's id
        self._lock = threading.Lock()

    def see(self, envelope: Envelope) -> bool:
        """Update from one recorded envelope; whether the board changed."""
        payload = envelope.payload
        with self._lock:
            opened = _activity(payload)
            if opened is not None:
                self._steps[envelope.id] = Step(*opened, started=self._clock())
                return True
            step = self._steps.get(envelope.parent or "")
            if step is None:
                return False
            if isinstance(payload, ModelCall):
                step.tokens += payload.usage.completion_tokens
                step.call_seconds += payload.latency
                step.streamed = step.streaming_since = None
                step.waiting = False
            else:  # the reply, or its stand-in: this step is over
                del self._steps[envelope.parent or ""]
            return True

    def progress(self, request: str, tokens: int | None) -> None:
        """A backend's report on the call in flight (:class:`~critic.backends.meter.TokenWatch`)."""
        with self._lock:
            step = self._steps.get(request)
            if step is None:
                return
            step.waiting = tokens is None
            if tokens is None:
                return
            if step.streaming_since is None or tokens == 0:
                step.streaming_since = self._clock()
            step.streamed = tokens

    def lines(self) -> list[Text]:
        """One status line per agent at work, oldest first."""
        now = self._clock()
        with self._lock:
            steps = list(self._steps.values())
            return [self._line(step, now) for step in steps]

    @staticmethod
    def _line(step: Step, now: float) -> Text:
        line = Text.assemble((f"{step.agent}", "bold"), f" {step.activity}",
                             (f" · {now - step.started:.0f} s", "dim"))
        streamed = step.streamed or 0
        tokens = step.tokens + streamed
        seconds = step.call_seconds + (now - step.streaming_since
                                       if step.streaming_since is not None and streamed else 0.0)
        if tokens:
            rate = f", {tokens / seconds:.0f} tok/s" if seconds > 0 else ""
            line.append(f" · {tokens} tokens{rate}", "cyan")
        elif step.waiting:
            line.append(" · waiting for model", "yellow")
        elif step.streamed == 0:
            line.append(" · reading the prompt", "cyan")
        return line


class LiveView:
    """Base of the session and debate views: prints results, keeps the live board below them.

    Use it as a context manager around the run (``with view: ...``); outside
    one (``critic replay``) it only prints. ``live`` None: a live display
    exactly when the console is a terminal. ``floor``: the terminal it yields
    to a person's prompt (default: the process's).
    """

    def __init__(self, console: Console | None = None, *, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 floor: TerminalFloor | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.floor = floor or terminal_floor()
        self.board = Board(clock)
        self._live_wanted = self.console.is_terminal if live is None else live
        self._live: Live | None = None
        self._stack = ExitStack()
        self._hold = threading.Lock()
        self._paused = False
        self._pending: list[RenderableType] = []

    # --- the live display -------------------------------------------------------

    def _render(self) -> RenderableType:
        return Text("\n").join(self.board.lines())

    def __enter__(self) -> LiveView:
        self._stack.enter_context(watching(self.board))
        self._stack.enter_context(self.floor.yielding(self.pause, self.resume))
        if self._live_wanted:
            self._live = Live(console=self.console, get_renderable=self._render,
                              refresh_per_second=REFRESHES_PER_S, transient=True,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start()
            self._stack.callback(self._stop)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()

    def _stop(self) -> None:
        with self._hold:
            live, self._live = self._live, None
            if live is not None:
                live.stop()

    def pause(self) -> None:
        """Take the display down and hold results back (someone else has the terminal)."""
        with self._hold:
            self._paused = True
            if self._live is not None:
                self._live.stop()

    def resume(self) -> None:
        """Print what was held back, then bring the display back."""
        with self._hold:
            for renderable in self._pending:
                self.console.print(renderable)
            self._pending.clear()
            self._paused = False
            if self._live is not None:
                self._live.start(refresh=True)

    # --- what the views call ------------------------------------------------------

    def see(self, envelope: Envelope) -> None:
        """Update the board; redraw at once so a new line shows without waiting for a tick."""
        if self.board.see(envelope):
            with self._hold:
                if self._live is not None and not self._paused:
                    self._live.refresh()

    def show(self, renderable: RenderableType) -> None:
        """Print a result above the board (held back while a person has the terminal)."""
        with self._hold:
            if self._paused:
                self._pending.append(renderable)
            else:
                self.console.print(renderable)
