"""Self-judging: a judge on the generator's model warns, or is refused with --forbid-self-judging."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from critic.errors import ConfigError
from critic.judges.self_judging import SelfJudgingWarning, check_self_judging

SMOL = {"kind": "llama.cpp", "file": "/m/SmolLM2-135M.gguf", "sha256": "abc"}
OTHER = {"kind": "openai", "url": "http://127.0.0.1:9/v1", "model": "other"}


def test_a_judge_on_a_generators_model_warns_and_names_it() -> None:
    with pytest.warns(SelfJudgingWarning, match=r"same model as debater-1, debater-3 \(SmolLM2"):
        same = check_self_judging("debate-judge", SMOL,
                                  {"debater-1": SMOL, "debater-2": OTHER, "debater-3": SMOL},
                                  forbid=False)
    assert same == ("debater-1", "debater-3")


def test_forbid_self_judging_refuses_and_other_models_pass_silently() -> None:
    with pytest.raises(ConfigError, match=r"^--forbid-self-judging: judge 'llm-judge'"):
        check_self_judging("llm-judge", SMOL, {"generator": SMOL}, forbid=True)
    # No warning here: warnings are errors in this suite.
    assert check_self_judging("llm-judge", OTHER, {"generator": SMOL}, forbid=True) == ()


@pytest.mark.parametrize("command", [
    ["run", "Say hi", "--judge", "llm-judge"],
    ["debate", "What is 2 + 2?", "--judge", "debate-judge"],
])
def test_the_cli_refuses_before_any_model_runs_or_transcript_is_written(
    command: list[str], tmp_path: Path, model_path: Path,
) -> None:
    transcript = tmp_path / "t.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "critic.cli.main", *command, "--forbid-self-judging",
         "--transcript", str(transcript)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--forbid-self-judging: judge" in lines[0]
    assert model_path.name in lines[0]
    assert not transcript.exists()
