"""The ``critic`` command end to end: real subprocesses, real model where needed."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from critic.messages import Critique, Draft, ModelCall, Outcome, Verdict
from critic.transcript import read_transcript


def critic(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "critic.cli.main", *args], capture_output=True, text=True,
        timeout=timeout, cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "x", "--model", "/no/such.gguf"], "model file not found: /no/such.gguf"),
        (["run", "   "], "the task is empty"),
        (["run", "x", "--max-rounds", "0"], "--max-rounds"),
        (["run", "x", "--role", "nope"], "unknown role 'nope'"),
        (["run", "x", "--accept-at", "2"], "--accept-at"),
        (["run", "x", "--revision", "sideways"], "--revision: Input should be 'fresh' or"),
        (["run", "x", "--revision-temperature", "-1"], "--revision-temperature"),
        (["replay", "/no/such.jsonl"], "cannot read /no/such.jsonl"),
        (["run", "x", "--discard-below", "0.9", "--accept-at", "0.5"],
         "discard_below (0.9) must not exceed accept_at (0.5)"),
        (["run", "x", "--temperature", "inf"], "--temperature: Input should be a finite number"),
        (["debate", "x", "--temperature", "nan"], "--temperature"),
        (["run", "x", "--role", "runs", "--transcript", "/dev/full"],
         "cannot write transcript /dev/full"),
    ],
)
def test_user_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    result = critic(*args, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["frobnicate"], "No such command 'frobnicate'", "critic --help"),
        (["run", "x", "--max-rounds", "abc"], "Invalid value for '--max-rounds'", "critic run --help"),
        (["score", "in.jsonl", "--role", "runs"], "Missing option '--output'", "critic score --help"),
        (["worker", "--bus", "nats://127.0.0.1:4222"], "Missing option '--role'",
         "critic worker --help"),
        (["run"], "Missing argument 'task'", "critic run --help"),
        (["run", "x", "--bogus"], "No such option: --bogus", "critic run --help"),
    ],
)
def test_usage_errors_are_one_line_with_the_help_hint_exit_2(
    args: list[str], message: str, hint: str
) -> None:
    result = critic(*args, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0] and hint in lines[0]
    assert result.stdout == ""


def test_version() -> None:
    result = critic("--version", timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"critic \d+\.\d+\.\d+\S*\n", result.stdout)


def test_task_group_errors_reach_the_user_unwrapped(capsys: pytest.CaptureFixture[str]) -> None:
    from critic.cli import main as cli
    from critic.errors import TranscriptError

    nested = BaseExceptionGroup("outer", [ExceptionGroup("inner", [TranscriptError("t.jsonl: full")])])
    assert cli._critic_error(nested) == nested.exceptions[0].exceptions[0]
    assert cli._critic_error(ExceptionGroup("x", [ValueError("bug")])) is None


def test_truncated_gguf_is_a_user_error_before_the_session(tmp_path: Path, model_path: Path) -> None:
    truncated = tmp_path / "t.gguf"
    truncated.write_bytes(model_path.read_bytes()[: 1 << 20])
    result = critic("run", "x", "--model", str(truncated), timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot load model {truncated}" in lines[0]
    assert result.stdout == ""  # nothing shown: the session never started


def test_a_generator_that_never_drafts_is_exit_1_not_a_discard(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transcript = tmp_path / "t.jsonl"
    result = critic("run", "x", "--model", f"http://127.0.0.1:{port}/v1", "--role", "runs",
                    "--max-attempts", "1", "--json", "--transcript", str(transcript), timeout=120)
    assert result.returncode == 1, result.stderr
    assert "no draft was produced" in result.stderr
    outcome = Outcome.model_validate_json(result.stdout)
    assert outcome.draft is None and outcome.stop == "error"
    assert read_transcript(transcript).payloads("outcome") == [outcome]


def test_not_a_gguf_file(tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_text("hello")
    result = critic("run", "x", "--model", str(fake), timeout=60)
    assert result.returncode == 2 and "not a GGUF model file" in result.stderr


def test_unwritable_transcript(tmp_path: Path, model_path: Path) -> None:
    result = critic("run", "x", "--transcript", str(tmp_path / "missing" / "t.jsonl"), timeout=60)
    assert result.returncode == 2
    assert "cannot write transcript" in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.model
def test_run_on_the_local_model(tmp_path: Path, model_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    result = critic(
        "run", "Write a Python function that reverses a string.", "--role", "correctness",
        "--role", "clarity", "--max-rounds", "2", "--max-tokens", "96",
        "--transcript", str(transcript), "--json",
    )
    assert result.returncode == 0, result.stderr
    outcome = Outcome.model_validate_json(result.stdout)  # stdout is exactly the Outcome
    assert outcome.decision in {"accept", "discard"} and outcome.reason
    t = read_transcript(transcript)
    assert t.header.models["generator"]["kind"] == "llama.cpp"
    assert len(t.header.models["generator"]["sha256"]) == 64
    drafts = [p for p in t.payloads("draft") if isinstance(p, Draft)]
    critiques = [p for p in t.payloads("critique") if isinstance(p, Critique)]
    verdicts = [p for p in t.payloads("verdict") if isinstance(p, Verdict)]
    calls = [p for p in t.payloads("model_call") if isinstance(p, ModelCall)]
    assert 1 <= len(drafts) == len(verdicts) == outcome.rounds <= 2
    assert len(critiques) == 2 * len(drafts)
    assert {c.role for c in critiques} == {"correctness", "clarity"}
    # One record per model call: at least one per draft and per critique.
    assert len(calls) >= len(drafts) + len(critiques)
    assert all(c.usage.completion_tokens > 0 for c in calls if c.status == "ok")
    assert t.payloads("outcome")[0] == outcome
    assert json.loads(result.stdout)["session"] == t.header.session

    replay = critic("replay", str(transcript), timeout=60)
    assert replay.returncode == 0, replay.stderr
    assert "verdict" in replay.stdout and "outcome" in replay.stdout
