"""``critic run --role doctests`` on SmolLM2: failing examples reach the generator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from critic.grounding.humaneval import load_humaneval
from critic.messages import Critique, ModelCall
from critic.transcript import read_transcript


@pytest.mark.model
def test_doctests_feedback_reaches_the_generator(model_path: Path, tmp_path: Path) -> None:
    problem = load_humaneval()["HumanEval/0"]
    transcript = tmp_path / "doctests.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "critic.cli.main", "run", problem.prompt, "--role", "doctests",
         "--max-rounds", "2", "--max-tokens", "96", "--transcript", str(transcript), "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    envelopes = read_transcript(transcript).envelopes
    critiques = [e.payload for e in envelopes if isinstance(e.payload, Critique)]
    first = critiques[0]
    assert first.role == "doctests" and first.score is not None and first.score < 1.0
    failing = [p for p in first.problems if p.startswith(("failing: >>> has_close_elements",
                                                            "the code does not run"))]
    assert failing, first.problems
    calls = [e.payload for e in envelopes
             if isinstance(e.payload, ModelCall) and e.payload.agent == "generator"]
    assert len(calls) == 2
    revise_prompt = calls[1].messages[-1].content
    assert failing[0].removeprefix("failing: ") in revise_prompt
