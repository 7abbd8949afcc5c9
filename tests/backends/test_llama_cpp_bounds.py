"""Oversized prompts are refused before they reach llama.cpp's (uncancellable) tokenizer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from critic.backends.base import GenerationParams
from critic.backends.llama_cpp import MAX_CHARS_PER_TOKEN, LlamaCppModel
from critic.errors import ModelError
from critic.messages import ChatMessage

pytestmark = pytest.mark.anyio


async def test_a_prompt_that_cannot_fit_the_context_is_refused_untokenized(
    local_model: LlamaCppModel,
) -> None:
    backend = local_model.backend("critic")
    huge = "x " * (local_model.n_ctx * MAX_CHARS_PER_TOKEN)
    with pytest.raises(ModelError, match=r"cannot fit the 2048-token context"):
        await backend.complete([ChatMessage(role="user", content=huge)], GenerationParams(max_tokens=4))
    assert backend._llama is None  # refused before a context was even made


def test_score_with_an_output_too_long_for_the_context_is_an_error_critique(
    tmp_path: Path, model_path: Path
) -> None:
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps({"id": "big", "input": "Say hi.", "output": "y " * 450_000}) + "\n")
    out = tmp_path / "out.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "critic.cli.main", "score", str(records), "-o", str(out),
         "--role", "correctness"], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (line,) = out.read_text().splitlines()
    role = json.loads(line)["critiques"]["correctness"]
    assert role["status"] == "error" and "cannot fit" in role["error"]
