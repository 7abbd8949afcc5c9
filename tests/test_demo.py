"""`make demo` on the embedded model ends in ACCEPT with the test evidence shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from critic.messages import Critique, Outcome
from critic.transcript import read_transcript

ROOT = Path(__file__).resolve().parent.parent
DEMO_FLAGS = ["--role", "doctests", "--role", "runs", "--role", "advice", "--max-rounds", "3",
              "--max-tokens", "200"]


def test_the_makefile_runs_the_demo_tested_here() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert 'critic run "$$(cat $(DEMO_TASK_FILE))" --role doctests --role runs --role advice' in makefile
    assert "--max-rounds 3 --max-tokens 200" in makefile


@pytest.mark.model
def test_demo_accepts_on_the_grounded_critics(model_path: Path, tmp_path: Path) -> None:
    task = (ROOT / "examples" / "demo_task.txt").read_text()
    transcript = tmp_path / "demo.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "critic.cli", "run", task, *DEMO_FLAGS,
         "--transcript", str(transcript)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "ACCEPT" in result.stdout and "tests pass" in result.stdout
    assert "advisory: weight 0, not counted" in result.stdout
    t = read_transcript(transcript)
    (outcome,) = [p for p in t.payloads("outcome") if isinstance(p, Outcome)]
    assert outcome.decision == "accept"
    last = [c for c in t.payloads("critique") if isinstance(c, Critique)][-3:]
    tests = next(c for c in last if c.role == "doctests")
    assert tests.score == 1.0  # the acceptance rests on the tests, not on the LLM's opinion
    assert next(c for c in last if c.role == "advice").weight == 0.0
