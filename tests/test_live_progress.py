"""Live progress of ``run`` and ``debate``: a status line per agent, shown before any model answers.

Every check waits on observed state (a status line written to the terminal, an
envelope recorded), never on a clock: the clock of the board is a fake.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest
from rich.console import Console

from critic import LLMCritic, LLMGenerator, MemoryBus, RoleRegistry, Session, Task, ThresholdJudge
from critic.backends.base import Completion, GenerationParams, JsonSchema
from critic.backends.llama_cpp import LlamaCppModel
from critic.backends.meter import call_report, serving, watching
from critic.cli.debate_views import DebateView
from critic.cli.live import Board
from critic.cli.views import SessionView
from critic.debate.debate import Debate
from critic.debate.debaters import LLMDebater
from critic.messages import (
    ChatMessage,
    Critique,
    Draft,
    DraftRequest,
    Envelope,
    ModelCall,
    ReviewRequest,
    Usage,
)
from tests.grounding.test_human import _read_until, critic_cmd

ROLES = RoleRegistry()
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal(io.StringIO):
    """A terminal's output; ``seen`` is set once ``needle`` has been written (from any thread)."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.seen = threading.Event()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            count = super().write(text)
            if self.needle in ANSI.sub("", self.getvalue()):
                self.seen.set()
            return count

    def text(self) -> str:
        with self._lock:
            return ANSI.sub("", self.getvalue())


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def critique(score: int) -> str:
    return json.dumps({"problems": ["p"], "suggestion": "s", "score": score})


class BlockedBackend:
    """A model that answers only once ``gate`` is set, reporting progress as llama.cpp does."""

    name = "blocked"

    def __init__(self, reply: str, gate: threading.Event, streamed: int = 0) -> None:
        self.reply = reply
        self.gate = gate
        self.streamed = streamed
        self.answered = False

    async def complete(self, messages: Sequence[ChatMessage], params: GenerationParams,
                       schema: JsonSchema | None = None) -> Completion:
        report = call_report()
        if report is not None:
            report(None)
            report(0)
            if self.streamed:
                report(self.streamed)
        # A worker thread waits on the gate, so the event loop (and the live view) go on;
        # the bound only turns a broken feature into a failure instead of a hang.
        opened = await anyio.to_thread.run_sync(self.gate.wait, 30.0)
        assert opened, "the gate never opened: the status line was never rendered"
        self.answered = True
        return Completion(text=self.reply, usage=Usage(prompt_tokens=5, completion_tokens=4),
                          latency=2.0)


@pytest.mark.anyio
async def test_first_status_is_rendered_while_the_generator_is_blocked(anyio_backend: str) -> None:
    """The generator's model call cannot return until its status line has been rendered."""
    term = Terminal("generator drafting round 1 · 0 s · 12 tokens")
    clock = FakeClock()
    generator_model = BlockedBackend("the draft", term.seen, streamed=12)
    critics_gate = threading.Event()
    critics = [LLMCritic(ROLES.get(name), BlockedBackend(critique(9), critics_gate), seed=0)
               for name in ("correctness", "clarity")]
    view = SessionView(Console(file=term, force_terminal=True, width=120), clock=clock)
    session = Session(Task(prompt="Reverse a string."), LLMGenerator(generator_model),
                      ThresholdJudge(accept_at=0.5, max_rounds=1), critics,
                      bus=MemoryBus(serialize=True), observer=view)
    seen: list[Envelope] = []
    critics_shown = Terminal("clarity reviewing round 1")

    def watch(envelope: Envelope) -> None:
        seen.append(envelope)
        view(envelope)
        if len([e for e in seen if e.payload.kind == "review_request"]) == 2:
            # Both critics are asked and blocked: their lines are on the board now.
            lines = [line.plain for line in view.board.lines()]
            critics_shown.write("\n".join(lines))
            critics_gate.set()

    session.observer = watch
    with view:
        outcome = await session.run()
    assert outcome.decision == "accept"
    text = term.text()
    first = text.index("generator drafting round 1")
    # The status came first: before the draft, let alone the outcome.
    assert first < text.index("draft · round 1") < text.index("outcome")
    assert generator_model.answered
    shown = critics_shown.text()
    assert "correctness reviewing round 1" in shown and "clarity reviewing round 1" in shown
    assert "generator" not in shown  # replaced once its draft arrived
    assert not view.board.lines()  # every line gone at the end


def test_board_lines_follow_requests_calls_and_replies() -> None:
    """States from envelopes and reports: waiting, reading, tokens and tokens/s, gone on reply."""
    clock = FakeClock()
    board = Board(clock)
    request = Envelope(session="s", topic="s.review.correctness", sender="session",
                       payload=ReviewRequest(task=Task(prompt="t"), role="correctness",
                                             draft=Draft(round=2, text="d")))
    assert board.see(request)
    clock.now += 3
    assert [line.plain for line in board.lines()] == ["correctness reviewing round 2 · 3 s"]
    board.progress(request.id, None)
    assert board.lines()[0].plain.endswith("· waiting for model")
    board.progress(request.id, 0)
    assert board.lines()[0].plain.endswith("· reading the prompt")
    clock.now += 1
    board.progress(request.id, 20)
    clock.now += 2  # 20 tokens 3 s after the model started on the prompt (as a call's latency)
    assert board.lines()[0].plain.endswith("· 20 tokens, 7 tok/s")
    call = ModelCall(agent="correctness", backend="b", model="m", messages=(), completion="x",
                     usage=Usage(completion_tokens=30), latency=3.0)
    board.see(Envelope(session="s", topic="s.model_call", sender="correctness",
                       parent=request.id, payload=call))
    assert board.lines()[0].plain.endswith("· 30 tokens, 10 tok/s")
    board.see(Envelope(session="s", topic="s.reply", sender="correctness", parent=request.id,
                       payload=Critique(role="correctness", round=2, score=1.0)))
    assert board.lines() == []


def test_no_live_display_when_the_output_is_not_a_terminal() -> None:
    """Pipes and CI get the results only: no status lines, no cursor movement."""
    out = io.StringIO()
    view = SessionView(Console(file=out, width=100, highlight=False))
    with view:
        request = Envelope(session="s", topic="s.generate", sender="session",
                           payload=DraftRequest(task=Task(prompt="t"), round=1))
        view(request)
        view(Envelope(session="s", topic="s.task", sender="session", payload=Task(prompt="t")))
    assert "\x1b" not in out.getvalue()
    assert "drafting" not in out.getvalue() and "task" in out.getvalue()


@pytest.mark.anyio
async def test_debate_shows_each_debater_answering(anyio_backend: str) -> None:
    term = Terminal("debater-2 answering round 1")
    debaters = [LLMDebater(f"debater-{i}", BlockedBackend("The answer is 4.", term.seen),
                           GenerationParams(max_tokens=20)) for i in (1, 2)]
    view = DebateView(Console(file=term, force_terminal=True, width=120), clock=FakeClock())
    debate = Debate("What is 2 + 2?", debaters, rounds=1, observer=view)
    with view:
        outcome = await debate.run()
    assert outcome.answer == "4"
    text = term.text()
    assert text.index("debater-1 answering round 1") < text.index("debate outcome")
    assert text.index("debater-2 answering round 1") < text.index("debate outcome")


@pytest.mark.model
@pytest.mark.timeout(300)  # a real SmolLM2 session on 2 shared cores
def test_run_on_smollm2_shows_the_generator_status_before_its_draft(tmp_path: Path) -> None:
    """``critic run`` on a terminal: the generator's status line comes before its first draft.

    The critic is ``doctests`` (no examples in the task: unscored at once), so the model
    time is the generator's alone."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["COLUMNS"] = "120"
        os.execv(sys.executable, critic_cmd(
            "run", "Write a Python function that adds two numbers.", "--role", "doctests",
            "--max-rounds", "1", "--max-tokens", "32", "--no-log",
        ))
    output = bytearray()
    try:
        _read_until(fd, b"drafting round 1", output, timeout=120)
        status_at = len(output)
        _read_until(fd, b"outcome", output, timeout=120)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    # The status line was on the terminal before any draft (the model's first answer) was.
    assert "draft · round 1" not in ANSI.sub("", output[:status_at].decode(errors="replace"))
    assert "draft · round 1" in ANSI.sub("", text)


def test_run_piped_prints_no_status_lines() -> None:
    """``critic run`` into a pipe: readable results, no live redraws."""
    result = subprocess.run(
        critic_cmd("run", "Say hi.", "--role", "clarity", "--model", "http://127.0.0.1:9/v1",
                   "--max-attempts", "1", "--no-log"),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert "\x1b" not in result.stdout and "drafting" not in result.stdout
    assert "generator failed" in result.stdout, result.stdout + result.stderr


class Reports:
    """A token watch that keeps every report (called from llama.cpp's worker thread)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int | None]] = []

    def progress(self, request: str, tokens: int | None) -> None:
        self.seen.append((request, tokens))


@pytest.mark.model
@pytest.mark.anyio
async def test_llama_cpp_reports_tokens_as_it_generates(
    anyio_backend: str, local_model: LlamaCppModel
) -> None:
    """Waiting, then the prompt, then one report per generated token, for the request served."""
    reports = Reports()
    backend = local_model.backend("generator")
    messages = [ChatMessage(role="user", content="Count from one to ten in words.")]
    with watching(reports), serving("request-1"):
        completion = await backend.complete(messages, GenerationParams(max_tokens=24, seed=0))
    counts = [tokens for request, tokens in reports.seen]
    assert {request for request, _ in reports.seen} == {"request-1"}
    assert counts[:2] == [None, 0]
    generated = counts[2:]
    # Each generated token is fed back through eval, and counted as it is; a call cut at
    # max_tokens does not feed back its last one (one stopped by end-of-text does).
    assert generated == list(range(1, len(generated) + 1))
    unfed = 1 if completion.finish_reason == "length" else 0
    assert len(generated) == completion.usage.completion_tokens - unfed > 0
    # Outside the watch, a call reports nothing (to the old watch or anyone).
    await backend.complete(messages, GenerationParams(max_tokens=8, seed=0))
    assert len(reports.seen) == len(counts)
