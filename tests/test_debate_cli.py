"""``critic debate`` end to end on the real SmolLM2 model, and ``critic replay`` of its transcript."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from critic.messages import DebateOutcome, ModelCall
from critic.transcript import read_transcript


def critic(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "critic.cli.main", *args], capture_output=True, text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["debate", "x", "--rounds", "0"], "--rounds"),
        (["debate", "x", "--debaters", "0"], "--debaters"),
        (["debate", "  "], "the question is empty"),
        (["debate", "x", "--extract", "roman"], "unknown answer extractor 'roman'"),
        (["debate", "x", "--converge-at", "0.5"], "--converge-at"),
        (["debate", "x", "--judge", "nope"], "unknown judge 'nope'"),
        (["debate", "x", "--judge", "correctness"], "not a judge"),
        (["debate", "x", "--role", "llm-judge"], "use --judge llm-judge"),
        (["debate", "x", "--role", "nope"], "unknown role 'nope'"),
        # The model options of `critic run`, validated by the same ModelOptions.
        (["debate", "x", "--offline"], "--offline needs --cache FILE"),
        (["debate", "x", "--max-connections", "0"], "--max-connections"),
        (["debate", "x", "--max-attempts", "0"], "--max-attempts"),
        (["worker", "--bus", "nats://127.0.0.1:4222", "--role", "runs", "--offline"],
         "--offline needs --cache FILE"),
        (["worker", "--bus", "nats://127.0.0.1:4222", "--role", "runs", "--max-connections", "0"],
         "--max-connections"),
        (["worker", "--bus", "http://x", "--role", "runs"], "--bus: expected nats://HOST:PORT"),
    ],
)
def test_user_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    result = critic(*args, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert result.stdout == ""


@pytest.mark.model
def test_debate_json_on_the_local_model_and_replay(tmp_path: Path, model_path: Path) -> None:
    transcript = tmp_path / "debate.jsonl"
    result = critic("debate", "What is 12 * 13?", "--debaters", "3", "--rounds", "2", "--json",
                    "--max-tokens", "48", "--transcript", str(transcript))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # one JSON object, nothing else on stdout
    assert data["decision"] in {"accept", "discard"}
    assert data["rounds_used"] in {1, 2}
    assert data["convergence_round"] is None or data["convergence_round"] == data["rounds_used"]
    assert len(data["answers"]) == data["rounds_used"]
    for answers in data["answers"]:
        assert set(answers) == {"debater-1", "debater-2", "debater-3"}
    if data["decision"] == "accept":
        assert data["answer"] is not None
    outcome = DebateOutcome.model_validate(data)
    assert len(outcome.metrics.agreement) == outcome.rounds_used
    # Different seeds per debater by default: the three round-1 calls are not all alike.
    t = read_transcript(transcript)
    assert t.header.mode == "debate"
    seeds = {c.params["seed"] for c in t.payloads("model_call") if isinstance(c, ModelCall)}
    assert seeds >= {0, 1, 2}
    assert t.envelopes[-1].payload == outcome

    shown = critic("replay", str(transcript), timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "round 1" in shown.stdout and "debate outcome" in shown.stdout
    for name in ("debater-1", "debater-2", "debater-3"):
        assert name in shown.stdout


@pytest.mark.model
def test_persona_role_and_llm_judge_on_the_local_model(tmp_path: Path, model_path: Path) -> None:
    transcript = tmp_path / "debate.jsonl"
    result = critic("debate", "What is 7 + 5?", "--debaters", "2", "--rounds", "1",
                    "--role", "skeptic", "--judge", "debate-judge", "--max-tokens", "40",
                    "--json", "--transcript", str(transcript))
    assert result.returncode == 0, result.stderr
    outcome = DebateOutcome.model_validate_json(result.stdout)
    assert outcome.verdict.judge == "debate-judge"
    calls = [c for c in read_transcript(transcript).payloads("model_call")
             if isinstance(c, ModelCall)]
    debaters = [c for c in calls if c.agent.startswith("debater-")]
    assert len(debaters) == 2
    assert all("skeptical expert" in c.messages[0].content for c in debaters)
    judged = [c for c in calls if c.agent == "debate-judge"]
    assert judged, "the judge role was never asked"
    assert "What is 7 + 5?" in judged[0].messages[-1].content
    # The judge either decided (its reason leads) or failed and the vote decided.
    assert outcome.reason.startswith("debate-judge: ") or "majority vote decided" in outcome.reason
    # Blind by default: neutral labels in the prompt, the order it saw in the verdict and replay.
    prompt = judged[0].messages[-1].content
    assert "Answer 1:\n" in prompt and "Answer 2:\n" in prompt and "debater-" not in prompt
    assert sorted(outcome.verdict.shown) == ["debater-1", "debater-2"]
    assert "SelfJudgingWarning" in result.stderr  # the judge shares the debaters' model
    shown = critic("replay", str(transcript))
    assert shown.returncode == 0, shown.stderr
    assert f"the judge saw: Answer 1 = {outcome.verdict.shown[0]}" in shown.stdout


@pytest.mark.model
def test_a_cached_debate_replays_offline_with_the_same_answers(tmp_path: Path, model_path: Path) -> None:
    cache = tmp_path / "calls.sqlite"
    args = ["debate", "What is 2 + 3?", "--debaters", "2", "--rounds", "1", "--max-tokens", "24",
            "--json", "--cache", str(cache), "--max-connections", "2", "--max-attempts", "2"]
    first = critic(*args)
    assert first.returncode == 0, first.stderr
    again = critic(*args, "--offline")  # every call must now come from the cache
    assert again.returncode == 0, again.stderr
    one, two = (DebateOutcome.model_validate_json(r.stdout) for r in (first, again))
    assert one.answers == two.answers and one.failed == two.failed == {}
