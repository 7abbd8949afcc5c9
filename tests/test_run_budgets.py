"""``critic run --max-total-tokens / --max-seconds``: the judge's budgets from the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from critic.messages import Outcome


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "critic.cli", "run", "Write a haiku about rain.", "--role", "runs",
         "--max-rounds", "3", "--max-tokens", "40", "--json", "--no-log", *args],
        capture_output=True, text=True, timeout=600,
    )


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--max-total-tokens", "0", "--max-total-tokens: Input should be greater than or equal to 1"),
    ("--max-seconds", "0", "--max-seconds: Input should be greater than 0"),
])
def test_bad_budgets_are_one_line(flag: str, value: str, message: str) -> None:
    result = run(flag, value)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [f"error: {message}"]


@pytest.mark.model
@pytest.mark.parametrize(("flag", "value", "reason"), [
    # Round 1 alone uses more than 10 tokens (a 50-token prompt) and takes more than 1 ms.
    ("--max-total-tokens", "10", "token budget spent"),
    ("--max-seconds", "0.001", "time budget spent"),
])
def test_a_budget_ends_the_session_after_round_one(flag: str, value: str, reason: str,
                                                    model_path: object) -> None:
    result = run(flag, value)
    assert result.returncode == 0, result.stderr
    outcome = Outcome.model_validate_json(result.stdout)
    assert outcome.stop == "budget" and outcome.rounds == 1 and reason in outcome.reason
