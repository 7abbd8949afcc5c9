"""The human critic: unit tests with scripted input, and the CLI driven through a pty."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from critic.backends.pool import ModelPool
from critic.errors import ConfigError
from critic.grounding.human import HumanCritic, human_critic
from critic.messages import Draft, ReviewRequest, Task
from critic.protocols import CriticContext
from critic.roles.registry import RoleRegistry


async def _review(answers: str) -> tuple[float | None, tuple[str, ...], str]:
    out = io.StringIO()
    critic = HumanCritic(RoleRegistry().get("human"), stdin=io.StringIO(answers),
                         console=Console(file=out, width=80))

    async def record(call: object) -> None:
        raise AssertionError("no model")

    request = ReviewRequest(task=Task(prompt="t"), role="human",
                            draft=Draft(round=1, text="the draft text", author="g"))
    critique = await critic.review(request, record)
    return critique.score, critique.problems, out.getvalue()


@pytest.mark.anyio
async def test_scores_accept_reject_and_reprompt(anyio_backend: str) -> None:
    score, problems, shown = await _review("7\nmention edge cases\n")
    assert score == pytest.approx(0.7) and problems == ("mention edge cases",)
    assert "the draft text" in shown
    assert (await _review("accept\n\n"))[:2] == (1.0, ())
    assert (await _review("r\ntoo vague\n"))[:2] == (0.0, ("a person rejected the draft",
                                                           "too vague"))
    score, _, shown = await _review("eleven\n42\n3\n\n")
    assert score == pytest.approx(0.3)
    assert shown.count("not a score in 0-10") == 2


@pytest.mark.anyio
async def test_end_of_input_is_an_error(anyio_backend: str) -> None:
    with pytest.raises(ConfigError, match="end of input"):
        await _review("")


def test_no_terminal_is_refused_when_built() -> None:
    if sys.stdin.isatty():
        pytest.skip("pytest's stdin is a terminal here")
    with pytest.raises(ConfigError, match="needs a terminal"):
        human_critic(RoleRegistry().get("human"), CriticContext(ModelPool(None)))


def critic_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "critic.cli.main", *args]


def test_cli_without_terminal_exits_2_on_one_line() -> None:
    result = subprocess.run(
        critic_cmd("run", "Write hello world in Python.", "--role", "human",
                   "--model", "http://127.0.0.1:9/v1"),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a terminal, but stdin is not a TTY" in lines[0]


def _read_until(fd: int, needle: bytes, buffer: bytearray, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while needle not in buffer:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {needle!r} in output: {buffer.decode(errors='replace')}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"ended before {needle!r}: {buffer.decode(errors='replace')}")
            buffer.extend(chunk)


@pytest.mark.model
def test_cli_human_role_through_a_pty(model_path: Path, tmp_path: Path) -> None:
    """A real session on SmolLM2 where the person types a score and feedback."""
    transcript = tmp_path / "human.jsonl"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the pty's terminal
        os.execv(sys.executable, critic_cmd(
            "run", "Write a Python function that adds two numbers.", "--role", "human",
            "--max-rounds", "1", "--max-tokens", "48", "--transcript", str(transcript),
        ))
    output = bytearray()
    try:
        _read_until(fd, b"or a(ccept) / r(eject): ", output, timeout=120)
        os.write(fd, b"8\n")
        _read_until(fd, b"feedback (one line, empty for none): ", output, timeout=10)
        os.write(fd, b"add a docstring\n")
        _read_until(fd, b"outcome", output, timeout=60)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = re.sub(r"\x1b\[[0-9;]*m", "", output.decode(errors="replace"))  # colours
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "human score 0.80" in text and "add a docstring" in text
    assert "ACCEPT" in text
    assert '"raw_score":8.0' in transcript.read_text()
