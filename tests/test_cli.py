"""The ``critic`` command end to end: real subprocesses, real model where needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from critic.messages import Critique, Draft, ModelCall, Outcome, Verdict
from critic.transcript import read_transcript


def critic(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "critic.cli", *args], capture_output=True, text=True,
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
        (["replay", "/no/such.jsonl"], "cannot read /no/such.jsonl"),
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
