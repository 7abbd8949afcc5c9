"""Debate budgets (``max_total_tokens``, ``max_seconds``): the debate stops with ``stop="budget"``.

The scripted backend counts tokens as words (prompt and completion), so the
token budget's boundary is exact: a budget of exactly round 1's tokens stops
after round 1, one token more lets round 2 run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from critic import Debate, LLMDebater, MemoryBus, TranscriptHeader, TranscriptWriter, read_transcript
from critic.config import DebateConfig
from critic.errors import ConfigError
from critic.messages import DebateOutcome
from critic.testing import ScriptedModel

QUESTION = "What is 12 * 13?"
# Three debaters who never agree: only the rounds or a budget can end the debate.
SCRIPTS = {f"debater-{i}": [f"Answer: {a}"] * 4 for i, a in ((1, 156), (2, 144), (3, 12))}


def debate(rounds: int = 4, delays: dict[str, float] | None = None, **budget: float) -> Debate:
    model = ScriptedModel(scripts={k: list(v) for k, v in SCRIPTS.items()}, delays=delays or {})
    debaters = [LLMDebater(name, model.backend(name)) for name in SCRIPTS]
    return Debate(QUESTION, debaters, rounds=rounds, bus=MemoryBus(serialize=True),
                  **budget)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_token_budget_stops_after_the_round_that_spends_it(tmp_path: Path) -> None:
    one = await debate(rounds=1).run()
    round_one = one.usage.prompt_tokens + one.usage.completion_tokens
    assert one.stop == "max_rounds" and round_one > 0

    spent = debate(max_total_tokens=round_one)
    spent.transcript = TranscriptWriter(tmp_path / "t.jsonl", TranscriptHeader(
        session=spent.id, mode="debate"))
    with spent.transcript:
        outcome = await spent.run()
    assert outcome.stop == "budget" and outcome.rounds_used == 1
    assert outcome.decision == "discard" and "no consensus" in outcome.reason  # still judged
    recorded = read_transcript(tmp_path / "t.jsonl").envelopes[-1].payload
    assert isinstance(recorded, DebateOutcome) and recorded.stop == "budget"

    more = await debate(max_total_tokens=round_one + 1).run()
    assert more.stop == "budget" and more.rounds_used == 2
    unbounded = await debate().run()
    assert unbounded.stop == "max_rounds" and unbounded.rounds_used == 4


@pytest.mark.anyio
async def test_time_budget_stops_once_a_round_ends_past_it() -> None:
    # debater-1 takes at least 20 ms per answer, so round 1 ends past a 1 ms budget.
    outcome = await debate(delays={"debater-1": 0.02}, max_seconds=0.001).run()
    assert outcome.stop == "budget" and outcome.rounds_used == 1
    assert outcome.elapsed >= 0.02


@pytest.mark.anyio
async def test_convergence_is_the_stop_when_both_happen() -> None:
    model = ScriptedModel(default="Answer: 156")
    debaters = [LLMDebater(f"d{i}", model.backend(f"d{i}")) for i in range(3)]
    outcome = await Debate(QUESTION, debaters, rounds=3, max_total_tokens=1).run()
    assert outcome.stop == "converged" and outcome.answer == "156"


def test_bad_budgets_are_config_errors() -> None:
    model = ScriptedModel()
    one = [LLMDebater("a", model.backend("a"))]
    with pytest.raises(ConfigError, match="--max-total-tokens"):
        Debate(QUESTION, one, max_total_tokens=0)
    with pytest.raises(ConfigError, match="--max-seconds"):
        Debate(QUESTION, one, max_seconds=0)
    with pytest.raises(ConfigError, match="--max-seconds"):
        DebateConfig.parse(question="q", max_seconds=-1)


def critic(*args: str, env: dict[str, str] | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRITIC_")}
    return subprocess.run([sys.executable, "-m", "critic.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**base, **(env or {})})


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--max-total-tokens", "0", "--max-total-tokens: Input should be greater than or equal to 1"),
    ("--max-seconds", "0", "--max-seconds: Input should be greater than 0"),
])
def test_bad_budget_flags_are_one_line(flag: str, value: str, message: str) -> None:
    result = critic("debate", "q", flag, value, "--no-log", timeout=60)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [f"error: {message}"]


@pytest.mark.model
def test_a_token_budget_ends_a_smollm2_debate_after_round_one(model_path: Path) -> None:
    # Answers compared as whole texts: three sampled 24-token answers never converge, so
    # only the budget (round 1 alone uses more than 10 tokens) ends it before round 3.
    # The budget comes from the environment here, as a flag would give it.
    result = critic("debate", "Describe the sea in one sentence.", "--rounds", "3", "--extract", "text",
                    "--max-tokens", "24", "--json", "--no-log",
                    env={"CRITIC_MAX_TOTAL_TOKENS": "10"})
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["stop"] == "budget" and outcome["rounds_used"] == 1
    used = outcome["usage"]["prompt_tokens"] + outcome["usage"]["completion_tokens"]
    assert used >= 10
