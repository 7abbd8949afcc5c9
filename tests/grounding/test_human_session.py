"""The human critic inside a session: ``r`` is a veto, and the person's prompt is never interrupted.

Input is fed through a stdin double; the other critic's answer is made to
arrive while the person is being asked (it waits for the prompt to be on the
terminal), and the person answers only once that critique has been recorded,
so the interleaving the test guards against is forced, not left to timing.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console

from critic import (
    LLMCritic,
    LLMGenerator,
    MemoryBus,
    RoleRegistry,
    Session,
    Task,
    ThresholdJudge,
    TranscriptHeader,
    TranscriptWriter,
    read_transcript,
)
from critic.cli.views import SessionView
from critic.config import RunConfig
from critic.grounding.human import HumanCritic, TerminalFloor
from critic.judges.llm import LLMJudge
from critic.messages import Critique, Draft, Envelope, JudgeRequest, Outcome, Verdict
from critic.testing import ScriptedModel
from tests.grounding.test_human import _read_until, critic_cmd
from tests.test_live_progress import ANSI, BlockedBackend, Terminal

ROLES = RoleRegistry()
PROMPT = "or a(ccept) / r(eject): "
FEEDBACK = "feedback (one line, empty for none): "


class GatedInput(io.StringIO):
    """A person's answers; the first is typed only once ``ready`` is set."""

    def __init__(self, answers: str, ready: threading.Event) -> None:
        super().__init__(answers)
        self.ready = ready

    def readline(self, size: int | None = -1) -> str:
        assert self.ready.wait(30.0), "the other critic's critique never arrived"
        return super().readline(-1 if size is None else size)


@pytest.mark.anyio
async def test_reject_discards_and_other_output_waits_for_the_person(
    anyio_backend: str, tmp_path: Path
) -> None:
    term = Terminal(PROMPT)
    console = Console(file=term, force_terminal=True, width=120, highlight=False)
    other_done = threading.Event()
    floor = TerminalFloor()
    human = HumanCritic(ROLES.get("human"), stdin=GatedInput("r\ntoo vague\n", other_done),
                        console=console, floor=floor)
    # The other critic answers only once the person's prompt is on the terminal.
    correctness = LLMCritic(ROLES.get("correctness"), BlockedBackend(
        json.dumps({"problems": [], "suggestion": "", "score": 10}), term.seen), seed=0)
    view = SessionView(console, floor=floor)
    model = ScriptedModel({"generator": ["the draft text"]})
    path = tmp_path / "t.jsonl"
    writer = TranscriptWriter(path, TranscriptHeader(session="s", mode="run",
                                                     config=RunConfig(task="t")))

    def watch(envelope: Envelope) -> None:
        view(envelope)
        payload = envelope.payload
        if isinstance(payload, Critique) and payload.role == "correctness":
            other_done.set()

    session = Session(Task(prompt="Reverse a string."), LLMGenerator(model.backend("generator")),
                      ThresholdJudge(accept_at=0.5, max_rounds=3), [human, correctness],
                      bus=MemoryBus(serialize=True), transcript=writer, observer=watch)
    with writer, view:
        outcome = await session.run()

    # The veto wins over the other critic's 10/10, at once, in round 1.
    assert outcome.decision == "discard" and outcome.stop == "rejected" and outcome.rounds == 1
    assert "rejected by human" in outcome.reason and "a person rejected the draft" in outcome.reason
    recorded = read_transcript(path)
    [verdict] = [p for p in recorded.payloads("verdict") if isinstance(p, Verdict)]
    assert verdict.stop == "rejected"
    said = {p.role: p for p in recorded.payloads("critique") if isinstance(p, Critique)}
    assert said["human"].rejected and said["human"].problems == (
        "a person rejected the draft", "too vague")
    assert not said["correctness"].rejected and said["correctness"].score == 1.0

    text = term.text()
    asked = text.index("human: review draft")
    answered = text.index(FEEDBACK) + len(FEEDBACK)
    # Nothing of the other critic (its result, or its live status line) between the
    # person's draft panel and their last answer; its result comes after.
    assert "correctness" not in text[asked:answered]
    assert text.index("correctness score 1.00") >= answered


@pytest.mark.anyio
async def test_a_veto_stands_before_an_llm_judge(anyio_backend: str) -> None:
    """The judge model is not even asked: a person's rejection is final."""
    model = ScriptedModel()  # no script: asking the judge's model would fail the call
    judge = LLMJudge(ROLES.get("llm-judge"), model.backend("llm-judge"),
                     rules=ThresholdJudge(max_rounds=3))

    async def record(call: object) -> None:
        raise AssertionError("the judge's model was called")

    verdict = await judge.judge(JudgeRequest(
        task=Task(prompt="t"), draft=Draft(round=1, text="d"),
        critiques=(Critique(role="human", round=1, score=0.0, rejected=True),
                   Critique(role="correctness", round=1, score=1.0, weight=5.0)),
    ), record)
    assert verdict.decision == "discard" and verdict.stop == "rejected"
    assert model.calls == []


@pytest.mark.model
@pytest.mark.timeout(300)  # a real SmolLM2 session on 2 shared cores
def test_cli_reject_through_a_pty(tmp_path: Path) -> None:
    """A real session on SmolLM2 where the person types r: discarded, and said so.

    ``doctests`` answers (unscored: no examples) while the person is being asked; its
    result must wait until they are done."""
    transcript = tmp_path / "human.jsonl"
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, critic_cmd(
            "run", "Write a Python function that adds two numbers.", "--role", "human",
            "--role", "doctests", "--max-rounds", "2", "--max-tokens", "48",
            "--transcript", str(transcript),
        ))
    output = bytearray()
    try:
        _read_until(fd, PROMPT.encode(), output, timeout=120)
        os.write(fd, b"r\n")
        _read_until(fd, FEEDBACK.encode(), output, timeout=30)
        os.write(fd, b"wrong language\n")
        _read_until(fd, b"outcome", output, timeout=120)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = ANSI.sub("", output.decode(errors="replace"))
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "stop: rejected" in re.sub(r"\s+", " ", text)
    asked = text.index("human: review draft")
    answered = text.index(FEEDBACK)
    assert "doctests" not in text[asked:answered]
    outcomes = [p for p in read_transcript(transcript).payloads("outcome")
                if isinstance(p, Outcome)]
    assert outcomes[0].stop == "rejected" and outcomes[0].rounds == 1
